//! Loading and reloading pairs from files.

use std::path::PathBuf;

use super::*;

/// A fresh self-signed certificate for 127.0.0.1: (cert PEM, key PEM).
fn pair() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// A directory of its own for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(files: &TlsFiles, cert: &str, key: &str) {
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
}

fn files_in(dir: &std::path::Path) -> TlsFiles {
    TlsFiles::new(dir.join("cert.pem"), dir.join("key.pem"))
}

#[test]
fn a_good_pair_loads_and_bad_ones_say_why() {
    let dir = scratch("load");
    let files = files_in(&dir);
    let (cert, key) = pair();
    let (_, other_key) = pair();
    write(&files, &cert, &key);
    let reloader = CertificateReloader::load(files.clone()).unwrap();
    assert_eq!(reloader.current_chain().len(), 1);
    assert!(reloader.server_config().is_ok());

    write(&files, &cert, &other_key);
    let err = CertificateReloader::load(files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err:?}");

    write(&files, "not pem at all", &key);
    let err = CertificateReloader::load(files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");

    write(&files, &cert, &cert);
    let err = CertificateReloader::load(files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::NoKey { .. }), "{err:?}");

    write(
        &files,
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        &key,
    );
    let err = CertificateReloader::load(files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");

    std::fs::remove_file(&files.key).unwrap();
    let err = CertificateReloader::load(files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::Read { what: "key", .. }), "{err:?}");
    assert!(err.to_string().contains("key.pem"), "names the file: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reload_swaps_a_good_pair_and_refuses_a_bad_one() {
    let dir = scratch("reload");
    let files = files_in(&dir);
    let (cert, key) = pair();
    write(&files, &cert, &key);
    let reloader = CertificateReloader::load(files.clone()).unwrap();
    let first = reloader.current_chain();
    assert!(
        reloader
            .files_digest()
            .is_some_and(|d| reloader.is_current(&d))
    );

    let (cert2, key2) = pair();
    let (_, stranger) = pair();
    write(&files, &cert2, &stranger);
    assert!(
        reloader
            .files_digest()
            .is_some_and(|d| !reloader.is_current(&d))
    );
    assert!(matches!(reloader.reload(), Err(TlsError::Mismatch { .. })));
    assert_eq!(reloader.current_chain(), first, "the old pair stays");

    write(&files, &cert2, &key2);
    reloader.reload().unwrap();
    let second = reloader.current_chain();
    assert_ne!(second, first);
    assert!(
        reloader
            .files_digest()
            .is_some_and(|d| reloader.is_current(&d))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_chain_carries_its_intermediates_in_order() {
    let dir = scratch("chain");
    let files = files_in(&dir);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    write(
        &files,
        &format!("{}{}", leaf.pem(), ca.pem()),
        &leaf_key.serialize_pem(),
    );
    let chain = CertificateReloader::load(files).unwrap().current_chain();
    assert_eq!(chain, vec![leaf.der().clone(), ca.der().clone()]);
    // The CA's key is not the leaf's: refused as a mismatch.
    let files = files_in(&dir);
    write(
        &files,
        &format!("{}{}", ca.pem(), leaf.pem()),
        &leaf_key.serialize_pem(),
    );
    assert!(matches!(
        CertificateReloader::load(files),
        Err(TlsError::Mismatch { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
