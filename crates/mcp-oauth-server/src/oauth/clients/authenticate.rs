//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3): HTTP Basic, `client_secret_post`,
//! `private_key_jwt`, or a bare `client_id` for public clients. The method
//! must be the one the client registered; every failure is
//! `invalid_client`.

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::registration::ClientAuthMethod;
use mcp_oauth_core::secret::{constant_time_eq, token_hash};
use mcp_oauth_core::token::{ClientAuthParams, JWT_BEARER_ASSERTION_TYPE};

use super::{Clients, assertion};
use crate::oauth::error::{OAuthError, OAuthResult};
use crate::storage::ClientRecord;

/// What a request presented to say which client it comes from.
pub(crate) enum Credentials {
    /// `Authorization: Basic` (`client_secret_basic`).
    Basic { client_id: String, secret: String },
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    Post { client_id: String, secret: String },
    /// A bare `client_id`: a public client.
    Public { client_id: String },
    /// A signed assertion (`private_key_jwt`), with the `client_id` sent
    /// beside it, if any.
    Assertion {
        assertion: String,
        client_id: Option<String>,
    },
}

fn one_method_only() -> OAuthError {
    ErrorResponse::invalid_request("use one client authentication method, not several").into()
}

impl Credentials {
    /// Reads the credentials of a request from its decoded Basic header
    /// (`basic`) and its body parameters; several methods at once, or
    /// none, are refused.
    pub(crate) fn from_request(
        basic: Option<(String, String)>,
        body: &ClientAuthParams,
    ) -> OAuthResult<Self> {
        if basic.is_some() && body.client_secret.is_some() {
            return Err(one_method_only());
        }
        if body.client_assertion.is_some() || body.client_assertion_type.is_some() {
            if basic.is_some() || body.client_secret.is_some() {
                return Err(one_method_only());
            }
            return match (
                body.client_assertion_type.as_deref(),
                &body.client_assertion,
            ) {
                (Some(JWT_BEARER_ASSERTION_TYPE), Some(assertion)) => Ok(Self::Assertion {
                    assertion: assertion.secret().to_owned(),
                    client_id: body.client_id.clone(),
                }),
                _ => Err(ErrorResponse::invalid_client("unsupported client assertion").into()),
            };
        }
        match (basic, &body.client_id, &body.client_secret) {
            (Some((client_id, secret)), body_id, _) => {
                if body_id.as_ref().is_some_and(|b| *b != client_id) {
                    return Err(ErrorResponse::invalid_request(
                        "client_id in body and header differ",
                    )
                    .into());
                }
                Ok(Self::Basic { client_id, secret })
            }
            (None, Some(id), Some(secret)) => Ok(Self::Post {
                client_id: id.clone(),
                secret: secret.secret().to_owned(),
            }),
            (None, Some(id), None) => Ok(Self::Public {
                client_id: id.clone(),
            }),
            (None, None, _) => {
                Err(ErrorResponse::invalid_client("client authentication is required").into())
            }
        }
    }
}

impl Clients {
    /// The client `credentials` authenticate, for a request from `address`
    /// (which pays for a metadata document not cached yet).
    pub(crate) async fn authenticate(
        &self,
        address: &str,
        credentials: Credentials,
    ) -> OAuthResult<ClientRecord> {
        let bad = |msg: &str| ErrorResponse::invalid_client(msg).into();
        let (client_id, secret) = match &credentials {
            Credentials::Assertion {
                assertion,
                client_id,
            } => {
                // On the heap: the key-set fetch it may make is several KiB
                // of state that secret-based calls would otherwise carry.
                return Box::pin(assertion::authenticate(
                    self,
                    address,
                    assertion,
                    client_id.as_deref(),
                ))
                .await;
            }
            Credentials::Basic { client_id, secret } | Credentials::Post { client_id, secret } => {
                (client_id, Some(secret))
            }
            Credentials::Public { client_id } => (client_id, None),
        };
        let Some(client) = self.get_for(address, client_id).await? else {
            return Err(bad("unknown client"));
        };
        let method = client.metadata.effective_auth_method();
        let method_ok = matches!(
            (&method, &credentials),
            (ClientAuthMethod::None, Credentials::Public { .. })
                | (
                    ClientAuthMethod::ClientSecretBasic,
                    Credentials::Basic { .. }
                )
                | (ClientAuthMethod::ClientSecretPost, Credentials::Post { .. })
        );
        if !method_ok {
            return Err(bad(&format!("this client must authenticate with {method}")));
        }
        if let (Some(secret), Some(stored)) = (secret, &client.secret_hash)
            && !constant_time_eq(token_hash(secret).as_bytes(), stored.as_bytes())
        {
            return Err(bad("client authentication failed"));
        }
        Ok(client)
    }
}
