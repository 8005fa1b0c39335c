//! The token endpoint (RFC 6749 §3.2, §4.1.3, §5.1, §6; RFC 8707; RFC 7523
//! client assertions), RFC 7009 revocation requests, and the RFC 9068 JWT
//! access-token claims.
//!
//! Requests are flat structs that mirror the form body, so any body decodes;
//! [`TokenRequest::grant`] then checks it and says precisely what is wrong,
//! as an [`ErrorResponse`] ready to send.
//!
//! ```
//! use mcp_oauth_core::pkce::PkceVerifier;
//! use mcp_oauth_core::secret::AuthorizationCode;
//! use mcp_oauth_core::token::{TokenGrant, TokenRequest};
//!
//! let verifier = PkceVerifier::generate()?;
//! let request = TokenRequest::authorization_code(
//!     AuthorizationCode::new("the-code"),
//!     "http://127.0.0.1:3000/callback",
//!     verifier,
//! )
//! .resource("https://mcp.example.com/mcp")
//! .client_id("agent-1");
//! let form = serde_urlencoded::to_string(&request)?;
//! assert!(form.starts_with("grant_type=authorization_code&code=the-code"));
//!
//! // A server decodes and checks it:
//! let decoded: TokenRequest = serde_urlencoded::from_str(&form)?;
//! assert!(matches!(decoded.grant(), Ok(TokenGrant::AuthorizationCode { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::{ErrorCode, ErrorResponse};
use crate::macros::open_enum;
use crate::pkce::PkceVerifier;
use crate::registration::GrantType;
use crate::resource::ResourceUri;
use crate::scope::ScopeSet;
use crate::secret::{AccessToken, AuthorizationCode, ClientSecret, DeviceCode, RefreshToken};
use crate::serde_util::{opt_scope_lenient, opt_u64_lenient};

/// The JOSE `typ` of an RFC 9068 access token.
pub const ACCESS_TOKEN_JWT_TYPE: &str = "at+jwt";

/// The RFC 7523 `client_assertion_type` for JWT client authentication.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

open_enum! {
    /// `token_type` of a token response (RFC 6749 §7.1).
    pub enum TokenType (
        /// Any other value, including `bearer` in lower case (see [`TokenType::is_bearer`]).
        Other
    ) {
        /// RFC 6750 bearer token.
        Bearer => "Bearer",
        /// RFC 9449 DPoP-bound token.
        DPoP => "DPoP",
    }
}

impl TokenType {
    /// Whether this is a bearer token; the comparison ignores case, since
    /// servers send `bearer` as well as `Bearer`.
    pub fn is_bearer(&self) -> bool {
        self.as_str().eq_ignore_ascii_case("bearer")
    }
}

open_enum! {
    /// `token_type_hint` of revocation and introspection requests (RFC 7009
    /// §2.1, RFC 7662 §2.1).
    pub enum TokenTypeHint (
        /// Any other value (servers ignore hints they do not know).
        Other
    ) {
        /// An access token.
        AccessToken => "access_token",
        /// A refresh token.
        RefreshToken => "refresh_token",
    }
}

/// Client authentication parameters that can travel in a form body:
/// `client_secret_post` (RFC 6749 §2.3.1), RFC 7523 assertions, and the bare
/// `client_id` of a public client.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientAuthParams {
    /// The client identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// RFC 7523 assertion type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_assertion_type: Option<String>,
    /// RFC 7523 assertion (a signed JWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_assertion: Option<ClientSecret>,
}

/// A token request body, as sent (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// The grant type.
    pub grant_type: GrantType,
    /// `authorization_code`: the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<AuthorizationCode>,
    /// `authorization_code`: the redirect URI used at `/authorize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier (validated on decode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<PkceVerifier>,
    /// `refresh_token`: the refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The device code grant (RFC 8628 §3.4): the device code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<DeviceCode>,
    /// Requested scope (refresh: a subset of the grant; client credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 8707 resource indicator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Client authentication in the body.
    #[serde(flatten)]
    pub client: ClientAuthParams,
}

