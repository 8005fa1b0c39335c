//! Scope sets (RFC 6749 §3.3).
//!
//! A scope is a space-separated list of case-sensitive tokens whose order
//! does not matter. [`ScopeSet`] keeps the first-seen order for output (so a
//! value round-trips unchanged), drops duplicates, and compares as a set.
//!
//! ```
//! use mcp_oauth_core::scope::ScopeSet;
//!
//! let granted: ScopeSet = "mcp read".parse()?;
//! let needed: ScopeSet = "read write".parse()?;
//! assert!(!needed.is_subset(&granted));
//! assert_eq!(needed.difference(&granted).to_string(), "write");
//! assert_eq!(granted.union(&needed).to_string(), "mcp read write");
//! assert_eq!("read  mcp read".parse::<ScopeSet>()?, granted); // order-free
//! # Ok::<(), mcp_oauth_core::scope::ScopeError>(())
//! ```

use std::fmt;

/// A scope value broke the RFC 6749 §3.3 grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A scope token holds a character outside `%x21 / %x23-5B / %x5D-7E`
    /// (no controls, no `"`, no `\`, no non-ASCII).
    #[error("scope token {0:?} contains a character RFC 6749 §3.3 does not allow")]
    InvalidToken(String),
    /// More distinct tokens than [`MAX_SCOPE_TOKENS`].
    #[error("more than {MAX_SCOPE_TOKENS} scope tokens")]
    TooMany,
}

/// Most distinct tokens a scope value may hold. Real values hold a handful;
/// the cap keeps a hostile value (a 64 KiB `scope` of distinct tokens) from
/// costing more than a normal one.
pub const MAX_SCOPE_TOKENS: usize = 128;

/// A set of scope tokens; see the [module documentation](self).
#[derive(Clone, Default)]
pub struct ScopeSet(Vec<String>);

/// Whether `token` is a valid RFC 6749 §3.3 `scope-token`.
pub fn is_valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl ScopeSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a space-separated scope string. Runs of spaces are tolerated;
    /// invalid tokens, and more than [`MAX_SCOPE_TOKENS`] distinct ones,
    /// are refused. Linear in the length of `value`.
    pub fn parse(value: &str) -> Result<Self, ScopeError> {
        let mut seen = std::collections::HashSet::new();
        let mut set = Self::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if !is_valid_scope_token(token) {
                return Err(ScopeError::InvalidToken(token.to_owned()));
            }
            if seen.insert(token) {
                if set.0.len() == MAX_SCOPE_TOKENS {
                    return Err(ScopeError::TooMany);
                }
                set.0.push(token.to_owned());
            }
        }
        Ok(set)
    }

    /// Parses like [`ScopeSet::parse`] but drops invalid tokens, and every
    /// distinct token past [`MAX_SCOPE_TOKENS`], instead of failing: for
    /// reading what another party sent, where a bad token is worth ignoring
    /// rather than refusing the whole value.
    pub fn parse_lossy(value: &str) -> Self {
        let mut seen = std::collections::HashSet::new();
        let mut set = Self::new();
        for token in value.split(' ').filter(|t| is_valid_scope_token(t)) {
            if set.0.len() == MAX_SCOPE_TOKENS {
                break;
            }
            if seen.insert(token) {
                set.0.push(token.to_owned());
            }
        }
        set
    }

    /// Adds one token (if absent). Returns whether it was added. The caller
    /// is trusted to pass a valid token; [`ScopeSet::parse`] validates.
    pub fn insert(&mut self, token: impl Into<String>) -> bool {
        let token = token.into();
        if self.contains(&token) {
            false
        } else {
            self.0.push(token);
            true
        }
    }

    /// Whether the set holds `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of distinct tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The tokens, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.iter().all(|t| other.contains(t))
    }

    /// Tokens of either set: `self`'s first, then `other`'s new ones.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        let mut out = self.clone();
        for t in other.iter() {
            out.insert(t);
        }
        out
    }

    /// Tokens in both sets, in `self`'s order.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(
            self.0
                .iter()
                .filter(|t| other.contains(t))
                .cloned()
                .collect(),
        )
    }

    /// Tokens of `self` that `other` lacks, in `self`'s order.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(
            self.0
                .iter()
                .filter(|t| !other.contains(t))
                .cloned()
                .collect(),
        )
    }

    /// The tokens sorted, for a canonical form (storage keys, cache keys).
    pub fn to_sorted_string(&self) -> String {
        let mut v: Vec<&str> = self.iter().collect();
        v.sort_unstable();
        v.join(" ")
    }
}

