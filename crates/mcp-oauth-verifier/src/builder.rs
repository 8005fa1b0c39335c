//! [`VerifierBuilder`]: what a resource server configures, checked once at
//! `build`. The settings every mode shares are here; the mode states and
//! their own settings are in `mode`.

use mcp_oauth_core::scope_hierarchy::ScopeHierarchy;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::discovery::protected_resource_metadata_url;
use mcp_oauth_core::metadata::ProtectedResourceMetadata;
use mcp_oauth_core::resource::{ResourceError, ResourceUri};
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::ClientSecret;

use crate::cache::TokenCache;
use crate::discovery::Discovery;
use crate::error::BuildError;
use crate::introspection::Introspector;
use crate::jwks::KeySource;
use crate::jwt::JwtVerifier;
use crate::origin::{AllowedOrigins, Origin};
use crate::verifier::{Inner, Mode, Verifier};

pub(crate) mod mode;
#[cfg(test)]
mod tests;

use mode::{AnyMode, IntrospectionMode, JwtMode};

/// Issuer state: no authorization server named yet (`build` unavailable).
#[derive(Debug)]
pub struct NoIssuer;
/// Issuer state: at least one authorization server named.
#[derive(Debug)]
pub struct WithIssuer;

/// The settings every mode shares.
struct Settings {
    resource: String,
    issuers: Vec<String>,
    required: Vec<String>,
    scopes_supported: Option<Vec<String>>,
    tool_scopes: Vec<(String, String)>,
    resource_name: Option<String>,
    cache_max_bytes: u64,
    allowed_origins: Vec<String>,
    timeout: Duration,
    hierarchy: ScopeHierarchy,
    exchange: Option<(String, ClientSecret)>,
}

/// The mode `build` was called in.
enum ModeChoice {
    Jwt(JwtMode),
    Introspection(IntrospectionMode),
}

/// Default byte budget of the token cache.
const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// Longest wait between two attempts while an issuer offers no usable key
/// or its metadata could not be fetched: the shared default.
const RETRY_INTERVAL: Duration = mcp_oauth_core::jose::DEFAULT_RETRY_INTERVAL;

/// Builder of a [`Verifier`], started by [`Verifier::builder`].
///
/// Two decisions are tracked in its type, so that a setting that cannot
/// apply does not compile:
///
/// 1. **Which authorization servers** (`S`): [`NoIssuer`] until
///    [`authorization_server`](Self::authorization_server) is called, then
///    [`WithIssuer`]; only then is `build` available.
/// 2. **How tokens are verified** (`M`): [`AnyMode`] at first, which builds
///    a JWT verifier using each authorization server's JWK Set. A JWT
///    setting ([`jwks_uri`](Self::jwks_uri), [`leeway`](Self::leeway),
///    [`max_token_lifetime`](Self::max_token_lifetime)…) moves it to
///    [`JwtMode`]; [`introspection`](Self::introspection), available only
///    before any JWT setting, moves it to [`IntrospectionMode`] with its own
///    settings ([`introspection_endpoint`](Self::introspection_endpoint),
///    [`introspection_cache_ttl`](Self::introspection_cache_ttl)…).
///
/// The settings every mode shares (scopes, origins, cache size, metadata)
/// may be given at any point.
///
/// ```
/// use std::time::Duration;
/// use mcp_oauth_verifier::Verifier;
///
/// // The simple case: JWTs, keys found through the AS metadata.
/// let jwt = Verifier::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .required_scopes(["mcp"])
///     .build()?;
///
/// // Introspection, with its own settings.
/// let introspecting = Verifier::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .introspection("rs", "rs-secret")
///     .introspection_cache_ttl(Duration::from_secs(5))
///     .required_scopes(["mcp"])
///     .build()?;
/// # let _ = (jwt, introspecting);
/// # Ok::<(), mcp_oauth_verifier::BuildError>(())
/// ```
///
/// A JWT setting after choosing introspection (or the reverse) is refused
/// by the compiler:
///
/// ```compile_fail
/// use mcp_oauth_verifier::Verifier;
///
/// let verifier = Verifier::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .introspection("rs", "rs-secret")
///     .leeway(0) // JWT only: no such method in introspection mode
///     .build();
/// ```
///
/// ```compile_fail
/// use mcp_oauth_verifier::Verifier;
///
/// let verifier = Verifier::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .jwks_uri("https://auth.example.com/jwks")
///     .introspection("rs", "rs-secret") // the JWK Set URL would be lost
///     .build();
/// ```
pub struct VerifierBuilder<S, M = AnyMode> {
    settings: Settings,
    mode: M,
    _issuer: PhantomData<S>,
}

