//! RFC 8693 token exchange and RFC 7523 JWT authorization grants, as the MCP
//! extension `io.modelcontextprotocol/enterprise-managed-authorization` uses
//! them: an enterprise identity provider exchanges a person's ID token for an
//! Identity Assertion JWT Authorization Grant (ID-JAG), and the MCP server's
//! authorization server takes that grant at its token endpoint.
//!
//! | item | what |
//! |---|---|
//! | [`TokenTypeId`] | RFC 8693 §3 token type identifiers (`subject_token_type`, `issued_token_type`, …) |
//! | [`IdJagClaims`], [`ID_JAG_JWT_TYPE`] | the claims and JOSE `typ` of an ID-JAG |
//! | [`IdJagExpectations`], [`IdJagError`] | the receiving server's checks, each refusal a precise `invalid_grant` |
//! | [`ActorClaim`] | the RFC 8693 §4.1 `act` claim of a delegated token |
//!
//! # Example: the checks an authorization server runs on an ID-JAG
//!
//! ```
//! use mcp_oauth_core::exchange::{IdJagClaims, IdJagError, IdJagExpectations};
//!
//! let claims: IdJagClaims = serde_json::from_value(serde_json::json!({
//!     "iss": "https://idp.example", "sub": "U019488227",
//!     "aud": "https://auth.example", "resource": "https://mcp.example/mcp",
//!     "client_id": "agent", "jti": "9e43f81b", "iat": 1000, "exp": 1300,
//!     "scope": "mcp.read",
//! }))?;
//! let expect = IdJagExpectations {
//!     issuer: "https://auth.example",
//!     client_id: "agent",
//!     now: 1100,
//!     leeway: 30,
//!     max_lifetime: 3600,
//! };
//! assert_eq!(claims.check(&expect), Ok(()));
//! let other_client = IdJagExpectations { client_id: "someone-else", ..expect };
//! assert_eq!(claims.check(&other_client), Err(IdJagError::WrongClient));
//! let later = IdJagExpectations { now: 1400, ..expect };
//! assert_eq!(claims.check(&later), Err(IdJagError::Expired));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorResponse;
use crate::resource::ResourceUri;
use crate::scope::ScopeSet;
use crate::serde_util::{opt_bool_lenient, opt_scope_lenient};
use crate::token::Audience;
pub use crate::token::TokenTypeId;

/// The JOSE `typ` an ID-JAG must carry (the extension, §4.3).
pub const ID_JAG_JWT_TYPE: &str = "oauth-id-jag+jwt";

/// The MCP extension identifier of enterprise-managed authorization.
pub const ENTERPRISE_MANAGED_AUTHORIZATION: &str =
    "io.modelcontextprotocol/enterprise-managed-authorization";

/// The claims of an Identity Assertion JWT Authorization Grant (the
/// extension, §4.3). Every claim the extension requires is a plain field, so
/// decoding fails (naming the claim) when one is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdJagClaims {
    /// The identity provider that issued the grant.
    pub iss: String,
    /// The person, as the identity provider names them.
    pub sub: String,
    /// The authorization server the grant is for (its issuer).
    pub aud: Audience,
    /// The MCP server (RFC 9728 resource identifier) the grant is for.
    pub resource: String,
    /// The client the grant was issued to, as registered at the audience.
    pub client_id: String,
    /// Unique identifier, for replay detection.
    pub jti: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The scopes the identity provider grants (none: the provider did not
    /// say, so nothing beyond what the client may have anyway).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_scope_lenient"
    )]
    pub scope: Option<ScopeSet>,
    /// The person's e-mail address, when the provider shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the provider verified that address (`"true"` as a string
    /// is read as `true`: some providers send it so).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_bool_lenient"
    )]
    pub email_verified: Option<bool>,
    /// Other claims.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// What the receiving authorization server expects of an ID-JAG, for
/// [`IdJagClaims::check`]. The issuer and signature are the caller's to
/// check first (they need the trusted provider's keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdJagExpectations<'a> {
    /// This server's issuer, exactly as configured: `aud` must hold it.
    pub issuer: &'a str,
    /// The authenticated client: `client_id` must equal it.
    pub client_id: &'a str,
    /// Now, in seconds since the epoch.
    pub now: u64,
    /// Allowed clock skew in seconds.
    pub leeway: u64,
    /// The longest lifetime (`exp - iat`) accepted, in seconds.
    pub max_lifetime: u64,
}

/// Why an ID-JAG is refused; [`ErrorResponse::from`] makes it the
/// `invalid_grant` answer of RFC 6749 §5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdJagError {
    /// The JOSE `typ` is not `oauth-id-jag+jwt`.
    #[error("the assertion's typ is not oauth-id-jag+jwt")]
    WrongType,
    /// `aud` does not name this authorization server.
    #[error("the assertion is not for this authorization server (aud)")]
    WrongAudience,
    /// `client_id` names another client.
    #[error("the assertion was issued to another client (client_id)")]
    WrongClient,
    /// `resource` is not a canonical resource URI.
    #[error("the assertion's resource is not a valid resource identifier")]
    InvalidResource,
    /// `exp` is past.
    #[error("the assertion expired")]
    Expired,
    /// `iat` or `nbf` lies in the future.
    #[error("the assertion is not valid yet")]
    NotYetValid,
    /// `exp - iat` exceeds the accepted lifetime.
    #[error("the assertion lives longer than this server accepts")]
    TooLong,
}

