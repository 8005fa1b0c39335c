//! Hostile answers to the agent: metadata about a wider resource than the
//! server it talks to (first review #8), an endless metadata body (second
//! review A7), plain http off loopback (B4), and absurd token lifetimes
//! (B10). Each is refused, or survived, before harm is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_oauth_client::{ClientError, FetchError, MemoryStore, OAuthClient};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client::token_requests;
use super::hostile::{
    Hostile, auto_approving_as, auto_approving_as_with, follow_redirect, json_doc, person_signs_in,
    prm, refused_over_rmcp, unauthorized,
};
use crate::verifier::as_server;

fn agent(login: mcp_oauth_client::Login) -> OAuthClient {
    OAuthClient::builder("bounded-agent")
        .login(login)
        .token_store(MemoryStore::new())
        .build()
        .unwrap()
}

#[tokio::test]
async fn metadata_that_claims_the_whole_origin_is_refused_for_a_server_on_a_path() {
    // A tenant at /u/evil/mcp on a shared origin declares the origin as its
    // resource: a token for it would be good at every other tenant's
    // server too. The AS is our real one, and a person would log in.
    let s = as_server().await;
    let issuer = s.base.clone();
    let evil = Hostile::start(move |base| {
        let doc = json!({"resource": base, "authorization_servers": [issuer]});
        axum::Router::new()
            .route(
                "/u/evil/mcp",
                unauthorized(format!("{base}/u/evil/prm.json")),
            )
            .route("/u/evil/prm.json", json_doc(doc.clone()))
            .route(
                "/.well-known/oauth-protected-resource/u/evil/mcp",
                json_doc(doc),
            )
    })
    .await;
    let url = evil.url("/u/evil/mcp");
    let client = agent(person_signs_in());
    // Found at the path form of the URL...
    let err = client.access_token(&url).await.unwrap_err();
    assert!(matches!(err, ClientError::Discovery(_)), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("is for the resource {}, not {url}", evil.base)),
        "{err}"
    );
    // ...or announced in the 401 challenge.
    let text = refused_over_rmcp(&client, &url).await;
    assert!(text.contains("is for the resource"), "{text}");
    assert!(evil.requests().contains(&"GET /u/evil/prm.json".to_owned()));
    assert_eq!(s.requests_to("/authorize").await, 0, "no login started");
    assert_eq!(token_requests(&s).await, 0, "no token requested");
    s.stop().await;
}

/// A server that answers every request with headers and then an endless
/// JSON body (whitespace), up to `cap` bytes; returns what it sent and
/// whether the client hung up on it.
async fn endless_body_server(cap: usize) -> (String, tokio::task::JoinHandle<(usize, bool)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 4096];
        let _ = stream.read(&mut head).await;
        let _ = stream
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n",
            )
            .await;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < cap {
            if stream.write_all(&chunk).await.is_err() {
                return (sent, true);
            }
            sent += chunk.len();
        }
        (sent, false)
    });
    (base, task)
}

