//! RFC 7662 token introspection.
//!
//! ```
//! use mcp_oauth_core::introspection::IntrospectionResponse;
//!
//! let inactive = IntrospectionResponse::inactive();
//! assert_eq!(serde_json::to_string(&inactive)?, r#"{"active":false}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scope::ScopeSet;
use crate::secret::AccessToken;
use crate::serde_util::{bool_lenient, opt_scope_lenient, opt_u64_lenient};
use crate::token::{AccessTokenClaims, Audience, ClientAuthParams, TokenTypeHint};

/// An RFC 7662 §2.1 introspection request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntrospectionRequest {
    /// The token to introspect.
    pub token: AccessToken,
    /// What kind of token it probably is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<TokenTypeHint>,
    /// Client authentication in the body.
    #[serde(flatten)]
    pub client: ClientAuthParams,
}

/// An RFC 7662 §2.2 introspection response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IntrospectionResponse {
    /// Whether the token is currently active. Everything else is meaningful
    /// only when this is `true`.
    #[serde(deserialize_with = "bool_lenient")]
    pub active: bool,
    /// Granted scopes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_scope_lenient"
    )]
    pub scope: Option<ScopeSet>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Human-readable identifier of the resource owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Type of the token (`Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64_lenient"
    )]
    pub exp: Option<u64>,
    /// Issued at.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64_lenient"
    )]
    pub iat: Option<u64>,
    /// Not before.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64_lenient"
    )]
    pub nbf: Option<u64>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl IntrospectionResponse {
    /// `{"active": false}`: the only thing RFC 7662 §2.2 lets a server say
    /// about an expired, revoked, unknown or foreign token.
    pub fn inactive() -> Self {
        Self::default()
    }

    /// An active response describing a JWT access token's claims.
    ///
    /// The RFC 8693 §4.1 `act` claim of a delegated token is carried too
    /// (RFC 8693 §4 defines it for introspection responses as for JWTs).
    pub fn from_claims(claims: &AccessTokenClaims) -> Self {
        let extra = claims
            .extra
            .get("act")
            .map(|act| BTreeMap::from([("act".to_owned(), act.clone())]))
            .unwrap_or_default();
        Self {
            active: true,
            scope: claims.scope.clone(),
            client_id: Some(claims.client_id.clone()),
            username: None,
            token_type: Some("Bearer".to_owned()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: claims.nbf,
            sub: Some(claims.sub.clone()),
            aud: Some(claims.aud.clone()),
            iss: Some(claims.iss.clone()),
            jti: Some(claims.jti.clone()),
            extra,
        }
    }

    /// The granted scopes (empty when absent).
    pub fn scopes(&self) -> ScopeSet {
        self.scope.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7662 §2.2 example response.
    const RFC7662_ACTIVE: &str = r#"{
        "active": true,
        "client_id": "l238j323ds-23ij4",
        "username": "jdoe",
        "scope": "read write dolphin",
        "sub": "Z5O3upPC88QrAjx00dis",
        "aud": "https://protected.example.net/resource",
        "iss": "https://server.example.com/",
        "exp": 1419356238,
        "iat": 1419350238,
        "extension_field": "twenty-seven"
    }"#;

    #[test]
    fn rfc7662_example_round_trips() {
        let value: Value = serde_json::from_str(RFC7662_ACTIVE).unwrap();
        let r: IntrospectionResponse = serde_json::from_value(value.clone()).unwrap();
        assert!(r.active);
        assert_eq!(r.scopes().len(), 3);
        assert_eq!(r.extra["extension_field"], "twenty-seven");
        assert_eq!(serde_json::to_value(&r).unwrap(), value);
    }

    #[test]
    fn inactive_and_lenient() {
        let r: IntrospectionResponse = serde_json::from_str(r#"{"active":"false"}"#).unwrap();
        assert!(!r.active);
        assert!(serde_json::from_str::<IntrospectionResponse>(r#"{"active":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<IntrospectionResponse>(r#"{}"#).is_err());
    }

    #[test]
    fn rfc7662_request_example() {
        let r: IntrospectionRequest =
            serde_urlencoded::from_str("token=mF_9.B5f-4.1JqM&token_type_hint=access_token")
                .unwrap();
        assert_eq!(r.token.secret(), "mF_9.B5f-4.1JqM");
        assert_eq!(r.token_type_hint, Some(TokenTypeHint::AccessToken));
    }

    #[test]
    fn from_claims() {
        let c: AccessTokenClaims = serde_json::from_str(
            r#"{"iss":"i","sub":"s","aud":"a","client_id":"c","exp":1000,"iat":900,"jti":"j","scope":"mcp"}"#,
        )
        .unwrap();
        let r = IntrospectionResponse::from_claims(&c);
        assert!(r.active);
        assert_eq!(r.sub.as_deref(), Some("s"));
        assert_eq!(r.scopes().to_string(), "mcp");
        assert!(r.extra.is_empty());
        // A delegated token's actor chain is carried; nothing else extra.
        let c: AccessTokenClaims = serde_json::from_str(
            r#"{"iss":"i","sub":"s","aud":"a","client_id":"c","exp":1000,"iat":900,"jti":"j",
                "act":{"sub":"rs-a"},"email":"x@example.com"}"#,
        )
        .unwrap();
        let r = IntrospectionResponse::from_claims(&c);
        assert_eq!(r.extra.keys().collect::<Vec<_>>(), ["act"]);
        assert_eq!(r.extra["act"]["sub"], "rs-a");
    }
}
