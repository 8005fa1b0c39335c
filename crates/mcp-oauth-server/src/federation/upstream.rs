//! Talking to upstream providers: discovery, the authorization URL, the
//! code exchange, ID token checks against the upstream JWKS, and userinfo.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};
use mcp_oauth_core::jose::{RefetchGate, VerificationKey};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::secret::random_base64url;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::refresh_lock::RefreshLocks;
use super::vault::{Sealer, UpstreamTokens};
use super::{FederationError, UpstreamAuthMethod, UpstreamConfig};
use crate::keys::KeyEncryptionKey;
use mcp_oauth_core::secret::SecurityToken;

mod id_token;
use crate::storage::IdentityRecord;

/// Largest upstream response read.
const MAX_BODY: usize = 256 * 1024;

/// The per-sign-in secrets kept in the browser's signed cookie between
/// the redirect to the upstream and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FlowSecrets {
    /// The `state` sent upstream.
    pub(crate) state: String,
    /// The OIDC `nonce` sent upstream.
    pub(crate) nonce: String,
    /// The PKCE verifier of the challenge sent upstream.
    pub(crate) verifier: String,
}

/// An upstream's endpoints, from configuration and discovery.
#[derive(Debug)]
struct Endpoints {
    authorization: String,
    token: String,
    userinfo: Option<String>,
    jwks_uri: Option<String>,
    /// RFC 9207: the provider puts `iss` in authorization responses.
    iss_parameter: bool,
}

/// The subset of OIDC discovery metadata used here.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

struct Upstream {
    config: UpstreamConfig,
    endpoints: Mutex<Option<Arc<Endpoints>>>,
    /// The usable keys of the upstream's JWK Set, and when they were fetched.
    jwks: Mutex<Option<(Arc<Vec<VerificationKey>>, Instant)>>,
    /// Spaces the fetches an unknown `kid` forces.
    forced_jwks_fetch: Mutex<RefetchGate>,
}

/// The configured upstreams and the HTTP client that reaches them.
pub(crate) struct Federation {
    upstreams: Vec<Upstream>,
    http: reqwest::Client,
    /// Seals the tokens of the upstreams that keep them.
    sealer: Option<Sealer>,
    /// One refresh of a person's upstream token at a time, here.
    refresh_locks: RefreshLocks,
}

fn unavailable(e: impl std::fmt::Display) -> FederationError {
    FederationError::Unavailable(e.to_string())
}

impl Federation {
    /// Checks the configurations (valid, distinct ids; a key-encryption key
    /// when an upstream keeps people's tokens).
    pub(crate) fn new(
        configs: &[UpstreamConfig],
        kek: Option<&KeyEncryptionKey>,
    ) -> Result<Self, String> {
        let mut upstreams: Vec<Upstream> = Vec::with_capacity(configs.len());
        for c in configs {
            c.validate()?;
            if upstreams.iter().any(|u| u.config.id == c.id) {
                return Err(format!("upstream id {:?} is configured twice", c.id));
            }
            upstreams.push(Upstream {
                config: c.clone(),
                endpoints: Mutex::new(None),
                jwks: Mutex::new(None),
                forced_jwks_fetch: Mutex::new(RefetchGate::default()),
            });
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("mcp-oauth-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client for upstreams: {e}"))?;
        let sealer = match (configs.iter().find(|c| c.store_tokens), kek) {
            (None, _) => None,
            (Some(c), None) => {
                return Err(format!(
                    "upstream {}: store_tokens needs a key-encryption key \
                     (MCP_OAUTH_KEY_ENCRYPTION_KEY) to seal people's tokens",
                    c.id
                ));
            }
            (Some(_), Some(kek)) => Some(
                Sealer::new(kek)
                    .ok_or("deriving the upstream token key from the key-encryption key failed")?,
            ),
        };
        Ok(Self {
            upstreams,
            http,
            sealer,
            refresh_locks: RefreshLocks::default(),
        })
    }

    /// The per-(subject, provider) locks that keep this instance from
    /// refreshing one person's upstream token twice at once.
    pub(crate) fn refresh_locks(&self) -> &RefreshLocks {
        &self.refresh_locks
    }

    /// Seals and opens kept upstream tokens (present when some upstream
    /// keeps them).
    pub(crate) fn sealer(&self) -> Option<&Sealer> {
        self.sealer.as_ref()
    }

    /// The configured upstreams, in configuration order.
    pub(crate) fn list(&self) -> impl Iterator<Item = &UpstreamConfig> {
        self.upstreams.iter().map(|u| &u.config)
    }

    /// The upstream with this id.
    pub(crate) fn get(&self, id: &str) -> Option<&UpstreamConfig> {
        self.find(id).map(|u| &u.config)
    }

