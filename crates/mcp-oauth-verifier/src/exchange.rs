//! RFC 8693 token exchange from a tool: the bearer token a request carried
//! is exchanged at the authorization server for the caller's token at an
//! upstream provider (e.g. `github`), so the tool calls that provider's API
//! as the person. The resource server authenticates with its own client
//! credentials ([`VerifierBuilder::exchange_credentials`], or the
//! introspection ones).
//!
//! [`VerifierBuilder::exchange_credentials`]: crate::VerifierBuilder::exchange_credentials

use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use mcp_oauth_core::secret::AccessToken;
use serde::Deserialize;

use crate::claims::Rejection;
use crate::fetch::json_body;
use crate::unavailable::Unavailable;
use crate::verifier::Verifier;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A person's access token at an upstream provider, from
/// [`Verifier::exchange`]. `Debug` never shows the token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpstreamToken {
    /// The upstream access token: send it as `Authorization: Bearer` to
    /// the provider's API, nowhere else.
    pub access_token: AccessToken,
    /// Seconds it stays valid, when the provider said.
    pub expires_in: Option<u64>,
}

impl UpstreamToken {
    /// The token's value, for the `Authorization` header.
    pub fn secret(&self) -> &str {
        self.access_token.secret()
    }
}

/// Why [`Verifier::exchange`] got no upstream token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The verifier has no client credentials to exchange with (see
    /// [`VerifierBuilder::exchange_credentials`](crate::VerifierBuilder::exchange_credentials)).
    #[error("no exchange credentials configured")]
    NoCredentials,
    /// The request carried no bearer token, or one this resource does not
    /// accept.
    #[error("the request's bearer token cannot be exchanged: {0}")]
    Token(#[source] Rejection),
    /// The authorization server refused: `unauthorized_client` (this
    /// resource server may not obtain that provider's tokens),
    /// `invalid_grant` (nothing kept for the person, their grant ended, or
    /// the provider would not renew the token: they must sign in with the
    /// provider again), `invalid_target` (no such provider).
    #[error("the authorization server refused the exchange: {}", .0.error)]
    Refused(ErrorResponse),
    /// The authorization server could not be reached, or answered
    /// unusably.
    #[error("the authorization server is unavailable")]
    Unavailable(#[source] Unavailable),
}

impl ExchangeError {
    /// Whether the person must sign in with the provider again (the
    /// authorization server answered `invalid_grant`).
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, Self::Refused(e) if e.error == ErrorCode::InvalidGrant)
    }
}

#[derive(Deserialize)]
struct Answer {
    access_token: AccessToken,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Verifier {
    /// Exchanges `bearer` (the access token a request to this resource
    /// carried) for the caller's token at the upstream provider
    /// `upstream` (its id at the authorization server, e.g. `github`).
    ///
    /// The token is verified first (as for a request: issuer, audience,
    /// lifetime), so only a token sent to this resource leaves it, and only
    /// to its own issuer's token endpoint.
    ///
    /// ```
    /// use mcp_oauth_verifier::{ExchangeError, Verifier};
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .build()?;
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// runtime.block_on(async {
    ///     // Without exchange credentials there is nothing to ask with.
    ///     assert_eq!(
    ///         verifier.exchange("a-bearer-token", "github").await.unwrap_err(),
    ///         ExchangeError::NoCredentials
    ///     );
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// In a tool, with the request's parts rmcp hands over, see
    /// [`Verifier::exchange_for`].
    pub async fn exchange(
        &self,
        bearer: &str,
        upstream: &str,
    ) -> Result<UpstreamToken, ExchangeError> {
        let inner = self.inner();
        let Some((client_id, secret)) = &inner.exchange else {
            return Err(ExchangeError::NoCredentials);
        };
        let claims = self
            .authenticate(bearer)
            .await
            .map_err(ExchangeError::Token)?;
        let discovery = inner
            .discoveries
            .iter()
            .find(|d| claims.issuer.as_deref() == Some(d.issuer()))
            .or_else(|| inner.discoveries.first())
            .ok_or_else(|| ExchangeError::Unavailable(Unavailable::new("no issuer")))?;
        let endpoints = discovery
            .endpoints(&inner.http, &inner.counters)
            .await
            .map_err(|e| match e {
                Rejection::Unavailable(u) => ExchangeError::Unavailable(u),
                other => ExchangeError::Unavailable(Unavailable::new(other.to_string())),
            })?;
        let Some(endpoint) = endpoints.token_endpoint.as_deref() else {
            return Err(ExchangeError::Unavailable(Unavailable::new(
                "the authorization server names no token endpoint",
            )));
        };
        // The credentials and the token go only over https (or to this
        // machine).
        if !crate::introspection::secure_endpoint(endpoint) {
            return Err(ExchangeError::Unavailable(Unavailable::new(
                "the token endpoint is plain http off loopback",
            )));
        }
        let response = inner
            .http
            .post(endpoint)
            .basic_auth(form_encode(client_id), Some(form_encode(secret.secret())))
            .header("accept", "application/json")
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("subject_token", bearer),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("requested_token_type", ACCESS_TOKEN_TYPE),
                ("audience", upstream),
            ])
            .send()
            .await
            .map_err(|e| ExchangeError::Unavailable(Unavailable::caused_by("token endpoint", e)))?;
        let status = response.status();
        if status.is_success() {
            let answer: Answer = json_body(response)
                .await
                .map_err(|e| ExchangeError::Unavailable(Unavailable::new(e)))?;
            if answer
                .token_type
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
            {
                return Err(ExchangeError::Unavailable(Unavailable::new(
                    "the exchanged token is not a bearer token",
                )));
            }
            return Ok(UpstreamToken {
                access_token: answer.access_token,
                expires_in: answer.expires_in,
            });
        }
        if status.is_client_error()
            && let Ok(refusal) = json_body::<ErrorResponse>(response).await
        {
            return Err(ExchangeError::Refused(refusal));
        }
        Err(ExchangeError::Unavailable(Unavailable::new(format!(
            "the token endpoint answered HTTP {status}"
        ))))
    }

    /// [`Verifier::exchange`] with the bearer token of the request whose
    /// parts rmcp hands to a tool (`Extension<http::request::Parts>`), for
    /// example:
    ///
    /// ```no_run
    /// # use mcp_oauth_verifier::{ExchangeError, Verifier};
    /// # async fn tool(verifier: &Verifier, parts: http::request::Parts) -> Result<String, ExchangeError> {
    /// let github = verifier.exchange_for(&parts, "github").await?;
    /// let me = reqwest::Client::new()
    ///     .get("https://api.github.com/user")
    ///     .bearer_auth(github.secret())
    ///     .header("user-agent", "my-mcp-server")
    ///     .send()
    ///     .await;
    /// # let _ = me; Ok(String::new()) }
    /// ```
    pub async fn exchange_for(
        &self,
        parts: &http::request::Parts,
        upstream: &str,
    ) -> Result<UpstreamToken, ExchangeError> {
        let bearer = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or(ExchangeError::Token(Rejection::MissingToken))?;
        self.exchange(bearer, upstream).await
    }
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
