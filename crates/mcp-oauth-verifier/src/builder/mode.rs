//! The verification modes a [`VerifierBuilder`] can be in, and the settings
//! that belong to each. A setting of one mode is a method of that mode's
//! builder only, so it cannot be set and then ignored.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use mcp_oauth_core::secret::ClientSecret;

use super::VerifierBuilder;

/// Default time an active introspection answer is trusted.
const DEFAULT_INTROSPECTION_TTL: Duration = Duration::from_secs(30);
/// Default longest accepted token lifetime.
const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Default least time between two JWK Set fetches: the shared default.
const DEFAULT_JWKS_REFRESH: Duration = mcp_oauth_core::jose::DEFAULT_REFETCH_INTERVAL;
/// Default clock-skew allowance, in seconds.
const DEFAULT_LEEWAY: u64 = 60;

/// Mode state: no mode chosen yet. The builder verifies JWTs with the
/// authorization servers' JWK Sets (as in [`JwtMode`]) unless
/// [`VerifierBuilder::introspection`] is called; a JWT setting moves it to
/// [`JwtMode`].
#[derive(Debug, Default)]
pub struct AnyMode;

/// Mode state: JWT access tokens (RFC 9068) verified locally with the
/// authorization server's keys. Its settings are those of
/// `impl VerifierBuilder<S, M: Into<JwtMode>>`.
pub struct JwtMode {
    pub(super) jwks_uri: Option<String>,
    pub(super) shared: Option<(Vec<u8>, Algorithm)>,
    pub(super) leeway: u64,
    pub(super) allow_untyped: bool,
    pub(super) max_token_lifetime: Duration,
    pub(super) jwks_refresh_interval: Duration,
}

impl Default for JwtMode {
    fn default() -> Self {
        Self {
            jwks_uri: None,
            shared: None,
            leeway: DEFAULT_LEEWAY,
            allow_untyped: false,
            max_token_lifetime: DEFAULT_MAX_LIFETIME,
            jwks_refresh_interval: DEFAULT_JWKS_REFRESH,
        }
    }
}

impl std::fmt::Debug for JwtMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtMode")
            .field("jwks_uri", &self.jwks_uri)
            .field(
                "shared_secret_alg",
                &self.shared.as_ref().map(|(_, alg)| alg),
            )
            .field("leeway", &self.leeway)
            .field("allow_untyped", &self.allow_untyped)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("jwks_refresh_interval", &self.jwks_refresh_interval)
            .finish()
    }
}

impl From<AnyMode> for JwtMode {
    fn from(AnyMode: AnyMode) -> Self {
        Self::default()
    }
}

/// Mode state: every token is sent to the authorization server's RFC 7662
/// introspection endpoint. Its settings are those of
/// `impl VerifierBuilder<S, IntrospectionMode>`.
pub struct IntrospectionMode {
    pub(super) client_id: String,
    pub(super) secret: ClientSecret,
    pub(super) endpoint: Option<String>,
    pub(super) validate_resource: bool,
    pub(super) cache_ttl: Duration,
}

