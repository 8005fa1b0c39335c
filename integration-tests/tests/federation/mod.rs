//! Federated login: our AS signs people in through an upstream identity
//! provider. `fake_idp` runs a small OIDC provider of our own that can be
//! told to misbehave (tampered ID token, wrong nonce, wrong audience…);
//! `oidc_provider` runs against the independent, OpenID-certified
//! `oidc-provider` (npm) that `scripts/oidc-provider` starts.

mod fake_idp;
mod oidc_provider;
mod upstream_exchange;

use base64ct::{Base64UrlUnpadded, Encoding};
use integration_tests::TestServer;
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::Value;

use crate::flow::{REDIRECT, RESOURCE, field, get, redeem, register_public};

/// A browser: keeps cookies per site and follows redirects one at a time,
/// so a test can stop, look, or tamper at any step.
pub(crate) struct Browser {
    http: reqwest::Client,
}

/// Where following redirects ended.
pub(crate) enum Stop {
    /// A URL starting with the prefix asked for, not requested.
    At(url::Url),
    /// A page (status and body) at a URL.
    Page(url::Url, u16, String),
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Opens our authorization URL and presses "Sign in with …" for the
    /// upstream `id`; returns the upstream URL we were sent to.
    pub(crate) async fn choose_upstream(&self, authorize_url: &str, id: &str) -> url::Url {
        let r = self.http.get(authorize_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        let action = format!("/federate/{id}\"");
        assert!(page.contains(&action), "no button for {id}: {page}");
        let base = authorize_url.split("/authorize").next().unwrap();
        let r = self
            .http
            .post(format!("{base}/federate/{id}"))
            .form(&[
                ("request", field(&page, "request")),
                ("csrf", field(&page, "csrf")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{:?}", r.text().await);
        url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
    }

    /// Follows redirects from `url` until one points under `prefix` (not
    /// requested) or a page answers.
    pub(crate) async fn follow(&self, url: url::Url, prefix: &str) -> Stop {
        let mut url = url;
        for _ in 0..20 {
            if url.as_str().starts_with(prefix) {
                return Stop::At(url);
            }
            let r = self.http.get(url.clone()).send().await.unwrap();
            match r.headers().get("location") {
                Some(loc) if r.status().is_redirection() => {
                    url = url.join(loc.to_str().unwrap()).unwrap();
                }
                _ => {
                    let status = r.status().as_u16();
                    return Stop::Page(url, status, r.text().await.unwrap());
                }
            }
        }
        panic!("too many redirects");
    }

    /// Requests `url` and returns the status and `Location`.
    pub(crate) async fn open(&self, url: &url::Url) -> (u16, Option<url::Url>) {
        let r = self.http.get(url.clone()).send().await.unwrap();
        let loc = r
            .headers()
            .get("location")
            .map(|l| url.join(l.to_str().unwrap()).unwrap());
        (r.status().as_u16(), loc)
    }

    /// Posts a form.
    pub(crate) async fn post(&self, url: url::Url, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(url).form(form).send().await.unwrap()
    }
}

/// A registered public client's authorization request at our AS.
pub(crate) struct Request {
    pub(crate) client_id: String,
    pub(crate) url: String,
    pub(crate) verifier: PkceVerifier,
}

pub(crate) async fn request(s: &TestServer) -> Request {
    request_for(s, RESOURCE).await
}

/// [`request`] for another resource.
pub(crate) async fn request_for(s: &TestServer, resource: &str) -> Request {
    let client_id = register_public(s).await;
    let verifier = PkceVerifier::generate().unwrap();
    let mut url = url::Url::parse(&s.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", PkceChallenge::s256(&verifier).as_str())
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "client-state")
        .append_pair("resource", resource);
    Request {
        client_id,
        url: url.into(),
        verifier,
    }
}

/// The query of our redirect back to the MCP client, checking `state` and
/// `iss` come back whatever the outcome.
pub(crate) fn client_answer(s: &TestServer, loc: &url::Url) -> Vec<(String, String)> {
    assert!(loc.as_str().starts_with(REDIRECT), "{loc}");
    let q: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert_eq!(get(&q, "state"), Some("client-state"));
    assert_eq!(get(&q, "iss"), Some(s.base.as_str()));
    q
}

/// Redeems the code of a successful answer; returns the token response and
/// the access token's claims.
pub(crate) async fn redeem_answer(
    s: &TestServer,
    req: &Request,
    q: &[(String, String)],
) -> (Value, Value) {
    let code = get(q, "code").unwrap_or_else(|| panic!("no code: {q:?}"));
    let r = redeem(s, &req.client_id, code, &req.verifier).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let claims = payload(body["access_token"].as_str().unwrap());
    (body, claims)
}

/// A JWT's payload, unverified (the test reads what the AS wrote).
pub(crate) fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap()
}
