//! [`VerifierBuilder`]: what a resource server configures, checked once at
//! [`VerifierBuilder::build`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
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

/// Typestate: no authorization server named yet (`build` unavailable).
#[derive(Debug)]
pub struct NoIssuer;
/// Typestate: at least one authorization server named.
#[derive(Debug)]
pub struct WithIssuer;

enum ModeConfig {
    Jwt {
        jwks_uri: Option<String>,
        shared: Option<(Vec<u8>, Algorithm)>,
    },
    Introspection {
        client_id: String,
        secret: ClientSecret,
        endpoint: Option<String>,
        validate_resource: bool,
    },
}

/// Everything the builder collects.
struct Config {
    resource: String,
    issuers: Vec<String>,
    required: Vec<String>,
    scopes_supported: Option<Vec<String>>,
    tool_scopes: Vec<(String, String)>,
    mode: ModeConfig,
    leeway: u64,
    allow_untyped: bool,
    resource_name: Option<String>,
    jwks_refresh_interval: Duration,
    cache_max_bytes: u64,
    introspection_cache_ttl: Duration,
    max_token_lifetime: Duration,
    allowed_origins: Vec<String>,
    timeout: Duration,
}

/// Default byte budget of the token cache.
pub(crate) const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// Default time an active introspection answer is trusted.
pub(crate) const DEFAULT_INTROSPECTION_TTL: Duration = Duration::from_secs(30);
/// Default longest accepted token lifetime.
pub(crate) const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest wait between two attempts while an issuer offers no usable key
/// or its metadata could not be fetched.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Builder of a [`Verifier`]; see [`Verifier::builder`].
pub struct VerifierBuilder<S> {
    config: Config,
    _state: PhantomData<S>,
}

impl Verifier {
    /// Starts a builder for the resource with this canonical URI (the MCP
    /// endpoint, e.g. `https://mcp.example.com/mcp`).
    pub fn builder(resource: impl Into<String>) -> VerifierBuilder<NoIssuer> {
        VerifierBuilder::new(resource.into())
    }
}

impl VerifierBuilder<NoIssuer> {
    fn new(resource: String) -> Self {
        Self {
            config: Config {
                resource,
                issuers: Vec::new(),
                required: Vec::new(),
                scopes_supported: None,
                tool_scopes: Vec::new(),
                mode: ModeConfig::Jwt {
                    jwks_uri: None,
                    shared: None,
                },
                leeway: 60,
                allow_untyped: false,
                resource_name: None,
                jwks_refresh_interval: Duration::from_secs(10),
                cache_max_bytes: DEFAULT_CACHE_BYTES,
                introspection_cache_ttl: DEFAULT_INTROSPECTION_TTL,
                max_token_lifetime: DEFAULT_MAX_LIFETIME,
                allowed_origins: Vec::new(),
                timeout: Duration::from_secs(5),
            },
            _state: PhantomData,
        }
    }
}

impl<S> VerifierBuilder<S> {
    /// Scopes every request needs (also advertised and put in challenges).
    pub fn required_scopes<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.config.required = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// `scopes_supported` of the metadata (default: the required scopes).
    pub fn scopes_supported<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.config.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Extra scopes an MCP tool needs: a `tools/call` of `tool` without
    /// them is answered 403 `insufficient_scope` before it reaches the
    /// server, so the client can step up (by the framework glue).
    pub fn tool_scope(mut self, tool: impl Into<String>, scopes: impl Into<String>) -> Self {
        self.config.tool_scopes.push((tool.into(), scopes.into()));
        self
    }

    /// Verify JWT access tokens locally with the AS's JWK Set (default).
    pub fn jwks(mut self) -> Self {
        self.config.mode = ModeConfig::Jwt {
            jwks_uri: None,
            shared: None,
        };
        self
    }

