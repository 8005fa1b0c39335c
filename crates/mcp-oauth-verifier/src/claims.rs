//! What a verified request carries, and why a request is refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use mcp_oauth_core::challenge::BearerChallenge;
use mcp_oauth_core::error::ErrorCode;
use mcp_oauth_core::exchange::ActorClaim;
use mcp_oauth_core::scope::ScopeSet;
use serde_json::Value;

use crate::unavailable::Unavailable;

/// The caller of a verified request: inserted into the request's
/// extensions by the framework glue (as an `Arc<Claims>`, shared with the
/// token cache), read by tools with [`Claims::from_extensions`] or (with
/// the `rmcp` feature) `Claims::from_parts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// The user (or, for `client_credentials`, the client).
    pub subject: String,
    /// The client the token was issued to.
    pub client_id: Option<String>,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// The token's audiences.
    pub audience: Vec<String>,
    /// The issuer.
    pub issuer: Option<String>,
    /// Expiry (seconds since the epoch).
    pub expires_at: u64,
    /// Every claim as received (JWT payload or introspection response).
    pub raw: BTreeMap<String, Value>,
}

impl Claims {
    /// Whether the token grants `scope`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mcp_oauth_verifier::Claims;
    /// use mcp_oauth_verifier::core::scope::ScopeSet;
    ///
    /// let claims = Claims {
    ///     subject: "alice".into(),
    ///     client_id: Some("agent".into()),
    ///     scopes: ScopeSet::parse("mcp files:read")?,
    ///     audience: vec!["https://mcp.example.com/mcp".into()],
    ///     issuer: Some("https://auth.example.com".into()),
    ///     expires_at: 0,
    ///     raw: Default::default(),
    /// };
    /// assert!(claims.has_scope("files:read"));
    /// assert!(!claims.has_scope("files:write"));
    ///
    /// // The framework glue inserts them as `Arc<Claims>`; tools read them back.
    /// let mut extensions = http::Extensions::new();
    /// extensions.insert(Arc::new(claims.clone()));
    /// assert_eq!(Claims::from_extensions(&extensions), Some(&claims));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// The RFC 8693 §4.1 `act` claim of a delegated token: who acts for
    /// [`Claims::subject`] (for tokens of an `mcp-oauth` server, the client
    /// id of the resource server that exchanged the person's token), and,
    /// nested, who acted before them. `None` when the token carries no
    /// actor (the person's client calls directly) or a malformed one.
    ///
    /// ```
    /// use mcp_oauth_verifier::Claims;
    /// use mcp_oauth_verifier::core::scope::ScopeSet;
    ///
    /// let mut claims = Claims {
    ///     subject: "alice".into(),
    ///     client_id: Some("agent".into()),
    ///     scopes: ScopeSet::parse("mcp")?,
    ///     audience: vec!["https://b.example.com/mcp".into()],
    ///     issuer: Some("https://auth.example.com".into()),
    ///     expires_at: 0,
    ///     raw: Default::default(),
    /// };
    /// assert_eq!(claims.act(), None);
    /// claims.raw.insert(
    ///     "act".into(),
    ///     serde_json::json!({"sub": "mcp-b", "act": {"sub": "mcp-a"}}),
    /// );
    /// let act = claims.act().expect("an actor");
    /// assert_eq!(act.sub, "mcp-b");
    /// assert_eq!(act.act.as_ref().map(|a| a.sub.as_str()), Some("mcp-a"));
    /// assert_eq!(act.depth(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn act(&self) -> Option<ActorClaim> {
        serde_json::from_value(self.raw.get("act")?.clone()).ok()
    }

    /// The claims of a request, from its `http::Extensions` (for example
    /// the `http::request::Parts` rmcp hands to tools); see
    /// [`Claims::has_scope`] for an example.
    pub fn from_extensions(extensions: &http::Extensions) -> Option<&Claims> {
        extensions.get::<Arc<Claims>>().map(AsRef::as_ref)
    }

    /// The claims of the request whose `http::request::Parts` rmcp hands to
    /// a tool (`Extension<http::request::Parts>`): inserted directly by the
    /// tower layer, or nested in rmcp's own extensions by `rmcp-actix-web`'s
    /// `on_request` hook. The same call works under axum and actix-web.
    #[cfg(feature = "rmcp")]
    pub fn from_parts(parts: &http::request::Parts) -> Option<&Claims> {
        Self::from_extensions(&parts.extensions).or_else(|| {
            parts
                .extensions
                .get::<rmcp::model::Extensions>()
                .and_then(|e| e.get::<Arc<Claims>>())
                .map(AsRef::as_ref)
        })
    }
}

