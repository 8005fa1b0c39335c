//! [`Verifier`]: everything a protected MCP resource decides about a request.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use mcp_oauth_core::discovery::protected_resource_metadata_url;
use mcp_oauth_core::metadata::ProtectedResourceMetadata;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{ClientSecret, token_hash};

use crate::claims::{Claims, Rejection};
use crate::discovery::fetch_metadata;
use crate::introspection::Introspector;
use crate::jwt::JwtVerifier;
use crate::now;
use mcp_oauth_core::cache::TtlCache;

/// Building a [`Verifier`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The resource is not a valid canonical URI.
    #[error("invalid resource URI: {0}")]
    Resource(String),
    /// An issuer is not a valid URL.
    #[error("invalid authorization server: {0}")]
    Issuer(String),
    /// A scope is invalid.
    #[error("invalid scope: {0}")]
    Scope(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

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

/// Builder of a [`Verifier`]; see [`Verifier::builder`].
pub struct VerifierBuilder<S> {
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
    cache_capacity: usize,
    timeout: Duration,
    _state: PhantomData<S>,
}

impl<S> VerifierBuilder<S> {
    fn with_state<T>(self) -> VerifierBuilder<T> {
        VerifierBuilder {
            resource: self.resource,
            issuers: self.issuers,
            required: self.required,
            scopes_supported: self.scopes_supported,
            tool_scopes: self.tool_scopes,
            mode: self.mode,
            leeway: self.leeway,
            allow_untyped: self.allow_untyped,
            resource_name: self.resource_name,
            jwks_refresh_interval: self.jwks_refresh_interval,
            cache_capacity: self.cache_capacity,
            timeout: self.timeout,
            _state: PhantomData,
        }
    }

    /// Scopes every request needs (also advertised and put in challenges).
    pub fn required_scopes<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.required = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// `scopes_supported` of the metadata (default: the required scopes).
    pub fn scopes_supported<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Extra scopes an MCP tool needs: a `tools/call` of `tool` without
    /// them is answered 403 `insufficient_scope` before it reaches the
    /// server, so the client can step up (by the framework glue).
    pub fn tool_scope(mut self, tool: impl Into<String>, scopes: impl Into<String>) -> Self {
        self.tool_scopes.push((tool.into(), scopes.into()));
        self
    }

    /// Verify JWT access tokens locally with the AS's JWK Set (default).
    pub fn jwks(mut self) -> Self {
        self.mode = ModeConfig::Jwt {
            jwks_uri: None,
            shared: None,
        };
        self
    }

    /// Verify JWTs with keys from this JWK Set URL instead of the one the
    /// AS metadata names.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        let shared = match self.mode {
            ModeConfig::Jwt { shared, .. } => shared,
            _ => None,
        };
        self.mode = ModeConfig::Jwt {
            jwks_uri: Some(uri.into()),
            shared,
        };
        self
    }

    /// Also accept HMAC-signed JWTs (`HS256`/`HS384`/`HS512`) with this
    /// shared key. Off unless called: HMAC keys are symmetric secrets.
    pub fn shared_secret(mut self, key: impl Into<Vec<u8>>, alg: Algorithm) -> Self {
        let jwks_uri = match self.mode {
            ModeConfig::Jwt { jwks_uri, .. } => jwks_uri,
            _ => None,
        };
        self.mode = ModeConfig::Jwt {
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
        self.mode = ModeConfig::Introspection {
            client_id: client_id.into(),
            secret: ClientSecret::new(secret.into()),
            endpoint: None,
            validate_resource: true,
        };
        self
    }

    /// Use this introspection endpoint instead of the one the metadata names.
    pub fn introspection_endpoint(mut self, url: impl Into<String>) -> Self {
        if let ModeConfig::Introspection { endpoint, .. } = &mut self.mode {
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
        } = &mut self.mode
        {
            *validate_resource = on;
        }
        self
    }

    /// Clock-skew allowance for `exp`/`nbf` (default 60 s).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Accept JWTs whose `typ` is not `at+jwt` (for authorization servers
    /// that predate RFC 9068). Off by default.
    pub fn allow_untyped_tokens(mut self) -> Self {
        self.allow_untyped = true;
        self
    }

    /// `resource_name` of the metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Most verified tokens (and introspection answers) kept in memory
    /// (default 10,000; 0 turns the caches off).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Least time between two JWKS refreshes triggered by unknown `kid`s
    /// (default 10 s).
    pub fn jwks_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks_refresh_interval = interval;
        self
    }
}