impl Verifier {
    /// Starts a builder for the resource with this canonical URI (the MCP
    /// endpoint, e.g. `https://mcp.example.com/mcp`); see
    /// [`VerifierBuilder`] for the decisions it asks for.
    pub fn builder(resource: impl Into<String>) -> VerifierBuilder<NoIssuer> {
        VerifierBuilder {
            settings: Settings {
                resource: resource.into(),
                issuers: Vec::new(),
                required: Vec::new(),
                scopes_supported: None,
                tool_scopes: Vec::new(),
                resource_name: None,
                cache_max_bytes: DEFAULT_CACHE_BYTES,
                allowed_origins: Vec::new(),
                timeout: Duration::from_secs(5),
                hierarchy: ScopeHierarchy::new(),
                exchange: None,
            },
            mode: AnyMode,
            _issuer: PhantomData,
        }
    }
}

impl<S, M> VerifierBuilder<S, M> {
    /// Scopes every request needs (also advertised and put in challenges).
    pub fn required_scopes<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.settings.required = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Which scopes imply which (MCP 2026-07-28: a broader scope implies
    /// narrower ones). Every sufficiency check uses it: the required
    /// scopes, per-tool scopes, and the 403 challenge, which still names
    /// the narrowest scopes that would suffice.
    ///
    /// ```
    /// use mcp_oauth_verifier::{Claims, Verifier};
    /// use mcp_oauth_verifier::core::scope::ScopeSet;
    /// use mcp_oauth_verifier::core::scope_hierarchy::ScopeHierarchy;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .required_scopes(["files:read"])
    ///     .scope_hierarchy(ScopeHierarchy::new().imply("files:write", ["files:read"]).separator(':'))
    ///     .build()?;
    /// let with = |scope: &str| Claims {
    ///     subject: "alice".into(),
    ///     client_id: None,
    ///     scopes: ScopeSet::parse(scope).unwrap(),
    ///     issuer: Some("https://auth.example.com".into()),
    ///     audience: vec!["https://mcp.example.com/mcp".into()],
    ///     expires_at: 0,
    ///     raw: Default::default(),
    /// };
    /// assert!(verifier.authorize(&with("files:write"), None).is_ok());
    /// assert!(verifier.authorize(&with("files"), None).is_ok());
    /// assert!(verifier.authorize(&with("filesystem"), None).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scope_hierarchy(mut self, hierarchy: ScopeHierarchy) -> Self {
        self.settings.hierarchy = hierarchy;
        self
    }

    /// `scopes_supported` of the metadata (default: the required scopes).
    pub fn scopes_supported<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.settings.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Extra scopes an MCP tool needs: a `tools/call` of `tool` without
    /// them is answered 403 `insufficient_scope` before it reaches the
    /// server, so the client can step up (by the framework glue).
    pub fn tool_scope(mut self, tool: impl Into<String>, scopes: impl Into<String>) -> Self {
        self.settings.tool_scopes.push((tool.into(), scopes.into()));
        self
    }

