//! A protected rmcp server (the examples' profile server behind the
//! verifier) and our authorization server, over real sockets.

use integration_tests::{PASSWORD, TestServer, USER, http};
use mcp_oauth_core::challenge::BearerChallenge;
use mcp_oauth_core::error::ErrorCode;
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_examples::profile::{WRITE_SCOPE, app};
use mcp_oauth_verifier::Verifier;
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:4713/cb";

/// A running protected MCP server.
pub(crate) struct Rs {
    pub(crate) base: String,
    pub(crate) resource: String,
    task: tokio::task::JoinHandle<()>,
}

impl Rs {
    fn mcp(&self) -> String {
        self.resource.clone()
    }
}

impl Drop for Rs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn start_rs(configure: impl FnOnce(String) -> Verifier) -> Rs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let resource = format!("{base}/mcp");
    let verifier = configure(resource.clone());
    let app = app(
        &verifier,
        Default::default(),
        vec![format!("127.0.0.1:{port}")],
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Rs {
        base,
        resource,
        task,
    }
}

pub(crate) async fn as_server() -> TestServer {
    TestServer::start(|c| c.scopes(["mcp", WRITE_SCOPE])).await
}

pub(crate) fn jwt_verifier(issuer: &str) -> impl FnOnce(String) -> Verifier {
    let issuer = issuer.to_owned();
    move |resource| {
        Verifier::builder(resource)
            .authorization_server(issuer)
            .required_scopes(["mcp"])
            .scopes_supported(["mcp", WRITE_SCOPE])
            .tool_scope("set_user_profile", WRITE_SCOPE)
            .build()
            .unwrap()
    }
}

/// An access token for `resource` with `scope`, through register,
/// authorize, a login on the page and token.
pub(crate) async fn token_for(s: &TestServer, resource: &str, scope: &str) -> String {
    let reg: Value = http()
        .post(s.url("/register"))
        .json(&json!({"client_name": "agent", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap().to_owned();
    let verifier = PkceVerifier::generate().unwrap();
    let authorize = url::Url::parse_with_params(
        &s.url("/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", PkceChallenge::s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("resource", resource),
            ("scope", scope),
        ],
    )
    .unwrap();
    let r = integration_tests::form_login(authorize.as_str(), USER, PASSWORD).await;
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let t: Value = http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().unwrap().to_owned()
}

pub(crate) fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

pub(crate) async fn post(
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut b = http()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(body);
    if let Some(t) = token {
        b = b.bearer_auth(t);
    }
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.send().await.unwrap()
}

/// The JSON-RPC result inside a JSON or SSE response.
pub(crate) async fn result_of(r: reqwest::Response) -> Value {
    let text = r.text().await.unwrap();
    let json_text = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("data:")
                .map(str::trim)
                .filter(|d| d.starts_with('{'))
        })
        .unwrap_or(text.trim())
        .to_owned();
    serde_json::from_str(&json_text).unwrap_or(Value::Null)
}

/// initialize + initialized; returns the session id.
async fn open_session(rs: &Rs, token: &str) -> Option<String> {
    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
                                            "clientInfo": {"name": "test", "version": "1"}}),
    );
    let r = post(&rs.mcp(), Some(token), None, &init).await;
    assert_eq!(r.status(), 200);
    let session = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let _ = result_of(r).await;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = post(&rs.mcp(), Some(token), session.as_deref(), &note).await;
    assert!(r.status().is_success());
    session
}

fn challenge_of(r: &reqwest::Response) -> BearerChallenge {
    BearerChallenge::parse(r.headers()["www-authenticate"].to_str().unwrap())
        .expect("a Bearer challenge")
}

#[tokio::test]
async fn anonymous_calls_get_a_challenge_and_the_metadata() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let r = post(&rs.mcp(), None, None, &rpc(1, "tools/list", json!({}))).await;
    assert_eq!(r.status(), 401);
    let c = challenge_of(&r);
    assert_eq!(
        c.error, None,
        "no error code without credentials (RFC 6750 §3.1)"
    );
    assert_eq!(c.scope.unwrap().to_string(), "mcp");
    let rm = c.resource_metadata.unwrap();
    assert_eq!(
        rm,
        format!("{}/.well-known/oauth-protected-resource/mcp", rs.base)
    );
    for url in [
        rm,
        format!("{}/.well-known/oauth-protected-resource", rs.base),
    ] {
        let prm: Value = http().get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(prm["resource"], rs.resource.as_str());
        assert_eq!(prm["authorization_servers"], json!([s.base]));
        assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
        assert_eq!(prm["scopes_supported"], json!(["mcp", WRITE_SCOPE]));
    }
    s.stop().await;
}