impl From<IdJagError> for ErrorResponse {
    fn from(e: IdJagError) -> Self {
        ErrorResponse::invalid_grant(e.to_string())
    }
}

impl IdJagClaims {
    /// Runs the checks of the extension (§5.1) and RFC 7523 §3 that need no
    /// key: audience, client, resource syntax, and time with `leeway`.
    pub fn check(&self, expect: &IdJagExpectations<'_>) -> Result<(), IdJagError> {
        if !self.aud.values().iter().any(|a| a == expect.issuer) {
            return Err(IdJagError::WrongAudience);
        }
        if self.client_id != expect.client_id {
            return Err(IdJagError::WrongClient);
        }
        self.resource_uri()?;
        if expect.now >= self.exp.saturating_add(expect.leeway) {
            return Err(IdJagError::Expired);
        }
        let future = expect.now.saturating_add(expect.leeway);
        if self.iat > future || self.nbf.is_some_and(|nbf| nbf > future) {
            return Err(IdJagError::NotYetValid);
        }
        if self.exp.saturating_sub(self.iat) > expect.max_lifetime {
            return Err(IdJagError::TooLong);
        }
        Ok(())
    }

    /// `resource`, parsed as an RFC 8707 resource URI.
    pub fn resource_uri(&self) -> Result<ResourceUri, IdJagError> {
        ResourceUri::parse(&self.resource).map_err(|_| IdJagError::InvalidResource)
    }
}

/// The RFC 8693 §4.1 `act` claim: who acts for the token's subject, and,
/// nested, who acted before them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorClaim {
    /// The acting party (for this server's tokens: a client identifier).
    pub sub: String,
    /// The client the actor used, when it differs from `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The actor before this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<ActorClaim>>,
}

impl ActorClaim {
    /// An actor named `sub`, acting after `previous` (the chain so far).
    pub fn new(sub: impl Into<String>, previous: Option<ActorClaim>) -> Self {
        Self {
            sub: sub.into(),
            client_id: None,
            act: previous.map(Box::new),
        }
    }

    /// How many actors the chain holds (this one included).
    pub fn depth(&self) -> usize {
        1 + self.act.as_ref().map_or(0, |a| a.depth())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> IdJagClaims {
        serde_json::from_value(serde_json::json!({
            "iss": "https://idp.example", "sub": "u1", "aud": ["https://as.example"],
            "resource": "https://mcp.example/mcp", "client_id": "c", "jti": "j",
            "iat": 1000, "exp": 1300,
        }))
        .unwrap()
    }

    fn expect() -> IdJagExpectations<'static> {
        IdJagExpectations {
            issuer: "https://as.example",
            client_id: "c",
            now: 1000,
            leeway: 30,
            max_lifetime: 600,
        }
    }

    #[test]
    fn each_refusal_has_its_reason() {
        assert_eq!(claims().check(&expect()), Ok(()));
        let mut c = claims();
        c.aud = Audience::single("https://as.example/");
        assert_eq!(c.check(&expect()), Err(IdJagError::WrongAudience));
        let mut c = claims();
        c.resource = "not a uri".into();
        assert_eq!(c.check(&expect()), Err(IdJagError::InvalidResource));
        let mut c = claims();
        c.resource = "https://mcp.example/mcp#frag".into();
        assert_eq!(c.check(&expect()), Err(IdJagError::InvalidResource));
        let now = |now| IdJagExpectations { now, ..expect() };
        assert_eq!(claims().check(&now(1329)), Ok(()));
        assert_eq!(claims().check(&now(1330)), Err(IdJagError::Expired));
        assert_eq!(claims().check(&now(969)), Err(IdJagError::NotYetValid));
        let mut c = claims();
        c.nbf = Some(1100);
        assert_eq!(c.check(&expect()), Err(IdJagError::NotYetValid));
        let mut c = claims();
        c.exp = 2000;
        assert_eq!(c.check(&expect()), Err(IdJagError::TooLong));
    }

    #[test]
    fn a_missing_claim_is_named() {
        let e = serde_json::from_value::<IdJagClaims>(serde_json::json!({
            "iss": "i", "sub": "s", "aud": "a", "client_id": "c", "jti": "j",
            "iat": 1, "exp": 2,
        }))
        .unwrap_err();
        assert!(e.to_string().contains("resource"), "{e}");
    }

    #[test]
    fn email_verified_as_a_string_is_read() {
        let mut json = serde_json::to_value(claims()).unwrap();
        json["email_verified"] = "true".into();
        let c: IdJagClaims = serde_json::from_value(json).unwrap();
        assert_eq!(c.email_verified, Some(true));
    }

    #[test]
    fn actor_chains_nest() {
        let chain = ActorClaim::new("second", Some(ActorClaim::new("first", None)));
        assert_eq!(chain.depth(), 2);
        let json = serde_json::to_value(&chain).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"sub": "second", "act": {"sub": "first"}})
        );
        assert_eq!(
            TokenTypeId::IdJag.as_str(),
            "urn:ietf:params:oauth:token-type:id-jag"
        );
    }
}