    /// `resource_name` of the metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.settings.resource_name = Some(name.into());
        self
    }

    /// The byte budget of the token cache (verified JWTs, or introspection
    /// answers), default 16 MiB; 0 turns the cache off. Entries are weighed
    /// by an estimate of the memory they hold, and the least useful ones
    /// are evicted when the budget is reached.
    ///
    /// ```
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .cache_max_bytes(64 * 1024 * 1024)
    ///     .build()?;
    /// # let _ = verifier;
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn cache_max_bytes(mut self, bytes: u64) -> Self {
        self.settings.cache_max_bytes = bytes;
        self
    }

    /// Browser origins, besides the resource's own, whose pages may call
    /// the MCP endpoint (exact `scheme://host[:port]`; scheme and host
    /// compared case-insensitively, a default port may be left out).
    /// Requests without `Origin` always pass; any other `Origin`, `null`
    /// included, gets 403 before its token is looked at. Replaces earlier
    /// calls' lists. See [`Verifier::check_origin`].
    ///
    /// ```
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .allowed_origins(["https://inspector.example.com", "http://localhost:6274"])
    ///     .build()?;
    /// assert!(verifier.check_origin(Some("http://localhost:6274")).is_ok());
    /// assert!(verifier.check_origin(Some("https://mcp.example.com")).is_ok());
    /// assert!(verifier.check_origin(Some("https://evil.example")).is_err());
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn allowed_origins<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        origins: I,
    ) -> Self {
        self.settings.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// The credentials of this resource server's confidential client at
    /// the authorization server, for [`Verifier::exchange`] (RFC 8693 token
    /// exchange, e.g. for a person's token at an upstream provider). In
    /// introspection mode the introspection credentials serve unless these
    /// are given.
    ///
    /// ```
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .exchange_credentials("github-tools", "its-secret")
    ///     .build()?;
    /// # let _ = verifier;
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn exchange_credentials(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.settings.exchange = Some((client_id.into(), ClientSecret::new(secret.into())));
        self
    }

    /// The same builder in another mode state.
    fn with_mode<N>(self, change: impl FnOnce(M) -> N) -> VerifierBuilder<S, N> {
        VerifierBuilder {
            settings: self.settings,
            mode: change(self.mode),
            _issuer: PhantomData,
        }
    }
}

impl<M> VerifierBuilder<NoIssuer, M> {
    /// The authorization server (issuer) whose tokens this resource accepts.
    pub fn authorization_server(
        mut self,
        issuer: impl Into<String>,
    ) -> VerifierBuilder<WithIssuer, M> {
        self.settings.issuers.push(issuer.into());
        VerifierBuilder {
            settings: self.settings,
            mode: self.mode,
            _issuer: PhantomData,
        }
    }
}

impl<M> VerifierBuilder<WithIssuer, M> {
    /// Another trusted authorization server. Each issuer's tokens are
    /// verified only with the keys its own metadata names.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.settings.issuers.push(issuer.into());
        self
    }
}

impl<M: Into<JwtMode>> VerifierBuilder<WithIssuer, M> {
    /// Builds a verifier of JWT access tokens. Authorization server
    /// metadata and keys are fetched on first use (and again when they
    /// fail), so a resource server may start before its AS.
    pub fn build(self) -> Result<Verifier, BuildError> {
        build(self.settings, ModeChoice::Jwt(self.mode.into()))
    }
}

impl VerifierBuilder<WithIssuer, IntrospectionMode> {
    /// Builds an introspecting verifier. Authorization server metadata is
    /// fetched on first use (and again when it fails), so a resource server
    /// may start before its AS.
    pub fn build(self) -> Result<Verifier, BuildError> {
        build(self.settings, ModeChoice::Introspection(self.mode))
    }
}

