//! Federated login: people sign in at an upstream identity provider (an
//! OpenID Connect provider such as Entra ID, Google or Okta, or a plain
//! OAuth provider with a userinfo URL such as GitHub) while MCP clients keep
//! talking to this server only: registration, PKCE, `resource` and the
//! tokens are ours. The upstream sees one fixed, pre-registered client of
//! ours with one callback URL per provider (`{issuer}/callback/{id}`).
//!
//! Toward the upstream: authorization code with PKCE S256, `state` bound to
//! the browser by a signed cookie, and for OIDC a `nonce`; the ID token is
//! checked (signature against the upstream JWKS, `iss`, `aud`, `azp`,
//! `exp`, `iat`, `nonce`). The upstream's tokens are used to learn who
//! signed in, and then dropped, never passed to MCP clients; unless the
//! operator opts in per provider (`store_tokens`): then they are kept
//! sealed (XChaCha20-Poly1305) for the resource servers the operator names, which
//! exchange a person's access token of ours for them (RFC 8693).
//!
//! The person becomes the subject `{id}:{upstream subject}`; e-mail, name
//! and groups can be mapped from the provider's claims, checked against
//! allow-lists (e-mail domains, groups) and copied into our access tokens.

mod claims;
mod refresh_lock;
pub mod trusted_idp;
mod upstream;
mod vault;

use std::collections::BTreeMap;

use mcp_oauth_core::secret::ClientSecret;
use serde::Deserialize;

pub use claims::ClaimMapping;
pub(crate) use claims::{admit, token_claims};
pub use trusted_idp::TrustedIdpConfig;
pub(crate) use upstream::{Federation, FlowSecrets, printable};
pub(crate) use vault::{Sealer, UpstreamTokens};

/// How this server authenticates to an upstream's token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UpstreamAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// One upstream identity provider; several may be configured, and the
/// login page offers each as a "Sign in with …" button.
///
/// With `issuer`, the provider is an OpenID Connect provider: its endpoints
/// come from discovery and an ID token is required. Without it, the
/// provider is plain OAuth: `authorization_endpoint`, `token_endpoint` and
/// `userinfo_endpoint` must be given, and who signed in comes from the
/// userinfo response alone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UpstreamConfig {
    /// Short id: lowercase letters, digits, `-` and `_`. It names the
    /// callback (`/callback/{id}`) and prefixes subjects (`{id}:{sub}`), so
    /// changing it changes every federated user's identity.
    pub id: String,
    /// What the login button says after "Sign in with".
    pub name: String,
    /// OpenID Connect issuer, for discovery and ID token checks.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Authorization endpoint (overrides discovery).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Token endpoint (overrides discovery).
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Userinfo endpoint (overrides discovery; required without `issuer`).
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// JWK Set URL (overrides discovery).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Our client id at the upstream.
    pub client_id: String,
    /// Our client secret at the upstream. The binary also reads it from
    /// `MCP_OAUTH_UPSTREAM_{ID}_CLIENT_SECRET` (id upper-cased, `-` as `_`).
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// Token endpoint authentication.
    #[serde(default)]
    pub token_endpoint_auth: UpstreamAuthMethod,
    /// Scopes asked of the upstream (default `openid email profile` with
    /// `issuer`, none without).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Extra authorization request parameters (Google's `hd`, a `prompt`,
    /// Entra's `domain_hint`…).
    #[serde(default)]
    pub authorization_params: BTreeMap<String, String>,
    /// Which upstream claims mean what.
    #[serde(default)]
    pub claims: ClaimMapping,
    /// Only people whose verified e-mail address is in one of these domains
    /// may sign in (empty: no e-mail condition). "Verified" means the
    /// provider said `email_verified: true`; an absent claim is not
    /// verification (the "nOAuth" class: in a multi-tenant provider anyone
    /// may set any address), unless `assume_email_verified` is set.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// Treat every e-mail address this provider sends as verified, for
    /// providers that verify addresses without saying so (a single-tenant
    /// directory whose addresses the organisation assigns). Off by default.
    #[serde(default)]
    pub assume_email_verified: bool,
    /// Only members of at least one of these groups may sign in (empty: no
    /// group condition). Needs `claims.groups`.
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// Which mapped claims (`email`, `name`, `groups`) our access tokens
    /// carry, so resource servers know who calls without asking anyone.
    #[serde(default = "default_token_claims")]
    pub token_claims: Vec<String>,
    /// Keep people's tokens at this provider (access, refresh, expiry),
    /// sealed with the key-encryption key, so the resource servers named
    /// in `exchange_clients` can call the provider's API as them (RFC 8693
    /// token exchange). Off by default; needs `MCP_OAUTH_KEY_ENCRYPTION_KEY`.
    #[serde(default)]
    pub store_tokens: bool,
    /// The resource servers (confidential clients the operator created)
    /// that may exchange a person's access token for their token at this
    /// provider. Needs `store_tokens`.
    #[serde(default)]
    pub exchange_clients: Vec<String>,
    /// Base URLs of the provider's API (e.g. `https://api.github.com`): a
    /// token exchange may name the provider by one of these as its
    /// `resource`, or by its id as its `audience`.
    #[serde(default)]
    pub api_urls: Vec<String>,
}

