//! Password hashing with Argon2id (the argon2 crate's default parameters).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Hashing failed (only for lack of randomness or memory).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordHashError(String);

/// Hashes a password into a PHC string (`$argon2id$v=19$...`) with a fresh
/// random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordHashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordHashError(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed hash never
/// matches. Argon2's comparison of the outputs is constant-time.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// Checks a password off the async threads, at most one check per CPU at a
/// time. An Argon2 check holds about 19 MiB while it runs: without a bound,
/// a burst of logins becomes a memory spike that the allocator keeps, and
/// the extra threads would only queue for the same cores anyway.
pub(crate) async fn verify_password_bounded(password: String, phc: String) -> bool {
    use std::sync::OnceLock;
    use tokio::sync::Semaphore;
    static LIMIT: OnceLock<Semaphore> = OnceLock::new();
    let limit = LIMIT.get_or_init(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    let Ok(_permit) = limit.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A PHC string computed once per process, checked against when a login
/// names an unknown user, so that the answer takes as long as for a known
/// user with a wrong password (no user enumeration by timing).
pub(crate) fn dummy_hash() -> &'static str {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
    }
}
