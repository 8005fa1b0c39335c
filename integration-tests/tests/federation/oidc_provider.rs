//! Federation against an independent, OpenID-certified provider: the npm
//! package `oidc-provider`, started by `scripts/oidc-provider` with the
//! small configuration in `interop/oidc-provider/` (open registration, a
//! scripted login form, accounts alice, bob and carol). `scripts/test`
//! passes its issuer as `MCP_OAUTH_TEST_OIDC_ISSUER`; without it these
//! tests are skipped, except under CI, where they must run.

use std::net::TcpListener;
use std::sync::Arc;

use integration_tests::TestServer;
use mcp_oauth_client::{BrowserOpener, Login, MemoryStore, OAuthClient};
use mcp_oauth_core::secret::ClientSecret;
use mcp_oauth_server::federation::{ClaimMapping, UpstreamConfig};
use mcp_oauth_server::storage::MemoryStorage;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use super::{Browser, Stop, client_answer, redeem_answer, request};
use crate::flow::get;
use crate::verifier::{jwt_verifier, start_rs};

const ID: &str = "corp";

fn issuer() -> Option<String> {
    match std::env::var("MCP_OAUTH_TEST_OIDC_ISSUER") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but MCP_OAUTH_TEST_OIDC_ISSUER is not: the federation tests must run")
        }
        Err(_) => {
            eprintln!("MCP_OAUTH_TEST_OIDC_ISSUER unset (scripts/oidc-provider sets it): skipping");
            None
        }
    }
}

/// Starts our AS with oidc-provider as upstream `corp`: registers our
/// callback there first (dynamic registration), as an operator registers
/// the AS once at their company IdP.
async fn federated_as(
    issuer: &str,
    tweak: impl FnOnce(UpstreamConfig) -> UpstreamConfig,
) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let discovery: Value = reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .post(discovery["registration_endpoint"].as_str().unwrap())
        .json(&json!({
            "client_name": "mcp-oauth AS under test",
            "redirect_uris": [format!("http://127.0.0.1:{port}/callback/{ID}")],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let client: Value = r.json().await.unwrap();
    let upstream = tweak(
        UpstreamConfig::oidc(
            ID,
            "Corp SSO",
            issuer,
            client["client_id"].as_str().unwrap(),
            Some(ClientSecret::new(client["client_secret"].as_str().unwrap())),
        )
        .scopes(["openid", "email", "profile", "groups"])
        .claims(ClaimMapping::default().groups("groups")),
    );
    TestServer::start_listening(listener, Arc::new(MemoryStorage::new()), |c| {
        c.scopes(["mcp", mcp_oauth_examples::profile::WRITE_SCOPE])
            .upstream(upstream)
    })
    .await
}

/// What a person does at oidc-provider's login page.
enum Act<'a> {
    SignInAs(&'a str),
    Refuse,
}

/// From the upstream's authorization URL through its login page to the
/// URL of our callback it sends the browser to (not yet opened).
async fn at_upstream(browser: &Browser, s: &TestServer, start: url::Url, act: Act<'_>) -> url::Url {
    let callback = s.url("/callback/");
    let Stop::Page(page, status, html) = browser.follow(start, &callback).await else {
        panic!("expected oidc-provider's login page");
    };
    assert_eq!(status, 200, "{page}: {html}");
    let (path, form) = match act {
        Act::SignInAs(login) => ("login", vec![("login", login)]),
        Act::Refuse => ("abort", vec![]),
    };
    let action = page
        .join(&format!("{}/{path}", page.path().trim_end_matches('/')))
        .unwrap();
    let r = browser.post(action.clone(), &form).await;
    assert!(r.status().is_redirection(), "{action}: {}", r.status());
    let next = action
        .join(r.headers()["location"].to_str().unwrap())
        .unwrap();
    match browser.follow(next, &callback).await {
        Stop::At(url) => url,
        Stop::Page(url, status, body) => panic!("stuck at {url} ({status}): {body}"),
    }
}

/// The person's whole browser journey for one authorization URL.
async fn person(s: &TestServer, authorize_url: &str, act: Act<'_>) -> url::Url {
    let browser = Browser::new();
    let upstream = browser.choose_upstream(authorize_url, ID).await;
    let callback = at_upstream(&browser, s, upstream, act).await;
    let (status, loc) = browser.open(&callback).await;
    assert_eq!(status, 302);
    loc.unwrap()
}

#[tokio::test]
async fn an_mcp_agent_logs_in_through_oidc_provider_and_calls_a_protected_tool() {
    let Some(issuer) = issuer() else { return };
    let s = federated_as(&issuer, |u| u).await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let base = s.base.clone();
    // The agent's "browser": our login page, oidc-provider's, and back to
    // the agent's loopback redirect.
    let opener: BrowserOpener = Arc::new(move |url: &str| {
        let (url, base) = (url.to_owned(), base.clone());
        tokio::spawn(async move {
            let s_url = |p: &str| format!("{base}{p}");
            let browser = Browser::new();
            let upstream = browser.choose_upstream(&url, ID).await;
            let Stop::Page(page, _, _) = browser.follow(upstream, &s_url("/callback/")).await
            else {
                panic!("expected oidc-provider's login page");
            };
            let action = page
                .join(&format!("{}/login", page.path().trim_end_matches('/')))
                .unwrap();
            let r = browser.post(action.clone(), &[("login", "alice")]).await;
            let next = action
                .join(r.headers()["location"].to_str().unwrap())
                .unwrap();
            let Stop::At(callback) = browser.follow(next, &s_url("/callback/")).await else {
                panic!("oidc-provider did not send the browser back");
            };
            let (status, to_agent) = browser.open(&callback).await;
            assert_eq!(status, 302);
            browser.open(&to_agent.unwrap()).await;
        });
        Ok(())
    });
    let agent = OAuthClient::builder("federated-agent")
        .login(Login::BrowserWith(opener))
        .token_store(MemoryStore::new())
        .build()
        .unwrap();
    let mcp = ().serve(agent.transport(&rs.resource).unwrap()).await.unwrap();
    let result = mcp
        .call_tool(CallToolRequestParams::new("get_user_profile"))
        .await
        .unwrap();
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(text.contains(&format!("{ID}:alice")), "{text}");
    let _ = mcp.cancel().await;

    // The token the agent holds is ours, with the person's mapped claims.
    let token = agent.access_token(&rs.resource).await.unwrap();
    let claims = super::payload(token.secret());
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["sub"], format!("{ID}:alice"));
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["groups"], json!(["mcp-users", "staff"]));
    s.stop().await;
}

