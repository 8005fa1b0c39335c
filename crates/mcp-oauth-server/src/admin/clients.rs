//! Trusted clients, as the operator manages them: create, list, describe,
//! rotate a secret, remove. The `client` subcommands and the admin API's
//! `/admin/v1/clients` both call these.

use mcp_oauth_core::registration::{ClientAuthMethod, GrantType};
use mcp_oauth_core::secret::{ClientSecret, RandomnessError, random_base64url, token_hash};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::operator::OperatorClient;
use crate::storage::{ClientRecord, GrantFilter, Storage, StorageError};

/// A client could not be created, found or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAdminError {
    /// A grant a trusted client cannot have.
    #[error(
        "grant {0}: use authorization_code, refresh_token, device_code, client_credentials or token_exchange"
    )]
    Grant(String),
    /// The client is refused (what the server cannot work with).
    #[error("{0}")]
    Invalid(String),
    /// The client id is taken.
    #[error("a client {0} already exists")]
    Exists(String),
    /// No such client.
    #[error("no client {0}")]
    NotFound(String),
    /// Only a trusted client with a secret has one to rotate.
    #[error("{0} is not a trusted client with a secret")]
    NoSecretToRotate(String),
    /// No id or secret could be generated.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A trusted client to create (`client add`, `POST /admin/v1/clients`).
/// Every field but the name is optional.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewClient {
    /// Display name (shown on consent pages).
    pub client_name: String,
    /// Client id (default: generated).
    #[serde(default)]
    pub client_id: Option<String>,
    /// How it authenticates: `none`, `client_secret_basic` (the default),
    /// `client_secret_post` or `private_key_jwt`. A secret is generated for
    /// the two secret methods.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "client_secret_basic")]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// Redirect URIs (for the authorization code grant).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grants: `authorization_code`, `refresh_token`, `device_code`,
    /// `client_credentials`, `jwt_bearer` (identity assertion grants of
    /// trusted enterprise providers), `token_exchange` (RFC 8693,
    /// confidential clients only); both also by their URNs (default: the
    /// code and refresh grants with redirect URIs, else
    /// `client_credentials`).
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Scopes it may ask for (default: every supported scope). An admin
    /// client lists `admin`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Resources its tokens may name (default: any); for a resource
    /// server, the resources it serves.
    #[serde(default)]
    pub resources: Vec<String>,
    /// A resource server: may introspect the tokens of its resources.
    #[serde(default)]
    pub resource_server: bool,
    /// A first-party agent: may post a user's password as JSON.
    #[serde(default)]
    pub headless_login: bool,
    /// JWK Set by value (`private_key_jwt`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// JWK Set URL (`private_key_jwt`).
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

impl NewClient {
    /// A client named `name`, everything else by default.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            client_name: name.into(),
            ..Self::default()
        }
    }
}

/// A client just created: its id and, for a secret method, its secret,
/// which is shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
#[non_exhaustive]
pub struct CreatedClient {
    /// The client id.
    pub client_id: String,
    /// The generated secret, if it has one.
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<ClientSecret>,
}

/// A new secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[non_exhaustive]
pub struct RotatedSecret {
    /// The client id.
    pub client_id: String,
    /// The new secret; the old one no longer works.
    #[schema(value_type = String)]
    pub client_secret: ClientSecret,
}

/// A client as the operator sees it (no secret, not even its hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[non_exhaustive]
pub struct ClientView {
    /// The client id.
    pub client_id: String,
    /// Display name.
    pub client_name: Option<String>,
    /// Created by the operator (CLI, configuration, admin API), rather than
    /// registered by a stranger.
    pub trusted: bool,
    /// How it authenticates.
    pub token_endpoint_auth_method: String,
    /// Grants it may use.
    pub grant_types: Vec<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Scopes it may ask for (`null`: every supported scope).
    pub scope: Option<String>,
    /// Resources its tokens may name (empty: any).
    pub resources: Vec<String>,
    /// A resource server.
    pub resource_server: bool,
    /// May post a user's password as JSON.
    pub headless_login: bool,
    /// When it was created (seconds since the epoch).
    pub issued_at: u64,
}

impl From<&ClientRecord> for ClientView {
    fn from(c: &ClientRecord) -> Self {
        Self {
            client_id: c.client_id.clone(),
            client_name: c.metadata.client_name.clone(),
            trusted: c.policy.trusted,
            token_endpoint_auth_method: c.metadata.effective_auth_method().to_string(),
            grant_types: c
                .metadata
                .effective_grant_types()
                .iter()
                .map(ToString::to_string)
                .collect(),
            redirect_uris: c.metadata.redirect_uris().to_vec(),
            scope: c.metadata.scope.as_ref().map(ToString::to_string),
            resources: c.policy.resources.clone(),
            resource_server: c.policy.resource_server,
            headless_login: c.policy.headless_login,
            issued_at: c.issued_at,
        }
    }
}

