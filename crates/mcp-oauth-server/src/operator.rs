//! Clients the operator creates: the only ones the server trusts beyond
//! acting for a person who signs in and consents.
//!
//! They come from the configuration (`[[clients]]` in the TOML file, or
//! [`crate::ServerConfig::client`] for embedders; looked up before storage,
//! so every instance with the same configuration knows them) or from the
//! `client add` command (kept in storage). Either way they become a
//! [`ClientRecord`] whose [`ClientPolicy::trusted`] is set.

use mcp_oauth_core::registration::{ClientAuthMethod, ClientMetadata, GrantType, ResponseType};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{ClientSecret, token_hash};
use serde::Deserialize;

use crate::storage::{ClientPolicy, ClientRecord};

/// A client the operator created: the only kind the server trusts beyond
/// acting for a person who signs in and consents.
///
/// ```
/// use mcp_oauth_server::OperatorClient;
/// use mcp_oauth_server::core::resource::ResourceUri;
///
/// let rs = ResourceUri::parse("https://mcp.example.com/mcp")?;
/// // A resource server that introspects the tokens of its own resource:
/// let introspector = OperatorClient::resource_server("mcp-rs", "a-long-random-secret", [rs.clone()]);
/// // A job that gets tokens for that resource without a person:
/// let job = OperatorClient::service("nightly-report", "another-long-secret").resource(rs);
/// assert!(introspector.to_record(0).policy.resource_server);
/// assert!(job.to_record(0).is_trusted());
/// # Ok::<(), mcp_oauth_server::core::resource::ResourceError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OperatorClient {
    /// The client identifier.
    pub client_id: String,
    /// A display name, shown on consent pages.
    #[serde(default)]
    pub name: Option<String>,
    /// How it authenticates at the token endpoint (default
    /// `client_secret_basic`; `none` for a public client).
    #[serde(default = "default_auth")]
    pub auth: ClientAuthMethod,
    /// Its secret, for `client_secret_basic`/`client_secret_post` (the
    /// binary also reads `MCP_OAUTH_CLIENT_{ID}_SECRET` or `secret_file`).
    #[serde(default)]
    pub secret: Option<ClientSecret>,
    /// Its JWK Set by value, for `private_key_jwt`.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Its JWK Set URL, for `private_key_jwt`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Redirect URIs (for the authorization code grant).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grants it may use (default: the authorization code and refresh
    /// token grants with redirect URIs, else `client_credentials`; none
    /// for a resource server). Token exchange
    /// (`urn:ietf:params:oauth:grant-type:token-exchange`) is for
    /// confidential clients only.
    #[serde(default)]
    pub grant_types: Option<Vec<GrantType>>,
    /// Scopes it may ask for (default: every supported scope).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Resources its tokens may name (default: any the server serves); for
    /// a resource server, the resources it serves.
    #[serde(default)]
    pub resources: Vec<String>,
    /// A resource server, allowed to introspect tokens of its resources.
    #[serde(default)]
    pub resource_server: bool,
    /// A first-party agent allowed to post a user's password as JSON (the
    /// headless login); never counts as consent.
    #[serde(default)]
    pub headless_login: bool,
}

fn default_auth() -> ClientAuthMethod {
    ClientAuthMethod::ClientSecretBasic
}

