//! Secrets and configuration on disk, for the binary: secrets can come
//! from files (`--…-file`) instead of flags (which every user of the
//! machine sees in the process list), and files holding configuration must
//! be private to their owner.

use std::path::{Path, PathBuf};

/// A file holding a secret or configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretFileError {
    /// It could not be read (or its permissions could not be).
    #[error("{what} {}", .path.display())]
    Read {
        /// What the file holds, e.g. `"superuser password file"`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Other users may read or write it.
    #[error(
        "{what} {} is readable or writable by other users (mode {mode:o}); it may hold \
         secrets: make it private with `chmod 600 {}`",
        .path.display(),
        .path.display()
    )]
    Shared {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It holds no secret.
    #[error("{what} {} is empty", .path.display())]
    Empty {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
}

/// A password from a file could not be put into the storage URL.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoragePasswordError {
    /// The storage is not a URL (`sqlite:…` or `memory`).
    #[error("a storage password needs a postgres:// storage URL")]
    NotAUrl(#[source] url::ParseError),
    /// The URL already names a password.
    #[error("the storage URL already has a password; give it in one place")]
    AlreadyThere,
    /// The URL has no host to attach a password to.
    #[error("this storage URL cannot take a password")]
    CannotTake,
}

/// Refuses a file other users may read or write.
#[cfg(unix)]
pub(crate) fn check_private(path: &Path, what: &'static str) -> Result<(), SecretFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| SecretFileError::Read {
            what,
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SecretFileError::Shared {
            what,
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private(_: &Path, _: &'static str) -> Result<(), SecretFileError> {
    Ok(())
}

/// A secret read from a file (one line; the trailing newline dropped).
pub(crate) fn read_secret(path: &Path, what: &'static str) -> Result<String, SecretFileError> {
    check_private(path, what)?;
    let text = std::fs::read_to_string(path).map_err(|source| SecretFileError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    let secret = text.trim_end_matches(['\n', '\r']).to_owned();
    if secret.is_empty() {
        return Err(SecretFileError::Empty {
            what,
            path: path.to_owned(),
        });
    }
    Ok(secret)
}

/// The storage URL as it may be shown: its password replaced, whether it
/// is in the user part or a `password=` query parameter (both work for
/// PostgreSQL).
pub(crate) fn redacted(storage: &str) -> String {
    let Ok(mut u) = url::Url::parse(storage) else {
        return storage.to_owned();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("redacted"));
    }
    if has_query_password(&u) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" {
                    "redacted".into()
                } else {
                    v
                };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.into()
}

fn has_query_password(u: &url::Url) -> bool {
    u.query_pairs().any(|(k, _)| k == "password")
}

/// The storage URL with `password` put in (for a PostgreSQL URL given
/// without one).
pub(crate) fn with_password(storage: &str, password: &str) -> Result<String, StoragePasswordError> {
    let mut u = url::Url::parse(storage).map_err(StoragePasswordError::NotAUrl)?;
    if u.password().is_some() || has_query_password(&u) {
        return Err(StoragePasswordError::AlreadyThere);
    }
    u.set_password(Some(password))
        .map_err(|()| StoragePasswordError::CannotTake)?;
    Ok(u.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_what_is_shown() {
        let url = with_password("postgres://as@db.example:5432/oauth", "S3cret pw").unwrap();
        assert!(url.contains("S3cret"));
        let shown = redacted(&url);
        assert!(!shown.contains("S3cret"), "{shown}");
        assert!(shown.contains("as:redacted@db.example"), "{shown}");
        assert_eq!(redacted("sqlite:./mcp-oauth.db"), "sqlite:./mcp-oauth.db");
        assert!(with_password(&url, "again").is_err());
        let query = "postgres://as@db.example/oauth?sslmode=require&password=S3cret";
        let shown = redacted(query);
        assert!(!shown.contains("S3cret"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
        assert!(with_password(query, "again").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn shared_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("mcp-oauth-secret-{}", std::process::id()));
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_secret(&path, "secret file").is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret(&path, "secret file").unwrap(), "s3cret");
        std::fs::remove_file(&path).unwrap();
    }
}
