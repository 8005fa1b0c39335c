//! Client registration: RFC 7591 client metadata, registration request and
//! response, and Client ID Metadata Documents (draft-ietf-oauth-client-id-
//! metadata-document, as the MCP spec uses them).
//!
//! ```
//! use mcp_oauth_core::registration::{ClientMetadata, ApplicationType, ClientAuthMethod};
//!
//! let request = ClientMetadata {
//!     client_name: Some("my-agent".into()),
//!     redirect_uris: Some(vec!["http://127.0.0.1/callback".into()]),
//!     token_endpoint_auth_method: Some(ClientAuthMethod::None),
//!     application_type: Some(ApplicationType::Native),
//!     ..Default::default()
//! };
//! request.validate()?; // what a server checks before registering
//! assert_eq!(
//!     serde_json::to_value(&request).unwrap()["application_type"],
//!     "native"
//! );
//! # Ok::<(), mcp_oauth_core::error::ErrorResponse>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorCode, ErrorResponse};
use crate::macros::open_enum;
use crate::redirect::validate_redirect_uri;
use crate::scope::ScopeSet;
use crate::secret::{ClientSecret, RegistrationAccessToken};
use crate::serde_util::opt_u64_lenient;

open_enum! {
    /// An OAuth grant type (`grant_type` / `grant_types`).
    pub enum GrantType (
        /// Any other value.
        Other
    ) {
        /// RFC 6749 §4.1.
        AuthorizationCode => "authorization_code",
        /// RFC 6749 §6.
        RefreshToken => "refresh_token",
        /// RFC 6749 §4.4.
        ClientCredentials => "client_credentials",
        /// RFC 6749 §4.2 (removed in OAuth 2.1; recognised to be refused).
        Implicit => "implicit",
        /// RFC 6749 §4.3 (removed in OAuth 2.1; recognised to be refused).
        Password => "password",
        /// RFC 8628.
        DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        /// RFC 7523 §2.1.
        JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
        /// RFC 8693.
        TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
    }
}

open_enum! {
    /// A `response_type` value.
    pub enum ResponseType (
        /// Any other value (including combinations such as `code id_token`).
        Other
    ) {
        /// The authorization code flow.
        Code => "code",
        /// Implicit (removed in OAuth 2.1).
        Token => "token",
    }
}

open_enum! {
    /// A client authentication method (`token_endpoint_auth_method`).
    pub enum ClientAuthMethod (
        /// Any other value.
        Other
    ) {
        /// A public client: no authentication.
        None => "none",
        /// HTTP Basic with `client_id:client_secret`.
        ClientSecretBasic => "client_secret_basic",
        /// `client_id` and `client_secret` in the form body.
        ClientSecretPost => "client_secret_post",
        /// RFC 7523 assertion signed with the client's private key.
        PrivateKeyJwt => "private_key_jwt",
        /// RFC 7523 assertion signed with the client secret (HMAC).
        ClientSecretJwt => "client_secret_jwt",
        /// RFC 8705 mutual TLS.
        TlsClientAuth => "tls_client_auth",
    }
}

