//! `WWW-Authenticate` parsing: never panics, and what our builder writes
//! back from a parsed Bearer challenge parses to the same challenge.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::challenge::{BearerChallenge, parse_challenges};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    for challenge in parse_challenges(header) {
        assert!(!challenge.scheme.is_empty());
    }
    if let Some(bearer) = BearerChallenge::parse(header) {
        let written = bearer.to_header_value();
        let again = BearerChallenge::parse(&written).expect("our own header parses");
        assert_eq!(again, bearer, "round trip of {written:?}");
    }
});
