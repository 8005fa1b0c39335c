//! Getting tokens: the authorization request and its checks (`state`,
//! `iss`, arrival at our redirect URI), the token request with the client's
//! authentication, and reading the token response defensively (a size cap,
//! and a lifetime that cannot overflow or panic whatever the server says).

use mcp_oauth_core::authorization::{
    AuthorizationRequest, AuthorizationResponse, AuthorizationResponseError,
};
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AuthorizationCode, ClientSecret, random_base64url};
use mcp_oauth_core::token::{
    ClientAuthParams, JWT_BEARER_ASSERTION_TYPE, TokenRequest, TokenResponse,
};

use crate::config::{AssertionKey, Config};
use crate::discovery::Discovered;
use crate::error::ClientError;
use crate::fetch::{self, Reply, require_secure};
use crate::login::{self, Attempt, Redirect};
use crate::store::{Registration, Tokens};

/// Refresh at most this long before the access token expires.
const REFRESH_MARGIN: u64 = 30;

/// The longest access-token lifetime believed (a year): a server that
/// claims more is taken to mean this much.
pub(crate) const MAX_LIFETIME: u64 = 365 * 24 * 3600;

/// Seconds since the epoch.
pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where a login's token requests go, and as whom: the discovered
/// authorization server, its token endpoint, and the client's registration
/// there (with Basic authentication when the server offers it).
pub(super) struct TokenEndpoint<'a> {
    pub(super) config: &'a Config,
    pub(super) http: &'a reqwest::Client,
    pub(super) discovered: &'a Discovered,
    pub(super) registration: &'a Registration,
    pub(super) url: &'a str,
    pub(super) basic: bool,
}

impl TokenEndpoint<'_> {
    /// Sends `request`, authenticated as the registration: the token
    /// response, or the server's OAuth error.
    pub(super) async fn send(
        &self,
        request: &mut TokenRequest,
    ) -> Result<Result<TokenResponse, ErrorResponse>, ClientError> {
        token_request(
            self.config,
            self.http,
            self.url,
            &self.discovered.issuer,
            self.registration,
            self.basic,
            request,
        )
        .await
    }
}

/// Runs the authorization request through the configured login and checks
/// the response; returns the code, the PKCE verifier and the redirect URI
/// to redeem them with.
pub(super) async fn user_login(
    config: &Config,
    http: &reqwest::Client,
    d: &Discovered,
    reg: &Registration,
    scope: &ScopeSet,
) -> Result<(AuthorizationCode, PkceVerifier, String), ClientError> {
    let endpoint = d
        .metadata
        .authorization_endpoint
        .as_deref()
        .ok_or_else(|| {
            ClientError::Discovery("authorization server has no authorization endpoint".into())
        })?;
    require_secure("authorization endpoint", endpoint)?;
    let verifier = PkceVerifier::generate()?;
    let state = random_base64url(16)?;
    let redirect = Redirect::prepare(&config.login, config.redirect_uri.as_deref()).await?;
    let redirect_uri = redirect.uri().to_owned();
    let url = AuthorizationRequest::new(
        &reg.client_id,
        &redirect_uri,
        &PkceChallenge::s256(&verifier),
    )
    .state(&state)
    .scope(scope.to_string())
    .resource(&d.resource)
    .to_url(endpoint)
    .map_err(|e| ClientError::invalid_url("authorization endpoint", endpoint, e))?;
    let attempt = Attempt {
        authorize_url: url,
        state: &state,
        issuer: &d.issuer,
    };
    let back = login::run(&config.login, http, attempt, redirect, config.login_timeout).await?;
    check_arrival(&back, &redirect_uri)?;
    let response = AuthorizationResponse::from_query(back.query().unwrap_or_default())
        .map_err(ClientError::AuthorizationResponse)?;
    let code = match response.validate(&state, &d.issuer, d.metadata.supports_iss_parameter()) {
        Ok(code) => code.clone(),
        Err(AuthorizationResponseError::Denied(e)) => return Err(ClientError::Denied(e)),
        Err(e) => return Err(ClientError::AuthorizationResponse(e)),
    };
    Ok((code, verifier, redirect_uri))
}

