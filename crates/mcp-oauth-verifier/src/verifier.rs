//! [`Verifier`]: everything a protected MCP resource decides about a request.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::metadata::ProtectedResourceMetadata;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::token_hash;

use crate::cache::TokenCache;
use crate::claims::{Claims, Rejection};
use crate::discovery::Discovery;
use crate::introspection::{CallContext, Introspector};
use crate::jwks::FetchContext;
use crate::jwt::JwtVerifier;
use crate::now;
use crate::origin::AllowedOrigins;
use crate::stats::{Counters, VerifierStats};
use crate::unavailable::Unavailable;

/// How tokens are verified.
pub(crate) enum Mode {
    /// Locally, as JWTs, with this clock-skew allowance (seconds).
    Jwt { verifier: JwtVerifier, leeway: u64 },
    /// By the authorization server.
    Introspection(Introspector),
}

/// The verifier's state, built by the builder.
pub(crate) struct Inner {
    pub(crate) resource: ResourceUri,
    pub(crate) issuers: Vec<String>,
    pub(crate) required: ScopeSet,
    pub(crate) tool_scopes: Vec<(String, ScopeSet)>,
    pub(crate) resource_metadata_url: String,
    pub(crate) metadata: ProtectedResourceMetadata,
    pub(crate) mode: Mode,
    pub(crate) http: reqwest::Client,
    pub(crate) cache: TokenCache,
    /// One per trusted issuer, in the configured order.
    pub(crate) discoveries: Vec<Arc<Discovery>>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) origins: AllowedOrigins,
    /// Which scopes imply which.
    pub(crate) hierarchy: mcp_oauth_core::scope_hierarchy::ScopeHierarchy,
    /// This resource server's client credentials for token exchange.
    pub(crate) exchange: Option<(String, mcp_oauth_core::secret::ClientSecret)>,
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
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Checks a request's `Origin` header (MCP Streamable HTTP transport):
    /// `Ok` without one (not a browser) or with an allowed one (the
    /// resource's own origin and those of
    /// [`allowed_origins`](crate::VerifierBuilder::allowed_origins));
    /// otherwise [`Rejection::ForbiddenOrigin`] (403). The framework glue calls it
    /// before anything else, so a refused request costs no token check.
    /// Glue of other frameworks should refuse several `Origin` headers, or
    /// one that is not UTF-8, the same way.
    ///
    /// ```
    /// use mcp_oauth_verifier::{Rejection, Verifier};
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .build()?;
    /// assert_eq!(verifier.check_origin(None), Ok(()));
    /// assert_eq!(verifier.check_origin(Some("HTTPS://MCP.example.com:443")), Ok(()));
    /// assert_eq!(verifier.check_origin(Some("null")), Err(Rejection::ForbiddenOrigin));
    /// assert_eq!(
    ///     verifier.check_origin(Some("https://evil.example")),
    ///     Err(Rejection::ForbiddenOrigin)
    /// );
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn check_origin(&self, origin: Option<&str>) -> Result<(), Rejection> {
        self.inner.origins.check(origin)
    }

    /// Figures about the token cache and the calls made to the
    /// authorization server, for metrics; see [`VerifierStats`].
    pub fn stats(&self) -> VerifierStats {
        let (cached_tokens, cache_bytes) = self.inner.cache.size();
        let introspections_in_flight = match &self.inner.mode {
            Mode::Introspection(i) => i.in_flight() as u64,
            Mode::Jwt { .. } => 0,
        };
        let mut stats = VerifierStats {
            cached_tokens,
            cache_bytes,
            introspections_in_flight,
            ..VerifierStats::default()
        };
        self.inner.counters.fill(&mut stats);
        stats
    }

    /// The canonical resource URI.
    ///
    /// ```
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://MCP.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .required_scopes(["mcp"])
    ///     .build()?;
    /// assert_eq!(verifier.resource().as_str(), "https://mcp.example.com/mcp");
    /// assert!(verifier.required_scopes().contains("mcp"));
    /// assert_eq!(verifier.metadata().resource, "https://mcp.example.com/mcp");
    /// assert_eq!(
    ///     verifier.resource_metadata_url(),
    ///     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    /// );
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn resource(&self) -> &ResourceUri {
        &self.inner.resource
    }

    /// The scopes every request needs; see [`Verifier::resource`].
    pub fn required_scopes(&self) -> &ScopeSet {
        &self.inner.required
    }

    /// The RFC 9728 document; see [`Verifier::resource`].
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.inner.metadata
    }

    /// Where the RFC 9728 document is served (path form); see
    /// [`Verifier::resource`].
    pub fn resource_metadata_url(&self) -> &str {
        &self.inner.resource_metadata_url
    }

    /// The scopes a `tools/call` of `tool` needs beyond the required ones.
    ///
    /// ```
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .required_scopes(["mcp"])
    ///     .tool_scope("delete_repo", "repo:admin")
    ///     .build()?;
    /// assert!(verifier.has_tool_scopes());
    /// assert!(verifier.tool_scopes("delete_repo").is_some_and(|s| s.contains("repo:admin")));
    /// assert!(verifier.tool_scopes("list_repos").is_none());
    /// let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo"}}"#;
    /// assert!(verifier.tool_call_scopes(body).is_some_and(|s| s.contains("repo:admin")));
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn tool_scopes(&self, tool: &str) -> Option<&ScopeSet> {
        self.inner
            .tool_scopes
            .iter()
            .find(|(t, _)| t == tool)
            .map(|(_, s)| s)
    }

    /// Whether any tool has extra scopes (the glue then looks into
    /// `tools/call` bodies); see [`Verifier::tool_scopes`].
    pub fn has_tool_scopes(&self) -> bool {
        !self.inner.tool_scopes.is_empty()
    }

    /// The `WWW-Authenticate` value for a rejection.
    ///
    /// ```
    /// use mcp_oauth_verifier::{Rejection, Verifier};
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .build()?;
    /// let challenge = verifier.challenge(&Rejection::InvalidToken("token expired".into()));
    /// assert!(challenge.starts_with(r#"Bearer error="invalid_token""#));
    /// assert!(challenge.contains(r#"error_description="token expired""#));
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn challenge(&self, rejection: &Rejection) -> String {
        rejection
            .challenge(&self.inner.resource_metadata_url, &self.inner.required)
            .to_header_value()
    }

    /// Verifies a request by its `Authorization` header value and query
    /// string: only `Authorization: Bearer` is accepted; a token in the
    /// query string is refused (RFC 6750 §2.3 is not supported by MCP).
    ///
    /// ```
    /// use mcp_oauth_verifier::{Rejection, Verifier};
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .build()?;
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// runtime.block_on(async {
    ///     assert_eq!(verifier.verify_request(None, None).await, Err(Rejection::MissingToken));
    ///     assert!(matches!(
    ///         verifier.verify_request(None, Some("access_token=abc")).await,
    ///         Err(Rejection::InvalidRequest(_))
    ///     ));
    ///     assert!(matches!(
    ///         verifier.verify_request(Some("Bearer not-a-jwt"), None).await,
    ///         Err(Rejection::InvalidToken(_))
    ///     ));
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

    /// Verifies a bearer token and the required scopes (what
    /// [`Verifier::verify_request`] does after reading the header).
    pub async fn verify_token(&self, token: &str) -> Result<Claims, Rejection> {
        let claims = self.authenticate(token).await?;
        self.authorize(&claims, None)?;
        Ok(claims)
    }

    /// Checks that `claims` carry the required scopes, plus `extra`.
    ///
    /// ```
    /// use mcp_oauth_verifier::core::scope::ScopeSet;
    /// use mcp_oauth_verifier::{Claims, Rejection, Verifier};
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .required_scopes(["mcp"])
    ///     .build()?;
    /// let claims = Claims {
    ///     subject: "alice".into(),
    ///     client_id: None,
    ///     scopes: ScopeSet::parse("mcp")?,
    ///     audience: vec!["https://mcp.example.com/mcp".into()],
    ///     issuer: Some("https://auth.example.com".into()),
    ///     expires_at: 0,
    ///     raw: Default::default(),
    /// };
    /// assert_eq!(verifier.authorize(&claims, None), Ok(()));
    /// let admin = ScopeSet::parse("admin")?;
    /// assert!(matches!(
    ///     verifier.authorize(&claims, Some(&admin)),
    ///     Err(Rejection::InsufficientScope { required }) if required.contains("admin")
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authorize(&self, claims: &Claims, extra: Option<&ScopeSet>) -> Result<(), Rejection> {
        let required = &self.inner.required;
        let h = &self.inner.hierarchy;
        let ok = h.satisfies(&claims.scopes, required)
            && extra.is_none_or(|e| h.satisfies(&claims.scopes, e));
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

    /// Whether `claims` cover `scope` under this verifier's
    /// [scope hierarchy](crate::VerifierBuilder::scope_hierarchy): for a
    /// tool that checks a scope itself, so it agrees with the layer
    /// ([`Claims::has_scope`] compares exactly).
    ///
    /// ```
    /// use mcp_oauth_verifier::{Claims, Verifier};
    /// use mcp_oauth_verifier::core::scope::ScopeSet;
    /// use mcp_oauth_verifier::core::scope_hierarchy::ScopeHierarchy;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .scope_hierarchy(ScopeHierarchy::new().separator(':'))
    ///     .build()?;
    /// let claims = Claims {
    ///     subject: "alice".into(),
    ///     client_id: None,
    ///     scopes: ScopeSet::parse("files")?,
    ///     issuer: Some("https://auth.example.com".into()),
    ///     audience: vec!["https://mcp.example.com/mcp".into()],
    ///     expires_at: 0,
    ///     raw: Default::default(),
    /// };
    /// assert!(verifier.covers(&claims, "files:write") && !claims.has_scope("files:write"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn covers(&self, claims: &Claims, scope: &str) -> bool {
        self.inner.hierarchy.covers(&claims.scopes, scope)
    }

    /// Verifies the token (signature or introspection, issuer, audience,
    /// time), without the scope check. Results are cached by token hash
    /// until the token expires. See [`Verifier::verify_request`] for an
    /// example.
    pub async fn authenticate(&self, token: &str) -> Result<Claims, Rejection> {
        self.authenticate_shared(token)
            .await
            .map(Arc::unwrap_or_clone)
    }

    /// [`Verifier::authenticate`], sharing the cached claims.
    async fn authenticate_shared(&self, token: &str) -> Result<Arc<Claims>, Rejection> {
        let inner = &self.inner;
        let key = token_hash(token);
        match &inner.mode {
            Mode::Jwt { verifier, leeway } => {
                if let Some(hit) = inner.cache.get(&key) {
                    return hit;
                }
                let ctx = FetchContext {
                    http: inner.http.clone(),
                    counters: inner.counters.clone(),
                };
                let t = now();
                let claims = Arc::new(
                    verifier
                        .verify(token, &ctx, &inner.resource, *leeway, t)
                        .await?,
                );
                // Kept until the token expires (with the leeway it is
                // accepted for), which the maximum lifetime bounds.
                let ttl = claims.expires_at.saturating_add(*leeway).saturating_sub(t);
                inner
                    .cache
                    .insert(key, Ok(claims.clone()), Duration::from_secs(ttl));
                Ok(claims)
            }
            Mode::Introspection(intro) => {
                if let Some(hit) = inner.cache.get(&key) {
                    return hit;
                }
                let endpoint = match &intro.endpoint {
                    Some(e) => e.clone(),
                    None => self.introspection_endpoint().await?,
                };
                let ctx = CallContext {
                    http: &inner.http,
                    endpoint: &endpoint,
                    issuers: &inner.issuers,
                    resource: &inner.resource,
                    counters: &inner.counters,
                };
                intro.check(&ctx, &inner.cache, token, &key).await
            }
        }
    }

    /// The extra scopes (see
    /// [`tool_scope`](crate::VerifierBuilder::tool_scope)) the `tools/call`
    /// messages of a JSON-RPC body (one message or a batch) need, if any.
    /// For framework glue that inspects request bodies; see
    /// [`Verifier::tool_scopes`].
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

    /// The introspection endpoint of the first issuer whose metadata
    /// names one.
    async fn introspection_endpoint(&self) -> Result<String, Rejection> {
        for d in &self.inner.discoveries {
            let endpoints = d.endpoints(&self.inner.http, &self.inner.counters).await?;
            if let Some(e) = &endpoints.introspection_endpoint {
                // The metadata may name any URL; the credentials go only
                // over https (or to this machine).
                if !crate::introspection::secure_endpoint(e) {
                    tracing::error!(endpoint = %e, "refusing a plain-http introspection endpoint off loopback");
                    return Err(Rejection::Unavailable(Unavailable::new(
                        "the authorization server's introspection endpoint is plain http off loopback",
                    )));
                }
                return Ok(e.clone());
            }
        }
        Err(Rejection::Unavailable(Unavailable::new(
            "the authorization server has no introspection endpoint",
        )))
    }
}
