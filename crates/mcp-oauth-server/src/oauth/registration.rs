//! Dynamic client registration (RFC 7591): who may register (the
//! operator's policy, a per-address limit counted atomically before any
//! work), what a registration may ask for (only grants that act for a
//! person who signs in; bounded metadata, unknown members dropped), and the
//! ceiling on stored clients (unused ones make room). Each registration
//! gets an RFC 7592 registration access token, stored only as a hash, for
//! managing itself ([`super::client_config`]).

use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use mcp_oauth_core::redirect::{RedirectUriKind, validate_redirect_uri};
use mcp_oauth_core::registration::{
    ApplicationType, ClientAuthMethod, ClientInformation, ClientMetadata, GrantType,
};
use mcp_oauth_core::secret::{
    ClientSecret, RegistrationAccessToken, constant_time_eq, random_base64url, token_hash,
};

use crate::config::{RegistrationPolicy, ServerConfig};
use crate::metrics::Metrics;
use crate::oauth::audit::AuditKind;
use crate::oauth::error::{OAuthError, OAuthResult};
use crate::storage::{ClientRecord, Storage, StorageError};

/// How long a new registration is safe from being replaced at the client
/// limit (time for its person to sign in and consent), unless unused
/// clients are kept for less.
const UNUSED_GRACE: u64 = 600;

/// Registration: storage, the configuration's policy and limits, metrics.
pub(crate) struct Registration<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) config: &'a ServerConfig,
    pub(crate) metrics: &'a Metrics,
    pub(crate) audit: &'a crate::oauth::audit::Auditor,
}