impl OperatorClient {
    fn blank(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            name: None,
            auth: default_auth(),
            secret: None,
            jwks: None,
            jwks_uri: None,
            redirect_uris: Vec::new(),
            grant_types: None,
            scopes: None,
            resources: Vec::new(),
            resource_server: false,
            headless_login: false,
        }
    }

    /// A public client (no secret) that signs people in with the
    /// authorization code grant at these redirect URIs.
    pub fn public<I, S>(client_id: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            auth: ClientAuthMethod::None,
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            ..Self::blank(client_id)
        }
    }

    /// A confidential client with a secret (`client_secret_basic`) that
    /// gets tokens for itself with the `client_credentials` grant.
    pub fn service(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            secret: Some(ClientSecret::new(secret.into())),
            grant_types: Some(vec![GrantType::ClientCredentials]),
            ..Self::blank(client_id)
        }
    }

    /// A confidential client that authenticates with `private_key_jwt`
    /// (RFC 7523) using the keys of `jwks` (a JWK Set), and gets tokens
    /// for itself with the `client_credentials` grant.
    pub fn service_with_keys(client_id: impl Into<String>, jwks: serde_json::Value) -> Self {
        Self {
            auth: ClientAuthMethod::PrivateKeyJwt,
            jwks: Some(jwks),
            grant_types: Some(vec![GrantType::ClientCredentials]),
            ..Self::blank(client_id)
        }
    }

    /// A resource server that introspects the access tokens issued for
    /// `resources` (and no others), authenticating with a secret.
    pub fn resource_server<I>(
        client_id: impl Into<String>,
        secret: impl Into<String>,
        resources: I,
    ) -> Self
    where
        I: IntoIterator<Item = ResourceUri>,
    {
        Self {
            secret: Some(ClientSecret::new(secret.into())),
            grant_types: Some(Vec::new()),
            resources: resources
                .into_iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            resource_server: true,
            ..Self::blank(client_id)
        }
    }

    /// Limits its tokens to this resource (call again for more).
    pub fn resource(mut self, resource: ResourceUri) -> Self {
        self.resources.push(resource.as_str().to_owned());
        self
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the grants it may use.
    pub fn grants<I: IntoIterator<Item = GrantType>>(mut self, grants: I) -> Self {
        self.grant_types = Some(grants.into_iter().collect());
        self
    }

    /// Allows the headless password login (a first-party agent).
    pub fn headless_login(mut self) -> Self {
        self.headless_login = true;
        self
    }

    /// The grants it may use, with the defaults applied.
    pub fn effective_grants(&self) -> Vec<GrantType> {
        match &self.grant_types {
            Some(g) => g.clone(),
            None if self.resource_server => Vec::new(),
            None if !self.redirect_uris.is_empty() => {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            }
            None => vec![GrantType::ClientCredentials],
        }
    }

    /// Checks what the server cannot work with: a secret method without a
    /// secret, `private_key_jwt` without keys, an invalid scope, resource
    /// or redirect URI, the authorization code grant without a redirect
    /// URI, or a resource server serving no resource.
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.client_id;
        if id.is_empty() || id.len() > 255 || id.chars().any(char::is_control) {
            return Err(format!("client id {id:?}: 1 to 255 printable characters"));
        }
        match self.auth {
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
                if self.secret.as_ref().is_none_or(|s| s.secret().len() < 16) {
                    return Err(format!(
                        "client {id}: a secret of at least 16 characters is required"
                    ));
                }
            }
            ClientAuthMethod::PrivateKeyJwt => {
                if self.jwks.is_none() == self.jwks_uri.is_none() {
                    return Err(format!(
                        "client {id}: private_key_jwt needs exactly one of jwks and jwks_uri"
                    ));
                }
            }
            ClientAuthMethod::None => {
                if self.secret.is_some() {
                    return Err(format!("client {id}: a public client has no secret"));
                }
            }
            ref other => return Err(format!("client {id}: auth method {other} is not supported")),
        }
        for r in &self.resources {
            ResourceUri::parse(r).map_err(|e| format!("client {id}: resource {r}: {e}"))?;
        }
        if self.resource_server && self.resources.is_empty() {
            return Err(format!(
                "client {id}: a resource server must name the resources it serves"
            ));
        }
        if self.effective_grants().contains(&GrantType::TokenExchange)
            && self.auth == ClientAuthMethod::None
        {
            return Err(format!(
                "client {id}: token exchange needs a confidential client (a secret or keys)"
            ));
        }
        if let Some(scopes) = &self.scopes {
            ScopeSet::parse(&scopes.join(" ")).map_err(|e| format!("client {id}: {e}"))?;
        }
        if !self.effective_grants().is_empty() {
            self.metadata()
                .validate()
                .map_err(|e| format!("client {id}: {}", e.error_description.unwrap_or_default()))?;
        }
        Ok(())
    }

    fn metadata(&self) -> ClientMetadata {
        let grants = self.effective_grants();
        let uses_code = grants.contains(&GrantType::AuthorizationCode);
        ClientMetadata {
            client_name: self.name.clone(),
            redirect_uris: (!self.redirect_uris.is_empty()).then(|| self.redirect_uris.clone()),
            response_types: Some(if uses_code {
                vec![ResponseType::Code]
            } else {
                Vec::new()
            }),
            grant_types: Some(grants),
            token_endpoint_auth_method: Some(self.auth.clone()),
            scope: self
                .scopes
                .as_ref()
                .map(|s| ScopeSet::parse_lossy(&s.join(" "))),
            jwks: self.jwks.clone(),
            jwks_uri: self.jwks_uri.clone(),
            ..ClientMetadata::default()
        }
    }

    /// The stored form: trusted, with the secret hashed.
    pub fn to_record(&self, issued_at: u64) -> ClientRecord {
        ClientRecord {
            client_id: self.client_id.clone(),
            secret_hash: self.secret.as_ref().map(|s| token_hash(s.secret())),
            metadata: self.metadata(),
            issued_at,
            policy: ClientPolicy {
                trusted: true,
                resources: self.resources.clone(),
                resource_server: self.resource_server,
                headless_login: self.headless_login,
            },
            registration_token_hash: None,
            last_used_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let rs = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
        assert!(
            OperatorClient::service("job", "0123456789abcdef")
                .validate()
                .is_ok()
        );
        assert!(OperatorClient::service("job", "short").validate().is_err());
        assert!(
            OperatorClient::public("app", ["http://127.0.0.1/callback"])
                .validate()
                .is_ok()
        );
        assert!(
            OperatorClient::public("app", Vec::<String>::new())
                .grants([GrantType::AuthorizationCode])
                .validate()
                .is_err(),
            "the code grant needs a redirect URI"
        );
        assert!(
            OperatorClient::resource_server("rs", "0123456789abcdef", [rs])
                .validate()
                .is_ok()
        );
        assert!(
            OperatorClient::resource_server("rs", "0123456789abcdef", [])
                .validate()
                .is_err()
        );
        assert!(
            OperatorClient::public("app", ["http://127.0.0.1/callback"])
                .grants([GrantType::AuthorizationCode, GrantType::TokenExchange])
                .validate()
                .is_err(),
            "token exchange needs a confidential client"
        );
        assert!(
            OperatorClient::service("mcp-a", "0123456789abcdef")
                .grants([GrantType::TokenExchange])
                .validate()
                .is_ok()
        );
        let record = OperatorClient::public("app", ["http://127.0.0.1/callback"]).to_record(7);
        assert!(record.is_trusted() && !record.is_confidential());
        assert_eq!(
            record.metadata.effective_grant_types(),
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
    }
}