#[tokio::test]
async fn jwt_mode_accepts_our_tokens_and_tools_see_the_caller() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let token = token_for(&s, &rs.resource, "mcp").await;
    let session = open_session(&rs, &token).await;
    let call = rpc(
        2,
        "tools/call",
        json!({"name": "get_user_profile", "arguments": {}}),
    );
    let r = post(&rs.mcp(), Some(&token), session.as_deref(), &call).await;
    assert_eq!(r.status(), 200);
    let result = result_of(r).await;
    let text = result["result"]["content"][0]["text"].as_str().unwrap();
    let me: Value = serde_json::from_str(text).unwrap();
    assert_eq!(me["subject"], USER);
    assert_eq!(me["scopes"], "mcp");

    // set_user_profile needs profile:write: 403 with the scopes to ask for.
    let call = rpc(
        3,
        "tools/call",
        json!({"name": "set_user_profile", "arguments": {"profile": "hi"}}),
    );
    let r = post(&rs.mcp(), Some(&token), session.as_deref(), &call).await;
    assert_eq!(r.status(), 403);
    let c = challenge_of(&r);
    assert_eq!(c.error, Some(ErrorCode::InsufficientScope));
    assert_eq!(c.scope.unwrap().to_sorted_string(), "mcp profile:write");
    assert!(c.resource_metadata.is_some());

    // After step-up, the same call succeeds.
    let wide = token_for(&s, &rs.resource, "mcp profile:write").await;
    let session = open_session(&rs, &wide).await;
    let r = post(&rs.mcp(), Some(&wide), session.as_deref(), &call).await;
    assert_eq!(r.status(), 200);
    assert!(
        result_of(r)
            .await
            .to_string()
            .contains("saved profile of alice")
    );
    s.stop().await;
}

#[tokio::test]
async fn introspection_mode_with_one_call_for_a_hundred_requests() {
    // The authorization server must know the resource server's resource,
    // and the resource server the issuer: bind the AS first.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let rs = start_rs(move |resource| {
        Verifier::builder(resource)
            .authorization_server(issuer)
            .required_scopes(["mcp"])
            .introspection("rs", "rs-secret-0123456789")
            .build()
            .unwrap()
    })
    .await;
    let resource = mcp_oauth_core::resource::ResourceUri::parse(&rs.resource).unwrap();
    let s = TestServer::start_listening(
        listener,
        std::sync::Arc::new(mcp_oauth_server::storage::MemoryStorage::new()),
        |c| {
            c.scopes(["mcp", WRITE_SCOPE]).client(
                mcp_oauth_server::OperatorClient::resource_server(
                    "rs",
                    "rs-secret-0123456789",
                    [resource],
                ),
            )
        },
    )
    .await;
    let token = token_for(&s, &rs.resource, "mcp").await;
    let list = rpc(1, "tools/list", json!({}));
    let requests = (0..100).map(|_| {
        let (url, token, list) = (rs.mcp(), token.clone(), list.clone());
        async move { post(&url, Some(&token), None, &list).await }
    });
    for r in futures_join(requests).await {
        // Not in a session, so rmcp may answer 4xx for tools/list itself,
        // but never 401/403/503: the verifier let it through.
        assert!(
            ![401, 403, 503].contains(&r.status().as_u16()),
            "{}",
            r.status()
        );
    }
    let metrics = s.metrics().await;
    assert!(
        metrics
            .contains("mcp_oauth_http_requests_total{endpoint=\"/introspect\",status=\"200\"} 1\n"),
        "{metrics}"
    );
    // A revoked token is refused once its cache entry expires; a token for
    // another resource is refused at once (aud checked on introspection).
    let other = token_for(&s, "http://127.0.0.1:1/mcp", "mcp").await;
    let r = post(&rs.mcp(), Some(&other), None, &list).await;
    assert_eq!(r.status(), 401);
    s.stop().await;
}

