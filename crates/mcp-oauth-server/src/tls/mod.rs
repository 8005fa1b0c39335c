//! Serving over TLS without a proxy in front: a certificate and private
//! key read from PEM files, offered to every new connection by a
//! [`CertificateReloader`] that can swap them while the server runs.
//!
//! The pair is checked before it is used: both files must parse, the key
//! must be one the aws-lc-rs provider can sign with, and it must be the
//! key of the first certificate. A pair that fails those checks at start is
//! a [`TlsError`]; at a reload it is refused, logged, and the pair already
//! in use keeps serving. Connections already open keep the certificate they
//! were set up with: only new handshakes see a new one.
//!
//! ```
//! use mcp_oauth_server::tls::{CertificateReloader, TlsFiles};
//!
//! let files = TlsFiles::new("/nonexistent/cert.pem", "/nonexistent/key.pem");
//! let err = CertificateReloader::load(files).unwrap_err();
//! assert!(err.to_string().contains("/nonexistent/cert.pem"));
//! ```
//!
//! A running server is given the reloader with [`crate::serve_tls`]; the
//! reloader then follows its files ([`CertificateReloader::watch_files`])
//! and, on Unix, `SIGHUP` ([`CertificateReloader::reload_on_sighup`]).

mod watch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::InconsistentKeys;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Where the certificate chain and its private key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates: the server's own first, then the intermediates
    /// (what certbot calls `fullchain.pem`).
    pub cert: PathBuf,
    /// The PEM private key of the first certificate (PKCS#8, SEC1 or
    /// PKCS#1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The pair of files.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

/// A certificate and key pair could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} file {}", path.display())]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid PEM.
    #[error("the TLS {what} file {} is not valid PEM", path.display())]
    Pem {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("the TLS certificate file {} holds no PEM certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error("the TLS key file {} holds no PEM private key", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is not one the server can sign with.
    #[error("the private key in {} cannot be used", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The private key is not the key of the first certificate, or the
    /// certificate cannot be parsed.
    #[error(
        "the private key in {} does not belong to the first certificate in {}",
        key.display(),
        cert.display()
    )]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS")]
    Config(#[source] rustls::Error),
}

/// The certificate offered to new connections, read from [`TlsFiles`] and
/// swapped in place by [`CertificateReloader::reload`]. It is the
/// `rustls` certificate resolver of the server's TLS configuration
/// ([`CertificateReloader::server_config`]).
pub struct CertificateReloader {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
}

/// A pair in use and a digest of the file contents it came from (to notice
/// when the files change).
struct Loaded {
    key: Arc<CertifiedKey>,
    digest: Vec<u8>,
}

impl fmt::Debug for CertificateReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateReloader")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl CertificateReloader {
    /// Reads and checks the pair, with the aws-lc-rs provider.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (key, digest) = read_pair(&files, &provider)?;
        Ok(Arc::new(Self {
            files,
            provider,
            current: RwLock::new(Loaded {
                key: Arc::new(key),
                digest,
            }),
        }))
    }

    /// The files it reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The certificate chain new connections are offered now (DER, the
    /// server's own certificate first).
    pub fn current_chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.read().key.cert.clone()
    }

    /// Reads the files again and, if the pair passes the checks, offers it
    /// to new connections from now on. A pair that fails is refused and the
    /// current one stays; connections already open are never touched.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (key, digest) = read_pair(&self.files, &self.provider)?;
        *self.current.write() = Loaded {
            key: Arc::new(key),
            digest,
        };
        Ok(())
    }

    /// A `rustls` server configuration that offers this reloader's
    /// certificate: TLS 1.2 and 1.3, no client certificates. ALPN is left
    /// to the server: actix-web offers `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        Ok(
            rustls::ServerConfig::builder_with_provider(self.provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(TlsError::Config)?
                .with_no_client_auth()
                .with_cert_resolver(self.clone()),
        )
    }

    /// The digest of what the files hold now, or `None` if one cannot be
    /// read (a reload would report why).
    fn files_digest(&self) -> Option<Vec<u8>> {
        let cert = std::fs::read(&self.files.cert).ok()?;
        let key = std::fs::read(&self.files.key).ok()?;
        Some(digest(&cert, &key))
    }

    /// Whether `digest` is that of the pair in use.
    fn is_current(&self, digest: &[u8]) -> bool {
        self.current.read().digest == digest
    }
}

impl ResolvesServerCert for CertificateReloader {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().key.clone())
    }
}

/// Reads, parses and checks the pair; returns it with the digest of the
/// two files' contents.
fn read_pair(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<(CertifiedKey, Vec<u8>), TlsError> {
    let cert_pem = read(&files.cert, "certificate")?;
    let key_pem = read(&files.key, "key")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what: "certificate",
            path: files.cert.clone(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: files.key.clone(),
        },
        source => TlsError::Pem {
            what: "key",
            path: files.key.clone(),
            source,
        },
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::Key {
            path: files.key.clone(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // As `CertifiedKey::from_der`: a key that cannot tell its public
        // half (none from aws-lc-rs) is not refused for it.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(source) => {
            return Err(TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
                source,
            });
        }
    }
    Ok((certified, digest(&cert_pem, &key_pem)))
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// SHA-256 over both files (each prefixed by its length), to notice a
/// change without keeping the key's text around.
fn digest(cert: &[u8], key: &[u8]) -> Vec<u8> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in [cert, key] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    ctx.finish().as_ref().to_vec()
}

/// `error` and each cause it does not already quote, joined by `: `, for
/// the log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests;