#[tokio::test]
async fn an_endless_metadata_body_is_cut_off_at_the_cap() {
    let cap = 512 * 1024 * 1024;
    let (base, server) = endless_body_server(cap).await;
    let err = agent(follow_redirect())
        .access_token(&format!("{base}/mcp"))
        .await
        .unwrap_err();
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
    assert!(
        matches!(&err, ClientError::Fetch { url, source: FetchError::TooLarge { limit } }
            if *url == metadata_url && *limit == 256 * 1024),
        "{err}"
    );
    assert!(
        err.to_string().contains("larger than 262144 bytes"),
        "{err}"
    );
    let (sent, hung_up) = server.await.unwrap();
    assert!(hung_up, "the agent closed the connection");
    // Socket buffers hold some megabytes; the rest was never read.
    assert!(
        sent < cap / 8,
        "only {sent} bytes were sent before it hung up"
    );
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_before_anything_is_sent() {
    // The MCP URL itself: no request at all, so no bearer token.
    let client = agent(follow_redirect());
    for url in [
        "http://mcp.example.invalid/mcp",
        "http://MCP.example.invalid:8000/mcp",
    ] {
        let Err(err) = client.transport(url) else {
            panic!("{url} was accepted")
        };
        assert!(
            matches!(
                &err,
                ClientError::InsecureUrl {
                    what: "MCP server URL",
                    ..
                }
            ),
            "{err}"
        );
        let err = client.access_token(url).await.unwrap_err();
        assert!(matches!(&err, ClientError::InsecureUrl { .. }), "{err}");
    }
    // A loopback MCP server that sends the agent to plain http elsewhere:
    // its metadata names an http issuer, its challenge an http document.
    let server = Hostile::start(|base| {
        let doc = json!({"resource": format!("{base}/mcp"),
                         "authorization_servers": ["http://auth.example.invalid"]});
        axum::Router::new()
            .route(
                "/mcp",
                unauthorized("http://metadata.example.invalid/prm".into()),
            )
            .route("/.well-known/oauth-protected-resource/mcp", json_doc(doc))
    })
    .await;
    let url = server.url("/mcp");
    let err = client.access_token(&url).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InsecureUrl { what: "authorization server issuer", url }
            if url == "http://auth.example.invalid"),
        "{err}"
    );
    let text = refused_over_rmcp(&client, &url).await;
    assert!(
        text.contains("InsecureUrl") && text.contains("http://metadata.example.invalid/prm"),
        "{text}"
    );
    // It saw its own metadata fetched and the first MCP request, which
    // carried no token.
    assert!(!server.saw("authorization: Bearer"));
}

#[tokio::test]
async fn hostile_token_lifetimes_neither_overflow_nor_panic() {
    for (n, expires_in) in [
        json!(u64::MAX),
        json!("18446744073709551615"),
        json!(u64::MAX / 2),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(-0.5),
        json!(1e300),
        json!("soon"),
        json!("99999999999999999999999"),
        json!(true),
        json!({"seconds": 60}),
    ]
    .into_iter()
    .enumerate()
    {
        let token: Value = json!({"access_token": format!("at-{n}"), "token_type": "Bearer",
                                  "expires_in": expires_in, "refresh_token": "rt"});
        let server = Hostile::start(|base| {
            auto_approving_as(base, token).route(
                "/.well-known/oauth-protected-resource/mcp",
                json_doc(prm(&format!("{base}/mcp"), base)),
            )
        })
        .await;
        let client = agent(follow_redirect());
        let url = server.url("/mcp");
        let first = client.access_token(&url).await;
        let first = first.unwrap_or_else(|e| panic!("expires_in {expires_in}: {e}"));
        assert_eq!(first.secret(), format!("at-{n}"));
        // The stored token is used again: neither overflowed into "expired
        // long ago" nor into a refresh storm.
        let again = client.access_token(&url).await.unwrap();
        assert_eq!(again.secret(), first.secret(), "expires_in {expires_in}");
        let tokens = server
            .requests()
            .iter()
            .filter(|r| r.starts_with("POST /token"))
            .count();
        assert_eq!(tokens, 1, "expires_in {expires_in}");
    }
}

