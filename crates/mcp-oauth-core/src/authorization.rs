//! The authorization endpoint (RFC 6749 §4.1.1-4.1.2, RFC 7636, RFC 8707,
//! RFC 9207): the request a client sends through the browser, and the
//! response that comes back on the redirect URI, with the `state` and `iss`
//! checks a client must make before it redeems the code.
//!
//! ```
//! use mcp_oauth_core::authorization::{AuthorizationRequest, AuthorizationResponse};
//! use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
//!
//! let verifier = PkceVerifier::generate()?;
//! let request = AuthorizationRequest::new("agent-1", "http://127.0.0.1:4000/cb", &PkceChallenge::s256(&verifier))
//!     .state("xyz")
//!     .resource("https://mcp.example.com/mcp");
//! let url = request.to_url("https://as.example/authorize")?;
//! assert!(url.as_str().contains("code_challenge_method=S256"));
//!
//! // Back on the redirect URI:
//! let response = AuthorizationResponse::from_query("code=abc&state=xyz&iss=https%3A%2F%2Fas.example")?;
//! let code = response.validate("xyz", "https://as.example", true)?;
//! assert_eq!(code.secret(), "abc");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ErrorResponse};
use crate::issuer::issuer_eq;
use crate::pkce::PkceChallenge;
use crate::secret::{AuthorizationCode, constant_time_eq};

/// An authorization request, as query parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// Always `code`.
    pub response_type: String,
    /// The client.
    pub client_id: String,
    /// Where the response goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// Requested scope, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Opaque value echoed back; binds the response to this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// PKCE challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// PKCE method (`S256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
    /// RFC 8707 resource indicator: the MCP server's canonical URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// OpenID Connect: the value the ID token must repeat, binding it to
    /// this request (at most [`MAX_NONCE_LEN`] characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The longest OpenID Connect `nonce` a server of this crate accepts, in
/// characters. The nonce travels in the pending request, the stored code
/// and the ID token; bounding it keeps those small (clients send 16 to 64
/// random characters).
pub const MAX_NONCE_LEN: usize = 512;

impl AuthorizationRequest {
    /// A `code` request with PKCE.
    pub fn new(
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
        challenge: &PkceChallenge,
    ) -> Self {
        Self {
            response_type: "code".to_owned(),
            client_id: client_id.into(),
            redirect_uri: Some(redirect_uri.into()),
            scope: None,
            state: None,
            code_challenge: Some(challenge.as_str().to_owned()),
            code_challenge_method: Some(challenge.method().as_str().to_owned()),
            resource: None,
            nonce: None,
        }
    }

    /// Sets `state`.
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Sets `scope` (omitted when empty).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        self.scope = (!scope.is_empty()).then_some(scope);
        self
    }

    /// Sets `resource`.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the OpenID Connect `nonce`.
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// The full authorization URL: the endpoint with these parameters
    /// appended to any it already has.
    pub fn to_url(&self, authorization_endpoint: &str) -> Result<url::Url, url::ParseError> {
        let mut url = url::Url::parse(authorization_endpoint)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", &self.response_type);
            q.append_pair("client_id", &self.client_id);
            let optional = [
                ("redirect_uri", &self.redirect_uri),
                ("scope", &self.scope),
                ("state", &self.state),
                ("code_challenge", &self.code_challenge),
                ("code_challenge_method", &self.code_challenge_method),
                ("resource", &self.resource),
                ("nonce", &self.nonce),
            ];
            for (name, value) in optional {
                if let Some(v) = value {
                    q.append_pair(name, v);
                }
            }
        }
        Ok(url)
    }
}

/// The parameters that arrive on the redirect URI: a code, or an error.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuthorizationResponse {
    /// The code (success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<AuthorizationCode>,
    /// The `state` from the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// RFC 9207 issuer identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Error code (failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    /// Error description (failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Error page (failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

/// Why a client must not use an authorization response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationResponseError {
    /// The query string could not be decoded.
    #[error("malformed authorization response: {0}")]
    Malformed(String),
    /// `state` is missing or differs: possible CSRF.
    #[error("state does not match the request")]
    StateMismatch,
    /// `iss` differs from the recorded issuer: possible mix-up attack.
    #[error("iss {found:?} does not match the expected issuer {expected:?}")]
    IssuerMismatch {
        /// The issuer the client recorded before redirecting.
        expected: String,
        /// What the response said.
        found: String,
    },
    /// The server advertises `iss` but the response lacks it.
    #[error("the authorization server promises iss, but the response has none")]
    IssuerMissing,
    /// The server returned an error (only reported after `state` and `iss`
    /// checked out).
    #[error("authorization failed: {0}")]
    Denied(ErrorResponse),
    /// Neither `code` nor `error`.
    #[error("authorization response has neither code nor error")]
    NoCode,
}

impl AuthorizationResponse {
    /// Decodes the query string of the redirect.
    pub fn from_query(query: &str) -> Result<Self, AuthorizationResponseError> {
        serde_urlencoded::from_str(query)
            .map_err(|e| AuthorizationResponseError::Malformed(e.to_string()))
    }

