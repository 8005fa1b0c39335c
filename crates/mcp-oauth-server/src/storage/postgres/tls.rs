//! TLS to PostgreSQL, chosen by the URL's `sslmode` (as libpq names them)
//! and checked with rustls:
//!
//! | `sslmode` | connection |
//! |---|---|
//! | absent, `disable` | plain (a database on the same host or a private network) |
//! | `prefer` | TLS if the server offers it, certificate verified |
//! | `require`, `verify-full` | TLS, certificate chain and host name verified |
//! | `verify-ca` | TLS, certificate chain verified, any host name |
//!
//! Unlike libpq, `require` verifies the certificate: the database holds
//! password hashes and private signing keys, which must not go to whoever
//! sits in between. The roots are the system's, or the PEM file
//! `sslrootcert=PATH` names.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::storage::PostgresTlsError;

/// The URL to give tokio-postgres (with the libpq-only parameters taken
/// out) and the TLS connector its `sslmode` asks for, if any.
pub(super) fn from_url(url: &str) -> Result<(String, Option<MakeRustlsConnect>), PostgresTlsError> {
    let mut parsed = url::Url::parse(url)?;
    let mut mode = None;
    let mut root_file = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .filter(|(k, v)| match k.as_str() {
            "sslmode" => {
                mode = Some(v.clone());
                false
            }
            "sslrootcert" => {
                root_file = Some(v.clone());
                false
            }
            _ => true,
        })
        .collect();
    let (pg_mode, check_name) = match mode.as_deref() {
        None | Some("disable") => ("disable", false),
        Some("prefer") => ("prefer", true),
        Some("require" | "verify-full") => ("require", true),
        Some("verify-ca") => ("require", false),
        Some(other) => return Err(PostgresTlsError::UnknownMode(other.to_owned())),
    };
    {
        let mut q = parsed.query_pairs_mut();
        q.clear();
        q.extend_pairs(&kept);
        q.append_pair("sslmode", pg_mode);
    }
    if pg_mode == "disable" {
        return Ok((parsed.into(), None));
    }
    let roots = roots(root_file.as_deref())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let builder =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let config = if check_name {
        builder.with_webpki_verifier(verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
    }
    .with_no_client_auth();
    Ok((parsed.into(), Some(MakeRustlsConnect::new(config))))
}

fn roots(file: Option<&str>) -> Result<RootCertStore, PostgresTlsError> {
    let mut roots = RootCertStore::empty();
    match file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)? {
                roots.add(cert?)?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(PostgresTlsError::NoRoots);
    }
    Ok(roots)
}

/// `verify-ca`: the chain must lead to a trusted root; the host name may
/// differ (servers reached by an address their certificate does not name).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_maps_to_a_connector() {
        let (url, tls) = from_url("postgres://u@db.example/x").unwrap();
        assert!(tls.is_none());
        assert!(url.ends_with("sslmode=disable"), "{url}");
        let (url, tls) =
            from_url("postgres://u@db.example/x?sslmode=verify-full&application_name=as").unwrap();
        assert!(tls.is_some());
        assert!(
            url.contains("application_name=as") && url.contains("sslmode=require"),
            "{url}"
        );
        assert!(from_url("postgres://u@db.example/x?sslmode=bogus").is_err());
        assert!(
            from_url("postgres://u@db.example/x?sslmode=require&sslrootcert=/nonexistent.pem")
                .is_err()
        );
    }
}
