//! The headless password login: follow `/authorize` as a browser would,
//! without following redirects, and post the username and password where
//! the trusted authorization server asks for them, on its own origin only.

use reqwest::header::LOCATION;

use super::{Attempt, Credentials};
use crate::error::ClientError;
use crate::fetch::{self, Reply};

/// The redirect back to us, if `reply` is one.
fn redirected_to_us(reply: &Reply, redirect_uri: &str) -> Option<url::Url> {
    if !reply.status.is_redirection() {
        return None;
    }
    let loc = reply.headers.get(LOCATION)?.to_str().ok()?;
    let url = url::Url::parse(loc).ok()?;
    let base = url::Url::parse(redirect_uri).ok()?;
    (url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.path() == base.path())
    .then_some(url)
}

/// Where the password may go: the issuer's own origin, over https or
/// loopback http. Resolves a relative endpoint against the authorization
/// URL first.
fn login_endpoint(named: &str, attempt: &Attempt<'_>) -> Result<url::Url, ClientError> {
    let refused = || ClientError::ForeignLoginEndpoint {
        endpoint: named.to_owned(),
        issuer: attempt.issuer.to_owned(),
    };
    let endpoint = attempt.authorize_url.join(named).map_err(|_| refused())?;
    let issuer = url::Url::parse(attempt.issuer).map_err(|_| refused())?;
    let same_origin = endpoint.origin() == issuer.origin() && endpoint.origin().is_tuple();
    if same_origin
        && fetch::is_secure(&endpoint)
        && endpoint.username().is_empty()
        && endpoint.password().is_none()
    {
        Ok(endpoint)
    } else {
        Err(refused())
    }
}

pub(super) async fn headless(
    http: &reqwest::Client,
    attempt: &Attempt<'_>,
    redirect_uri: &str,
    credentials: &Credentials,
) -> Result<url::Url, ClientError> {
    let url = attempt.authorize_url.as_str();
    let reply = fetch::exchange(
        http.get(attempt.authorize_url.clone())
            .header("accept", "application/json"),
        url,
    )
    .await?;
    if let Some(back) = redirected_to_us(&reply, redirect_uri) {
        return Ok(back); // the server approved without a login
    }
    if !reply.status.is_success() || !reply.is_json() {
        return Err(ClientError::Authorization(format!(
            "the authorization endpoint answered HTTP {} and offers no headless login",
            reply.status
        )));
    }
    let pending: serde_json::Value =
        reply
            .json()
            .map_err(|source| ClientError::UnreadableResponse {
                what: "headless login offer",
                url: url.to_owned(),
                source,
            })?;
    let (Some(request), Some(named)) = (
        pending.get("request").and_then(|v| v.as_str()),
        pending.get("login_endpoint").and_then(|v| v.as_str()),
    ) else {
        return Err(ClientError::Authorization(
            "the authorization endpoint offers no headless login".into(),
        ));
    };
    let endpoint = login_endpoint(named, attempt)?;
    let body = serde_json::json!({
        "username": credentials.username,
        "password": credentials.password.secret(),
        "request": request,
    });
    let target = endpoint.to_string();
    let reply = fetch::exchange(http.post(endpoint).json(&body), &target).await?;
    if let Some(back) = redirected_to_us(&reply, redirect_uri) {
        return Ok(back);
    }
    // A refusal in the OAuth error form (a wrong password is
    // `access_denied`) is typed, so callers can tell it from a failure.
    if reply.status.is_client_error()
        && reply.is_json()
        && let Ok(e) = reply.json::<mcp_oauth_core::error::ErrorResponse>()
    {
        return Err(ClientError::Denied(e));
    }
    Err(ClientError::Authorization(format!(
        "login refused (HTTP {}): {}",
        reply.status,
        reply.excerpt()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(issuer: &str) -> Attempt<'_> {
        Attempt {
            authorize_url: url::Url::parse(&format!("{issuer}/authorize?client_id=a")).unwrap(),
            state: "s",
            issuer,
        }
    }

    #[test]
    fn the_password_goes_to_the_issuers_origin_only() {
        let a = attempt("https://as.example");
        for ok in [
            "https://as.example/login",
            "/login",
            "login",
            "https://as.example:443/other/path",
        ] {
            assert!(login_endpoint(ok, &a).is_ok(), "{ok}");
        }
        for bad in [
            "https://evil.example/login",
            "https://as.example.evil.example/login",
            "https://as.example:8443/login",
            "http://as.example/login",
            "//evil.example/login",
            "https://user:pw@as.example/login",
            "data:text/plain,x",
        ] {
            let err = login_endpoint(bad, &a).unwrap_err();
            assert!(
                matches!(err, ClientError::ForeignLoginEndpoint { ref endpoint, .. } if endpoint == bad),
                "{bad}: {err}"
            );
        }
        // Loopback http (development): the same origin, port included.
        let local = attempt("http://127.0.0.1:9000");
        assert!(login_endpoint("http://127.0.0.1:9000/login", &local).is_ok());
        assert!(login_endpoint("http://127.0.0.1:9001/login", &local).is_err());
        assert!(login_endpoint("http://localhost:9000/login", &local).is_err());
    }
}