    /// Applies the checks the MCP spec requires before a code is redeemed:
    /// `state` equals the one sent; `iss` (RFC 9207 §2.4, MCP 2026-07-28)
    /// compared by simple string comparison when present, and required when
    /// the server advertises `authorization_response_iss_parameter_supported`.
    /// Errors from the server are reported only after these checks pass, so
    /// a forged error is never acted upon.
    pub fn validate(
        &self,
        expected_state: &str,
        expected_issuer: &str,
        iss_advertised: bool,
    ) -> Result<&AuthorizationCode, AuthorizationResponseError> {
        match &self.iss {
            Some(iss) if !issuer_eq(iss, expected_issuer) => {
                return Err(AuthorizationResponseError::IssuerMismatch {
                    expected: expected_issuer.to_owned(),
                    found: iss.clone(),
                });
            }
            None if iss_advertised => return Err(AuthorizationResponseError::IssuerMissing),
            _ => {}
        }
        let state_ok = self
            .state
            .as_deref()
            .is_some_and(|s| constant_time_eq(s.as_bytes(), expected_state.as_bytes()));
        if !state_ok {
            return Err(AuthorizationResponseError::StateMismatch);
        }
        if let Some(error) = &self.error {
            let mut e = ErrorResponse::new(error.clone());
            e.error_description = self.error_description.clone();
            e.error_uri = self.error_uri.clone();
            return Err(AuthorizationResponseError::Denied(e));
        }
        self.code.as_ref().ok_or(AuthorizationResponseError::NoCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkce::PkceVerifier;

    const ISS: &str = "https://as.example";

    #[test]
    fn request_url_keeps_existing_query() {
        let v = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let r = AuthorizationRequest::new("c", "http://127.0.0.1/cb", &PkceChallenge::s256(&v))
            .state("s")
            .scope("")
            .resource("https://mcp.example.com");
        let url = r.to_url("https://as.example/authorize?tenant=1").unwrap();
        assert_eq!(
            url.as_str(),
            "https://as.example/authorize?tenant=1&response_type=code&client_id=c&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example.com"
        );
        let back: AuthorizationRequest = serde_urlencoded::from_str(url.query().unwrap()).unwrap();
        assert_eq!(back.resource.as_deref(), Some("https://mcp.example.com"));
    }

    #[test]
    fn spec_iss_table() {
        let with = AuthorizationResponse::from_query("code=c&state=s&iss=https%3A%2F%2Fas.example")
            .unwrap();
        let without = AuthorizationResponse::from_query("code=c&state=s").unwrap();
        let wrong =
            AuthorizationResponse::from_query("code=c&state=s&iss=https%3A%2F%2Fas.example%2F")
                .unwrap();
        // advertised + present: compare
        assert!(with.validate("s", ISS, true).is_ok());
        assert!(matches!(
            wrong.validate("s", ISS, true),
            Err(AuthorizationResponseError::IssuerMismatch { .. })
        ));
        // advertised + absent: reject
        assert_eq!(
            without.validate("s", ISS, true),
            Err(AuthorizationResponseError::IssuerMissing)
        );
        // not advertised + present: compare anyway
        assert!(with.validate("s", ISS, false).is_ok());
        assert!(wrong.validate("s", ISS, false).is_err());
        // not advertised + absent: proceed
        assert!(without.validate("s", ISS, false).is_ok());
    }

    #[test]
    fn state_and_errors() {
        let r = AuthorizationResponse::from_query("code=c&state=other").unwrap();
        assert_eq!(
            r.validate("s", ISS, false),
            Err(AuthorizationResponseError::StateMismatch)
        );
        let r = AuthorizationResponse::from_query("code=c").unwrap();
        assert_eq!(
            r.validate("s", ISS, false),
            Err(AuthorizationResponseError::StateMismatch)
        );
        let denied = AuthorizationResponse::from_query(
            "error=access_denied&state=s&iss=https%3A%2F%2Fas.example",
        )
        .unwrap();
        match denied.validate("s", ISS, true) {
            Err(AuthorizationResponseError::Denied(e)) => {
                assert_eq!(e.error, ErrorCode::AccessDenied)
            }
            other => panic!("unexpected {other:?}"),
        }
        // A forged error from another issuer is not reported as a denial.
        let forged = AuthorizationResponse::from_query(
            "error=access_denied&state=s&iss=https%3A%2F%2Fevil.example",
        )
        .unwrap();
        assert!(matches!(
            forged.validate("s", ISS, false),
            Err(AuthorizationResponseError::IssuerMismatch { .. })
        ));
        let empty = AuthorizationResponse::from_query("state=s").unwrap();
        assert_eq!(
            empty.validate("s", ISS, false),
            Err(AuthorizationResponseError::NoCode)
        );
        assert!(AuthorizationResponse::from_query("code=a&code=b").is_err());
    }
}
