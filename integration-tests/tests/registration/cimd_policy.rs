//! Registration policy for metadata-document clients: the operator's
//! allow-list of hosts (checked before anything is fetched), and the
//! warning on the consent page when a document's redirect URIs are all
//! loopback.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};
use integration_tests::{PASSWORD, TestServer, USER, form_login, http};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::json;

use crate::cimd::relaxed;
use crate::flow::{error_of, token};

const LOOPBACK: &str = "http://127.0.0.1:4713/cb";
const WEB: &str = "https://app.example/cb";
const WARNING: &str = "this application runs on your own computer";

/// Serves `/loopback.json` (redirect URIs all loopback) and `/web.json`
/// (an https one beside a loopback one); returns its base URL, how many
/// requests it answered, and its handle.
fn documents() -> (String, Arc<AtomicUsize>, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let served = Arc::new(AtomicUsize::new(0));
    let (b, n) = (base.clone(), served.clone());
    let server = HttpServer::new(move || {
        let (base, served) = (b.clone(), n.clone());
        App::new().route(
            "/{name}",
            web::get().to(move |name: web::Path<String>| {
                let (base, served) = (base.clone(), served.clone());
                async move {
                    served.fetch_add(1, Ordering::SeqCst);
                    let uris = match name.as_str() {
                        "loopback.json" => json!([LOOPBACK]),
                        "web.json" => json!([WEB, LOOPBACK]),
                        _ => return HttpResponse::NotFound().finish(),
                    };
                    HttpResponse::Ok().json(json!({
                        "client_id": format!("{base}/{name}"), "client_name": "Doc Client",
                        "redirect_uris": uris, "token_endpoint_auth_method": "none"}))
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (base, served, handle)
}

/// The `/authorize` URL of `client_id` for `redirect_uri`.
fn authorize_url(s: &TestServer, client_id: &str, redirect_uri: &str) -> String {
    let verifier = PkceVerifier::generate().unwrap();
    url::Url::parse_with_params(
        &s.url("/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("code_challenge", PkceChallenge::s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st"),
        ],
    )
    .unwrap()
    .into()
}

async fn server(allowed_hosts: &[&str]) -> TestServer {
    let hosts: Vec<String> = allowed_hosts.iter().map(|h| (*h).to_owned()).collect();
    TestServer::start(move |mut c| {
        c.cimd = relaxed();
        c.cimd.allowed_hosts = hosts;
        c
    })
    .await
}

#[tokio::test]
async fn documents_from_hosts_off_the_allow_list_are_refused_unfetched() {
    let (docs, served, handle) = documents();
    let client_id = format!("{docs}/loopback.json");
    let s = server(&["*.example.com", "app.example.org"]).await;
    let r = http()
        .get(authorize_url(&s, &client_id, LOOPBACK))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an error page, never a redirect");
    assert!(r.headers().get("location").is_none());
    let page = r.text().await.unwrap();
    assert!(
        page.contains("does not accept applications described by 127.0.0.1"),
        "{page}"
    );
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(error_of(r, 401).await, "invalid_client");
    assert_eq!(served.load(Ordering::SeqCst), 0, "nothing was fetched");
    s.stop().await;

    // The same document from an allowed host is fetched and shown.
    let s = server(&["*.example.com", "127.0.0.1"]).await;
    let r = http()
        .get(authorize_url(&s, &client_id, LOOPBACK))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Doc Client"));
    assert_eq!(served.load(Ordering::SeqCst), 1);
    s.stop().await;
    handle.stop(true).await;
}

#[tokio::test]
async fn the_consent_warns_when_a_documents_redirects_are_all_loopback() {
    let (docs, _, handle) = documents();
    let s = server(&[]).await;
    // The login page (which also grants) warns for a loopback-only document...
    let loopback = format!("{docs}/loopback.json");
    let page = http()
        .get(authorize_url(&s, &loopback, LOOPBACK))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(WARNING), "{page}");
    // ...not for one that also names an https redirect URI.
    let web_doc = format!("{docs}/web.json");
    let page = http()
        .get(authorize_url(&s, &web_doc, WEB))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Doc Client") && !page.contains(WARNING),
        "{page}"
    );

    // Signed in, the consent page (for a resource not consented to yet)
    // shows it too.
    let r = form_login(&authorize_url(&s, &loopback, LOOPBACK), USER, PASSWORD).await;
    assert_eq!(r.status(), 302);
    let session = crate::flow::cookie_of(&r, "mcp_oauth_session").expect("a session");
    let mut url = url::Url::parse(&authorize_url(&s, &loopback, LOOPBACK)).unwrap();
    url.query_pairs_mut()
        .append_pair("resource", integration_tests::RESOURCE);
    let r = http()
        .get(url.as_str())
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Allow access?") && page.contains(WARNING),
        "{page}"
    );
    s.stop().await;
    handle.stop(true).await;
}