    fn find(&self, id: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.config.id == id)
    }

    /// Where to send the browser, and the secrets to keep until it returns
    /// to `redirect_uri`.
    pub(crate) async fn authorization_url(
        &self,
        id: &str,
        redirect_uri: &str,
    ) -> Result<(String, FlowSecrets), FederationError> {
        let up = self
            .find(id)
            .ok_or_else(|| FederationError::Metadata(format!("no upstream {id:?}")))?;
        let endpoints = self.endpoints(up).await?;
        let random = || random_base64url(32).map_err(unavailable);
        let verifier = PkceVerifier::generate().map_err(unavailable)?;
        let secrets = FlowSecrets {
            state: random()?,
            nonce: random()?,
            verifier: verifier.secret().to_owned(),
        };
        let mut url = url::Url::parse(&endpoints.authorization).map_err(unavailable)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &up.config.client_id)
                .append_pair("redirect_uri", redirect_uri);
            let scopes = up.config.effective_scopes();
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
            q.append_pair("state", &secrets.state);
            if up.config.is_oidc() {
                q.append_pair("nonce", &secrets.nonce);
            }
            q.append_pair("code_challenge", PkceChallenge::s256(&verifier).as_str())
                .append_pair("code_challenge_method", "S256");
            for (k, v) in &up.config.authorization_params {
                q.append_pair(k, v);
            }
        }
        Ok((url.into(), secrets))
    }

    /// Finishes a sign-in: checks the response's `iss`, redeems `code`,
    /// checks the ID token and asks userinfo as configured, and maps the
    /// person (the allow-lists are the caller's to apply). With
    /// `store_tokens`, also the upstream's tokens, for the caller to keep.
    pub(crate) async fn sign_in(
        &self,
        id: &str,
        code: &str,
        iss: Option<&str>,
        redirect_uri: &str,
        secrets: &FlowSecrets,
        now: u64,
    ) -> Result<(IdentityRecord, Option<UpstreamTokens>), FederationError> {
        let up = self
            .find(id)
            .ok_or_else(|| FederationError::Metadata(format!("no upstream {id:?}")))?;
        let endpoints = self.endpoints(up).await?;
        // RFC 9207 §2.4: a response naming another issuer, or lacking `iss`
        // from a provider that promises it, is refused before the code is
        // sent anywhere.
        if let Some(issuer) = &up.config.issuer {
            match iss {
                Some(got) if got != issuer => {
                    return Err(FederationError::CodeRefused(
                        "the response names another issuer".into(),
                    ));
                }
                None if endpoints.iss_parameter => {
                    return Err(FederationError::CodeRefused(
                        "the response lacks the iss parameter its provider promises".into(),
                    ));
                }
                _ => {}
            }
        }
        let tokens = self
            .redeem(up, &endpoints, code, redirect_uri, &secrets.verifier)
            .await?;
        let access_token = tokens
            .get("access_token")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut claims = Map::new();
        if up.config.is_oidc() {
            let id_token = tokens
                .get("id_token")
                .and_then(Value::as_str)
                .ok_or_else(|| FederationError::IdToken("no id_token in the response".into()))?;
            claims = self
                .check_id_token(up, &endpoints, id_token, &secrets.nonce, now)
                .await?;
        }
        let want_userinfo = !up.config.is_oidc() || up.config.claims.misses_some(&claims);
        if let (true, Some(userinfo)) = (want_userinfo, &endpoints.userinfo) {
            if access_token.is_empty() {
                return Err(FederationError::CodeRefused(
                    "no access_token for the userinfo endpoint".into(),
                ));
            }
            let info = self.userinfo(userinfo, access_token).await?;
            if up.config.is_oidc() && info.get("sub") != claims.get("sub") {
                // OIDC Core §5.3.2: userinfo about someone else is ignored.
                return Err(FederationError::UserInfo(
                    "sub differs from the ID token's".into(),
                ));
            }
            for (k, v) in info {
                claims.entry(k).or_insert(v);
            }
        }
        let who = up.config.claims.identity(&up.config, &claims, now)?;
        let kept = if up.config.store_tokens {
            Some(
                UpstreamTokens::from_response(&tokens, now, None).ok_or_else(|| {
                    FederationError::CodeRefused("no access_token to keep".into())
                })?,
            )
        } else {
            None
        };
        Ok((who, kept))
    }

    /// Refreshes a person's upstream access token with their upstream
    /// refresh token (RFC 6749 §6), at `now`.
    pub(crate) async fn refresh(
        &self,
        id: &str,
        refresh_token: &SecurityToken,
        now: u64,
    ) -> Result<UpstreamTokens, FederationError> {
        let up = self
            .find(id)
            .ok_or_else(|| FederationError::Metadata(format!("no upstream {id:?}")))?;
        let endpoints = self.endpoints(up).await?;
        let form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.secret()),
        ];
        let body = self.token_request(up, &endpoints, form).await?;
        UpstreamTokens::from_response(&body, now, Some(refresh_token))
            .ok_or_else(|| FederationError::CodeRefused("no access_token in the answer".into()))
    }

    async fn endpoints(&self, up: &Upstream) -> Result<Arc<Endpoints>, FederationError> {
        if let Some(e) = up.endpoints.lock().clone() {
            return Ok(e);
        }
        let c = &up.config;
        let discovered = match &c.issuer {
            Some(issuer) => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&url, None).await?;
                let doc: Discovery = serde_json::from_value(Value::Object(doc))
                    .map_err(|e| FederationError::Metadata(e.to_string()))?;
                if doc.issuer != *issuer {
                    return Err(FederationError::Metadata(format!(
                        "discovery names the issuer {:?}",
                        doc.issuer
                    )));
                }
                Some(doc)
            }
            None => None,
        };
        let pick = |configured: &Option<String>, found: Option<String>| -> Option<String> {
            configured.clone().or(found)
        };
        let d = discovered.as_ref();
        let endpoints = Endpoints {
            authorization: pick(
                &c.authorization_endpoint,
                d.map(|d| d.authorization_endpoint.clone()),
            )
            .ok_or_else(|| FederationError::Metadata("no authorization endpoint".into()))?,
            token: pick(&c.token_endpoint, d.map(|d| d.token_endpoint.clone()))
                .ok_or_else(|| FederationError::Metadata("no token endpoint".into()))?,
            userinfo: pick(
                &c.userinfo_endpoint,
                d.and_then(|d| d.userinfo_endpoint.clone()),
            ),
            jwks_uri: pick(&c.jwks_uri, d.and_then(|d| d.jwks_uri.clone())),
            iss_parameter: d.is_some_and(|d| d.authorization_response_iss_parameter_supported),
        };
        for url in [Some(&endpoints.authorization), Some(&endpoints.token)]
            .into_iter()
            .chain([endpoints.userinfo.as_ref(), endpoints.jwks_uri.as_ref()])
            .flatten()
        {
            super::check_url(url).map_err(|e| FederationError::Metadata(format!("{url}: {e}")))?;
        }
        if c.is_oidc() && endpoints.jwks_uri.is_none() {
            return Err(FederationError::Metadata("no jwks_uri".into()));
        }
        let endpoints = Arc::new(endpoints);
        *up.endpoints.lock() = Some(endpoints.clone());
        Ok(endpoints)
    }

    async fn redeem(
        &self,
        up: &Upstream,
        endpoints: &Endpoints,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<Map<String, Value>, FederationError> {
        let form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        self.token_request(up, endpoints, form).await
    }

    /// A request to the upstream's token endpoint, authenticated as our
    /// client there; the answer's JSON object, or why it failed.
    async fn token_request(
        &self,
        up: &Upstream,
        endpoints: &Endpoints,
        mut form: Vec<(&str, &str)>,
    ) -> Result<Map<String, Value>, FederationError> {
        let c = &up.config;
        let mut request = self
            .http
            .post(&endpoints.token)
            .header(reqwest::header::ACCEPT, "application/json");
        match (&c.client_secret, c.token_endpoint_auth) {
            (Some(secret), UpstreamAuthMethod::ClientSecretBasic) => {
                // RFC 6749 §2.3.1: both parts form-encoded before Base64.
                let enc = |s: &str| -> String {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
                };
                let pair: String = [enc(&c.client_id), enc(secret.secret())].join(":");
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Basic {}", Base64::encode_string(pair.as_bytes())),
                );
            }
            (Some(secret), UpstreamAuthMethod::ClientSecretPost) => {
                form.push(("client_id", &c.client_id));
                form.push(("client_secret", secret.secret()));
            }
            (None, _) => form.push(("client_id", &c.client_id)),
        }
        let response = request.form(&form).send().await.map_err(unavailable)?;
        let status = response.status().as_u16();
        let body = read_json(response).await?;
        // GitHub reports errors with 200, so look for `error` either way.
        if let Some(error) = body.get("error").and_then(Value::as_str) {
            return Err(FederationError::CodeRefused(printable(error)));
        }
        if status >= 500 {
            return Err(unavailable(format!(
                "token endpoint answered HTTP {status}"
            )));
        }
        if status != 200 {
            return Err(FederationError::CodeRefused(format!("HTTP {status}")));
        }
        Ok(body)
    }

    async fn userinfo(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, FederationError> {
        self.get_json(url, Some(access_token)).await
    }

    async fn get_json(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<Map<String, Value>, FederationError> {
        let mut request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(unavailable)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(unavailable(format!("{url} answered HTTP {status}")));
        }
        read_json(response).await
    }
}

/// Reads a JSON object of at most [`MAX_BODY`] bytes.
async fn read_json(mut response: reqwest::Response) -> Result<Map<String, Value>, FederationError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(unavailable("the response is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(unavailable("the response is not a JSON object")),
    }
}

/// An upstream error code, cut to a safe, short, printable form.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(64)
        .collect()
}
