//! Discovery documents: RFC 8414 authorization server metadata and RFC 9728
//! protected resource metadata.
//!
//! Every optional field is an `Option`, so a document round-trips exactly;
//! fields this crate does not model are kept in `extra`.
//!
//! ```
//! use mcp_oauth_core::metadata::AuthorizationServerMetadata;
//!
//! let doc: AuthorizationServerMetadata = serde_json::from_str(r#"{
//!     "issuer": "https://as.example",
//!     "authorization_endpoint": "https://as.example/authorize",
//!     "token_endpoint": "https://as.example/token",
//!     "response_types_supported": ["code"],
//!     "code_challenge_methods_supported": ["S256"],
//!     "x-vendor": 1
//! }"#)?;
//! assert!(doc.supports_s256());
//! assert!(doc.validate_issuer("https://as.example").is_ok());
//! assert!(doc.validate_issuer("https://attacker.example").is_err());
//! assert_eq!(doc.extra["x-vendor"], 1);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::issuer::issuer_eq;
use crate::registration::{ClientAuthMethod, GrantType, ResponseType};
use crate::serde_util::opt_bool_lenient;

/// A metadata document does not fit what the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// RFC 8414 §3.3 / RFC 9728 §3.3: the identifier in the document differs
    /// from the one used to fetch it.
    #[error("metadata names {found:?}, but was fetched for {expected:?}")]
    IdentifierMismatch {
        /// What the caller used to build the well-known URL.
        expected: String,
        /// What the document says.
        found: String,
    },
}

/// RFC 8414 authorization server metadata (also read from OpenID Connect
/// discovery documents, which share these fields).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier; must equal the one discovery started from.
    pub issuer: String,
    /// `/authorize` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// `/token` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// JWK Set URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RFC 7591 registration endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Scopes the server supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// `response_type` values (REQUIRED by RFC 8414; tolerated when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types_supported: Option<Vec<ResponseType>>,
    /// `response_mode` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_modes_supported: Option<Vec<String>>,
    /// Grant types; RFC 8414 defaults to `authorization_code` and `implicit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<GrantType>>,
    /// Client authentication methods at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<ClientAuthMethod>>,
    /// JWS algorithms for `private_key_jwt` / `client_secret_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// Human documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
    /// UI locales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_locales_supported: Option<Vec<String>>,
    /// Policy page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_policy_uri: Option<String>,
    /// Terms of service page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_tos_uri: Option<String>,
    /// RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// RFC 8628 device authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// Client authentication methods at the revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<ClientAuthMethod>>,
    /// RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// Client authentication methods at the introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<ClientAuthMethod>>,
    /// PKCE methods; MCP clients refuse a server without `S256` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Whether URL-formatted `client_id`s (Client ID Metadata Documents) are
    /// accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_bool_lenient"
    )]
    pub client_id_metadata_document_supported: Option<bool>,
    /// RFC 9207: whether authorization responses carry `iss`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_bool_lenient"
    )]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// OpenID Connect: userinfo endpoint (kept for OIDC documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// OpenID Connect Discovery: subject identifier types (`public`,
    /// `pairwise`); REQUIRED in an OpenID Provider's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_types_supported: Option<Vec<String>>,
    /// OpenID Connect Discovery: JWS algorithms of ID tokens (`ES256`,
    /// `EdDSA`, ...); REQUIRED in an OpenID Provider's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// OpenID Connect Discovery: the claims the provider may supply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_supported: Option<Vec<String>>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl AuthorizationServerMetadata {
    /// Whether `S256` is listed in `code_challenge_methods_supported`.
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods_supported
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| m == "S256"))
    }

    /// Whether a grant type is supported, applying RFC 8414's default
    /// (`authorization_code`, `implicit`) when the field is absent.
    pub fn supports_grant_type(&self, grant: &GrantType) -> bool {
        match &self.grant_types_supported {
            Some(list) => list.contains(grant),
            None => matches!(grant, GrantType::AuthorizationCode | GrantType::Implicit),
        }
    }

    /// Whether a token endpoint auth method is supported, applying RFC
    /// 8414's default (`client_secret_basic`) when the field is absent.
    pub fn supports_token_auth_method(&self, method: &ClientAuthMethod) -> bool {
        match &self.token_endpoint_auth_methods_supported {
            Some(list) => list.contains(method),
            None => *method == ClientAuthMethod::ClientSecretBasic,
        }
    }

    /// Whether the server accepts Client ID Metadata Documents.
    pub fn supports_client_id_metadata_documents(&self) -> bool {
        self.client_id_metadata_document_supported == Some(true)
    }

    /// Whether the document describes an OpenID Provider: it carries the
    /// fields OpenID Connect Discovery 1.0 §3 requires beside RFC 8414's
    /// (`subject_types_supported`, `id_token_signing_alg_values_supported`)
    /// and lists the `openid` scope.
    ///
    /// ```
    /// use mcp_oauth_core::metadata::AuthorizationServerMetadata;
    ///
    /// let mut doc = AuthorizationServerMetadata {
    ///     issuer: "https://as.example".into(),
    ///     scopes_supported: Some(vec!["openid".into()]),
    ///     ..Default::default()
    /// };
    /// assert!(!doc.is_openid_provider());
    /// doc.subject_types_supported = Some(vec!["public".into()]);
    /// doc.id_token_signing_alg_values_supported = Some(vec!["ES256".into()]);
    /// assert!(doc.is_openid_provider());
    /// ```
    pub fn is_openid_provider(&self) -> bool {
        let listed = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
        listed(&self.subject_types_supported)
            && listed(&self.id_token_signing_alg_values_supported)
            && self
                .scopes_supported
                .as_ref()
                .is_some_and(|s| s.iter().any(|s| s == "openid"))
    }

    /// Whether the server promises `iss` in authorization responses.
    pub fn supports_iss_parameter(&self) -> bool {
        self.authorization_response_iss_parameter_supported == Some(true)
    }

    /// RFC 8414 §3.3: the `issuer` must be identical to the issuer the
    /// well-known URL was built from (exact string comparison).
    pub fn validate_issuer(&self, expected: &str) -> Result<(), MetadataError> {
        if issuer_eq(&self.issuer, expected) {
            Ok(())
        } else {
            Err(MetadataError::IdentifierMismatch {
                expected: expected.to_owned(),
                found: self.issuer.clone(),
            })
        }
    }
}