/// Why a request is refused, with the response it deserves (RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No credentials: 401 with a challenge and no error code.
    #[error("no access token")]
    MissingToken,
    /// Malformed request (bad `Authorization` header, a token in the query
    /// string or body, several methods): 400 `invalid_request`.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Expired, revoked, malformed, wrongly signed, foreign issuer or
    /// audience: 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// Valid token lacking scopes: 403 `insufficient_scope`, naming the
    /// scopes the request needs.
    #[error("insufficient scope; needs {required}")]
    InsufficientScope {
        /// What the request needs (all required scopes).
        required: ScopeSet,
    },
    /// The authorization server could not be reached to verify: 503. The
    /// request is refused (fail closed).
    #[error("authorization server unavailable")]
    Unavailable(#[source] Unavailable),
    /// The request carries an `Origin` header naming a site this resource
    /// does not allow (or `null`): 403 before any token is looked at, with
    /// a JSON-RPC error body and no challenge, since no token can cure it
    /// (MCP Streamable HTTP transport; see [`Verifier::check_origin`]).
    ///
    /// [`Verifier::check_origin`]: crate::Verifier::check_origin
    #[error("origin not allowed")]
    ForbiddenOrigin,
}

impl Rejection {
    /// The HTTP status.
    ///
    /// ```
    /// use mcp_oauth_verifier::{Rejection, Unavailable};
    ///
    /// assert_eq!(Rejection::MissingToken.status(), 401);
    /// assert_eq!(Rejection::InvalidRequest("two tokens".into()).status(), 400);
    /// assert_eq!(Rejection::Unavailable(Unavailable::new("timeout")).status(), 503);
    /// assert_eq!(
    ///     Rejection::InvalidToken("token expired".into()).body()["error"],
    ///     "invalid_token"
    /// );
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => 401,
            Self::InvalidRequest(_) => 400,
            Self::InsufficientScope { .. } | Self::ForbiddenOrigin => 403,
            Self::Unavailable(_) => 503,
        }
    }

    /// Whether the response carries a `WWW-Authenticate` challenge: every
    /// rejection does except [`Rejection::ForbiddenOrigin`], which is not
    /// about credentials.
    ///
    /// ```
    /// use mcp_oauth_verifier::Rejection;
    ///
    /// assert!(Rejection::MissingToken.has_challenge());
    /// assert!(!Rejection::ForbiddenOrigin.has_challenge());
    /// assert_eq!(Rejection::ForbiddenOrigin.status(), 403);
    /// ```
    pub fn has_challenge(&self) -> bool {
        !matches!(self, Self::ForbiddenOrigin)
    }

    /// The JSON body sent with the rejection (RFC 6750 error codes; the
    /// details stay in `error_description`, the challenge is in the header).
    /// A forbidden origin gets a JSON-RPC error object without `id`, as the
    /// MCP transport suggests.
    pub fn body(&self) -> serde_json::Value {
        let (error, description) = match self {
            Self::ForbiddenOrigin => {
                return serde_json::json!({
                    "jsonrpc": "2.0",
                    "error": {"code": -32600, "message": "this Origin may not use the MCP endpoint"},
                });
            }
            Self::MissingToken => ("unauthorized", "an access token is required".to_owned()),
            Self::InvalidRequest(d) => ("invalid_request", d.clone()),
            Self::InvalidToken(d) => ("invalid_token", d.clone()),
            Self::InsufficientScope { required } => {
                return serde_json::json!({"error": "insufficient_scope", "scope": required.to_string()});
            }
            Self::Unavailable(_) => (
                "temporarily_unavailable",
                "the authorization server cannot be reached".to_owned(),
            ),
        };
        serde_json::json!({"error": error, "error_description": description})
    }

    /// The `WWW-Authenticate` challenge, carrying `resource_metadata` and
    /// the scopes the resource needs.
    pub fn challenge(&self, resource_metadata: &str, required: &ScopeSet) -> BearerChallenge {
        let base = BearerChallenge::new().resource_metadata(resource_metadata);
        let with_scope = |c: BearerChallenge| {
            if required.is_empty() {
                c
            } else {
                c.scope(required.clone())
            }
        };
        match self {
            Self::MissingToken | Self::Unavailable(_) | Self::ForbiddenOrigin => with_scope(base),
            Self::InvalidRequest(d) => {
                with_scope(base.error(ErrorCode::InvalidRequest).error_description(d))
            }
            Self::InvalidToken(d) => {
                with_scope(base.error(ErrorCode::InvalidToken).error_description(d))
            }
            Self::InsufficientScope { required } => base
                .error(ErrorCode::InsufficientScope)
                .scope(required.clone())
                .error_description("the access token lacks scopes this request needs"),
        }
    }
}
