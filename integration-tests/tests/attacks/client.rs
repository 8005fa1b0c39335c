//! Attacks on the agent (our client): a malicious or compromised server
//! tries to make it send a code or token where it should not, one test
//! each. Where the real authorization server is involved, the attack is
//! made by tampering with what the browser brings back.

use std::sync::Arc;

use integration_tests::{PASSWORD, TestServer, USER};
use mcp_oauth_client::{AuthorizeCallback, ClientError, Login, MemoryStore, OAuthClient};
use serde_json::{Value, json};

use crate::verifier::{as_server, jwt_verifier, start_rs};

fn agent(login: Login) -> OAuthClient {
    OAuthClient::builder("attacked-agent")
        .login(login)
        .token_store(MemoryStore::new())
        .build()
        .unwrap()
}

/// Completes the login as a person would (on the login page), then lets
/// `tamper` rewrite the URL the browser comes back with.
fn tampering(tamper: fn(url::Url) -> url::Url) -> Login {
    let cb: AuthorizeCallback = Arc::new(move |authorize: url::Url| {
        Box::pin(async move {
            let r = integration_tests::form_login(authorize.as_str(), USER, PASSWORD).await;
            let back = r.headers()["location"]
                .to_str()
                .map_err(|e| e.to_string())?;
            Ok(tamper(url::Url::parse(back).map_err(|e| e.to_string())?))
        })
    });
    Login::Callback(cb)
}

/// A login that must not be reached: the attack is refused before it.
fn no_login_expected() -> Login {
    let cb: AuthorizeCallback =
        Arc::new(|_| Box::pin(async { Err("the login should not have been reached".into()) }));
    Login::Callback(cb)
}

/// Replaces (or, with `None`, removes) one query parameter.
fn with_param(mut url: url::Url, name: &str, value: Option<&str>) -> url::Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    url
}

/// Token requests the AS has answered so far.
pub(super) async fn token_requests(s: &TestServer) -> usize {
    s.requests_to("/token").await
}

/// Logs in through the real AS with a tampered redirect; the login must
/// fail at the authorization step and the code must never be redeemed.
async fn refused_after_tampering(tamper: fn(url::Url) -> url::Url, expect: &str) {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let err = agent(tampering(tamper))
        .access_token(&rs.resource)
        .await
        .unwrap_err();
    // A forged or missing `state` or `iss` is a refused response; a
    // redirect that arrived elsewhere, a refused authorization step.
    assert!(
        matches!(
            err,
            ClientError::AuthorizationResponse(_)
                | ClientError::Authorization(_)
                | ClientError::Callback(_)
        ),
        "{err}"
    );
    assert!(err.to_string().contains(expect), "{err}");
    assert_eq!(token_requests(&s).await, 0, "the code was never redeemed");
    s.stop().await;
}

#[tokio::test]
async fn a_state_mismatch_is_refused() {
    refused_after_tampering(|u| with_param(u, "state", Some("forged")), "state").await;
}

#[tokio::test]
async fn a_missing_state_is_refused() {
    refused_after_tampering(|u| with_param(u, "state", None), "state").await;
}

#[tokio::test]
async fn an_iss_mismatch_is_refused() {
    // Mix-up (RFC 9207): the response claims to come from another server.
    refused_after_tampering(
        |u| with_param(u, "iss", Some("https://evil.example")),
        "issuer",
    )
    .await;
}

#[tokio::test]
async fn a_missing_iss_is_refused_when_the_server_advertises_it() {
    refused_after_tampering(|u| with_param(u, "iss", None), "iss").await;
}

#[tokio::test]
async fn a_response_delivered_to_another_callback_is_refused() {
    refused_after_tampering(
        |mut u| {
            u.set_host(Some("evil.example")).unwrap();
            u
        },
        "not at our redirect URI",
    )
    .await;
}