impl VerifierBuilder<NoIssuer> {
    /// The authorization server (issuer) whose tokens this resource accepts.
    pub fn authorization_server(
        mut self,
        issuer: impl Into<String>,
    ) -> VerifierBuilder<WithIssuer> {
        self.issuers.push(issuer.into());
        self.with_state()
    }
}

impl VerifierBuilder<WithIssuer> {
    /// Another trusted authorization server.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Builds the verifier. Authorization server metadata and keys are
    /// fetched on first use (and again when they fail), so a resource
    /// server may start before its AS.
    pub fn build(self) -> Result<Verifier, BuildError> {
        let resource =
            ResourceUri::parse(&self.resource).map_err(|e| BuildError::Resource(e.to_string()))?;
        for i in &self.issuers {
            mcp_oauth_core::issuer::Issuer::parse(i.as_str())
                .map_err(|e| BuildError::Issuer(format!("{i}: {e}")))?;
        }
        let required: ScopeSet = ScopeSet::parse(&self.required.join(" "))
            .map_err(|e| BuildError::Scope(e.to_string()))?;
        let mut tool_scopes = Vec::new();
        for (tool, scopes) in self.tool_scopes {
            let set = ScopeSet::parse(&scopes).map_err(|e| BuildError::Scope(e.to_string()))?;
            tool_scopes.push((tool, set));
        }
        let resource_metadata_url = protected_resource_metadata_url(resource.as_str())
            .map_err(|e| BuildError::Resource(e.to_string()))?
            .to_string();
        let metadata = ProtectedResourceMetadata {
            scopes_supported: Some(
                self.scopes_supported
                    .unwrap_or_else(|| required.iter().map(str::to_owned).collect()),
            ),
            resource_name: self.resource_name,
            ..ProtectedResourceMetadata::new(resource.as_str(), self.issuers.clone())
        };
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        let mode = match self.mode {
            ModeConfig::Jwt { jwks_uri, shared } => Mode::Jwt(JwtVerifier::new(
                jwks_uri.into_iter().collect(),
                shared,
                self.jwks_refresh_interval,
                self.allow_untyped,
            )),
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
                self.cache_capacity,
            )),
        };
        Ok(Verifier {
            inner: Arc::new(Inner {
                resource,
                issuers: self.issuers,
                required,
                tool_scopes,
                resource_metadata_url,
                metadata,
                mode,
                leeway: self.leeway,
                http,
                verified: TtlCache::new(self.cache_capacity),
                discovered: tokio::sync::Mutex::new(None),
            }),
        })
    }
}

enum Mode {
    Jwt(JwtVerifier),
    Introspection(Introspector),
}

/// Endpoints learnt from the AS metadata.
#[derive(Clone)]
struct Discovered {
    jwks_uris: Vec<String>,
    introspection_endpoint: Option<String>,
}

struct Inner {
    resource: ResourceUri,
    issuers: Vec<String>,
    required: ScopeSet,
    tool_scopes: Vec<(String, ScopeSet)>,
    resource_metadata_url: String,
    metadata: ProtectedResourceMetadata,
    mode: Mode,
    leeway: u64,
    http: reqwest::Client,
    verified: TtlCache<Arc<Claims>>,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
}