    /// Verify JWTs with keys from this JWK Set URL instead of the one the
    /// AS metadata names. The keys belong to the one configured
    /// authorization server; with several, [`Self::build`] fails with
    /// [`BuildError::ExplicitKeysNeedOneIssuer`].
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        let shared = match self.config.mode {
            ModeConfig::Jwt { shared, .. } => shared,
            ModeConfig::Introspection { .. } => None,
        };
        self.config.mode = ModeConfig::Jwt {
            jwks_uri: Some(uri.into()),
            shared,
        };
        self
    }

    /// Also accept HMAC-signed JWTs (`HS256`/`HS384`/`HS512`) with this
    /// shared key. Off unless called: HMAC keys are symmetric secrets. Like
    /// [`Self::jwks_uri`], it needs exactly one authorization server.
    pub fn shared_secret(mut self, key: impl Into<Vec<u8>>, alg: Algorithm) -> Self {
        let jwks_uri = match self.config.mode {
            ModeConfig::Jwt { jwks_uri, .. } => jwks_uri,
            ModeConfig::Introspection { .. } => None,
        };
        self.config.mode = ModeConfig::Jwt {
            jwks_uri,
            shared: Some((key.into(), alg)),
        };
        self
    }

    /// Ask the AS about every token (RFC 7662), authenticating as this
    /// client. `aud` is checked too unless [`Self::validate_resource`] turns
    /// it off.
    pub fn introspection(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.config.mode = ModeConfig::Introspection {
            client_id: client_id.into(),
            secret: ClientSecret::new(secret.into()),
            endpoint: None,
            validate_resource: true,
        };
        self
    }

    /// Use this introspection endpoint instead of the one the metadata names.
    pub fn introspection_endpoint(mut self, url: impl Into<String>) -> Self {
        if let ModeConfig::Introspection { endpoint, .. } = &mut self.config.mode {
            *endpoint = Some(url.into());
        }
        self
    }

    /// In introspection mode, whether the token's `aud` must name this
    /// resource (default true). Turn off only for an AS that does not put
    /// `aud` in introspection responses.
    pub fn validate_resource(mut self, on: bool) -> Self {
        if let ModeConfig::Introspection {
            validate_resource, ..
        } = &mut self.config.mode
        {
            *validate_resource = on;
        }
        self
    }

    /// In introspection mode, how long an active answer is trusted before
    /// the AS is asked again (default 30 s; never past the token's `exp`).
    /// This is the delay with which a revocation at the AS takes effect
    /// here; `Duration::ZERO` asks the AS on every request.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .introspection("rs", "rs-secret")
    ///     .introspection_cache_ttl(Duration::ZERO) // revocation takes effect at once
    ///     .build()?;
    /// # let _ = verifier;
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn introspection_cache_ttl(mut self, ttl: Duration) -> Self {
        self.config.introspection_cache_ttl = ttl;
        self
    }

    /// Clock-skew allowance for `exp`/`nbf`/`iat` (default 60 s).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.config.leeway = seconds;
        self
    }

    /// The longest lifetime a JWT access token may have (default 24 h):
    /// `exp - iat`, or `exp` − now when the token has no `iat`. A token
    /// meant to live longer is refused, so that one with a far-future `exp`
    /// is neither accepted nor cached until then.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .max_token_lifetime(Duration::from_secs(3600))
    ///     .build()?;
    /// # let _ = verifier;
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.max_token_lifetime = lifetime;
        self
    }

    /// Accept JWTs without the RFC 9068 `typ: at+jwt` (for authorization
    /// servers that predate it): a missing `typ`, or the generic `JWT`. Any
    /// other explicit type (an ID token's, a session token's…) is still
    /// refused. Off by default.
    pub fn allow_untyped_tokens(mut self) -> Self {
        self.config.allow_untyped = true;
        self
    }

    /// `resource_name` of the metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.config.resource_name = Some(name.into());
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
        self.config.cache_max_bytes = bytes;
        self
    }

    /// Least time between two JWK Set fetches while keys are loaded
    /// (default 10 s): a token naming an unknown `kid` triggers at most one
    /// fetch per interval. While an issuer has no usable key (before the
    /// first load, after an empty set or a failed fetch), attempts are
    /// spaced by one second, or by this interval if it is shorter.
    pub fn jwks_refresh_interval(mut self, interval: Duration) -> Self {
        self.config.jwks_refresh_interval = interval;
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
        self.config.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    fn with_state<T>(self) -> VerifierBuilder<T> {
        VerifierBuilder {
            config: self.config,
            _state: PhantomData,
        }
    }
}

impl VerifierBuilder<NoIssuer> {
    /// The authorization server (issuer) whose tokens this resource accepts.
    pub fn authorization_server(
        mut self,
        issuer: impl Into<String>,
    ) -> VerifierBuilder<WithIssuer> {
        self.config.issuers.push(issuer.into());
        self.with_state()
    }
}

impl VerifierBuilder<WithIssuer> {
    /// Another trusted authorization server. Each issuer's tokens are
    /// verified only with the keys its own metadata names.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuers.push(issuer.into());
        self
    }

    /// Builds the verifier. Authorization server metadata and keys are
    /// fetched on first use (and again when they fail), so a resource
    /// server may start before its AS.
    pub fn build(self) -> Result<Verifier, BuildError> {
        let c = self.config;
        let resource = ResourceUri::parse(&c.resource).map_err(|source| BuildError::Resource {
            input: c.resource.clone(),
            source,
        })?;
        for i in &c.issuers {
            mcp_oauth_core::issuer::Issuer::parse(i.as_str()).map_err(|source| {
                BuildError::Issuer {
                    input: i.clone(),
                    source,
                }
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
        let retry = RETRY_INTERVAL.min(c.jwks_refresh_interval);
        let discoveries: Vec<Arc<Discovery>> = c
            .issuers
            .iter()
            .map(|i| Arc::new(Discovery::new(i.clone(), retry)))
            .collect();
        let mode = match c.mode {
            ModeConfig::Jwt { jwks_uri, shared } => {
                if (jwks_uri.is_some() || shared.is_some()) && c.issuers.len() != 1 {
                    return Err(BuildError::ExplicitKeysNeedOneIssuer {
                        issuers: c.issuers.len(),
                    });
                }
                let sources = discoveries
                    .iter()
                    .map(|d| {
                        Arc::new(KeySource::new(
                            d.clone(),
                            jwks_uri.clone(),
                            c.jwks_refresh_interval,
                            retry,
                        ))
                    })
                    .collect();
                Mode::Jwt(JwtVerifier::new(
                    sources,
                    shared,
                    c.allow_untyped,
                    c.max_token_lifetime,
                ))
            }
            ModeConfig::Introspection {
                client_id,
                secret,
                endpoint,
                validate_resource,
            } => Mode::Introspection(Introspector::new(
                client_id,
                secret,
                endpoint,
                validate_resource,
                c.introspection_cache_ttl,
            )),
        };
        Ok(Verifier::from_inner(Inner {
            resource,
            issuers: c.issuers,
            required,
            tool_scopes,
            resource_metadata_url,
            metadata,
            mode,
            leeway: c.leeway,
            http,
            cache: TokenCache::new(c.cache_max_bytes),
            discoveries,
            counters: Arc::default(),
            origins: AllowedOrigins::new(origins),
        }))
    }
}

#[cfg(test)]
mod tests;