/// A server that serves the given protected-resource and authorization
/// server metadata (functions of its own base URL).
async fn malicious_server(
    prm: fn(&str) -> Value,
    as_metadata: fn(&str) -> Value,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (a, b) = (base.clone(), base.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || {
                let v = prm(&a);
                async move { axum::Json(v) }
            }),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let v = as_metadata(&b);
                async move { axum::Json(v) }
            }),
        );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, task)
}

fn honest_prm(base: &str) -> Value {
    json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]})
}

fn honest_as(base: &str) -> Value {
    json!({"issuer": base, "authorization_endpoint": format!("{base}/authorize"),
           "token_endpoint": format!("{base}/token"),
           "registration_endpoint": format!("{base}/register"),
           "response_types_supported": ["code"],
           "code_challenge_methods_supported": ["S256"]})
}

async fn discovery_error(prm: fn(&str) -> Value, as_metadata: fn(&str) -> Value) -> ClientError {
    error_at(prm, as_metadata, "/mcp").await
}

/// How a login to the MCP server at `path` of such a server fails.
async fn error_at(
    prm: fn(&str) -> Value,
    as_metadata: fn(&str) -> Value,
    path: &str,
) -> ClientError {
    let (base, task) = malicious_server(prm, as_metadata).await;
    let err = agent(no_login_expected())
        .access_token(&format!("{base}{path}"))
        .await
        .unwrap_err();
    task.abort();
    err
}

#[tokio::test]
async fn metadata_whose_issuer_differs_from_the_discovered_url_is_refused() {
    let err = discovery_error(honest_prm, |base| {
        let mut m = honest_as(base);
        m["issuer"] = json!("https://evil.example");
        m
    })
    .await;
    assert!(matches!(err, ClientError::Discovery(_)), "{err}");
    assert!(err.to_string().contains("issuer"), "{err}");
}

/// The counterpart of the mix-up check: a 2025-03-26 server (no protected
/// resource metadata) had no issuer binding, so the document at its origin
/// is taken with the issuer it names, which becomes the expected `iss`.
#[tokio::test]
async fn the_2025_03_26_fallback_accepts_the_issuer_its_origin_document_names() {
    // No protected-resource metadata is published for /legacy, so the
    // client falls back to the document at the origin.
    let err = error_at(
        honest_prm,
        |base| {
            let mut m = honest_as(base);
            m["issuer"] = json!(format!("{base}/oauth"));
            m
        },
        "/legacy",
    )
    .await;
    // Discovery succeeded; the next step (registration) finds no endpoint.
    assert!(matches!(err, ClientError::Registration(_)), "{err}");
}

#[tokio::test]
async fn resource_metadata_for_another_resource_is_refused() {
    let err = discovery_error(
        |base| json!({"resource": "https://other.example/mcp", "authorization_servers": [base]}),
        honest_as,
    )
    .await;
    assert!(matches!(err, ClientError::Discovery(_)), "{err}");
    assert!(err.to_string().contains("resource"), "{err}");
}

#[tokio::test]
async fn a_server_without_s256_is_refused() {
    let absent = discovery_error(honest_prm, |b| {
        let mut m = honest_as(b);
        m.as_object_mut()
            .unwrap()
            .remove("code_challenge_methods_supported");
        m
    })
    .await;
    let empty = discovery_error(honest_prm, |b| {
        let mut m = honest_as(b);
        m["code_challenge_methods_supported"] = json!([]);
        m
    })
    .await;
    let plain = discovery_error(honest_prm, |b| {
        let mut m = honest_as(b);
        m["code_challenge_methods_supported"] = json!(["plain"]);
        m
    })
    .await;
    for err in [absent, empty, plain] {
        assert!(matches!(err, ClientError::NoS256(_)), "{err}");
    }
}

#[tokio::test]
async fn plain_http_endpoints_off_loopback_are_refused() {
    let err = discovery_error(honest_prm, |base| {
        let mut m = honest_as(base);
        m["token_endpoint"] = json!("http://tokens.example.com/token");
        m
    })
    .await;
    assert!(
        matches!(err, ClientError::InsecureUrl { what: "token endpoint", ref url } if url == "http://tokens.example.com/token"),
        "{err}"
    );
}