/// Review 3 (first review #8 again): a server on a path of a shared origin
/// that publishes no metadata of its own makes the agent fall back to the
/// origin's root document. That document is the origin owner's statement
/// that the origin is one protected resource, so the token is asked for
/// the resource exactly as published (RFC 9728 §3.3; the MCP conformance
/// suite checks it byte for byte). What the neighbour must never get is
/// the token another server on the origin already holds: tokens are kept
/// per MCP URL, and each server gets its own login.
#[tokio::test]
async fn a_neighbour_under_the_origins_root_document_never_gets_another_servers_token() {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let server = Hostile::start(move |base| {
        let counter = counter.clone();
        auto_approving_as_with(base, move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            json!({"access_token": format!("at-{n}"), "token_type": "Bearer", "expires_in": 600})
        })
        .route(
            "/.well-known/oauth-protected-resource",
            json_doc(prm(base, base)),
        )
    })
    .await;
    let store = MemoryStore::new();
    let agent_on = |store| {
        OAuthClient::builder("bounded-agent")
            .login(follow_redirect())
            .token_store(store)
            .build()
            .unwrap()
    };
    let client = agent_on(store.clone());
    let own = server.url("/mcp");
    assert_eq!(client.access_token(&own).await.unwrap().secret(), "at-1");
    let origin: String = url::form_urlencoded::byte_serialize(server.base.as_bytes()).collect();
    let requests = server.requests();
    let authorize = requests
        .iter()
        .find(|r| r.starts_with("GET /authorize"))
        .unwrap();
    assert!(
        authorize.contains(&format!("resource={origin}&"))
            || authorize.ends_with(&format!("resource={origin}")),
        "{authorize}"
    );
    assert!(
        server.saw(&format!("resource={}\n", server.base)),
        "{requests:?}"
    );
    // A neighbour on the same origin logs in for a token of its own.
    let neighbour = server.url("/u/evil/mcp");
    assert_eq!(
        client.access_token(&neighbour).await.unwrap().secret(),
        "at-2"
    );
    // Another process sharing the store still finds /mcp's own token, not
    // the neighbour's, and needs no new login.
    let later = agent_on(store);
    assert_eq!(later.access_token(&own).await.unwrap().secret(), "at-1");
    assert_eq!(
        later.access_token(&neighbour).await.unwrap().secret(),
        "at-2"
    );
    assert_eq!(issued.load(Ordering::SeqCst), 2, "{:?}", server.requests());
}

/// A hostile authorization server's device authorization response: a user
/// code carrying terminal escapes, a page off https, absurd lifetimes. The
/// agent shows nothing of it and ends the login with an error, no panic.
#[tokio::test]
async fn a_hostile_device_authorization_response_is_refused() {
    for (what, answer) in [
        (
            "user_code",
            json!({"device_code": "d", "user_code": "\u{1b}]0;pwned\u{7}\u{1b}[2J",
                   "verification_uri": "PAGE", "expires_in": u64::MAX, "interval": 0}),
        ),
        (
            "verification page",
            json!({"device_code": "d", "user_code": "BDFH-KMNP",
                   "verification_uri": "http://phish.example/device", "expires_in": 600}),
        ),
    ] {
        let server = Hostile::start(move |base| {
            let mut metadata = super::hostile::as_metadata(base);
            metadata["device_authorization_endpoint"] = json!(format!("{base}/device"));
            let mut answer = answer.clone();
            if answer["verification_uri"] == "PAGE" {
                answer["verification_uri"] = json!(format!("{base}/page"));
            }
            axum::Router::new()
                .route(
                    "/.well-known/oauth-authorization-server",
                    json_doc(metadata),
                )
                .route(
                    "/register",
                    axum::routing::post(|| async {
                        (
                            axum::http::StatusCode::CREATED,
                            axum::Json(json!({"client_id": "device-agent"})),
                        )
                    }),
                )
                .route(
                    "/.well-known/oauth-protected-resource/mcp",
                    json_doc(prm(&format!("{base}/mcp"), base)),
                )
                .route(
                    "/mcp",
                    unauthorized(format!("{base}/.well-known/oauth-protected-resource/mcp")),
                )
                .route(
                    "/device",
                    axum::routing::post(move || {
                        let answer = answer.clone();
                        async move { axum::Json(answer) }
                    }),
                )
        })
        .await;
        let shown = Arc::new(AtomicUsize::new(0));
        let counter = shown.clone();
        let client = OAuthClient::builder("device-agent")
            .login(mcp_oauth_client::Login::Device(Arc::new(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            })))
            .token_store(MemoryStore::new())
            .build()
            .unwrap();
        let err = client.access_token(&server.url("/mcp")).await.unwrap_err();
        assert!(
            matches!(
                &err,
                ClientError::Authorization(_) | ClientError::InsecureUrl { .. }
            ),
            "{what}: {err}"
        );
        assert_eq!(shown.load(Ordering::SeqCst), 0, "{what}: nothing shown");
        assert!(
            !server.requests().iter().any(|l| l.contains("/token")),
            "{what}: no polling"
        );
    }
}
