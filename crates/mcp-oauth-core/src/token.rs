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

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorCode, ErrorResponse};
use crate::macros::open_enum;
use crate::pkce::PkceVerifier;
use crate::registration::GrantType;
use crate::resource::ResourceUri;
use crate::scope::ScopeSet;
use crate::secret::{
    AccessToken, AuthorizationCode, ClientSecret, DeviceCode, RefreshToken, SecurityToken,
};
use crate::serde_util::{opt_scope_lenient, opt_u64_lenient};

mod claims;
mod token_type;

pub use claims::{AccessTokenClaims, Audience, TimeValidationError};
pub use token_type::TokenTypeId;

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
        /// Not an access token (RFC 8693 §2.2.1): what a token exchange
        /// answers with an identity assertion grant.
        NotApplicable => "N_A",
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
    /// RFC 7523 §2.1: the JWT authorization grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<SecurityToken>,
    /// RFC 8693: the token naming the party the new token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_token: Option<SecurityToken>,
    /// RFC 8693: the type of `subject_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_token_type: Option<TokenTypeId>,
    /// RFC 8693: the token of the party acting for the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_token: Option<SecurityToken>,
    /// RFC 8693: the type of `actor_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_token_type: Option<TokenTypeId>,
    /// RFC 8693: the kind of token wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_token_type: Option<TokenTypeId>,
    /// RFC 8693: where the new token will be used (an issuer, a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
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
    /// RFC 7523 §2.1: a JWT authorization grant (for MCP, an identity
    /// assertion grant from an enterprise identity provider).
    JwtBearer {
        /// The signed JWT.
        assertion: &'a SecurityToken,
        /// A narrower scope, when asked.
        scope: Option<ScopeSet>,
    },
    /// RFC 8693 §2.1 token exchange.
    TokenExchange {
        /// The subject's token.
        subject_token: &'a SecurityToken,
        /// Its type.
        subject_token_type: &'a TokenTypeId,
        /// The kind of token wanted (the server picks when absent).
        requested_token_type: Option<&'a TokenTypeId>,
        /// Where the new token will be used.
        audience: Option<&'a str>,
        /// The canonical resource, when sent.
        resource: Option<ResourceUri>,
        /// The scope asked.
        scope: Option<ScopeSet>,
        /// The actor's token and its type, when sent (both, or neither).
        actor: Option<(&'a SecurityToken, &'a TokenTypeId)>,
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
            assertion: None,
            subject_token: None,
            subject_token_type: None,
            actor_token: None,
            actor_token_type: None,
            requested_token_type: None,
            audience: None,
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

    /// A JWT authorization grant (RFC 7523 §2.1).
    pub fn jwt_bearer(assertion: SecurityToken) -> Self {
        Self {
            assertion: Some(assertion),
            ..Self::with_grant(GrantType::JwtBearer)
        }
    }

    /// A token exchange (RFC 8693 §2.1) of `subject_token`, whose type is
    /// `subject_token_type`.
    pub fn token_exchange(subject_token: SecurityToken, subject_token_type: TokenTypeId) -> Self {
        Self {
            subject_token: Some(subject_token),
            subject_token_type: Some(subject_token_type),
            ..Self::with_grant(GrantType::TokenExchange)
        }
    }

    /// Sets `requested_token_type` (token exchange).
    pub fn requested_token_type(mut self, kind: TokenTypeId) -> Self {
        self.requested_token_type = Some(kind);
        self
    }

    /// Sets `audience` (token exchange).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets `actor_token` and its type (token exchange).
    pub fn actor_token(mut self, token: SecurityToken, kind: TokenTypeId) -> Self {
        self.actor_token = Some(token);
        self.actor_token_type = Some(kind);
        self
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
            GrantType::JwtBearer => Ok(TokenGrant::JwtBearer {
                assertion: self
                    .assertion
                    .as_ref()
                    .ok_or_else(|| missing("assertion"))?,
                scope: scope()?,
            }),
            GrantType::TokenExchange => Ok(TokenGrant::TokenExchange {
                subject_token: self
                    .subject_token
                    .as_ref()
                    .ok_or_else(|| missing("subject_token"))?,
                subject_token_type: self
                    .subject_token_type
                    .as_ref()
                    .ok_or_else(|| missing("subject_token_type"))?,
                requested_token_type: self.requested_token_type.as_ref(),
                audience: self.audience.as_deref(),
                resource: resource()?,
                scope: scope()?,
                actor: match (&self.actor_token, &self.actor_token_type) {
                    (Some(token), Some(kind)) => Some((token, kind)),
                    (None, None) => None,
                    (Some(_), None) => return Err(missing("actor_token_type")),
                    (None, Some(_)) => return Err(missing("actor_token")),
                },
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
    /// RFC 8693 §2.2.1: the type of the token issued by a token exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<TokenTypeId>,
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
            issued_token_type: None,
            extra: BTreeMap::new(),
        }
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