/// A checked token request; see [`TokenRequest::grant`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TokenGrant<'a> {
    /// RFC 6749 §4.1.3 with PKCE.
    AuthorizationCode {
        /// The code.
        code: &'a AuthorizationCode,
        /// The redirect URI, when sent.
        redirect_uri: Option<&'a str>,
        /// The PKCE verifier (always required: OAuth 2.1).
        code_verifier: &'a PkceVerifier,
        /// The canonical resource, when sent.
        resource: Option<ResourceUri>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// The refresh token.
        refresh_token: &'a RefreshToken,
        /// A narrower scope, when asked.
        scope: Option<ScopeSet>,
        /// The canonical resource, when sent.
        resource: Option<ResourceUri>,
    },
    /// RFC 6749 §4.4.
    ClientCredentials {
        /// The scope asked.
        scope: Option<ScopeSet>,
        /// The canonical resource, when sent.
        resource: Option<ResourceUri>,
    },
    /// RFC 8628 §3.4: the scope and resource are those of the device
    /// authorization.
    DeviceCode {
        /// The device code.
        device_code: &'a DeviceCode,
    },
}

impl TokenRequest {
    fn with_grant(grant_type: GrantType) -> Self {
        Self {
            grant_type,
            code: None,
            redirect_uri: None,
            code_verifier: None,
            refresh_token: None,
            device_code: None,
            scope: None,
            resource: None,
            client: ClientAuthParams::default(),
        }
    }

    /// An `authorization_code` request.
    pub fn authorization_code(
        code: AuthorizationCode,
        redirect_uri: impl Into<String>,
        code_verifier: PkceVerifier,
    ) -> Self {
        Self {
            code: Some(code),
            redirect_uri: Some(redirect_uri.into()),
            code_verifier: Some(code_verifier),
            ..Self::with_grant(GrantType::AuthorizationCode)
        }
    }

    /// A `refresh_token` request.
    pub fn refresh_token(refresh_token: RefreshToken) -> Self {
        Self {
            refresh_token: Some(refresh_token),
            ..Self::with_grant(GrantType::RefreshToken)
        }
    }

    /// A device code request (RFC 8628 §3.4).
    pub fn device_code(device_code: DeviceCode) -> Self {
        Self {
            device_code: Some(device_code),
            ..Self::with_grant(GrantType::DeviceCode)
        }
    }

    /// A `client_credentials` request.
    pub fn client_credentials() -> Self {
        Self::with_grant(GrantType::ClientCredentials)
    }

    /// Sets `resource`.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets `scope`.
    pub fn scope(mut self, scope: &ScopeSet) -> Self {
        self.scope = (!scope.is_empty()).then(|| scope.to_string());
        self
    }

