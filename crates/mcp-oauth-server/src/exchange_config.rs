//! The operator's token exchange policy (RFC 8693 at `/token`), read from
//! the TOML file's `[[id_jag_audiences]]` and `[[token_exchange]]` tables
//! or set by embedders on [`ServerConfig::exchange`](crate::ServerConfig::exchange).
//!
//! - [`IdJagAudience`]: this server as an enterprise identity provider. A
//!   client the operator created exchanges the ID token this server gave it
//!   for an Identity Assertion JWT Authorization Grant (ID-JAG) addressed
//!   to another authorization server (`audience`), for one of its
//!   `resources`, naming the client by the id it has there (`clients`).
//! - [`TokenExchangePolicy`]: a resource server the operator created (an
//!   MCP server) exchanges a person's access token it received (`from`)
//!   for a narrower one for a downstream resource (`to`), recorded in an
//!   `act` chain.
//!
//! Token exchange is for trusted, confidential clients only, given the
//! `urn:ietf:params:oauth:grant-type:token-exchange` grant.
//!
//! ```
//! use mcp_oauth_server::exchange_config::{ExchangeConfig, IdJagAudience, TokenExchangePolicy};
//!
//! let config = ExchangeConfig {
//!     id_jag_audiences: vec![IdJagAudience::new(
//!         "https://auth.chat.example",
//!         ["https://mcp.chat.example/mcp"],
//!         [("our-agent", "agent-at-chat")],
//!     )
//!     .scopes(["chat.read", "chat.history"])],
//!     token_exchange: vec![TokenExchangePolicy::new(
//!         "mcp-a",
//!         ["https://a.example/mcp"],
//!         ["https://b.example/mcp"],
//!     )],
//! };
//! assert_eq!(config.validate(), Ok(()));
//! assert_eq!(config.id_jag_audiences[0].lifetime, 300);
//! ```

use std::collections::BTreeMap;

use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use serde::Deserialize;

/// The default lifetime of an ID-JAG, in seconds.
pub const DEFAULT_ID_JAG_LIFETIME: u64 = 300;

/// The longest lifetime an ID-JAG may be given, in seconds (receivers
/// refuse long-lived grants; an hour is generous).
pub const MAX_ID_JAG_LIFETIME: u64 = 3600;

/// Every token exchange the operator allows; empty by default (no
/// exchange is answered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExchangeConfig {
    /// Authorization servers this server issues ID-JAGs for.
    pub id_jag_audiences: Vec<IdJagAudience>,
    /// Resource servers that may exchange the access tokens they receive.
    pub token_exchange: Vec<TokenExchangePolicy>,
}

impl ExchangeConfig {
    /// Whether no exchange is configured.
    pub fn is_empty(&self) -> bool {
        self.id_jag_audiences.is_empty() && self.token_exchange.is_empty()
    }

    /// The policy for ID-JAGs addressed to `audience` (compared exactly).
    pub fn id_jag_audience(&self, audience: &str) -> Option<&IdJagAudience> {
        self.id_jag_audiences
            .iter()
            .find(|a| a.audience == audience)
    }

