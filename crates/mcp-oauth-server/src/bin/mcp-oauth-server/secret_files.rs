//! Secrets and configuration on disk, for the binary: secrets can come
//! from files (`--…-file`) instead of flags (which every user of the
//! machine sees in the process list), and files holding configuration must
//! be private to their owner.

use std::path::Path;

/// Refuses a file other users may read or write.
#[cfg(unix)]
pub(crate) fn check_private(path: &Path, what: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("{what} {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{what} {} is readable or writable by other users (mode {:o}); it may hold secrets: \
             make it private with `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private(_: &Path, _: &str) -> Result<(), String> {
    Ok(())
}

/// A secret read from a file (one line; the trailing newline dropped).
pub(crate) fn read_secret(path: &Path, what: &str) -> Result<String, String> {
    check_private(path, what)?;
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\n', '\r']).to_owned();
    if secret.is_empty() {
        return Err(format!("{what} {} is empty", path.display()));
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
pub(crate) fn with_password(storage: &str, password: &str) -> Result<String, String> {
    let mut u = url::Url::parse(storage)
        .map_err(|_| "a storage password needs a postgres:// storage URL".to_owned())?;
    if u.password().is_some() || has_query_password(&u) {
        return Err("the storage URL already has a password; give it in one place".into());
    }
    u.set_password(Some(password))
        .map_err(|()| "this storage URL cannot take a password".to_owned())?;
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