/// Sends a token request with the client's authentication. The outer error
/// is a failed exchange; the inner one the server's OAuth refusal.
pub(super) async fn token_request(
    config: &Config,
    http: &reqwest::Client,
    endpoint: &str,
    audience: &str,
    reg: &Registration,
    basic: bool,
    request: &mut TokenRequest,
) -> Result<Result<TokenResponse, ErrorResponse>, ClientError> {
    let target = require_secure("token endpoint", endpoint)?;
    let post = authenticate(
        config,
        http.post(target),
        audience,
        reg,
        basic,
        &mut request.client,
    )?;
    let reply = fetch::exchange(post.form(&*request), endpoint).await?;
    Ok(read_token_response(&reply))
}

/// Adds the client's authentication to a request to the token endpoint
/// (or another endpoint that authenticates clients as it does): an
/// assertion, HTTP Basic, the secret in the body (`client`), or the bare
/// `client_id` of a public client.
pub(super) fn authenticate(
    config: &Config,
    mut http: reqwest::RequestBuilder,
    audience: &str,
    reg: &Registration,
    basic: bool,
    client: &mut ClientAuthParams,
) -> Result<reqwest::RequestBuilder, ClientError> {
    let signs = config
        .preregistered
        .as_ref()
        .is_some_and(|p| p.client_id == reg.client_id);
    match (&config.assertion_key, &reg.client_secret, basic) {
        (Some(key), _, _) if signs => {
            client.client_id = Some(reg.client_id.clone());
            client.client_assertion_type = Some(JWT_BEARER_ASSERTION_TYPE.to_owned());
            client.client_assertion = Some(ClientSecret::new(sign_assertion(
                key,
                &reg.client_id,
                audience,
            )?));
        }
        (_, Some(secret), true) => {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            http = http.basic_auth(enc(&reg.client_id), Some(enc(secret.secret())));
        }
        (_, Some(secret), false) => {
            client.client_id = Some(reg.client_id.clone());
            client.client_secret = Some(secret.clone());
        }
        (_, None, _) => client.client_id = Some(reg.client_id.clone()),
    }
    Ok(http)
}

/// The server's answer: tokens, or its OAuth error (an unreadable error
/// becomes `http_STATUS` with the start of the body).
fn read_token_response(reply: &Reply) -> Result<TokenResponse, ErrorResponse> {
    if reply.status.is_success() {
        let mut value: serde_json::Value = reply.json().map_err(|e| {
            ErrorResponse::invalid_request(format!("unreadable token response: {e}"))
        })?;
        if let Some(fields) = value.as_object_mut() {
            forget_nonsense_lifetime(fields);
        }
        serde_json::from_value(value)
            .map_err(|e| ErrorResponse::invalid_request(format!("unreadable token response: {e}")))
    } else {
        Err(oauth_error(reply))
    }
}

/// A refusal's OAuth error; an unreadable one becomes `http_STATUS` with
/// the start of the body.
pub(super) fn oauth_error(reply: &Reply) -> ErrorResponse {
    reply.json().unwrap_or_else(|_| {
        ErrorResponse::new(mcp_oauth_core::ErrorCode::Other(format!(
            "http_{}",
            reply.status.as_u16()
        )))
        .with_description(reply.excerpt())
    })
}

/// Removes an `expires_in` that is not a non-negative whole number (or
/// such a number as a string): the lifetime is then unknown, which is what
/// RFC 6749 allows a server to say by omitting it.
fn forget_nonsense_lifetime(fields: &mut serde_json::Map<String, serde_json::Value>) {
    let sensible = match fields.get("expires_in") {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::Number(n)) => n.as_u64().is_some(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().is_ok(),
        Some(_) => false,
    };
    if !sensible {
        fields.remove("expires_in");
    }
}

/// The lifetime to believe: none for zero (or absent), at most
/// [`MAX_LIFETIME`].
fn lifetime(expires_in: Option<u64>) -> Option<u64> {
    expires_in.filter(|s| *s > 0).map(|s| s.min(MAX_LIFETIME))
}