/// RFC 9728 protected resource metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier (the MCP server's canonical URI).
    pub resource: String,
    /// Issuers of the authorization servers that protect this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_servers: Option<Vec<String>>,
    /// The resource's own JWK Set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Scopes the resource uses (the minimal set for basic use, in MCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// How tokens may be presented: `header`, `body`, `query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_methods_supported: Option<Vec<String>>,
    /// JWS algorithms the resource signs responses with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_signing_alg_values_supported: Option<Vec<String>>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Developer documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// Policy page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy_uri: Option<String>,
    /// Terms of service page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_tos_uri: Option<String>,
    /// RFC 8705 mutual-TLS bound tokens.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_bool_lenient"
    )]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
    /// RFC 9396 authorization details types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details_types_supported: Option<Vec<String>>,
    /// RFC 9449 DPoP algorithms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// RFC 9449: whether DPoP-bound tokens are required.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_bool_lenient"
    )]
    pub dpop_bound_access_tokens_required: Option<bool>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ProtectedResourceMetadata {
    /// A document for `resource` protected by `authorization_servers`, with
    /// `bearer_methods_supported: ["header"]` (the only method MCP allows).
    pub fn new<I, S>(resource: impl Into<String>, authorization_servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            resource: resource.into(),
            authorization_servers: Some(
                authorization_servers.into_iter().map(Into::into).collect(),
            ),
            bearer_methods_supported: Some(vec!["header".to_owned()]),
            ..Self::default()
        }
    }

    /// The listed authorization servers (empty when absent).
    pub fn authorization_servers(&self) -> &[String] {
        self.authorization_servers.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8414 §3.2 example response.
    const RFC8414_EXAMPLE: &str = r#"{
        "issuer": "https://server.example.com",
        "authorization_endpoint": "https://server.example.com/authorize",
        "token_endpoint": "https://server.example.com/token",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_endpoint": "https://server.example.com/userinfo",
        "jwks_uri": "https://server.example.com/jwks.json",
        "registration_endpoint": "https://server.example.com/register",
        "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access"],
        "response_types_supported": ["code", "code token"],
        "service_documentation": "http://server.example.com/service_documentation.html",
        "ui_locales_supported": ["en-US", "en-GB", "en-CA", "fr-FR", "fr-CA"]
    }"#;

    // RFC 9728 §3.2 example response.
    const RFC9728_EXAMPLE: &str = r#"{
        "resource": "https://resource.example.com",
        "authorization_servers": ["https://as1.example.com", "https://as2.example.net"],
        "bearer_methods_supported": ["header", "body"],
        "scopes_supported": ["profile", "email", "phone"],
        "resource_documentation": "https://resource.example.com/resource_documentation.html"
    }"#;

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        text: &str,
    ) -> T {
        let value: Value = serde_json::from_str(text).unwrap();
        let typed: T = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&typed).unwrap(),
            value,
            "JSON round trip"
        );
        let again: T = serde_json::from_value(serde_json::to_value(&typed).unwrap()).unwrap();
        assert_eq!(again, typed, "typed round trip");
        typed
    }

    #[test]
    fn rfc8414_example_round_trips() {
        let m: AuthorizationServerMetadata = round_trip(RFC8414_EXAMPLE);
        assert!(!m.supports_s256());
        assert!(m.supports_token_auth_method(&ClientAuthMethod::PrivateKeyJwt));
        assert!(!m.supports_token_auth_method(&ClientAuthMethod::None));
        assert!(m.supports_grant_type(&GrantType::AuthorizationCode));
        assert!(!m.supports_grant_type(&GrantType::RefreshToken));
        assert_eq!(
            m.response_types_supported.as_ref().unwrap()[1],
            ResponseType::Other("code token".into())
        );
    }

    #[test]
    fn rfc9728_example_round_trips() {
        let m: ProtectedResourceMetadata = round_trip(RFC9728_EXAMPLE);
        assert_eq!(m.authorization_servers().len(), 2);
    }

    #[test]
    fn mcp_fields_and_lenient_booleans() {
        let m: AuthorizationServerMetadata = serde_json::from_str(
            r#"{"issuer":"https://a.example","client_id_metadata_document_supported":"true",
                "authorization_response_iss_parameter_supported":true,
                "code_challenge_methods_supported":["plain","S256"]}"#,
        )
        .unwrap();
        assert!(m.supports_client_id_metadata_documents());
        assert!(m.supports_iss_parameter());
        assert!(m.supports_s256());
        let none: AuthorizationServerMetadata = serde_json::from_str(r#"{"issuer":"x"}"#).unwrap();
        assert!(!none.supports_client_id_metadata_documents() && !none.supports_iss_parameter());
    }

    #[test]
    fn issuer_validation_is_exact() {
        let m = AuthorizationServerMetadata {
            issuer: "https://honest.example".into(),
            ..Default::default()
        };
        assert!(m.validate_issuer("https://honest.example").is_ok());
        assert_eq!(
            m.validate_issuer("https://honest.example/"),
            Err(MetadataError::IdentifierMismatch {
                expected: "https://honest.example/".into(),
                found: "https://honest.example".into()
            })
        );
    }

    #[test]
    fn prm_constructor() {
        let m =
            ProtectedResourceMetadata::new("http://127.0.0.1:8000/mcp", ["http://127.0.0.1:9000"]);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "resource": "http://127.0.0.1:8000/mcp",
                "authorization_servers": ["http://127.0.0.1:9000"],
                "bearer_methods_supported": ["header"]
            })
        );
    }
}