/// Verifies bearer tokens for one MCP resource; cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("resource", &self.inner.resource)
            .field("issuers", &self.inner.issuers)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Starts a builder for the resource with this canonical URI (the MCP
    /// endpoint, e.g. `https://mcp.example.com/mcp`).
    pub fn builder(resource: impl Into<String>) -> VerifierBuilder<NoIssuer> {
        VerifierBuilder {
            resource: resource.into(),
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
            cache_capacity: 10_000,
            timeout: Duration::from_secs(5),
            _state: PhantomData,
        }
    }

    /// The canonical resource URI.
    pub fn resource(&self) -> &ResourceUri {
        &self.inner.resource
    }

    /// The scopes every request needs.
    pub fn required_scopes(&self) -> &ScopeSet {
        &self.inner.required
    }

    /// The RFC 9728 document.
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.inner.metadata
    }

    /// Where the RFC 9728 document is served (path form).
    pub fn resource_metadata_url(&self) -> &str {
        &self.inner.resource_metadata_url
    }

    /// The scopes a `tools/call` of `tool` needs beyond the required ones.
    pub fn tool_scopes(&self, tool: &str) -> Option<&ScopeSet> {
        self.inner
            .tool_scopes
            .iter()
            .find(|(t, _)| t == tool)
            .map(|(_, s)| s)
    }

    /// Whether any tool has extra scopes (the glue then looks into
    /// `tools/call` bodies).
    pub fn has_tool_scopes(&self) -> bool {
        !self.inner.tool_scopes.is_empty()
    }

    /// The `WWW-Authenticate` value for a rejection.
    pub fn challenge(&self, rejection: &Rejection) -> String {
        rejection
            .challenge(&self.inner.resource_metadata_url, &self.inner.required)
            .to_header_value()
    }

    /// Verifies a request by its `Authorization` header value and query
    /// string: only `Authorization: Bearer` is accepted; a token in the
    /// query string is refused (RFC 6750 §2.3 is not supported by MCP).
    pub async fn verify_request(
        &self,
        authorization: Option<&str>,
        query: Option<&str>,
    ) -> Result<Claims, Rejection> {
        self.verify_request_shared(authorization, query)
            .await
            .map(Arc::unwrap_or_clone)
    }

    /// [`Verifier::verify_request`], sharing the cached claims instead of
    /// copying them (what the framework glue inserts into requests).
    pub(crate) async fn verify_request_shared(
        &self,
        authorization: Option<&str>,
        query: Option<&str>,
    ) -> Result<Arc<Claims>, Rejection> {
        if query.is_some_and(|q| {
            url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
        }) {
            return Err(Rejection::InvalidRequest(
                "access tokens are accepted only in the Authorization header".into(),
            ));
        }
        let Some(value) = authorization else {
            return Err(Rejection::MissingToken);
        };
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(Rejection::InvalidRequest(
                "malformed Authorization header".into(),
            ));
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Rejection::MissingToken);
        }
        let token = token.trim();
        if token.is_empty() || token.contains(' ') {
            return Err(Rejection::InvalidRequest("malformed bearer token".into()));
        }
        let claims = self.authenticate_shared(token).await?;
        self.authorize(&claims, None)?;
        Ok(claims)
    }

    /// Verifies a bearer token and the required scopes.
    pub async fn verify_token(&self, token: &str) -> Result<Claims, Rejection> {
        let claims = self.authenticate(token).await?;
        self.authorize(&claims, None)?;
        Ok(claims)
    }

    /// Checks that `claims` carry the required scopes, plus `extra`.
    pub fn authorize(&self, claims: &Claims, extra: Option<&ScopeSet>) -> Result<(), Rejection> {
        let required = &self.inner.required;
        let ok =
            required.is_subset(&claims.scopes) && extra.is_none_or(|e| e.is_subset(&claims.scopes));
        if ok {
            Ok(())
        } else {
            let needed = match extra {
                Some(e) => required.union(e),
                None => required.clone(),
            };
            Err(Rejection::InsufficientScope { required: needed })
        }
    }

    /// Verifies the token (signature or introspection, issuer, audience,
    /// time), without the scope check. Results are cached by token hash
    /// until the token expires.
    pub async fn authenticate(&self, token: &str) -> Result<Claims, Rejection> {
        self.authenticate_shared(token)
            .await
            .map(Arc::unwrap_or_clone)
    }

    /// [`Verifier::authenticate`], sharing the cached claims.
    async fn authenticate_shared(&self, token: &str) -> Result<Arc<Claims>, Rejection> {
        let inner = &self.inner;
        let t = now();
        let key = token_hash(token);
        if let Some(c) = inner.verified.get(&key, t) {
            return Ok(c);
        }
        let claims = Arc::new(match &inner.mode {
            Mode::Jwt(jwt) => {
                let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
                let needs_keys = !jwt.is_loaded() || kid.as_deref().is_some_and(|k| !jwt.knows(k));
                if needs_keys {
                    let uris = self.jwks_uris().await?;
                    jwt.refresh(&inner.http, &uris, !jwt.is_loaded()).await?;
                }
                jwt.verify(token, &inner.issuers, &inner.resource, inner.leeway)?
            }
            Mode::Introspection(intro) => {
                let endpoint = match &intro.endpoint {
                    Some(e) => e.clone(),
                    None => self
                        .discover()
                        .await?
                        .introspection_endpoint
                        .ok_or_else(|| {
                            Rejection::Unavailable(
                                "the authorization server has no introspection endpoint".into(),
                            )
                        })?,
                };
                intro
                    .check(
                        &inner.http,
                        &endpoint,
                        token,
                        &inner.issuers,
                        &inner.resource,
                    )
                    .await?
            }
        });
        if matches!(inner.mode, Mode::Jwt(_)) {
            let until = claims.expires_at.saturating_add(inner.leeway);
            inner.verified.insert(key, claims.clone(), until, t);
        }
        Ok(claims)
    }

    /// The extra scopes (see [`VerifierBuilder::tool_scope`]) the
    /// `tools/call` messages of a JSON-RPC body (one message or a batch)
    /// need, if any. For framework glue that inspects request bodies.
    pub fn tool_call_scopes(&self, body: &[u8]) -> Option<ScopeSet> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let messages = match &value {
            serde_json::Value::Array(a) => a.iter().collect::<Vec<_>>(),
            other => vec![other],
        };
        let mut extra: Option<ScopeSet> = None;
        for m in messages {
            if m.get("method").and_then(|v| v.as_str()) != Some("tools/call") {
                continue;
            }
            let Some(name) = m
                .get("params")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
            else {
                continue;
            };
            if let Some(s) = self.tool_scopes(name) {
                extra = Some(extra.map_or_else(|| s.clone(), |e| e.union(s)));
            }
        }
        extra
    }

    async fn jwks_uris(&self) -> Result<Vec<String>, Rejection> {
        if let Mode::Jwt(jwt) = &self.inner.mode
            && !jwt.jwks_uris.is_empty()
        {
            return Ok(jwt.jwks_uris.clone());
        }
        let d = self.discover().await?;
        if d.jwks_uris.is_empty() {
            return Err(Rejection::Unavailable(
                "the authorization server publishes no jwks_uri".into(),
            ));
        }
        Ok(d.jwks_uris)
    }

    async fn discover(&self) -> Result<Discovered, Rejection> {
        let mut slot = self.inner.discovered.lock().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let mut d = Discovered {
            jwks_uris: Vec::new(),
            introspection_endpoint: None,
        };
        for issuer in &self.inner.issuers {
            let m = fetch_metadata(&self.inner.http, issuer).await?;
            d.jwks_uris.extend(m.jwks_uri);
            if d.introspection_endpoint.is_none() {
                d.introspection_endpoint = m.introspection_endpoint;
            }
        }
        *slot = Some(d.clone());
        Ok(d)
    }
}
