//! The authorization server over real sockets: discovery, registration,
//! authorization with login, token, refresh, introspection, revocation, and
//! the refusals each endpoint owes.

use integration_tests::{ManualClock, PASSWORD, TestServer, USER, http};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_server::OperatorClient;
use serde_json::{Value, json};

use crate::flow::{
    REDIRECT, RESOURCE, SERVICE, authorize, cookie_of, error_of, field, get, introspect,
    introspector, login, redeem, redirect_query, refresh, register, register_public,
    service_client, token,
};

#[tokio::test]
async fn metadata_and_jwks() {
    let s = TestServer::start(|c| c).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let m: Value = http()
            .get(s.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            m["issuer"], s.base,
            "issuer emitted exactly, no slash added"
        );
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert_eq!(m["token_endpoint"], s.url("/token"));
    }
    let jwks: Value = http()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
    assert_eq!(
        http().get(s.url("/healthz")).send().await.unwrap().status(),
        200
    );
    s.stop().await;
}

#[tokio::test]
async fn code_flow_refresh_rotation_and_reuse_detection() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let verifier = PkceVerifier::generate().unwrap();
    let q = authorize(&s, &client_id, &PkceChallenge::s256(&verifier), &[]).await;
    assert_eq!(get(&q, "state"), Some("st-1"));
    assert_eq!(get(&q, "iss"), Some(s.base.as_str()));
    let code = get(&q, "code").unwrap();

    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
            ("client_id", &client_id),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    let access = t["access_token"].as_str().unwrap().to_owned();
    let refresh1 = t["refresh_token"].as_str().unwrap().to_owned();

    let rs = introspector(&s).await;
    let info = introspect(&s, &rs, &access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], USER);
    assert_eq!(info["aud"], RESOURCE);
    assert_eq!(info["client_id"], client_id.as_str());
    assert_eq!(info["scope"], "mcp");

    // Rotation: the refresh token is replaced on every use.
    let r = refresh(&s, &client_id, &refresh1).await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    let refresh2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    // Refresh tokens are never described to a resource server.
    assert_eq!(introspect(&s, &rs, &refresh2).await["active"], false);

    // Widening the scope on refresh is refused.
    let r = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
            ("client_id", &client_id),
            ("scope", "mcp admin"),
        ],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_scope");

    // Within the grace window (10 s by default), a second use of the rotated
    // token is a retried refresh, not an attack: it succeeds, with the same
    // successor (the chain never forks).
    let r = refresh(&s, &client_id, &refresh1).await;
    assert_eq!(
        r.status(),
        200,
        "a retried refresh within the grace window succeeds"
    );
    let t3: Value = r.json().await.unwrap();
    assert_eq!(t3["refresh_token"], refresh2.as_str(), "the same successor");
    s.stop().await;
}

