//! The device authorization grant (RFC 8628): the user code a person types
//! on another device, the device authorization response, and the polling
//! pace of §3.5. Pure rules; the server and the client do the I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secret::{RandomnessError, fill_random};

/// The letters of a user code: consonants only (no vowels, so no words),
/// none that look alike (RFC 8628 §6.1). 20 letters, 8 of them: about
/// 34.6 bits.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code.
const LENGTH: usize = 8;

/// A user code, kept in its canonical form (`BDFH-KMNP`): upper case, one
/// dash in the middle.
///
/// ```
/// use mcp_oauth_core::device::UserCode;
///
/// let code = UserCode::generate()?;
/// assert_eq!(code.as_str().len(), 9);
/// // What a person types is read case- and dash-insensitively.
/// let typed = code.as_str().to_lowercase().replace('-', " ");
/// assert_eq!(UserCode::parse(&typed), Some(code));
/// assert_eq!(UserCode::parse("AEIO-UAEI"), None); // vowels never appear
/// # Ok::<(), mcp_oauth_core::secret::RandomnessError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserCode(String);

impl UserCode {
    /// A fresh code from the operating system's CSPRNG, every letter drawn
    /// uniformly.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut letters = String::with_capacity(LENGTH);
        while letters.len() < LENGTH {
            let mut byte = [0u8; 1];
            fill_random(&mut byte)?;
            // 240 = 12 × 20: values at or above it are redrawn, so every
            // letter is equally likely.
            if byte[0] < 240 {
                letters.push(ALPHABET[usize::from(byte[0] % 20)] as char);
            }
        }
        Ok(Self::canonical(&letters))
    }

    /// Reads a code as a person typed it: case, spaces and dashes do not
    /// matter; anything else, or the wrong number of letters, is `None`.
    pub fn parse(typed: &str) -> Option<Self> {
        let letters: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = letters.len() == LENGTH && letters.bytes().all(|b| ALPHABET.contains(&b));
        valid.then(|| Self::canonical(&letters))
    }

    fn canonical(letters: &str) -> Self {
        let (a, b) = letters.split_at(LENGTH / 2);
        Self(format!("{a}-{b}"))
    }

    /// The canonical form, `XXXX-XXXX`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The device authorization response (RFC 8628 §3.2).
///
/// ```
/// use mcp_oauth_core::device::DeviceAuthorizationResponse;
///
/// let r: DeviceAuthorizationResponse = serde_json::from_str(r#"{
///     "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
///     "user_code": "WDJB-MJHT",
///     "verification_uri": "https://as.example/device",
///     "verification_uri_complete": "https://as.example/device?user_code=WDJB-MJHT",
///     "expires_in": 1800
/// }"#)?;
/// assert_eq!(r.interval, 5); // the RFC's default when absent
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorizationResponse {
    /// What the device polls the token endpoint with.
    pub device_code: String,
    /// What the person types on the verification page.
    pub user_code: String,
    /// The verification page.
    pub verification_uri: String,
    /// The verification page with the user code filled in (for a link or
    /// a QR code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    DEFAULT_INTERVAL
}

/// The polling interval when the server names none (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: u64 = 5;
/// What a `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: u64 = 5;

/// The pace of one device code's polls, as the server keeps it.
///
/// ```
/// use mcp_oauth_core::device::{Pace, PollPace};
///
/// let mut pace = PollPace::new(5);
/// assert_eq!(pace.poll(100), Pace::InTime);
/// assert_eq!(pace.poll(103), Pace::TooFast);   // 3 s after the last poll
/// assert_eq!(pace.interval(), 10);             // from now on, 10 s
/// assert_eq!(pace.poll(113), Pace::InTime);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollPace {
    interval: u64,
    last: Option<u64>,
}

/// Whether a poll kept the pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// At least the interval after the previous poll (or the first).
    InTime,
    /// Sooner: answer `slow_down`; the interval has grown by
    /// [`SLOW_DOWN_STEP`].
    TooFast,
}

impl PollPace {
    /// A pace of `interval` seconds, before any poll.
    pub fn new(interval: u64) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// The interval now asked of the device.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// Records a poll at `now` (seconds) and says whether it kept the pace.
    /// Every poll counts as the last one, too fast or not, so a device that
    /// keeps hammering keeps slowing itself down.
    pub fn poll(&mut self, now: u64) -> Pace {
        let too_fast = self
            .last
            .is_some_and(|last| now.saturating_sub(last) < self.interval);
        self.last = Some(now);
        if too_fast {
            self.interval = self.interval.saturating_add(SLOW_DOWN_STEP);
            Pace::TooFast
        } else {
            Pace::InTime
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_parse_back_and_use_only_the_alphabet() {
        for _ in 0..200 {
            let code = UserCode::generate().unwrap();
            let s = code.as_str();
            assert_eq!(s.len(), 9);
            assert_eq!(&s[4..5], "-");
            assert!(
                s.bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| ALPHABET.contains(&b))
            );
            assert_eq!(UserCode::parse(s).as_ref(), Some(&code));
        }
    }

    #[test]
    fn typed_codes_are_read_leniently_but_never_loosely() {
        let code = UserCode::parse("bdfh-kmnp").unwrap();
        assert_eq!(code.as_str(), "BDFH-KMNP");
        assert_eq!(UserCode::parse(" BDFHKMNP "), Some(code.clone()));
        assert_eq!(UserCode::parse("BD-FH KM-NP"), Some(code));
        for bad in [
            "",
            "BDFH-KMN",
            "BDFH-KMNPQ",
            "BDFH-KMN0",
            "BDFH-KMNA",
            "BDFH_KMNP",
            "ΒDFH-KMNP",
        ] {
            assert_eq!(UserCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn letters_are_uniform_enough() {
        let mut counts = [0u32; 20];
        for _ in 0..2_000 {
            for b in UserCode::generate().unwrap().as_str().bytes() {
                if let Some(i) = ALPHABET.iter().position(|a| *a == b) {
                    counts[i] += 1;
                }
            }
        }
        // 16,000 letters, 800 expected each: a biased draw (one letter
        // twice as likely) would leave this band.
        assert!(counts.iter().all(|c| (600..1000).contains(c)), "{counts:?}");
    }

    #[test]
    fn too_fast_polls_slow_the_device_down_cumulatively() {
        let mut pace = PollPace::new(5);
        assert_eq!(pace.poll(0), Pace::InTime);
        assert_eq!(pace.poll(5), Pace::InTime);
        assert_eq!(pace.poll(6), Pace::TooFast);
        assert_eq!(pace.interval(), 10);
        assert_eq!(pace.poll(12), Pace::TooFast);
        assert_eq!(pace.interval(), 15);
        assert_eq!(pace.poll(27), Pace::InTime);
    }
}