    /// Sets `client_id` in the body (public clients, `client_secret_post`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client.client_id = Some(client_id.into());
        self
    }

    /// Sets `client_secret` in the body (`client_secret_post`).
    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.client.client_secret = Some(secret);
        self
    }

    /// Checks the request for its grant type and returns its parts, or the
    /// RFC 6749 §5.2 error to send: `unsupported_grant_type`,
    /// `invalid_request` for a missing parameter, `invalid_scope`,
    /// `invalid_target`.
    pub fn grant(&self) -> Result<TokenGrant<'_>, ErrorResponse> {
        let scope = || -> Result<Option<ScopeSet>, ErrorResponse> {
            self.scope
                .as_deref()
                .map(ScopeSet::parse)
                .transpose()
                .map_err(|e| ErrorResponse::invalid_scope(e.to_string()))
        };
        let resource = || -> Result<Option<ResourceUri>, ErrorResponse> {
            self.resource
                .as_deref()
                .map(ResourceUri::parse)
                .transpose()
                .map_err(|e| ErrorResponse::invalid_target(e.to_string()))
        };
        let missing =
            |name: &str| ErrorResponse::invalid_request(format!("missing parameter {name}"));
        match &self.grant_type {
            GrantType::AuthorizationCode => Ok(TokenGrant::AuthorizationCode {
                code: self.code.as_ref().ok_or_else(|| missing("code"))?,
                redirect_uri: self.redirect_uri.as_deref(),
                code_verifier: self
                    .code_verifier
                    .as_ref()
                    .ok_or_else(|| missing("code_verifier"))?,
                resource: resource()?,
            }),
            GrantType::RefreshToken => Ok(TokenGrant::RefreshToken {
                refresh_token: self
                    .refresh_token
                    .as_ref()
                    .ok_or_else(|| missing("refresh_token"))?,
                scope: scope()?,
                resource: resource()?,
            }),
            GrantType::ClientCredentials => Ok(TokenGrant::ClientCredentials {
                scope: scope()?,
                resource: resource()?,
            }),
            GrantType::DeviceCode => Ok(TokenGrant::DeviceCode {
                device_code: self
                    .device_code
                    .as_ref()
                    .ok_or_else(|| missing("device_code"))?,
            }),
            other => Err(ErrorResponse::new(ErrorCode::UnsupportedGrantType)
                .with_description(format!("grant_type {other} is not supported"))),
        }
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// `Bearer`.
    pub token_type: TokenType,
    /// Lifetime in seconds (a number, or a numeric string from lax servers).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64_lenient"
    )]
    pub expires_in: Option<u64>,
    /// A refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The granted scope, when it differs from the one asked (read
    /// leniently: invalid tokens are dropped).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_scope_lenient"
    )]
    pub scope: Option<ScopeSet>,
    /// Fields this type does not model (`id_token`, vendor fields).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl TokenResponse {
    /// A bearer token response.
    pub fn bearer(access_token: AccessToken, expires_in: u64) -> Self {
        Self {
            access_token,
            token_type: TokenType::Bearer,
            expires_in: Some(expires_in),
            refresh_token: None,
            scope: None,
            extra: BTreeMap::new(),
        }
    }
}

/// A JWT `aud`: one string or an array of strings (RFC 7519 §4.1.3).
/// Serialized as a bare string when it holds exactly one value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// One audience.
    pub fn single(aud: impl Into<String>) -> Self {
        Self(vec![aud.into()])
    }

    /// The values.
    pub fn values(&self) -> &[String] {
        &self.0
    }

    /// Whether any value names `resource` (compared as RFC 8707 resources,
    /// see [`ResourceUri::matches`]).
    pub fn contains_resource(&self, resource: &ResourceUri) -> bool {
        self.0.iter().any(|a| resource.matches(a))
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(s) => Self(vec![s]),
            OneOrMany::Many(v) => Self(v),
        })
    }
}

/// RFC 9068 §2.2 claims of a JWT access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, or the client for `client_credentials`.
    pub sub: String,
    /// Audience: the resource(s) the token is for.
    pub aud: Audience,
    /// The client the token was issued to.
    pub client_id: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Unique identifier, for revocation.
    pub jti: String,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Granted scopes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_scope_lenient"
    )]
    pub scope: Option<ScopeSet>,
    /// When the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// Other claims.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Why a token's time claims reject it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeValidationError {
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
}

impl AccessTokenClaims {
    /// The granted scopes (empty when absent).
    pub fn scopes(&self) -> ScopeSet {
        self.scope.clone().unwrap_or_default()
    }

    /// Checks `exp` and `nbf` against `now` (seconds since the epoch),
    /// allowing `leeway` seconds of clock skew.
    pub fn validate_time(&self, now: u64, leeway: u64) -> Result<(), TimeValidationError> {
        if now >= self.exp.saturating_add(leeway) {
            return Err(TimeValidationError::Expired);
        }
        if self.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(TimeValidationError::NotYetValid);
        }
        Ok(())
    }
}

/// An RFC 7009 revocation request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevocationRequest {
    /// The token to revoke (access or refresh).
    pub token: AccessToken,
    /// What kind of token it probably is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<TokenTypeHint>,
    /// Client authentication in the body.
    #[serde(flatten)]
    pub client: ClientAuthParams,
}

#[cfg(test)]
mod tests;