impl ClientAuthMethod {
    /// Whether the method uses a shared client secret.
    pub fn uses_client_secret(&self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

open_enum! {
    /// OpenID Connect Registration `application_type`, which MCP clients send
    /// in dynamic registration.
    pub enum ApplicationType (
        /// Any other value.
        Other
    ) {
        /// A web application (redirects to https).
        Web => "web",
        /// A native application (loopback or private-use redirects).
        Native => "native",
    }
}

/// RFC 7591 §2 client metadata; also the body of a registration request
/// (§3.1), see [`ClientRegistrationRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// Redirect URIs for redirect-based flows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// How the client authenticates at the token endpoint (default
    /// `client_secret_basic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// Grant types the client uses (default `authorization_code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<GrantType>>,
    /// Response types the client uses (default `code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<ResponseType>>,
    /// Name shown to the user on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Client home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Scopes the client may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSet>,
    /// Contacts of the people responsible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<String>>,
    /// Terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// URL of the client's JWK Set (for `private_key_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The client's JWK Set by value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Identifier of the client software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Version of the client software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// RFC 7591 §2.3 software statement (a JWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_statement: Option<String>,
    /// `web` or `native`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<ApplicationType>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The body of an RFC 7591 §3.1 registration request.
pub type ClientRegistrationRequest = ClientMetadata;

impl ClientMetadata {
    /// Grant types, with the RFC 7591 default applied.
    pub fn effective_grant_types(&self) -> Vec<GrantType> {
        self.grant_types
            .clone()
            .unwrap_or_else(|| vec![GrantType::AuthorizationCode])
    }

    /// Response types, with the RFC 7591 default applied.
    pub fn effective_response_types(&self) -> Vec<ResponseType> {
        self.response_types
            .clone()
            .unwrap_or_else(|| vec![ResponseType::Code])
    }

    /// Token endpoint auth method, with the RFC 7591 default applied.
    pub fn effective_auth_method(&self) -> ClientAuthMethod {
        self.token_endpoint_auth_method
            .clone()
            .unwrap_or(ClientAuthMethod::ClientSecretBasic)
    }

    /// The redirect URIs (empty when absent).
    pub fn redirect_uris(&self) -> &[String] {
        self.redirect_uris.as_deref().unwrap_or_default()
    }

    /// Checks the metadata as an OAuth 2.1 server must before registering
    /// it, with the RFC 7591 §3.2.2 error to return on failure:
    ///
    /// - every redirect URI passes [`validate_redirect_uri`], and at least
    ///   one is present when `authorization_code` is among the grant types
    ///   (`invalid_redirect_uri`);
    /// - only `code` as response type, no `implicit` or `password` grant,
    ///   `code` and `authorization_code` used together (RFC 7591 §2.1),
    ///   `refresh_token` never alone (`invalid_client_metadata`).
    pub fn validate(&self) -> Result<(), ErrorResponse> {
        let grants = self.effective_grant_types();
        let responses = self.effective_response_types();
        let bad_meta = |msg: &str| {
            Err(ErrorResponse::new(ErrorCode::InvalidClientMetadata).with_description(msg))
        };
        for g in &grants {
            if matches!(g, GrantType::Implicit | GrantType::Password) {
                return bad_meta(&format!("grant type {g} is not allowed in OAuth 2.1"));
            }
        }
        if let Some(r) = responses.iter().find(|r| **r != ResponseType::Code) {
            return bad_meta(&format!(
                "response type {r:?} is not supported; use \"code\""
            ));
        }
        let uses_code = grants.contains(&GrantType::AuthorizationCode);
        if uses_code != responses.contains(&ResponseType::Code) && self.response_types.is_some() {
            return bad_meta(
                "response_types \"code\" and grant_types \"authorization_code\" go together",
            );
        }
        if grants.iter().all(|g| *g == GrantType::RefreshToken) {
            return bad_meta("refresh_token cannot be the only grant type");
        }
        if uses_code && self.redirect_uris().is_empty() {
            return Err(ErrorResponse::new(ErrorCode::InvalidRedirectUri)
                .with_description("redirect_uris is required for the authorization_code grant"));
        }
        for uri in self.redirect_uris() {
            if let Err(e) = validate_redirect_uri(uri) {
                return Err(ErrorResponse::new(ErrorCode::InvalidRedirectUri)
                    .with_description(format!("{uri}: {e}")));
            }
        }
        Ok(())
    }
}

/// RFC 7591 §3.2.1 client information response: the registered metadata plus
/// the credentials the server issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientInformation {
    /// The issued client identifier.
    pub client_id: String,
    /// The issued secret (confidential clients only; shown once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// When the `client_id` was issued (seconds since the epoch).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64_lenient"
    )]
    pub client_id_issued_at: Option<u64>,
    /// When the secret expires (0: never). Required when a secret is issued.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64_lenient"
    )]
    pub client_secret_expires_at: Option<u64>,
    /// RFC 7592 management token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<RegistrationAccessToken>,
    /// RFC 7592 management URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_client_uri: Option<String>,
    /// The metadata as registered (the server may have changed it).
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// The RFC 7591 §3.2.1 response, under the name the RFC uses.
pub type ClientRegistrationResponse = ClientInformation;

/// A Client ID Metadata Document: client metadata served at the HTTPS URL
/// that is itself the `client_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientIdMetadataDocument {
    /// Must equal the URL the document was fetched from, exactly.
    pub client_id: String,
    /// The client's metadata (`client_name` and `redirect_uris` required).
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// Why a Client ID Metadata Document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientIdMetadataDocumentError {
    /// The `client_id` URL is not `https` with a path.
    #[error("client_id URL must use https and contain a path")]
    InvalidUrl,
    /// The document's `client_id` differs from the URL.
    #[error("document client_id {found:?} does not equal its URL {url:?}")]
    ClientIdMismatch {
        /// The URL fetched.
        url: String,
        /// The `client_id` in the document.
        found: String,
    },
    /// A required field is missing.
    #[error("document lacks required field {0}")]
    MissingField(&'static str),
    /// A redirect URI is invalid.
    #[error("invalid redirect URI {0}")]
    RedirectUri(String),
    /// A shared-secret authentication method, or a secret, is declared:
    /// such a client has nowhere to receive a secret.
    #[error("a metadata document client cannot use a client secret")]
    SharedSecret,
}

/// Whether a `client_id` has the form of a Client ID Metadata Document URL:
/// `https`, a host, and a path other than `/`.
pub fn is_client_id_metadata_url(client_id: &str) -> bool {
    url::Url::parse(client_id).is_ok_and(|u| {
        u.scheme() == "https"
            && u.host_str().is_some()
            && u.path() != "/"
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none()
    })
}

impl ClientIdMetadataDocument {
    /// Validates a document fetched from `url`.
    pub fn validate(&self, url: &str) -> Result<(), ClientIdMetadataDocumentError> {
        use ClientIdMetadataDocumentError as E;
        if !is_client_id_metadata_url(url) {
            return Err(E::InvalidUrl);
        }
        if self.client_id != url {
            return Err(E::ClientIdMismatch {
                url: url.to_owned(),
                found: self.client_id.clone(),
            });
        }
        if self
            .metadata
            .client_name
            .as_deref()
            .is_none_or(str::is_empty)
        {
            return Err(E::MissingField("client_name"));
        }
        if self.metadata.redirect_uris().is_empty() {
            return Err(E::MissingField("redirect_uris"));
        }
        for uri in self.metadata.redirect_uris() {
            if validate_redirect_uri(uri).is_err() {
                return Err(E::RedirectUri(uri.clone()));
            }
        }
        if self
            .metadata
            .effective_auth_method_for_document()
            .uses_client_secret()
            || self.metadata.extra.contains_key("client_secret")
        {
            return Err(E::SharedSecret);
        }
        Ok(())
    }
}

impl ClientMetadata {
    /// A metadata document defaults to `none` (a public client), not to
    /// RFC 7591's `client_secret_basic`.
    fn effective_auth_method_for_document(&self) -> ClientAuthMethod {
        self.token_endpoint_auth_method
            .clone()
            .unwrap_or(ClientAuthMethod::None)
    }
}

#[cfg(test)]
mod tests;