#[tokio::test]
async fn client_authentication_and_introspection_access() {
    let s = TestServer::start(|c| c.client(service_client())).await;
    let (id, secret) = (SERVICE.0.to_owned(), SERVICE.1.to_owned());
    // client_credentials with the right secret works, wrong secret is 401.
    let ok = http()
        .post(s.url("/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let access = ok.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = http()
        .post(s.url("/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert!(bad.headers().contains_key("www-authenticate"));
    assert_eq!(error_of(bad, 401).await, "invalid_client");
    // A confidential client may not skip its secret.
    let r = token(
        &s,
        &[("grant_type", "client_credentials"), ("client_id", &id)],
    )
    .await;
    assert_eq!(error_of(r, 401).await, "invalid_client");
    // Introspection without authentication is refused.
    let r = http()
        .post(s.url("/introspect"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 401).await, "invalid_client");
    // Revocation makes the token inactive.
    let who = introspector(&s).await;
    assert_eq!(introspect(&s, &who, &access).await["active"], true);
    let r = http()
        .post(s.url("/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&s, &who, &access).await["active"], false);
    assert_eq!(
        introspect(&s, &who, "garbage").await,
        json!({"active": false})
    );
    s.stop().await;
}

#[tokio::test]
async fn sqlite_restart_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("as.db");
    let spec = format!("sqlite:{}", db.display());

    let s =
        TestServer::start_with(mcp_oauth_server::storage::open(&spec).await.unwrap(), |c| c).await;
    let port = s.port();
    let client_id = register_public(&s).await;
    let rs = introspector(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let t: Value = redeem(&s, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let (code2, verifier2) = login(&s, &client_id).await;
    let t2: Value = redeem(&s, &client_id, &code2, &verifier2)
        .await
        .json()
        .await
        .unwrap();
    let revoked = t2["access_token"].as_str().unwrap();
    let r = http()
        .post(s.url("/revoke"))
        .form(&[("token", revoked), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let jwks_before: Value = http()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    s.stop().await;

    let s = TestServer::start_on(
        port,
        mcp_oauth_server::storage::open(&spec).await.unwrap(),
        |c| c,
    )
    .await;
    let jwks_after: Value = http()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_before, jwks_after, "signing key kept");
    // The confidential client still authenticates; the old access token
    // still verifies; the revoked one stays revoked.
    assert_eq!(
        introspect(&s, &rs, t["access_token"].as_str().unwrap()).await["active"],
        true
    );
    assert_eq!(introspect(&s, &rs, revoked).await["active"], false);
    // The public client and its refresh token survive.
    let r = refresh(&s, &client_id, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    // A superuser still logs in (users persisted).
    let _ = login(&s, &client_id).await;
    s.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn cors_only_where_browsers_need_it_and_metrics_count() {
    let s = TestServer::start(|mut c| {
        c.cors_origins = Some(vec!["https://app.example".into()]);
        c
    })
    .await;
    let origin = "https://app.example";
    // Preflight and response headers on the token endpoint.
    let r = http()
        .request(reqwest::Method::OPTIONS, s.url("/token"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    assert!(
        r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let r = http()
        .get(s.url("/.well-known/oauth-authorization-server"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    // Another origin gets nothing.
    let r = http()
        .get(s.url("/jwks"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Never on login or introspection.
    for path in ["/login", "/introspect"] {
        let r = http()
            .post(s.url(path))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{path}"
        );
    }

    // Metrics count registrations, issued tokens and requests.
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    assert_eq!(redeem(&s, &client_id, &code, &verifier).await.status(), 200);
    let text = s.metrics().await;
    assert!(text.contains("mcp_oauth_registrations_total 1"), "{text}");
    assert!(
        text.contains("mcp_oauth_tokens_issued_total{grant=\"authorization_code\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("mcp_oauth_http_requests_total{endpoint=\"/token\",status=\"200\"} 1"),
        "{text}"
    );
    s.stop().await;
}

async fn browser_authorize(s: &TestServer, client_id: &str, cookies: &str) -> reqwest::Response {
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    http()
        .get(s.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "b"),
        ])
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn session_skips_the_password_and_consent_is_asked_once_per_client() {
    let s = TestServer::start(|c| c).await;
    let first = register_public(&s).await;
    // Password login through the form starts a session.
    let r = browser_authorize(&s, &first, "").await;
    let csrf_cookie = cookie_of(&r, "mcp_oauth_csrf").unwrap();
    let html = r.text().await.unwrap();
    let r = http()
        .post(s.url("/login"))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("username", USER),
            ("password", PASSWORD),
            ("request", &field(&html, "request")),
            ("csrf", &field(&html, "csrf")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let session = cookie_of(&r, "mcp_oauth_session").expect("session cookie");
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );

    // Same client, same scope: straight back with a code, no password.
    let r = browser_authorize(&s, &first, &session).await;
    assert_eq!(r.status(), 302);
    assert!(get(&redirect_query(&r), "code").is_some());

    // Another client: the consent page, naming it.
    let second = register_public(&s).await;
    let r = browser_authorize(&s, &second, &session).await;
    assert_eq!(r.status(), 200);
    let csrf_cookie = cookie_of(&r, "mcp_oauth_csrf").unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Allow access?") && html.contains("test agent") && html.contains("127.0.0.1")
    );
    let decide = |decision: &'static str, cookies: String| {
        http()
            .post(s.url("/consent"))
            .header("cookie", cookies)
            .form(&[
                ("request", field(&html, "request")),
                ("csrf", field(&html, "csrf")),
                ("decision", decision.to_owned()),
            ])
            .send()
    };
    // Without the session, or without the CSRF cookie: refused.
    assert_eq!(
        decide("allow", csrf_cookie.clone()).await.unwrap().status(),
        400
    );
    assert_eq!(
        decide("allow", session.clone()).await.unwrap().status(),
        400
    );
    let both = format!("{session}; {csrf_cookie}");
    // Deny: access_denied back to the client, with state and iss.
    let r = decide("deny", both.clone()).await.unwrap();
    assert_eq!(r.status(), 302);
    let q = redirect_query(&r);
    assert_eq!(get(&q, "error"), Some("access_denied"));
    assert_eq!(get(&q, "state"), Some("b"));
    assert_eq!(get(&q, "iss"), Some(s.base.as_str()));
    // Allow: a code, and the consent is remembered.
    let r = decide("allow", both).await.unwrap();
    assert!(get(&redirect_query(&r), "code").is_some());
    let r = browser_authorize(&s, &second, &session).await;
    assert_eq!(r.status(), 302);
    assert!(get(&redirect_query(&r), "code").is_some());
    s.stop().await;
}

#[tokio::test]
async fn configured_resource_server_credentials_may_introspect() {
    let s = TestServer::start(|c| {
        c.client(OperatorClient::resource_server(
            "rs",
            "rs-secret-0123456789",
            [ResourceUri::parse("http://127.0.0.1:8001/mcp").unwrap()],
        ))
    })
    .await;
    let who = ("rs".to_owned(), "rs-secret-0123456789".to_owned());
    assert_eq!(
        introspect(&s, &who, "nonsense").await,
        json!({"active": false})
    );
    let r = http()
        .post(s.url("/introspect"))
        .basic_auth("rs", Some("wrong"))
        .form(&[("token", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 401).await, "invalid_client");
    s.stop().await;
}

#[tokio::test]
async fn embedders_mount_the_server_in_their_own_app() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use mcp_oauth_core::issuer::Issuer;
    use mcp_oauth_server::{AuthServer, ServerConfig, configure, storage::MemoryStorage};
    use std::sync::Arc;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // The issuer has a path: the server's routes live under it.
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let issuer = format!("{base}/auth");
    let state = AuthServer::new(
        ServerConfig::new(Issuer::parse(issuer.clone()).unwrap()),
        Arc::new(MemoryStorage::new()),
    )
    .await
    .unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .route(
                "/hello",
                web::get().to(|| async { HttpResponse::Ok().body("mine") }),
            )
            .configure(configure(state.clone()))
    })
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    assert_eq!(
        http()
            .get(format!("{base}/hello"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "mine"
    );
    // RFC 8414 path insertion and the OIDC forms for an issuer with a path.
    for path in [
        "/.well-known/oauth-authorization-server/auth",
        "/.well-known/openid-configuration/auth",
        "/auth/.well-known/openid-configuration",
    ] {
        let m: Value = http()
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["issuer"], issuer.as_str(), "{path}");
        assert_eq!(m["token_endpoint"], format!("{issuer}/token"));
    }
    assert_eq!(
        http()
            .get(format!("{issuer}/jwks"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    handle.stop(true).await;
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    crate::logs::capture();
    let s = TestServer::start(|c| c.client(service_client())).await;
    let client_id = register_public(&s).await;
    let confidential = introspector(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let t: Value = redeem(&s, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = t["access_token"].as_str().unwrap().to_owned();
    let refresh_token = t["refresh_token"].as_str().unwrap().to_owned();
    let rotated: Value = refresh(&s, &client_id, &refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let successor = rotated["refresh_token"].as_str().unwrap().to_owned();
    // A retried refresh (the sealed successor handed out again).
    let _ = refresh(&s, &client_id, &refresh_token).await;
    let _ = introspect(&s, &confidential, &access).await;
    // A trusted service client's secret, and the metrics token.
    let machine: Value = http()
        .post(s.url("/token"))
        .basic_auth(SERVICE.0, Some(SERVICE.1))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let machine_token = machine["access_token"].as_str().unwrap().to_owned();
    let _ = s.metrics().await;
    // The headless login of a first-party agent posts the password as JSON.
    let (url, _) = crate::flow::authorize_url(
        &s,
        integration_tests::AGENT_ID,
        "http://127.0.0.1/callback",
        None,
    );
    let pending: Value = http()
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headless_wrong = "headless-wrong-9c1e";
    let r = http()
        .post(s.url("/login"))
        .json(&json!({"username": USER, "password": headless_wrong, "request": pending["request"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A failed login too: the wrong password must not be logged either.
    let wrong = "wrong-password-7f3a";
    let authorize = url::Url::parse_with_params(
        &s.url("/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", PkceChallenge::s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let r = integration_tests::form_login(authorize.as_str(), USER, wrong).await;
    assert_eq!(r.status(), 401);
    // A device authorization: its device code and user code, polled once.
    let device_client = register(
        &s,
        json!({"client_name": "device", "token_endpoint_auth_method": "none",
               "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}),
    )
    .await;
    let device_client = device_client["client_id"].as_str().unwrap();
    let started: Value = http()
        .post(s.url("/device_authorization"))
        .form(&[("client_id", device_client)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    let r = http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.as_str()),
            ("client_id", device_client),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.stop().await;
    let logs = crate::logs::text();
    assert!(
        logs.contains("device authorization started"),
        "logging works: {logs}"
    );
    assert!(
        logs.contains("authorization granted"),
        "logging works: {logs}"
    );
    for secret in [
        access.as_str(),
        refresh_token.as_str(),
        code.as_str(),
        verifier.secret(),
        confidential.1.as_str(),
        PASSWORD,
        wrong,
        successor.as_str(),
        machine_token.as_str(),
        SERVICE.1,
        integration_tests::METRICS_TOKEN,
        headless_wrong,
        device_code.as_str(),
        user_code.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

/// `dev_auto_approve` (test-only, for automated conformance runs): a valid
/// request is approved at once as the configured user, with `code`, `state`
/// and `iss`; every check still applies to requests that are not valid.
#[tokio::test]
async fn dev_auto_approve_skips_the_page_but_not_the_checks() {
    let s = TestServer::start(|mut c| {
        c.dev_auto_approve = Some(USER.to_owned());
        c
    })
    .await;
    let client_id = register_public(&s).await;
    let verifier = PkceVerifier::generate().unwrap();
    let challenge = PkceChallenge::s256(&verifier);
    let ask = |redirect: &'static str, method: &'static str| {
        http().get(s.url("/authorize")).query(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", method),
            ("state", "st-auto"),
            ("resource", RESOURCE),
        ])
    };
    let r = ask(REDIRECT, "S256").send().await.unwrap();
    assert_eq!(r.status(), 302);
    let q = redirect_query(&r);
    assert_eq!(get(&q, "state"), Some("st-auto"));
    assert_eq!(get(&q, "iss"), Some(s.base.as_str()));
    let code = get(&q, "code").unwrap().to_owned();
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    let access = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let who = introspector(&s).await;
    assert_eq!(introspect(&s, &who, &access).await["sub"], USER);
    // Still refused: a redirect URI that was not registered (no redirect at
    // all) and PKCE `plain` (the error is shown, with a link back to the
    // client: it registered itself, so it is not redirected to unasked).
    let r = ask("http://127.0.0.1:4711/elsewhere", "S256")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = ask(REDIRECT, "plain").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("error=invalid_request"));
    s.stop().await;
}

/// The server reads the time from its clock, never from the system behind
/// its back: moved past a code's lifetime (60 s by default), the clock
/// makes the code expired; a code issued at the moved time is good within
/// its lifetime.
#[tokio::test]
async fn codes_expire_on_the_servers_clock() {
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), |c| c).await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    clock.advance(61);
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");

    let (code, verifier) = login(&s, &client_id).await;
    clock.advance(59);
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn authorize_also_takes_the_request_as_a_form_post() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let verifier = PkceVerifier::generate().unwrap();
    let challenge = PkceChallenge::s256(&verifier);
    let params = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "posted"),
        ("resource", RESOURCE),
    ];
    let r = http()
        .post(s.url("/authorize"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csrf_cookie = cookie_of(&r, "mcp_oauth_csrf").unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign in to continue"), "{html}");
    // The page's form finishes it as for a GET.
    let r = http()
        .post(s.url("/login"))
        .header("cookie", csrf_cookie)
        .form(&[
            ("username", USER),
            ("password", PASSWORD),
            ("request", &field(&html, "request")),
            ("csrf", &field(&html, "csrf")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let q = redirect_query(&r);
    assert_eq!(get(&q, "state"), Some("posted"));
    let r = redeem(&s, &client_id, get(&q, "code").unwrap(), &verifier).await;
    assert_eq!(r.status(), 200);
    // Only a form; a malformed one is refused on a page, never redirected.
    let r = http()
        .post(s.url("/authorize"))
        .json(&json!({"client_id": client_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let r = http()
        .post(s.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_id=%ZZ&&&")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.stop().await;
}