    /// The downscoping policies of `client_id`.
    pub fn exchanges_of<'a>(
        &'a self,
        client_id: &'a str,
    ) -> impl Iterator<Item = &'a TokenExchangePolicy> + 'a {
        self.token_exchange
            .iter()
            .filter(move |p| p.client == client_id)
    }

    /// Checks what the server cannot work with, naming the entry: an empty
    /// or repeated audience, an invalid resource or scope, a lifetime of 0
    /// or beyond [`MAX_ID_JAG_LIFETIME`], an ID-JAG policy mapping no
    /// client, a downscoping policy without `from` or `to`.
    pub fn validate(&self) -> Result<(), String> {
        for (i, a) in self.id_jag_audiences.iter().enumerate() {
            let name = format!("id_jag_audiences[{i}] ({})", a.audience);
            if a.audience.trim().is_empty() || a.audience.chars().any(char::is_control) {
                return Err(format!("{name}: audience must be an issuer URL"));
            }
            if self.id_jag_audiences[..i]
                .iter()
                .any(|b| b.audience == a.audience)
            {
                return Err(format!("{name}: audience configured twice"));
            }
            resources(&name, "resources", &a.resources)?;
            scopes(&name, &a.scopes)?;
            if a.clients.is_empty() {
                return Err(format!("{name}: clients maps no client"));
            }
            if a.clients.values().any(|v| v.trim().is_empty()) {
                return Err(format!("{name}: a mapped client id is empty"));
            }
            if a.lifetime == 0 || a.lifetime > MAX_ID_JAG_LIFETIME {
                return Err(format!(
                    "{name}: lifetime must be 1 to {MAX_ID_JAG_LIFETIME} seconds"
                ));
            }
        }
        for (i, p) in self.token_exchange.iter().enumerate() {
            let name = format!("token_exchange[{i}] ({})", p.client);
            if p.client.is_empty() {
                return Err(format!("{name}: client is required"));
            }
            resources(&name, "from", &p.from)?;
            resources(&name, "to", &p.to)?;
            if let Some(s) = &p.scopes {
                scopes(&name, s)?;
            }
        }
        Ok(())
    }
}

fn resources(name: &str, field: &str, list: &[String]) -> Result<(), String> {
    if list.is_empty() {
        return Err(format!("{name}: {field} names no resource"));
    }
    for r in list {
        ResourceUri::parse(r).map_err(|e| format!("{name}: {field}: {r}: {e}"))?;
    }
    Ok(())
}

fn scopes(name: &str, list: &[String]) -> Result<(), String> {
    ScopeSet::parse(&list.join(" "))
        .map(|_| ())
        .map_err(|e| format!("{name}: scopes: {e}"))
}

fn default_lifetime() -> u64 {
    DEFAULT_ID_JAG_LIFETIME
}

/// An authorization server this server issues ID-JAGs for
/// (`[[id_jag_audiences]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IdJagAudience {
    /// The authorization server's issuer, exactly as it names itself (the
    /// request's `audience` must equal it, and it becomes the grant's
    /// `aud`).
    pub audience: String,
    /// The resources (RFC 9728 identifiers of MCP servers) at that
    /// authorization server grants may name.
    pub resources: Vec<String>,
    /// Our client id → the id the same client has at that authorization
    /// server (the grant's `client_id`). Clients not listed get no grant
    /// for this audience.
    pub clients: BTreeMap<String, String>,
    /// The scopes a grant may carry at most; a request without `scope`
    /// gets them all. Empty: grants carry no scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How long a grant lives, in seconds (default 300).
    #[serde(default = "default_lifetime")]
    pub lifetime: u64,
}

impl IdJagAudience {
    /// A policy for `audience`, its `resources`, and the `clients` mapping
    /// (our id, their id); no scope, the default lifetime.
    pub fn new<R, C, A, B>(audience: impl Into<String>, resources: R, clients: C) -> Self
    where
        R: IntoIterator,
        R::Item: Into<String>,
        C: IntoIterator<Item = (A, B)>,
        A: Into<String>,
        B: Into<String>,
    {
        Self {
            audience: audience.into(),
            resources: resources.into_iter().map(Into::into).collect(),
            clients: clients
                .into_iter()
                .map(|(a, b)| (a.into(), b.into()))
                .collect(),
            scopes: Vec::new(),
            lifetime: DEFAULT_ID_JAG_LIFETIME,
        }
    }

    /// Sets the scope cap.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the lifetime in seconds.
    pub fn lifetime(mut self, seconds: u64) -> Self {
        self.lifetime = seconds;
        self
    }

    /// Whether grants may name `resource`.
    pub fn allows_resource(&self, resource: &ResourceUri) -> bool {
        self.resources.iter().any(|r| resource.matches(r))
    }
}

fn default_true() -> bool {
    true
}

/// A resource server that may exchange the access tokens it receives for
/// narrower ones to downstream resources (`[[token_exchange]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TokenExchangePolicy {
    /// The exchanging client (a trusted, confidential client with the
    /// token exchange grant).
    pub client: String,
    /// The resources whose tokens it may present (normally its own).
    pub from: Vec<String>,
    /// The downstream resources it may obtain tokens for.
    pub to: Vec<String>,
    /// The scopes a new token may carry at most (absent: whatever the
    /// presented token carries).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Whether the person must hold a live grant of the downstream
    /// resource to the client they signed in with (default true). Off, the
    /// operator's `to` list alone decides.
    #[serde(default = "default_true")]
    pub require_grant: bool,
}