/// Checks the settings and assembles the verifier.
fn build(c: Settings, mode: ModeChoice) -> Result<Verifier, BuildError> {
    let resource = ResourceUri::parse(&c.resource).map_err(|source| BuildError::Resource {
        input: c.resource.clone(),
        source,
    })?;
    for i in &c.issuers {
        mcp_oauth_core::issuer::Issuer::parse(i.as_str()).map_err(|source| BuildError::Issuer {
            input: i.clone(),
            source,
        })?;
    }
    let scopes = |input: String| {
        ScopeSet::parse(&input).map_err(|source| BuildError::Scope { input, source })
    };
    let required = scopes(c.required.join(" "))?;
    let mut tool_scopes = Vec::new();
    for (tool, set) in c.tool_scopes {
        tool_scopes.push((tool, scopes(set)?));
    }
    // A canonical resource URI is http(s) with a host, so it has an origin.
    let own_origin = Origin::of_url(resource.url()).ok_or_else(|| BuildError::Resource {
        input: c.resource.clone(),
        source: ResourceError::MissingHost,
    })?;
    let mut origins = vec![own_origin];
    for o in &c.allowed_origins {
        origins.push(Origin::parse(o).ok_or_else(|| BuildError::Origin(o.clone()))?);
    }
    let resource_metadata_url = protected_resource_metadata_url(resource.as_str())
        .map_err(|source| BuildError::ResourceMetadataUrl {
            input: c.resource.clone(),
            source,
        })?
        .to_string();
    let metadata = ProtectedResourceMetadata {
        scopes_supported: Some(
            c.scopes_supported
                .unwrap_or_else(|| required.iter().map(str::to_owned).collect()),
        ),
        resource_name: c.resource_name,
        ..ProtectedResourceMetadata::new(resource.as_str(), c.issuers.clone())
    };
    let http = reqwest::Client::builder()
        .timeout(c.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(BuildError::Http)?;
    let jwks_refresh_interval = match &mode {
        ModeChoice::Jwt(jwt) => jwt.jwks_refresh_interval,
        ModeChoice::Introspection(_) => JwtMode::default().jwks_refresh_interval,
    };
    let retry = RETRY_INTERVAL.min(jwks_refresh_interval);
    let discoveries: Vec<Arc<Discovery>> = c
        .issuers
        .iter()
        .map(|i| Arc::new(Discovery::new(i.clone(), retry)))
        .collect();
    let exchange = match (&mode, c.exchange) {
        (_, Some(given)) => Some(given),
        (ModeChoice::Introspection(i), None) => Some((i.client_id.clone(), i.secret.clone())),
        (ModeChoice::Jwt(_), None) => None,
    };
    let mode = match mode {
        ModeChoice::Jwt(jwt) => {
            if (jwt.jwks_uri.is_some() || jwt.shared.is_some()) && c.issuers.len() != 1 {
                return Err(BuildError::ExplicitKeysNeedOneIssuer {
                    issuers: c.issuers.len(),
                });
            }
            let sources = discoveries
                .iter()
                .map(|d| {
                    Arc::new(KeySource::new(
                        d.clone(),
                        jwt.jwks_uri.clone(),
                        jwt.jwks_refresh_interval,
                        retry,
                    ))
                })
                .collect();
            Mode::Jwt {
                verifier: JwtVerifier::new(
                    sources,
                    jwt.shared,
                    jwt.allow_untyped,
                    jwt.max_token_lifetime,
                ),
                leeway: jwt.leeway,
            }
        }
        ModeChoice::Introspection(i) => {
            if let Some(endpoint) = &i.endpoint
                && !crate::introspection::secure_endpoint(endpoint)
            {
                return Err(BuildError::InsecureIntrospectionEndpoint(endpoint.clone()));
            }
            Mode::Introspection(Introspector::new(
                i.client_id,
                i.secret,
                i.endpoint,
                i.validate_resource,
                i.cache_ttl,
            ))
        }
    };
    Ok(Verifier::from_inner(Inner {
        resource,
        issuers: c.issuers,
        required,
        tool_scopes,
        resource_metadata_url,
        metadata,
        mode,
        http,
        cache: TokenCache::new(c.cache_max_bytes),
        discoveries,
        counters: Arc::default(),
        origins: AllowedOrigins::new(origins),
        hierarchy: c.hierarchy,
        exchange,
    }))
}
