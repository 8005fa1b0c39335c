//! Client ID Metadata Documents: the server fetches a client's document from
//! its URL, and refuses what the SSRF guard and the document rules forbid.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use integration_tests::{PASSWORD, TestServer, USER, http};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_server::cimd::CimdPolicy;
use mcp_oauth_server::fetch::FetchPolicy;
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:4712/cb";

/// Serves documents at `/good.json` and friends; returns its base URL.
fn document_server() -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let b = base.clone();
    let server = HttpServer::new(move || {
        let base = b.clone();
        App::new().app_data(web::Data::new(base)).route(
            "/{name}",
            web::get().to(|base: web::Data<String>, name: web::Path<String>| async move {
                let url = format!("{}/{}", base.get_ref(), name.as_str());
                let doc = |client_id: &str| {
                    json!({"client_id": client_id, "client_name": "Doc Client", "redirect_uris": [REDIRECT],
                           "token_endpoint_auth_method": "none"})
                };
                match name.as_str() {
                    "good.json" => HttpResponse::Ok()
                        .insert_header(("cache-control", "max-age=60"))
                        .json(doc(&url)),
                    "mismatch.json" => HttpResponse::Ok().json(doc("https://other.example/client.json")),
                    "secret.json" => {
                        let mut d = doc(&url);
                        d["token_endpoint_auth_method"] = json!("client_secret_basic");
                        HttpResponse::Ok().json(d)
                    }
                    "huge.json" => {
                        let mut d = doc(&url);
                        d["padding"] = json!("x".repeat(64 * 1024));
                        HttpResponse::Ok().json(d)
                    }
                    "redirect.json" => HttpResponse::Found()
                        .insert_header(("location", format!("{}/good.json", base.get_ref())))
                        .finish(),
                    "slow.json" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        HttpResponse::Ok().json(doc(&url))
                    }
                    _ => HttpResponse::NotFound().finish(),
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
    (base, handle)
}

pub(crate) fn relaxed() -> CimdPolicy {
    CimdPolicy {
        enabled: true,
        fetches_per_minute: 10_000,
        fetch: FetchPolicy {
            allow_http: true,
            allow_private_addresses: true,
            allow_any_port: true,
            timeout: Duration::from_secs(1),
            ..FetchPolicy::default()
        },
        ..CimdPolicy::default()
    }
}

async fn authorize(
    s: &TestServer,
    client_id: &str,
    challenge: &PkceChallenge,
) -> reqwest::Response {
    http()
        .get(s.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "c"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_metadata_document_client_logs_in_and_redeems() {
    let (docs, docs_handle) = document_server();
    let s = TestServer::start(|mut c| {
        c.cimd = relaxed();
        c
    })
    .await;
    let meta: Value = http()
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let client_id = format!("{docs}/good.json");
    let verifier = PkceVerifier::generate().unwrap();
    let r = authorize(&s, &client_id, &PkceChallenge::s256(&verifier)).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Doc Client"), "{page}");
    assert!(
        page.contains("is described by <strong>127.0.0.1</strong>"),
        "the page names the document's host: {page}"
    );
    let authorize_url = url::Url::parse_with_params(
        &s.url("/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", PkceChallenge::s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("state", "c"),
        ],
    )
    .unwrap();
    let r = integration_tests::form_login(authorize_url.as_str(), USER, PASSWORD).await;
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let r = http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // A redirect URI the document does not list is refused without redirecting.
    let r = http()
        .get(s.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", "http://127.0.0.1:4712/other"),
            ("code_challenge", PkceChallenge::s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    s.stop().await;
    docs_handle.stop(false).await;
}

#[tokio::test]
async fn bad_documents_are_refused_in_bounded_time() {
    crate::logs::capture();
    let (docs, docs_handle) = document_server();
    let s = TestServer::start(|mut c| {
        c.cimd = relaxed();
        c
    })
    .await;
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    for (name, expect) in [
        ("mismatch.json", "does not equal"),
        ("secret.json", "client secret"),
        ("huge.json", "exceeds"),
        ("redirect.json", "HTTP 302"),
        ("missing.json", "HTTP 404"),
        ("slow.json", "could not fetch"),
    ] {
        let url = format!("{docs}/{name}");
        let r = authorize(&s, &url, &challenge).await;
        assert_eq!(r.status(), 400, "{name}");
        assert!(r.headers().get("location").is_none());
        let page = r.text().await.unwrap();
        assert!(
            page.contains("could not be fetched or is not valid"),
            "{name}: {page}"
        );
        // The reason goes to the operator's log, not to the visitor.
        assert!(!page.contains(expect), "{name}: {page}");
        let logged = crate::logs::lines_with(&url);
        assert!(
            logged.iter().any(|l| l.contains(expect)),
            "{name}: {logged:?}"
        );
    }
    s.stop().await;
    docs_handle.stop(false).await;
}

#[tokio::test]
async fn the_ssrf_guard_refuses_non_public_targets() {
    crate::logs::capture();
    // Default policy: https only, public addresses only.
    let s = TestServer::start(|c| c).await;
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    for url in [
        "https://127.0.0.1/client.json",
        "https://localhost/client.json",
        "https://169.254.169.254/latest/meta-data.json",
        "https://10.0.0.1/client.json",
        "https://[::1]/client.json",
        "https://192.168.1.1/client.json",
        "https://172.16.0.1/client.json",
        "https://100.64.0.1/client.json",
        "https://0.0.0.0/client.json",
        "https://[fe80::1]/client.json",
        "https://[fd00::1]/client.json",
        // IPv4-mapped and -compatible addresses, as URLs spell them
        // (`[::ffff:127.0.0.1]` is `[::ffff:7f00:1]`).
        "https://[::ffff:7f00:1]/client.json",
        "https://[::ffff:a9fe:a9fe]/client.json",
        "https://[::7f00:1]/client.json",
        "https://[2002:7f00:1::1]/client.json",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/client.json",
        "https://198.18.0.1/client.json",
        "https://[fec0::1]/client.json",
    ] {
        let r = authorize(&s, url, &challenge).await;
        assert_eq!(r.status(), 400, "{url}");
        let page = r.text().await.unwrap();
        // No DNS oracle: the page never tells what a name resolves to.
        assert!(!page.contains("non-public"), "{url}: {page}");
        let logged = crate::logs::lines_with(&format!("{url:?}"));
        assert!(
            logged.iter().any(|l| l.contains("non-public address")),
            "{url}: {logged:?}"
        );
    }
    // Other spellings of an address are refused before the guard looks:
    // only the canonical URL is a client id.
    for url in [
        "https://[::ffff:127.0.0.1]/client.json",
        "https://127.0.0.1:443/client.json",
        "https://LOCALHOST/client.json",
    ] {
        let r = authorize(&s, url, &challenge).await;
        assert_eq!(r.status(), 400, "{url}");
    }
    // Ports other than 443 are not fetched (no port probing through us).
    let r = authorize(&s, "https://93.184.216.34:8443/client.json", &challenge).await;
    assert_eq!(r.status(), 400);
    let logged = crate::logs::lines_with("93.184.216.34:8443");
    assert!(
        logged.iter().any(|l| l.contains("not an acceptable")),
        "{logged:?}"
    );
    // Plain http document URLs are not metadata documents without the test switch.
    let r = authorize(&s, "http://127.0.0.1:1/client.json", &challenge).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not registered"));
    // And token requests naming such a client fail as invalid_client.
    let r = http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "https://10.0.0.1/client.json"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    s.stop().await;
}