/// The tokens to store from a token response received at `now`; the
/// refresh is due a quarter of the lifetime (at most 30 s) before expiry.
pub(super) fn to_tokens(r: TokenResponse, asked: &ScopeSet, now: u64) -> Tokens {
    let life = lifetime(r.expires_in);
    Tokens {
        expires_at: life.map(|s| now.saturating_add(s)),
        refresh_at: life.map(|s| now.saturating_add(s - (s / 4).min(REFRESH_MARGIN))),
        scope: r
            .scope
            .map(|s| s.to_string())
            .unwrap_or_else(|| asked.to_string()),
        access_token: r.access_token,
        refresh_token: r.refresh_token,
    }
}

/// An RFC 7523 client assertion for the issuer, valid one minute.
fn sign_assertion(
    key: &AssertionKey,
    client_id: &str,
    audience: &str,
) -> Result<String, ClientError> {
    let mut header = jsonwebtoken::Header::new(key.alg);
    header.kid = key.kid.clone();
    let t = now();
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": t, "exp": t.saturating_add(60),
        "jti": random_base64url(16)?,
    });
    jsonwebtoken::encode(&header, &claims, &key.key).map_err(ClientError::PrivateKey)
}

/// The authorization response must arrive at our redirect URI (scheme, host
/// and path; a loopback port may differ, RFC 8252 §7.3). A code that was
/// delivered anywhere else has been seen by someone else and is not used.
fn check_arrival(back: &url::Url, redirect_uri: &str) -> Result<(), ClientError> {
    let ours = url::Url::parse(redirect_uri)
        .map_err(|e| ClientError::invalid_url("redirect URI", redirect_uri, e))?;
    if back.scheme() == ours.scheme()
        && back.host_str() == ours.host_str()
        && back.path() == ours.path()
        && back.username().is_empty()
        && back.password().is_none()
    {
        Ok(())
    } else {
        Err(ClientError::Authorization(format!(
            "the authorization response arrived at {}://{}{}, not at our redirect URI",
            back.scheme(),
            back.host_str().unwrap_or_default(),
            back.path()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str) -> Reply {
        Reply {
            status: reqwest::StatusCode::OK,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn tokens_for(expires_in: &str, now: u64) -> Tokens {
        let body =
            format!(r#"{{"access_token":"a","token_type":"Bearer","expires_in":{expires_in}}}"#);
        let response = read_token_response(&reply(&body)).expect("a token response");
        to_tokens(response, &ScopeSet::default(), now)
    }

    #[test]
    fn hostile_lifetimes_never_overflow_or_panic() {
        let year = MAX_LIFETIME;
        for now in [0, 1_700_000_000, u64::MAX - 10, u64::MAX] {
            // Huge: capped at a year (and saturating at the end of time).
            for huge in [
                "18446744073709551615",
                "\"18446744073709551615\"",
                "31536001",
            ] {
                let t = tokens_for(huge, now);
                assert_eq!(t.expires_at, Some(now.saturating_add(year)), "{huge}");
                assert!(t.refresh_at <= t.expires_at);
            }
            // Nonsense: the lifetime is unknown.
            for nonsense in [
                "0", "-1", "-1e10", "1e300", "\"soon\"", "\"-5\"", "\"\"", "true", "[]", "{}",
                "null", "0.5",
            ] {
                let t = tokens_for(nonsense, now);
                assert_eq!((t.expires_at, t.refresh_at), (None, None), "{nonsense}");
            }
        }
        // Sensible values are kept, as numbers or strings.
        let t = tokens_for("3600", 1000);
        assert_eq!((t.expires_at, t.refresh_at), (Some(4600), Some(4570)));
        let t = tokens_for("\" 8 \"", 1000);
        assert_eq!((t.expires_at, t.refresh_at), (Some(1008), Some(1006)));
        let t = tokens_for("1", 1000);
        assert_eq!((t.expires_at, t.refresh_at), (Some(1001), Some(1001)));
    }

    #[test]
    fn a_missing_access_token_is_still_an_error() {
        assert!(read_token_response(&reply(r#"{"token_type":"Bearer"}"#)).is_err());
        assert!(read_token_response(&reply("not json")).is_err());
    }
}
