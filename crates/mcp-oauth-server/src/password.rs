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

/// The password checks waiting for a hashing thread are at their limit:
/// answer "busy, retry shortly" instead of queueing without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting; try again shortly")]
pub struct HashersBusy;

/// Checks waiting per hashing thread before further ones are refused.
const QUEUE_PER_THREAD: usize = 32;

/// Checks a password off the async threads, on a small pool of dedicated
/// threads (one per CPU). An Argon2 check needs about 19 MiB while it
/// runs: on fixed threads that memory is reused check after check, where
/// a burst of logins on blocking-pool threads became a memory spike that
/// each thread's allocator kept; and more threads than cores would only
/// queue for the same cores. The queue in front of them is bounded
/// ([`QUEUE_PER_THREAD`] per thread): a flood of logins is refused with
/// [`HashersBusy`] rather than delaying every real login behind it.
pub(crate) async fn verify_password_bounded(
    password: String,
    phc: String,
) -> Result<bool, HashersBusy> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        let _ = reply.send(verify_password(&password, &phc));
    });
    match hashers().try_send(job) {
        Ok(()) => Ok(answer.await.unwrap_or(false)),
        Err(std::sync::mpsc::TrySendError::Full(_)) => Err(HashersBusy),
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => Ok(false),
    }
}

type HashJob = Box<dyn FnOnce() + Send>;

/// The queue of the hashing threads, started on first use.
fn hashers() -> &'static std::sync::mpsc::SyncSender<HashJob> {
    use std::sync::{Arc, Mutex, OnceLock};
    static QUEUE: OnceLock<std::sync::mpsc::SyncSender<HashJob>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (jobs, queue) = std::sync::mpsc::sync_channel::<HashJob>(threads * QUEUE_PER_THREAD);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            let _ = std::thread::Builder::new()
                .name(format!("mcp-oauth-argon2-{n}"))
                .spawn(move || {
                    loop {
                        let next = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match next {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                });
        }
        jobs
    })
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
