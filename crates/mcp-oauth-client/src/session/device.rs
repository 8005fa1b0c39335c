//! The device login (RFC 8628 §3.1–3.5): ask the device authorization
//! endpoint for codes, show the person the code, then poll the token
//! endpoint at the server's pace (`slow_down` adds 5 s) until the person
//! allows or denies, or the code expires.

use std::time::Duration;

use mcp_oauth_core::device::{DeviceAuthorizationResponse, SLOW_DOWN_STEP};
use mcp_oauth_core::error::ErrorCode;
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::DeviceCode;
use mcp_oauth_core::token::{ClientAuthParams, TokenRequest, TokenResponse};
use serde::Serialize;

use super::grant::{TokenEndpoint, authenticate, oauth_error};
use crate::error::ClientError;
use crate::fetch::{self, require_secure};
use crate::login::device::{DeviceCodePrompt, DevicePrompt};

/// The longest a device code is believed to live (a server claiming more,
/// or an absurd number, is taken to mean this much): 30 minutes.
const MAX_LIFETIME: u64 = 1800;
/// The longest field of the prompt shown as is (a user code is a handful of
/// characters, a link a URL).
const MAX_SHOWN: usize = 2048;

/// The device authorization request (RFC 8628 §3.1).
#[derive(Serialize)]
struct Request<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    resource: &'a str,
    #[serde(flatten)]
    client: ClientAuthParams,
}

impl TokenEndpoint<'_> {
    /// Runs the device login for `scope`, showing the code with `prompt`;
    /// the token response once the person allowed it.
    pub(super) async fn device_login(
        &self,
        scope: &ScopeSet,
        prompt: &DevicePrompt,
    ) -> Result<TokenResponse, ClientError> {
        let d = self.discovered;
        let Some(endpoint) = d.metadata.device_authorization_endpoint.as_deref() else {
            let supported = d
                .metadata
                .grant_types_supported
                .as_ref()
                .map(|g| {
                    g.iter()
                        .map(GrantType::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_else(|| "authorization_code (by default)".to_owned());
            return Err(ClientError::Discovery(format!(
                "{} does not offer the device login (RFC 8628: no device_authorization_endpoint); \
                 its grant types: {supported}",
                d.issuer
            )));
        };
        let target = require_secure("device authorization endpoint", endpoint)?;
        let mut request = Request {
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            resource: &d.resource,
            client: ClientAuthParams::default(),
        };
        let post = authenticate(
            self.config,
            self.http.post(target),
            &d.issuer,
            self.registration,
            self.basic,
            &mut request.client,
        )?;
        let reply = fetch::exchange(post.form(&request), endpoint).await?;
        if !reply.status.is_success() {
            return Err(ClientError::Token(oauth_error(&reply)));
        }
        let codes: DeviceAuthorizationResponse =
            reply
                .json()
                .map_err(|source| ClientError::UnreadableResponse {
                    what: "device authorization response",
                    url: endpoint.to_owned(),
                    source,
                })?;
        // What the person is shown comes from a server found by discovery:
        // printable text only, and a page on https (or loopback).
        let shown = |what: &'static str, text: &str| -> Result<String, ClientError> {
            if text.is_empty() || text.len() > MAX_SHOWN || text.chars().any(char::is_control) {
                return Err(ClientError::Authorization(format!(
                    "the device authorization response has an unusable {what}"
                )));
            }
            Ok(text.to_owned())
        };
        let verification_uri = shown("verification_uri", &codes.verification_uri)?;
        require_secure("verification page", &verification_uri)?;
        let verification_uri_complete = codes
            .verification_uri_complete
            .as_deref()
            .map(|u| {
                shown("verification_uri_complete", u)
                    .and_then(|u| require_secure("verification page", &u).map(|_| u))
            })
            .transpose()?;
        prompt(&DeviceCodePrompt {
            user_code: shown("user_code", &codes.user_code)?,
            verification_uri,
            verification_uri_complete,
            expires_in: codes.expires_in.min(MAX_LIFETIME),
        });
        self.poll_device(&codes).await
    }

    /// Polls until the person decides or the code expires.
    async fn poll_device(
        &self,
        codes: &DeviceAuthorizationResponse,
    ) -> Result<TokenResponse, ClientError> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(codes.expires_in.min(MAX_LIFETIME));
        // Never sooner than the server asks (RFC 8628 §3.5); a wait that
        // would end past the code's life ends the login instead.
        let mut interval = codes.interval.max(1);
        loop {
            let next = tokio::time::Instant::now()
                .checked_add(Duration::from_secs(interval))
                .filter(|next| *next < deadline);
            let Some(next) = next else {
                return Err(ClientError::Authorization(
                    "the device code expired before anyone allowed it".into(),
                ));
            };
            tokio::time::sleep_until(next).await;
            let mut request = TokenRequest::device_code(DeviceCode::new(codes.device_code.clone()));
            let answer = self.send(&mut request).await?;
            match answer {
                Ok(tokens) => return Ok(tokens),
                Err(e) if e.error == ErrorCode::AuthorizationPending => {}
                Err(e) if e.error == ErrorCode::SlowDown => {
                    interval = interval.saturating_add(SLOW_DOWN_STEP);
                }
                Err(e) if e.error == ErrorCode::AccessDenied => return Err(ClientError::Denied(e)),
                Err(e) => return Err(ClientError::Token(e)),
            }
        }
    }
}