impl std::fmt::Debug for IntrospectionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionMode")
            .field("client_id", &self.client_id)
            .field("endpoint", &self.endpoint)
            .field("validate_resource", &self.validate_resource)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl<S> VerifierBuilder<S, AnyMode> {
    /// Ask the AS about every token (RFC 7662), authenticating as this
    /// client. `aud` is checked too unless
    /// [`validate_resource`](Self::validate_resource) turns it off. Only
    /// available before any JWT setting: the two modes exclude each other.
    ///
    /// ```
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .introspection("rs", "rs-secret")
    ///     .introspection_endpoint("https://auth.example.com/introspect")
    ///     .build()?;
    /// # let _ = verifier;
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn introspection(
        self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> VerifierBuilder<S, IntrospectionMode> {
        self.with_mode(|AnyMode| IntrospectionMode {
            client_id: client_id.into(),
            secret: ClientSecret::new(secret.into()),
            endpoint: None,
            validate_resource: true,
            cache_ttl: DEFAULT_INTROSPECTION_TTL,
        })
    }
}

impl<S, M: Into<JwtMode>> VerifierBuilder<S, M> {
    /// Verify JWT access tokens locally with the AS's JWK Set: what the
    /// builder does anyway, stated explicitly.
    pub fn jwks(self) -> VerifierBuilder<S, JwtMode> {
        self.with_mode(Into::into)
    }

    /// Verify JWTs with keys from this JWK Set URL instead of the one the
    /// AS metadata names. The keys belong to the one configured
    /// authorization server; with several, `build` fails with
    /// [`BuildError::ExplicitKeysNeedOneIssuer`](crate::BuildError::ExplicitKeysNeedOneIssuer).
    pub fn jwks_uri(self, uri: impl Into<String>) -> VerifierBuilder<S, JwtMode> {
        self.with_jwt(|m| m.jwks_uri = Some(uri.into()))
    }

    /// Also accept HMAC-signed JWTs (`HS256`/`HS384`/`HS512`) with this
    /// shared key. Off unless called: HMAC keys are symmetric secrets. Like
    /// [`jwks_uri`](Self::jwks_uri), it needs exactly one authorization
    /// server.
    pub fn shared_secret(
        self,
        key: impl Into<Vec<u8>>,
        alg: Algorithm,
    ) -> VerifierBuilder<S, JwtMode> {
        self.with_jwt(|m| m.shared = Some((key.into(), alg)))
    }

    /// Clock-skew allowance for `exp`/`nbf`/`iat` (default 60 s).
    pub fn leeway(self, seconds: u64) -> VerifierBuilder<S, JwtMode> {
        self.with_jwt(|m| m.leeway = seconds)
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
    pub fn max_token_lifetime(self, lifetime: Duration) -> VerifierBuilder<S, JwtMode> {
        self.with_jwt(|m| m.max_token_lifetime = lifetime)
    }

    /// Accept JWTs without the RFC 9068 `typ: at+jwt` (for authorization
    /// servers that predate it): a missing `typ`, or the generic `JWT`. Any
    /// other explicit type (an ID token's, a session token's…) is still
    /// refused. Off by default.
    pub fn allow_untyped_tokens(self) -> VerifierBuilder<S, JwtMode> {
        self.with_jwt(|m| m.allow_untyped = true)
    }

    /// Least time between two JWK Set fetches while keys are loaded
    /// (default 10 s): a token naming an unknown `kid` triggers at most one
    /// fetch per interval. While an issuer has no usable key (before the
    /// first load, after an empty set or a failed fetch), attempts are
    /// spaced by one second, or by this interval if it is shorter.
    pub fn jwks_refresh_interval(self, interval: Duration) -> VerifierBuilder<S, JwtMode> {
        self.with_jwt(|m| m.jwks_refresh_interval = interval)
    }

    fn with_jwt(self, set: impl FnOnce(&mut JwtMode)) -> VerifierBuilder<S, JwtMode> {
        self.with_mode(|m| {
            let mut jwt = m.into();
            set(&mut jwt);
            jwt
        })
    }
}

impl<S> VerifierBuilder<S, IntrospectionMode> {
    /// Use this introspection endpoint instead of the one the metadata names.
    pub fn introspection_endpoint(mut self, url: impl Into<String>) -> Self {
        self.mode.endpoint = Some(url.into());
        self
    }

    /// Whether the token's `aud` must name this resource (default true).
    /// Turn off only for an AS that does not put `aud` in introspection
    /// responses.
    pub fn validate_resource(mut self, on: bool) -> Self {
        self.mode.validate_resource = on;
        self
    }

    /// How long an active answer is trusted before the AS is asked again
    /// (default 30 s; never past the token's `exp`). This is the delay with
    /// which a revocation at the AS takes effect here; `Duration::ZERO` asks
    /// the AS on every request.
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
        self.mode.cache_ttl = ttl;
        self
    }
}