impl TokenExchangePolicy {
    /// `client` may exchange tokens for `from` into tokens for `to`; no
    /// scope cap, the person's grant of the downstream resource required.
    pub fn new<F, T>(client: impl Into<String>, from: F, to: T) -> Self
    where
        F: IntoIterator,
        F::Item: Into<String>,
        T: IntoIterator,
        T::Item: Into<String>,
    {
        Self {
            client: client.into(),
            from: from.into_iter().map(Into::into).collect(),
            to: to.into_iter().map(Into::into).collect(),
            scopes: None,
            require_grant: true,
        }
    }

    /// Sets the scope cap.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Lets the `to` list alone decide (no grant of the downstream
    /// resource needed).
    pub fn without_grant_check(mut self) -> Self {
        self.require_grant = false;
        self
    }

    /// Whether the presented token's audience is one of `from`.
    pub fn accepts_from(&self, aud: &mcp_oauth_core::token::Audience) -> bool {
        self.from
            .iter()
            .filter_map(|r| ResourceUri::parse(r).ok())
            .any(|r| aud.contains_resource(&r))
    }

    /// The entry of `to` naming `target`, if any.
    pub fn target(&self, target: &ResourceUri) -> Option<&str> {
        self.to
            .iter()
            .find(|r| target.matches(r))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience() -> IdJagAudience {
        IdJagAudience::new(
            "https://as.example",
            ["https://mcp.example/mcp"],
            [("a", "b")],
        )
    }

    #[test]
    fn refusals_name_the_entry() {
        let bad = |a: IdJagAudience| {
            ExchangeConfig {
                id_jag_audiences: vec![a],
                ..Default::default()
            }
            .validate()
            .unwrap_err()
        };
        assert!(bad(audience().lifetime(0)).contains("lifetime"));
        assert!(bad(audience().lifetime(7200)).contains("lifetime"));
        let mut a = audience();
        a.clients.clear();
        assert!(bad(a).contains("clients"));
        let mut a = audience();
        a.resources = vec!["not a uri".into()];
        assert!(bad(a).contains("resources"));
        assert!(bad(audience().scopes(["bad\"scope"])).contains("scopes"));
        let twice = ExchangeConfig {
            id_jag_audiences: vec![audience(), audience()],
            ..Default::default()
        };
        assert!(twice.validate().unwrap_err().contains("twice"));
        let no_to = ExchangeConfig {
            token_exchange: vec![TokenExchangePolicy::new(
                "c",
                ["https://a.example"],
                Vec::<String>::new(),
            )],
            ..Default::default()
        };
        assert!(
            no_to
                .validate()
                .unwrap_err()
                .contains("to names no resource")
        );
    }

    #[test]
    fn toml_tables_read_with_defaults() {
        #[derive(Deserialize)]
        struct File {
            id_jag_audiences: Vec<IdJagAudience>,
            token_exchange: Vec<TokenExchangePolicy>,
        }
        let f: File = toml::from_str(
            "[[id_jag_audiences]]\naudience = \"https://as.example\"\n\
             resources = [\"https://mcp.example/mcp\"]\nclients = { agent = \"agent-there\" }\n\
             [[token_exchange]]\nclient = \"mcp-a\"\nfrom = [\"https://a.example/mcp\"]\n\
             to = [\"https://b.example/mcp\"]\nscopes = [\"mcp\"]\n",
        )
        .unwrap();
        assert_eq!(f.id_jag_audiences[0].lifetime, DEFAULT_ID_JAG_LIFETIME);
        assert_eq!(f.id_jag_audiences[0].clients["agent"], "agent-there");
        assert!(f.token_exchange[0].require_grant);
        let b = ResourceUri::parse("https://b.example/mcp").unwrap();
        assert_eq!(
            f.token_exchange[0].target(&b),
            Some("https://b.example/mcp")
        );
    }
}
