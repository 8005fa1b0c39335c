//! Tolerant serde helpers for values that real servers send in more than one
//! shape.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Int(u64),
    Float(f64),
    Text(String),
}

/// An optional unsigned integer that may arrive as a JSON number (integer or
/// float) or as a numeric string (some servers send `"expires_in": "3600"`).
pub(crate) fn opt_u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v: Option<NumberOrString> = Option::deserialize(d)?;
    Ok(match v {
        None => None,
        Some(NumberOrString::Int(n)) => Some(n),
        Some(NumberOrString::Float(f)) if f.is_finite() && f >= 0.0 => Some(f as u64),
        Some(NumberOrString::Float(_)) => {
            return Err(serde::de::Error::custom("expected a non-negative number"));
        }
        Some(NumberOrString::Text(s)) => Some(
            s.trim()
                .parse::<u64>()
                .map_err(|_| serde::de::Error::custom("expected a number"))?,
        ),
    })
}

/// A boolean that may arrive as `true`/`false` or as the strings `"true"` /
/// `"false"`.
pub(crate) fn bool_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    match B::deserialize(d)? {
        B::Bool(b) => Ok(b),
        B::Text(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        B::Text(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        B::Text(_) => Err(serde::de::Error::custom("expected a boolean")),
    }
}

/// Optional variant of [`bool_lenient`].
pub(crate) fn opt_bool_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(deserialize_with = "bool_lenient")] bool);
    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
}

/// An optional scope that is read leniently: invalid tokens are dropped
/// rather than failing the whole response.
pub(crate) fn opt_scope_lenient<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::scope::ScopeSet>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|s| crate::scope::ScopeSet::parse_lossy(&s)))
}