impl PartialEq for ScopeSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.is_subset(other)
    }
}

impl Eq for ScopeSet {}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

crate::macros::string_serde!(ScopeSet, ScopeError, ScopeSet::parse);

impl<S: Into<String>> FromIterator<S> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut set = Self::new();
        for t in iter {
            set.insert(t);
        }
        set
    }
}

impl<S: Into<String>> Extend<S> for ScopeSet {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for t in iter {
            self.insert(t);
        }
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a str;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, String>, fn(&'a String) -> &'a str>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_dedupes_and_keeps_order() {
        let s = ScopeSet::parse("  b a  b c ").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.to_string(), "b a c");
        assert_eq!(s.to_sorted_string(), "a b c");
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_invalid_tokens() {
        assert!(ScopeSet::parse("ok \"quoted\"").is_err());
        assert!(ScopeSet::parse("back\\slash").is_err());
        assert!(ScopeSet::parse("tab\there").is_err());
        assert!(ScopeSet::parse("ünïcode").is_err());
        assert!(ScopeSet::parse("files:read mcp:tools/call").is_ok());
    }

    #[test]
    fn hostile_values_are_bounded() {
        let many: Vec<String> = (0..10_000).map(|i| format!("s{i}")).collect();
        let value = many.join(" ");
        assert_eq!(ScopeSet::parse(&value), Err(ScopeError::TooMany));
        assert_eq!(ScopeSet::parse_lossy(&value).len(), MAX_SCOPE_TOKENS);
        let exactly: Vec<&str> = many
            .iter()
            .take(MAX_SCOPE_TOKENS)
            .map(String::as_str)
            .collect();
        assert_eq!(
            ScopeSet::parse(&exactly.join(" ")).map(|s| s.len()),
            Ok(MAX_SCOPE_TOKENS)
        );
        // Repeats do not count.
        let repeated = vec!["mcp"; 10_000].join(" ");
        assert_eq!(ScopeSet::parse(&repeated).map(|s| s.len()), Ok(1));
    }

    #[test]
    fn set_algebra() {
        let a: ScopeSet = "a b".parse().unwrap();
        let b: ScopeSet = "b c".parse().unwrap();
        assert_eq!(a.union(&b), "a b c".parse().unwrap());
        assert_eq!(a.intersection(&b).to_string(), "b");
        assert_eq!(a.difference(&b).to_string(), "a");
        assert!(ScopeSet::new().is_subset(&a));
        assert!(!a.is_subset(&b));
        assert_eq!(a, "b a".parse().unwrap());
        assert_ne!(a, "a".parse().unwrap());
    }

    #[test]
    fn serde_as_space_separated_string() {
        let s: ScopeSet = serde_json::from_str("\"mcp read\"").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"mcp read\"");
        assert!(serde_json::from_str::<ScopeSet>("\"a\\\\b\"").is_err());
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(tokens in proptest::collection::vec("[!#-\\[\\]-~]{1,8}", 0..8)) {
            let set: ScopeSet = tokens.iter().cloned().collect();
            let again = ScopeSet::parse(&set.to_string()).unwrap();
            prop_assert_eq!(&again, &set);
            prop_assert_eq!(again.to_string(), set.to_string());
        }

        #[test]
        fn union_is_superset_of_both(a in "[a-e ]{0,12}", b in "[a-e ]{0,12}") {
            let a = ScopeSet::parse(&a).unwrap();
            let b = ScopeSet::parse(&b).unwrap();
            let u = a.union(&b);
            prop_assert!(a.is_subset(&u) && b.is_subset(&u));
            prop_assert_eq!(u.difference(&a), b.difference(&a));
        }
    }
}
