//! A web page on another site drives a user's browser to a protected MCP
//! server (cross-site requests, DNS rebinding): the MCP transport says the
//! server must check `Origin` and answer 403 when it is present and not
//! allowed. Both framework glues are attacked with a valid token, and the
//! tool must not run.

use std::time::Duration;

use actix_web::{App, HttpServer};
use integration_tests::http;
use mcp_oauth_examples::profile::{Profiles, actix_mcp_service, app, configure_actix};
use mcp_oauth_verifier::Verifier;
use serde_json::{Value, json};

use super::fake_as::FakeAs;
use super::verifier::now;

/// A page origin the tests allow besides the server's own.
const INSPECTOR: &str = "https://inspector.example";

fn verifier(fake: &FakeAs, resource: String) -> Verifier {
    Verifier::builder(resource)
        .authorization_server(fake.issuer.clone())
        .required_scopes(["mcp"])
        .allowed_origins([INSPECTOR])
        .build()
        .unwrap()
}

async fn post(
    resource: &str,
    origin: Option<&str>,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut b = http()
        .post(resource)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(body);
    if let Some(o) = origin {
        b = b.header("origin", o);
    }
    if let Some(t) = token {
        b = b.bearer_auth(t);
    }
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.send().await.unwrap()
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                      "clientInfo": {"name": "t", "version": "1"}}})
}

fn set_profile(text: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
           "params": {"name": "set_user_profile", "arguments": {"profile": text}}})
}

/// The attack and the controls, against the server at `resource` whose
/// tools write to `profiles` and whose tokens `fake` signs.
async fn origin_is_enforced(resource: &str, profiles: &Profiles, fake: &FakeAs) {
    let own = resource.trim_end_matches("/mcp").to_owned();
    let token = fake.sign(
        &json!({"iss": fake.issuer, "sub": "alice", "aud": resource,
                "scope": "mcp profile:write", "iat": now(), "exp": now() + 300}),
        |_| {},
    );
    let port = own.rsplit(':').next().unwrap();
    let foreign = [
        "https://evil.example".to_owned(),
        "null".to_owned(),
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}/"),
        format!("https://127.0.0.1:{port}"),
        format!("{INSPECTOR}:8443"),
    ];
    // Refused before the token is looked at: no challenge, a JSON-RPC
    // error without `id`, and no key fetched to check the token.
    for origin in &foreign {
        for t in [Some(token.as_str()), None] {
            let r = post(resource, Some(origin), t, None, &initialize()).await;
            assert_eq!(r.status(), 403, "{origin}");
            assert!(!r.headers().contains_key("www-authenticate"), "{origin}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["jsonrpc"], "2.0", "{body}");
            assert!(body["error"]["code"].is_i64(), "{body}");
            assert!(body.get("id").is_none(), "{body}");
        }
    }
    assert_eq!(
        fake.jwks_fetches(),
        0,
        "a refused origin cost a token check"
    );

    // No Origin (an agent), the server's own origin and an allowed one:
    // business as usual.
    let r = post(resource, None, Some(&token), None, &initialize()).await;
    assert_eq!(r.status(), 200);
    let session = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let _ = r.text().await;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = post(resource, None, Some(&token), session.as_deref(), &note).await;
    assert!(r.status().is_success(), "{}", r.status());
    for origin in [own.as_str(), &own.to_uppercase(), INSPECTOR] {
        let r = post(resource, Some(origin), Some(&token), None, &initialize()).await;
        assert_eq!(r.status(), 200, "{origin}");
    }

    // Inside a live session, a foreign page's tool call never reaches the
    // tool; the same call from the server's own origin does.
    for origin in &foreign {
        let r = post(
            resource,
            Some(origin),
            Some(&token),
            session.as_deref(),
            &set_profile("pwned"),
        )
        .await;
        assert_eq!(r.status(), 403, "{origin}");
    }
    assert!(
        profiles.lock().is_empty(),
        "the tool ran for a foreign origin"
    );
    let r = post(
        resource,
        Some(&own),
        Some(&token),
        session.as_deref(),
        &set_profile("mine"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let _ = r.text().await;
    let mut saved = None;
    for _ in 0..50 {
        saved = profiles.lock().get("alice").cloned();
        if saved.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(saved.as_deref(), Some("mine"));
}

#[tokio::test]
async fn the_tower_layer_refuses_foreign_origins() {
    let fake = FakeAs::start("k1").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let profiles = Profiles::default();
    let router = app(
        &verifier(&fake, resource.clone()),
        profiles.clone(),
        vec![format!("127.0.0.1:{port}")],
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    origin_is_enforced(&resource, &profiles, &fake).await;
    task.abort();
}

#[tokio::test]
async fn the_actix_middleware_refuses_foreign_origins() {
    let fake = FakeAs::start("k1").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let profiles = Profiles::default();
    let verifier = verifier(&fake, resource.clone());
    let mcp = actix_mcp_service(profiles.clone(), vec![format!("127.0.0.1:{port}")]);
    let server = HttpServer::new(move || App::new().configure(configure_actix(&verifier, &mcp)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    origin_is_enforced(&resource, &profiles, &fake).await;
    handle.stop(true).await;
}