/// A grant a trusted client may be given, by its name.
pub fn parse_grant(name: &str) -> Result<GrantType, ClientAdminError> {
    match name {
        "device_code" => Ok(GrantType::DeviceCode),
        // Identity assertion grants (ID-JAG) from trusted enterprise providers.
        "jwt_bearer" | "jwt-bearer" | "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            Ok(GrantType::JwtBearer)
        }
        "token_exchange" | "token-exchange" | "urn:ietf:params:oauth:grant-type:token-exchange" => {
            Ok(GrantType::TokenExchange)
        }
        "authorization_code" | "refresh_token" | "client_credentials" => name
            .parse()
            .map_err(|_| ClientAdminError::Grant(name.to_owned())),
        other => Err(ClientAdminError::Grant(other.to_owned())),
    }
}

/// Creates a trusted client in storage, generating its id (unless given)
/// and, for `client_secret_basic`/`client_secret_post`, a 256-bit secret.
pub async fn create_client(
    storage: &dyn Storage,
    request: NewClient,
    now: u64,
) -> Result<CreatedClient, ClientAdminError> {
    let auth = request
        .token_endpoint_auth_method
        .unwrap_or(ClientAuthMethod::ClientSecretBasic);
    let grants = if request.grant_types.is_empty() {
        None
    } else {
        Some(
            request
                .grant_types
                .iter()
                .map(|g| parse_grant(g))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let id = match request.client_id {
        Some(id) => id,
        None => random_base64url(16)?,
    };
    let secret = match auth {
        ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
            Some(ClientSecret::new(random_base64url(32)?))
        }
        _ => None,
    };
    let mut client = OperatorClient::public(&id, request.redirect_uris);
    client.name = Some(request.client_name);
    client.auth = auth;
    client.secret = secret.clone();
    client.jwks = request.jwks;
    client.jwks_uri = request.jwks_uri;
    client.grant_types = grants;
    client.scopes = (!request.scopes.is_empty()).then_some(request.scopes);
    client.resources = request.resources;
    client.resource_server = request.resource_server;
    client.headless_login = request.headless_login;
    client.validate().map_err(ClientAdminError::Invalid)?;
    storage
        .insert_client(client.to_record(now))
        .await
        .map_err(|e| match e {
            StorageError::Conflict => ClientAdminError::Exists(id.clone()),
            other => other.into(),
        })?;
    Ok(CreatedClient {
        client_id: id,
        client_secret: secret,
    })
}

/// Every client in storage (trusted and registered; the configuration's
/// clients are not in storage).
pub async fn list_clients(storage: &dyn Storage) -> Result<Vec<ClientView>, StorageError> {
    Ok(storage
        .clients()
        .await?
        .iter()
        .map(ClientView::from)
        .collect())
}

/// One client in storage.
pub async fn describe_client(
    storage: &dyn Storage,
    client_id: &str,
) -> Result<ClientView, ClientAdminError> {
    storage
        .client(client_id)
        .await?
        .map(|c| ClientView::from(&c))
        .ok_or_else(|| ClientAdminError::NotFound(client_id.to_owned()))
}

/// Gives a trusted client with a secret a new one; the old one stops
/// working at once.
pub async fn rotate_secret(
    storage: &dyn Storage,
    client_id: &str,
) -> Result<RotatedSecret, ClientAdminError> {
    let mut c = storage
        .client(client_id)
        .await?
        .ok_or_else(|| ClientAdminError::NotFound(client_id.to_owned()))?;
    if !c.is_trusted() || c.secret_hash.is_none() {
        return Err(ClientAdminError::NoSecretToRotate(client_id.to_owned()));
    }
    let secret = random_base64url(32)?;
    c.secret_hash = Some(token_hash(&secret));
    storage.update_client(c).await?;
    Ok(RotatedSecret {
        client_id: client_id.to_owned(),
        client_secret: ClientSecret::new(secret),
    })
}

/// Removes a client from storage, ending first, at `now`, every grant
/// people gave it (their refresh tokens stop; introspection reports the
/// access tokens issued so far inactive), so that nothing it held outlives
/// it, even if a client is created again under its id.
pub async fn remove_client(
    storage: &dyn Storage,
    client_id: &str,
    now: u64,
) -> Result<(), ClientAdminError> {
    if storage.client(client_id).await?.is_none() {
        return Err(ClientAdminError::NotFound(client_id.to_owned()));
    }
    storage
        .revoke_grants(&GrantFilter::all().client(client_id), now)
        .await?;
    if storage.delete_client(client_id).await? {
        Ok(())
    } else {
        Err(ClientAdminError::NotFound(client_id.to_owned()))
    }
}