impl Registration<'_> {
    /// Registers the client `body` describes, for a request from `address`
    /// presenting `initial_token` (the bearer token of the request, if
    /// any), at `now`.
    pub(crate) async fn register(
        &self,
        address: &str,
        initial_token: Option<&str>,
        body: &[u8],
        now: u64,
    ) -> OAuthResult<ClientInformation> {
        check_policy(&self.config.registration, initial_token)?;
        // The attempt is counted before anything else, atomically, so a
        // concurrent burst cannot slip past the limit.
        let flood_key = format!("register:{address}");
        let (count, _) = self.storage.bump_counter(&flood_key, now, 3600).await?;
        if count > self.config.registrations_per_hour {
            // Once a window: the moment the limit is crossed.
            if count == self.config.registrations_per_hour.saturating_add(1) {
                let entry = AuditKind::RegistrationThrottled.entry().address(address);
                self.audit.record(entry).await;
            }
            return Err(OAuthError::too_many_requests(
                "too many registrations from this address; try again later. An agent should \
                 register once and keep its registration (a persistent token store such as an \
                 encrypted file, or a client id the operator created) instead of registering \
                 on every run",
            ));
        }
        let metadata = self.checked_metadata(body)?;
        let method = metadata.effective_auth_method();
        if self.storage.client_count().await? >= self.config.max_clients
            && self
                .storage
                .purge_unused_clients(
                    now.saturating_sub(UNUSED_GRACE.min(self.config.unused_client_ttl.as_secs())),
                    1,
                )
                .await?
                == 0
        {
            return Err(ErrorResponse::new(ErrorCode::TemporarilyUnavailable)
                .with_description("the client registration limit is reached")
                .into());
        }
        let metadata = with_defaults(metadata, method.clone());
        let secret = if matches!(
            method,
            ClientAuthMethod::None | ClientAuthMethod::PrivateKeyJwt
        ) {
            None
        } else {
            Some(ClientSecret::new(random(32)?))
        };
        let access_token = RegistrationAccessToken::new(random(32)?);
        let issued_at = now;
        let record = ClientRecord {
            client_id: random(16)?,
            secret_hash: secret.as_ref().map(|s| token_hash(s.secret())),
            metadata: metadata.clone(),
            issued_at,
            policy: Default::default(),
            registration_token_hash: Some(token_hash(access_token.secret())),
            last_used_at: None,
        };
        let client_id = record.client_id.clone();
        match self.storage.insert_client(record).await {
            Ok(()) => {}
            Err(StorageError::Conflict) => {
                return Err(ErrorResponse::server_error("client id collision; retry").into());
            }
            Err(e) => return Err(e.into()),
        }
        self.metrics.registrations.inc();
        tracing::info!(client_id = ?client_id, method = ?method.to_string(), "client registered");
        let entry = AuditKind::ClientRegistered.entry().subject(&client_id);
        let name = metadata.client_name.as_deref().unwrap_or_default();
        let entry = entry.address(address).detail("client_name", name);
        self.audit.record(entry).await;
        Ok(ClientInformation {
            client_secret_expires_at: secret.as_ref().map(|_| 0),
            client_secret: secret,
            client_id_issued_at: Some(issued_at),
            registration_access_token: Some(access_token),
            registration_client_uri: Some(self.client_uri(&client_id)),
            client_id,
            metadata,
        })
    }

    /// The RFC 7592 client configuration endpoint of `client_id`.
    pub(crate) fn client_uri(&self, client_id: &str) -> String {
        self.config
            .issuer
            .endpoint(&format!("/register/{client_id}"))
    }

    /// The metadata `body` describes, checked as a registration is (RFC
    /// 7591, and this server's policy for registered clients), with the
    /// members this server does not understand dropped.
    pub(crate) fn checked_metadata(&self, body: &[u8]) -> OAuthResult<ClientMetadata> {
        let metadata: ClientMetadata = serde_json::from_slice(body).map_err(|e| {
            ErrorResponse::new(ErrorCode::InvalidClientMetadata)
                .with_description(format!("invalid JSON: {e}"))
        })?;
        metadata.validate()?;
        metadata.check_limits()?;
        // Members this server does not understand are not kept (RFC 7591 §2
        // lets it ignore them): a registration costs a few kilobytes at most.
        let metadata = metadata.without_unknown_members();
        // Open registration is for clients that act for a person who signs in
        // and consents; grants without a person are for clients the operator
        // creates (`mcp-oauth-server client add`).
        if let Some(g) = metadata.effective_grant_types().into_iter().find(|g| {
            !matches!(
                g,
                GrantType::AuthorizationCode | GrantType::RefreshToken | GrantType::DeviceCode
            )
        }) {
            return Err(ErrorResponse::new(ErrorCode::InvalidClientMetadata)
                .with_description(format!(
                    "grant type {g} is only for clients the operator creates; \
                 registered clients act for a person who signs in"
                ))
                .into());
        }
        if metadata.application_type == Some(ApplicationType::Web)
            && metadata
                .redirect_uris()
                .iter()
                .any(|u| validate_redirect_uri(u) == Ok(RedirectUriKind::PrivateUse))
        {
            return Err(ErrorResponse::new(ErrorCode::InvalidRedirectUri)
                .with_description(
                    "a web application cannot use a private-use URI scheme; register as native",
                )
                .into());
        }
        let method = metadata.effective_auth_method();
        match method {
            ClientAuthMethod::None
            | ClientAuthMethod::ClientSecretBasic
            | ClientAuthMethod::ClientSecretPost => {}
            ClientAuthMethod::PrivateKeyJwt => {
                crate::oauth::clients::assertion::validate_registration(&metadata).map_err(
                    |e| ErrorResponse::new(ErrorCode::InvalidClientMetadata).with_description(e),
                )?;
            }
            _ => {
                return Err(ErrorResponse::new(ErrorCode::InvalidClientMetadata)
                    .with_description(format!(
                        "token_endpoint_auth_method {method} is not supported"
                    ))
                    .into());
            }
        }
        if let Some(scope) = &metadata.scope {
            let supported = self.config.advertised_scopes().into_iter().collect();
            if !scope.is_subset(&supported) {
                return Err(ErrorResponse::new(ErrorCode::InvalidClientMetadata)
                    .with_description(format!(
                        "unsupported scope: {}",
                        scope.difference(&supported)
                    ))
                    .into());
            }
        }
        Ok(metadata)
    }
}

/// A random base64url string of `n` bytes, or a server error.
fn random(n: usize) -> OAuthResult<String> {
    random_base64url(n).map_err(|e| ErrorResponse::server_error(e.to_string()).into())
}

/// The metadata as stored: the authentication method, grants and response
/// types spelled out.
pub(crate) fn with_defaults(
    mut metadata: ClientMetadata,
    method: ClientAuthMethod,
) -> ClientMetadata {
    metadata.token_endpoint_auth_method = Some(method);
    metadata.grant_types = Some(metadata.effective_grant_types());
    metadata.response_types = Some(metadata.effective_response_types());
    metadata
}

fn check_policy(policy: &RegistrationPolicy, initial_token: Option<&str>) -> OAuthResult<()> {
    match policy {
        RegistrationPolicy::Open => Ok(()),
        RegistrationPolicy::Closed => Err(ErrorResponse::new(ErrorCode::AccessDenied)
            .with_description("dynamic registration is closed on this server")
            .into()),
        RegistrationPolicy::InitialAccessToken(expected) => {
            let presented = initial_token.unwrap_or_default();
            if constant_time_eq(
                token_hash(presented).as_bytes(),
                token_hash(expected).as_bytes(),
            ) {
                Ok(())
            } else {
                Err(ErrorResponse::new(ErrorCode::InvalidToken)
                    .with_description("a valid initial access token is required to register")
                    .into())
            }
        }
    }
}