#[tokio::test]
async fn oidc_provider_refusals_reach_the_client_as_oauth_errors() {
    let Some(issuer) = issuer() else { return };
    let s = federated_as(&issuer, |u| u.allowed_email_domains(["example.com"])).await;

    // Allowed: alice@example.com, verified.
    let req = request(&s).await;
    let loc = person(&s, &req.url, Act::SignInAs("alice")).await;
    let (_, claims) = redeem_answer(&s, &req, &client_answer(&s, &loc)).await;
    assert_eq!(claims["sub"], format!("{ID}:alice"));
    assert_eq!(claims["name"], "Alice Example");

    // bob@other.test: a domain not on the list.
    let req = request(&s).await;
    let loc = person(&s, &req.url, Act::SignInAs("bob")).await;
    let q = client_answer(&s, &loc);
    assert_eq!(get(&q, "error"), Some("access_denied"), "{q:?}");
    // carol@example.com, but the provider says the address is unverified.
    let req = request(&s).await;
    let loc = person(&s, &req.url, Act::SignInAs("carol")).await;
    assert_eq!(
        get(&client_answer(&s, &loc), "error"),
        Some("access_denied")
    );
    assert!(
        s.storage
            .identity(&format!("{ID}:bob"))
            .await
            .unwrap()
            .is_none()
    );

    // The person refuses at the provider: the provider's access_denied.
    let req = request(&s).await;
    let loc = person(&s, &req.url, Act::Refuse).await;
    let q = client_answer(&s, &loc);
    assert_eq!(get(&q, "error"), Some("access_denied"), "{q:?}");
    assert_eq!(get(&q, "code"), None);

    // A response whose state was changed on the way: refused on a page,
    // not redirected; the genuine one still works afterwards.
    let req = request(&s).await;
    let browser = Browser::new();
    let upstream = browser.choose_upstream(&req.url, ID).await;
    let callback = at_upstream(&browser, &s, upstream, Act::SignInAs("alice")).await;
    let mut forged = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, "forged-state".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(&pairs);
    assert_eq!(browser.open(&forged).await, (400, None));
    let (status, loc) = browser.open(&callback).await;
    assert_eq!(status, 302);
    assert!(get(&client_answer(&s, &loc.unwrap()), "code").is_some());
    s.stop().await;
}