fn default_token_claims() -> Vec<String> {
    vec!["email".into(), "name".into(), "groups".into()]
}

impl UpstreamConfig {
    /// An OpenID Connect upstream with the default scopes and mapping.
    pub fn oidc(
        id: impl Into<String>,
        name: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Option<ClientSecret>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            issuer: Some(issuer.into()),
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            jwks_uri: None,
            client_id: client_id.into(),
            client_secret,
            token_endpoint_auth: UpstreamAuthMethod::default(),
            scopes: None,
            authorization_params: BTreeMap::new(),
            claims: ClaimMapping::default(),
            allowed_email_domains: Vec::new(),
            assume_email_verified: false,
            allowed_groups: Vec::new(),
            token_claims: default_token_claims(),
            store_tokens: false,
            exchange_clients: Vec::new(),
            api_urls: Vec::new(),
        }
    }

    /// A plain OAuth upstream: who signed in comes from `userinfo_endpoint`.
    pub fn oauth(
        id: impl Into<String>,
        name: impl Into<String>,
        endpoints: [String; 3],
        client_id: impl Into<String>,
        client_secret: Option<ClientSecret>,
    ) -> Self {
        let [authorize, token, userinfo] = endpoints;
        Self {
            issuer: None,
            authorization_endpoint: Some(authorize),
            token_endpoint: Some(token),
            userinfo_endpoint: Some(userinfo),
            ..Self::oidc(id, name, String::new(), client_id, client_secret)
        }
    }

    /// Sets the scopes asked of the upstream.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the claim mapping.
    pub fn claims(mut self, mapping: ClaimMapping) -> Self {
        self.claims = mapping;
        self
    }

    /// Allows only these e-mail domains.
    pub fn allowed_email_domains<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        domains: I,
    ) -> Self {
        self.allowed_email_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Treats every e-mail address the provider sends as verified (see
    /// [`UpstreamConfig::assume_email_verified`]).
    pub fn assume_email_verified(mut self) -> Self {
        self.assume_email_verified = true;
        self
    }

    /// Allows only members of these groups.
    pub fn allowed_groups<I: IntoIterator<Item = S>, S: Into<String>>(mut self, groups: I) -> Self {
        self.allowed_groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Keeps people's tokens at this provider, for these resource servers
    /// to exchange (see [`UpstreamConfig::store_tokens`]).
    pub fn store_tokens<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        exchange_clients: I,
    ) -> Self {
        self.store_tokens = true;
        self.exchange_clients = exchange_clients.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the base URLs of the provider's API (see
    /// [`UpstreamConfig::api_urls`]).
    pub fn api_urls<I: IntoIterator<Item = S>, S: Into<String>>(mut self, urls: I) -> Self {
        self.api_urls = urls.into_iter().map(Into::into).collect();
        self
    }

    /// Whether this is an OpenID Connect upstream.
    pub fn is_oidc(&self) -> bool {
        self.issuer.is_some()
    }

    /// The scopes asked of the upstream.
    pub fn effective_scopes(&self) -> Vec<String> {
        match (&self.scopes, self.is_oidc()) {
            (Some(s), _) => s.clone(),
            (None, true) => vec!["openid".into(), "email".into(), "profile".into()],
            (None, false) => Vec::new(),
        }
    }

    /// Checks the configuration; the message names the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 32
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(format!(
                "upstream id {:?}: use 1 to 32 of a-z, 0-9, '-' and '_'",
                self.id
            ));
        }
        let at = |field: &str| format!("upstream {}: {field}", self.id);
        if self.name.trim().is_empty() {
            return Err(at("name is empty"));
        }
        if self.client_id.is_empty() {
            return Err(at("client_id is empty"));
        }
        let urls = [
            ("issuer", &self.issuer),
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ];
        for (field, value) in urls {
            if let Some(v) = value {
                check_url(v).map_err(|e| at(&format!("{field}: {e}")))?;
            }
        }
        if !self.is_oidc() {
            for (field, value) in &urls[1..4] {
                if value.is_none() {
                    return Err(at(&format!("{field} is required without an issuer")));
                }
            }
        }
        if self.is_oidc() && !self.effective_scopes().iter().any(|s| s == "openid") {
            return Err(at("an OpenID Connect upstream needs the openid scope"));
        }
        if !self.allowed_groups.is_empty() && self.claims.groups.is_none() {
            return Err(at("allowed_groups needs claims.groups"));
        }
        for c in &self.token_claims {
            if !["email", "name", "groups"].contains(&c.as_str()) {
                return Err(at(&format!(
                    "token_claims: {c:?} is not one of email, name, groups"
                )));
            }
        }
        if !self.exchange_clients.is_empty() && !self.store_tokens {
            return Err(at("exchange_clients needs store_tokens = true"));
        }
        for url in &self.api_urls {
            check_url(url).map_err(|e| at(&format!("api_urls: {url}: {e}")))?;
        }
        for key in self.authorization_params.keys() {
            let reserved = [
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state",
                "nonce",
                "code_challenge",
                "code_challenge_method",
            ];
            if reserved.contains(&key.as_str()) {
                return Err(at(&format!(
                    "authorization_params may not set {key} (the server does)"
                )));
            }
        }
        Ok(())
    }
}

