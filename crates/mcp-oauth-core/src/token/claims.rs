//! The RFC 9068 claims of a JWT access token and their time checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::resource::ResourceUri;
use crate::scope::ScopeSet;
use crate::serde_util::opt_scope_lenient;

/// A JWT `aud`: one string or an array of strings (RFC 7519 §4.1.3).
/// Serialized as a bare string when it holds exactly one value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// One audience.
    pub fn single(aud: impl Into<String>) -> Self {
        Self(vec![aud.into()])
    }

    /// The values.
    pub fn values(&self) -> &[String] {
        &self.0
    }

    /// Whether any value names `resource` (compared as RFC 8707 resources,
    /// see [`ResourceUri::matches`]).
    pub fn contains_resource(&self, resource: &ResourceUri) -> bool {
        self.0.iter().any(|a| resource.matches(a))
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(s) => Self(vec![s]),
            OneOrMany::Many(v) => Self(v),
        })
    }
}

/// RFC 9068 §2.2 claims of a JWT access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, or the client for `client_credentials`.
    pub sub: String,
    /// Audience: the resource(s) the token is for.
    pub aud: Audience,
    /// The client the token was issued to.
    pub client_id: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Unique identifier, for revocation.
    pub jti: String,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Granted scopes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_scope_lenient"
    )]
    pub scope: Option<ScopeSet>,
    /// When the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// Other claims.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Why a token's time claims reject it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeValidationError {
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
}

impl AccessTokenClaims {
    /// The granted scopes (empty when absent).
    pub fn scopes(&self) -> ScopeSet {
        self.scope.clone().unwrap_or_default()
    }

    /// Checks `exp` and `nbf` against `now` (seconds since the epoch),
    /// allowing `leeway` seconds of clock skew.
    pub fn validate_time(&self, now: u64, leeway: u64) -> Result<(), TimeValidationError> {
        if now >= self.exp.saturating_add(leeway) {
            return Err(TimeValidationError::Expired);
        }
        if self.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(TimeValidationError::NotYetValid);
        }
        Ok(())
    }
}