async fn futures_join<F: std::future::Future<Output = reqwest::Response> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<reqwest::Response> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_unreachable_authorization_server_fails_closed() {
    // Nothing listens on port 1. A well-formed token from that issuer
    // needs its keys, which cannot be had: 503, never a pass. (Its
    // signature is never reached, so any bytes do.)
    use base64ct::{Base64UrlUnpadded, Encoding};
    let rs = start_rs(jwt_verifier("http://127.0.0.1:1")).await;
    let b64 = |v: Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let token = format!(
        "{}.{}.AAAA",
        b64(json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1"})),
        b64(
            json!({"iss": "http://127.0.0.1:1", "sub": "alice", "aud": rs.resource,
                   "scope": "mcp", "exp": 4_000_000_000u64})
        )
    );
    let list = rpc(1, "tools/list", json!({}));
    let r = post(&rs.mcp(), Some(&token), None, &list).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("www-authenticate"));
    // A malformed token is refused as such, without asking anyone.
    let r = post(&rs.mcp(), Some("a.b.c"), None, &list).await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_actix_glue_protects_the_same_server() {
    use actix_web::{App, HttpServer};
    use mcp_oauth_examples::profile::{actix_mcp_service, configure_actix};

    let s = as_server().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let resource = format!("{base}/mcp");
    let verifier = jwt_verifier(&s.base)(resource.clone());
    let mcp = actix_mcp_service(Default::default(), vec![format!("127.0.0.1:{port}")]);
    let server = HttpServer::new(move || App::new().configure(configure_actix(&verifier, &mcp)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    let rs = Rs {
        base,
        resource: resource.clone(),
        task: tokio::spawn(async {}),
    };

    let r = post(&rs.mcp(), None, None, &rpc(1, "tools/list", json!({}))).await;
    assert_eq!(r.status(), 401);
    let rm = challenge_of(&r).resource_metadata.unwrap();
    let prm: Value = http().get(&rm).send().await.unwrap().json().await.unwrap();
    assert_eq!(prm["resource"], resource.as_str());

    // The tool sees the caller, as under axum.
    let token = token_for(&s, &resource, "mcp").await;
    let session = open_session(&rs, &token).await;
    let call = rpc(
        2,
        "tools/call",
        json!({"name": "get_user_profile", "arguments": {}}),
    );
    let r = post(&rs.mcp(), Some(&token), session.as_deref(), &call).await;
    assert_eq!(r.status(), 200);
    let result = result_of(r).await;
    let me: Value =
        serde_json::from_str(result["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(me["subject"], USER);
    // And step-up is demanded the same way.
    let call = rpc(
        3,
        "tools/call",
        json!({"name": "set_user_profile", "arguments": {"profile": "x"}}),
    );
    let r = post(&rs.mcp(), Some(&token), session.as_deref(), &call).await;
    assert_eq!(r.status(), 403);
    assert_eq!(challenge_of(&r).error, Some(ErrorCode::InsufficientScope));
    handle.stop(true).await;
    s.stop().await;
}

#[tokio::test]
async fn a_broader_scope_satisfies_a_narrower_one_through_the_hierarchy() {
    use mcp_oauth_core::scope_hierarchy::ScopeHierarchy;
    let s = TestServer::start(|c| c.scopes(["mcp", "profile", WRITE_SCOPE])).await;
    let issuer = s.base.clone();
    let rs = start_rs(move |resource| {
        Verifier::builder(resource)
            .authorization_server(issuer)
            .required_scopes(["mcp"])
            .scopes_supported(["mcp", "profile", WRITE_SCOPE])
            .tool_scope("set_user_profile", WRITE_SCOPE)
            // `profile` covers `profile:write` by the separator rule.
            .scope_hierarchy(ScopeHierarchy::new().separator(':'))
            .build()
            .unwrap()
    })
    .await;
    let call = rpc(
        3,
        "tools/call",
        json!({"name": "set_user_profile", "arguments": {"profile": "x"}}),
    );
    // The broader scope passes the verifier's per-tool check.
    let broad = token_for(&s, &rs.resource, "mcp profile").await;
    let session = open_session(&rs, &broad).await;
    let r = post(&rs.mcp(), Some(&broad), session.as_deref(), &call).await;
    assert_eq!(r.status(), 200, "the layer lets it through");
    // A token with neither still gets 403 naming the narrowest scopes.
    let narrow = token_for(&s, &rs.resource, "mcp").await;
    let session = open_session(&rs, &narrow).await;
    let r = post(&rs.mcp(), Some(&narrow), session.as_deref(), &call).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        challenge_of(&r).scope.unwrap().to_sorted_string(),
        "mcp profile:write"
    );
    s.stop().await;
}

#[tokio::test]
async fn mcp_method_and_name_headers_refuse_early_and_must_agree_with_the_body() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let token = token_for(&s, &rs.resource, "mcp").await;
    let session = open_session(&rs, &token).await;
    let send = |method: &'static str, name: Option<&'static str>, body: Value| {
        let mut b = http()
            .post(rs.mcp())
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("mcp-method", method)
            .bearer_auth(&token)
            .json(&body);
        if let Some(n) = name {
            b = b.header("mcp-name", n);
        }
        if let Some(sid) = &session {
            b = b.header("mcp-session-id", sid);
        }
        b.send()
    };
    let call = |tool: &str| {
        rpc(
            7,
            "tools/call",
            json!({"name": tool, "arguments": {"profile": "x"}}),
        )
    };
    // The headers name a tool the token may not call: 403, as the body would.
    let r = send(
        "tools/call",
        Some("set_user_profile"),
        call("set_user_profile"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        challenge_of(&r).scope.unwrap().to_sorted_string(),
        "mcp profile:write"
    );
    // Headers that hide the real call: refused, whatever they say.
    let r = send(
        "tools/call",
        Some("get_user_profile"),
        call("set_user_profile"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = send("tools/list", None, call("set_user_profile"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Headers that agree with an allowed call: through.
    let r = send(
        "tools/call",
        Some("get_user_profile"),
        call("get_user_profile"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn tools_list_can_be_filtered_to_what_the_token_may_call() {
    let s = as_server().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let verifier = jwt_verifier(&s.base)(resource.clone());
    let app = mcp_oauth_examples::profile::app_with_layer(
        &verifier,
        verifier.layer().filter_tools_list(true),
        Default::default(),
        vec![format!("127.0.0.1:{port}")],
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let rs = Rs {
        base: format!("http://127.0.0.1:{port}"),
        resource,
        task,
    };
    let list = rpc(2, "tools/list", json!({}));
    let names = |v: Value| -> Vec<String> {
        v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // Without profile:write, set_user_profile is not offered.
    let narrow = token_for(&s, &rs.resource, "mcp").await;
    let session = open_session(&rs, &narrow).await;
    let r = post(&rs.mcp(), Some(&narrow), session.as_deref(), &list).await;
    assert_eq!(r.status(), 200);
    assert_eq!(names(result_of(r).await), ["get_user_profile"]);
    // With it, both are.
    let wide = token_for(&s, &rs.resource, "mcp profile:write").await;
    let session = open_session(&rs, &wide).await;
    let r = post(&rs.mcp(), Some(&wide), session.as_deref(), &list).await;
    let mut all = names(result_of(r).await);
    all.sort();
    assert_eq!(all, ["get_user_profile", "set_user_profile"]);
    s.stop().await;
}

#[tokio::test]
async fn tools_list_can_be_filtered_under_actix_too() {
    use actix_web::{App, HttpServer};
    use mcp_oauth_examples::profile::{actix_mcp_service, configure_actix_filtered};

    let s = as_server().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let resource = format!("{base}/mcp");
    let verifier = jwt_verifier(&s.base)(resource.clone());
    let mcp = actix_mcp_service(Default::default(), vec![format!("127.0.0.1:{port}")]);
    let server =
        HttpServer::new(move || App::new().configure(configure_actix_filtered(&verifier, &mcp)))
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
    let handle = server.handle();
    tokio::spawn(server);
    let rs = Rs {
        base,
        resource: resource.clone(),
        task: tokio::spawn(async {}),
    };
    let list = rpc(2, "tools/list", json!({}));
    let names = |v: Value| -> Vec<String> {
        v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let narrow = token_for(&s, &resource, "mcp").await;
    let session = open_session(&rs, &narrow).await;
    let r = post(&rs.mcp(), Some(&narrow), session.as_deref(), &list).await;
    assert_eq!(r.status(), 200);
    assert_eq!(names(result_of(r).await), ["get_user_profile"]);
    let wide = token_for(&s, &resource, "mcp profile:write").await;
    let session = open_session(&rs, &wide).await;
    let r = post(&rs.mcp(), Some(&wide), session.as_deref(), &list).await;
    let mut all = names(result_of(r).await);
    all.sort();
    assert_eq!(all, ["get_user_profile", "set_user_profile"]);
    // Other answers pass unchanged: a tool call still works.
    let call = rpc(
        3,
        "tools/call",
        json!({"name": "get_user_profile", "arguments": {}}),
    );
    let r = post(&rs.mcp(), Some(&narrow), None, &call).await;
    assert!(
        r.status() == 200 || r.status() == 400 || r.status() == 404,
        "{}",
        r.status()
    );
    handle.stop(true).await;
    s.stop().await;
}