/// HTTPS, or HTTP on a loopback host (tests, local providers).
fn check_url(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| e.to_string())?;
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(a)) if a.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(a)) if a.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be an https URL (http only on loopback)".into()),
    }
}

/// Why a federated sign-in failed. Messages are for logs; people and MCP
/// clients get a short OAuth error instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// The upstream could not be reached or answered unusably.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// Discovery returned a document for another issuer, or an unusable one.
    #[error("the identity provider's metadata is unusable: {0}")]
    Metadata(String),
    /// The token endpoint refused the code.
    #[error("the identity provider refused the code: {0}")]
    CodeRefused(String),
    /// The ID token failed a check.
    #[error("the ID token was refused: {0}")]
    IdToken(String),
    /// The userinfo response failed a check.
    #[error("the userinfo response was refused: {0}")]
    UserInfo(String),
    /// The person may not use this server (allow-lists).
    #[error("not allowed: {0}")]
    NotAllowed(String),
}

impl FederationError {
    /// Whether retrying later might help (the upstream was unavailable),
    /// as opposed to a refusal.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corp() -> UpstreamConfig {
        UpstreamConfig::oidc(
            "corp",
            "Corp",
            "https://idp.example",
            "our-client",
            Some(ClientSecret::new("s")),
        )
    }

    #[test]
    fn validation_names_the_field_at_fault() {
        assert_eq!(corp().validate(), Ok(()));
        let mut c = corp();
        c.id = "Corp!".into();
        assert!(c.validate().unwrap_err().contains("upstream id"));
        let mut c = corp();
        c.issuer = Some("http://idp.example".into());
        assert!(c.validate().unwrap_err().contains("issuer"));
        let mut c = corp();
        c.issuer = Some("http://127.0.0.1:8080".into());
        assert_eq!(c.validate(), Ok(()), "http is fine on loopback");
        let c = corp().scopes(["email"]);
        assert!(c.validate().unwrap_err().contains("openid"));
        let c = corp().allowed_groups(["staff"]);
        assert!(c.validate().unwrap_err().contains("claims.groups"));
        let mut c = corp();
        c.authorization_params.insert("state".into(), "x".into());
        assert!(c.validate().unwrap_err().contains("state"));
        let mut c = corp();
        c.token_claims.push("password".into());
        assert!(c.validate().unwrap_err().contains("token_claims"));
        let mut c = corp();
        c.exchange_clients.push("rs".into());
        assert!(c.validate().unwrap_err().contains("store_tokens"));
        let c = corp().store_tokens(["rs"]).api_urls(["http://api.example"]);
        assert!(c.validate().unwrap_err().contains("api_urls"));
        let mut c = UpstreamConfig::oauth(
            "gh",
            "GitHub",
            [
                "https://github.com/login/oauth/authorize".into(),
                "https://github.com/login/oauth/access_token".into(),
                "https://api.github.com/user".into(),
            ],
            "id",
            None,
        );
        assert_eq!(c.validate(), Ok(()));
        assert!(c.effective_scopes().is_empty());
        c.userinfo_endpoint = None;
        assert!(c.validate().unwrap_err().contains("userinfo_endpoint"));
    }

    #[test]
    fn toml_form() {
        let c: UpstreamConfig = toml::from_str(
            r#"
            id = "gh"
            name = "GitHub"
            authorization_endpoint = "https://github.com/login/oauth/authorize"
            token_endpoint = "https://github.com/login/oauth/access_token"
            userinfo_endpoint = "https://api.github.com/user"
            client_id = "Iv1.abc"
            client_secret = "shh"
            token_endpoint_auth = "client_secret_post"
            scopes = ["read:user", "user:email"]
            allowed_email_domains = ["example.com"]
            store_tokens = true
            exchange_clients = ["github-tools"]
            api_urls = ["https://api.github.com"]
            [claims]
            subject = "id"
            name = "login"
            "#,
        )
        .unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.token_endpoint_auth, UpstreamAuthMethod::ClientSecretPost);
        assert_eq!(c.claims.subject, "id");
        assert_eq!(c.claims.email.as_deref(), Some("email"), "default kept");
        assert!(c.store_tokens);
        assert_eq!(c.exchange_clients, ["github-tools"]);
        assert_eq!(c.api_urls, ["https://api.github.com"]);
        let printed = format!("{c:?}");
        assert!(!printed.contains("shh") && printed.contains("[redacted]"));
    }
}
