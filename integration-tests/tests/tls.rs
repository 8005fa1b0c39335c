//! The server serving HTTPS itself: a certificate made in the test,
//! HTTP/1.1 by ALPN, a renewal reaching new connections while open ones carry on,
//! and a broken renewal refused while the old certificate serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::TestServer;
use mcp_oauth_server::tls::{CertificateReloader, TlsFiles};
use reqwest::{Certificate, Client, Version};

const METADATA: &str = "/.well-known/oauth-authorization-server";

/// A self-signed certificate for 127.0.0.1 and its key.
struct Pair {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn pair() -> Pair {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    Pair {
        cert_pem: c.cert.pem(),
        key_pem: c.signing_key.serialize_pem(),
        der: c.cert.der().to_vec(),
    }
}

/// A directory of its own for one test, and the two files in it.
fn files(name: &str) -> (PathBuf, TlsFiles) {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-it-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = TlsFiles::new(dir.join("cert.pem"), dir.join("key.pem"));
    (dir, files)
}

fn write(files: &TlsFiles, cert: &str, key: &str) {
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
}

/// A client that trusts `pair`'s certificate and nothing else, and reports
/// the certificate each answer came over.
fn trusting(pair: &Pair) -> Client {
    let cert = Certificate::from_pem(pair.cert_pem.as_bytes()).unwrap();
    Client::builder()
        .tls_certs_only([cert])
        .tls_info(true)
        .build()
        .unwrap()
}

/// The DER certificate the server presented on the connection `r` came
/// over.
fn presented(r: &reqwest::Response) -> Vec<u8> {
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

/// What the metadata request over `client` saw: status, HTTP version, the
/// certificate presented on its connection, and the document (the body is
/// read to its end, so the stream is finished and the server can stop
/// without waiting for it).
#[derive(Debug)]
struct Seen {
    status: u16,
    version: Version,
    cert: Vec<u8>,
    doc: serde_json::Value,
}

async fn metadata(client: &Client, s: &TestServer) -> reqwest::Result<Seen> {
    let r = client.get(s.url(METADATA)).send().await?;
    let (status, version, cert) = (r.status().as_u16(), r.version(), presented(&r));
    let doc = r.json().await?;
    Ok(Seen {
        status,
        version,
        cert,
        doc,
    })
}

fn cleanup(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn https_for_clients_that_trust_the_certificate() {
    let (dir, files) = files("serve");
    let current = pair();
    write(&files, &current.cert_pem, &current.key_pem);
    let tls = CertificateReloader::load(files).unwrap();
    let s = TestServer::start_tls(&tls, |c| c).await;
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);

    let r = metadata(&trusting(&current), &s).await.unwrap();
    assert_eq!(r.status, 200);
    // HTTP/1.1 only: HTTP/2 in actix-web 4 comes with h2 0.3, which has
    // RUSTSEC-2026-0258 and no fixed 0.3 release.
    assert_eq!(r.version, Version::HTTP_11, "no h2 offered by ALPN");
    assert_eq!(r.cert, current.der);
    assert_eq!(r.doc["issuer"], s.base.as_str());
    assert!(
        r.doc["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );

    // A client that speaks only HTTP/1.1 is served too.
    let cert = Certificate::from_pem(current.cert_pem.as_bytes()).unwrap();
    let http1 = Client::builder()
        .tls_certs_only([cert])
        .http1_only()
        .tls_info(true)
        .build()
        .unwrap();
    let r = metadata(&http1, &s).await.unwrap();
    assert_eq!((r.status, r.version), (200, Version::HTTP_11));

    // A client that trusts another certificate fails the handshake.
    let err = metadata(&trusting(&pair()), &s).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(
        format!("{err:?}").to_lowercase().contains("certificate"),
        "a certificate error: {err:?}"
    );
    // Plain HTTP on the TLS port gets no answer.
    let plain = s.url(METADATA).replacen("https://", "http://", 1);
    let answer = integration_tests::http().get(plain).send().await;
    assert!(
        !matches!(&answer, Ok(r) if r.status() == 200),
        "plain http is not served: {answer:?}"
    );
    s.stop().await;
    cleanup(&dir);
}

/// A renewal written over the files reaches new connections (the reloader
/// watches the files); a kept-alive connection opened before it carries on
/// with the old certificate.
#[tokio::test]
async fn a_renewal_reaches_new_connections_and_spares_open_ones() {
    let (dir, files) = files("renew");
    let old = pair();
    write(&files, &old.cert_pem, &old.key_pem);
    let tls = CertificateReloader::load(files.clone()).unwrap();
    let s = TestServer::start_tls(&tls, |mut c| {
        c.limits.keep_alive = Duration::from_secs(300);
        c
    })
    .await;
    // One connection, opened before the renewal and kept by the pool.
    let open = trusting(&old);
    let r = metadata(&open, &s).await.unwrap();
    assert_eq!((r.status, r.version), (200, Version::HTTP_11));
    assert_eq!(r.cert, old.der);

    let watcher = tls.watch_files(Duration::from_millis(20));
    let new = pair();
    assert_ne!(new.der, old.der);
    write(&files, &new.cert_pem, &new.key_pem);
    // Poll with new connections (a client that trusts only the new
    // certificate) until the watcher has swapped it in; bounded.
    let mut served = None;
    for _ in 0..250 {
        if let Ok(r) = metadata(&trusting(&new), &s).await {
            served = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = served.expect("the renewed certificate was never served");
    assert_eq!(r.status, 200);
    assert_eq!(r.cert, new.der);
    assert_eq!(tls.current_chain()[0].as_ref(), new.der.as_slice());

    // The connection opened before the renewal still answers, over the
    // old certificate: a new connection from this client (which trusts
    // only the old one) would have failed its handshake.
    let r = metadata(&open, &s).await.unwrap();
    assert_eq!((r.status, r.version), (200, Version::HTTP_11));
    assert_eq!(r.cert, old.der);
    let fresh = metadata(&trusting(&old), &s).await;
    assert!(fresh.is_err(), "new handshakes get the new certificate");

    watcher.abort();
    // Closing the open connection lets the server stop without waiting.
    drop(open);
    s.stop().await;
    cleanup(&dir);
}

/// A broken renewal (a key that is not the certificate's, then a
/// truncated certificate) is refused and the old pair keeps serving new
/// connections; a good one after it is taken.
#[tokio::test]
async fn a_broken_renewal_is_refused_and_the_old_certificate_serves() {
    let (dir, files) = files("broken");
    let old = pair();
    write(&files, &old.cert_pem, &old.key_pem);
    let tls = CertificateReloader::load(files.clone()).unwrap();
    let s = TestServer::start_tls(&tls, |c| c).await;
    let watcher = tls.watch_files(Duration::from_millis(20));

    let (new, stranger) = (pair(), pair());
    let truncated = &new.cert_pem[..new.cert_pem.len() / 2];
    for (cert, key) in [
        (new.cert_pem.as_str(), stranger.key_pem.as_str()),
        (truncated, new.key_pem.as_str()),
    ] {
        write(&files, cert, key);
        let refused = tls.reload();
        assert!(refused.is_err(), "refused: {refused:?}");
        // New connections, each a fresh handshake while the watcher keeps
        // looking at the broken files, still get the old certificate.
        for _ in 0..5 {
            let r = metadata(&trusting(&old), &s).await.unwrap();
            assert_eq!(r.cert, old.der);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Finishing the renewal puts the new pair in use.
    write(&files, &new.cert_pem, &new.key_pem);
    let mut taken = false;
    for _ in 0..250 {
        if metadata(&trusting(&new), &s).await.is_ok() {
            taken = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(taken, "the repaired renewal was never served");

    watcher.abort();
    s.stop().await;
    cleanup(&dir);
}

/// The reloader can be told directly (what `SIGHUP` does in the binary).
#[tokio::test]
async fn an_explicit_reload_swaps_the_certificate() {
    let (dir, files) = files("explicit");
    let old = pair();
    write(&files, &old.cert_pem, &old.key_pem);
    let tls: Arc<CertificateReloader> = CertificateReloader::load(files.clone()).unwrap();
    let s = TestServer::start_tls(&tls, |c| c).await;
    let new = pair();
    write(&files, &new.cert_pem, &new.key_pem);
    assert!(
        metadata(&trusting(&old), &s).await.is_ok(),
        "no watcher: nothing changes until told"
    );
    tls.reload().unwrap();
    let r = metadata(&trusting(&new), &s).await.unwrap();
    assert_eq!(r.cert, new.der);
    s.stop().await;
    cleanup(&dir);
}
