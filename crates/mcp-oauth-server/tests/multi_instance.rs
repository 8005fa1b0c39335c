//! Two `mcp-oauth-server` processes (the real binary, different ports) on
//! one PostgreSQL database, as behind a load balancer.

#![allow(clippy::unwrap_used, clippy::zombie_processes, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_server::testing::TempDatabase;
use serde_json::{Value, json};

const USER: &str = "alice";
const PASSWORD: &str = "multi-instance password";
const REDIRECT: &str = "http://127.0.0.1:4799/cb";
const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
const RS: (&str, &str) = ("rs", "rs-secret-0123456789");

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts an instance; every instance announces the same public issuer.
async fn start(db: &str, issuer: &str, port: u16) -> Instance {
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-server"))
        .args([
            "--storage",
            db,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--issuer",
            issuer,
        ])
        .args([
            "--superuser",
            USER,
            "--superuser-password",
            PASSWORD,
            "--log-level",
            "warn",
            "--introspection-credential",
            &format!("{}:{}:{RESOURCE}", RS.0, RS.1),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(r) = http().get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return Instance { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("instance on {port} did not start");
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn register(at: &Instance, body: Value) -> Value {
    let r = http()
        .post(format!("{}/register", at.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// The value of a hidden form field of a page.
/// `name=value` of the response's `Set-Cookie` for `name`.
fn cookie_of(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap()
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// A code for `client_id`, the login done on the login page at `at`.
async fn code_at(at: &Instance, client_id: &str, verifier: &PkceVerifier) -> String {
    code_and_session_at(at, client_id, verifier).await.0
}

/// A code for `client_id` and the browser's session cookie, the login done
/// on the login page at `at`.
async fn code_and_session_at(
    at: &Instance,
    client_id: &str,
    verifier: &PkceVerifier,
) -> (String, String) {
    let page = http()
        .get(format!("{}/authorize", at.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", PkceChallenge::s256(verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    let cookie = cookie_of(&page, "mcp_oauth_csrf");
    let html = page.text().await.unwrap();
    let r = http()
        .post(format!("{}/login", at.base))
        .header("cookie", cookie)
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
    let session = cookie_of(&r, "mcp_oauth_session");
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    (code, session)
}

async fn redeem(
    at: &Instance,
    client_id: &str,
    code: &str,
    verifier: &PkceVerifier,
) -> reqwest::Response {
    http()
        .post(format!("{}/token", at.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier.secret()),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap()
}

async fn refresh(at: &Instance, client_id: &str, token: &str) -> reqwest::Response {
    http()
        .post(format!("{}/token", at.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
}

async fn active_at(at: &Instance, who: &(String, String), token: &str) -> bool {
    let r: Value = http()
        .post(format!("{}/introspect", at.base))
        .basic_auth(&who.0, Some(&who.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["active"] == true
}

#[tokio::test]
async fn two_instances_share_one_deployment() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let (pa, pb) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{pa}");
    let a = start(&db.url, &issuer, pa).await;
    let b = start(&db.url, &issuer, pb).await;

    // Register at A, authorize at B, redeem at A.
    let client = register(&a, json!({"client_name": "lb", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                                     "grant_types": ["authorization_code", "refresh_token"]})).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let rs = (RS.0.to_owned(), RS.1.to_owned());
    let verifier = PkceVerifier::generate().unwrap();
    let code = code_at(&b, &id, &verifier).await;
    let r = redeem(&a, &id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // A token issued by A is active at B; the JWKS agree.
    assert!(active_at(&b, &rs, &access).await);
    let jwks_a: Value = http()
        .get(format!("{}/jwks", a.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_b: Value = http()
        .get(format!("{}/jwks", b.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_a, jwks_b);
    // Revoked at A: inactive at B.
    let r = http()
        .post(format!("{}/revoke", a.base))
        .form(&[("token", access.as_str()), ("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!active_at(&b, &rs, &access).await);

    // One code redeemed concurrently at A and B: exactly one success, every time.
    for round in 0..20 {
        let verifier = PkceVerifier::generate().unwrap();
        let code = code_at(&a, &id, &verifier).await;
        let (x, y) = tokio::join!(
            redeem(&a, &id, &code, &verifier),
            redeem(&b, &id, &code, &verifier)
        );
        let ok = [x.status(), y.status()]
            .iter()
            .filter(|s| **s == 200)
            .count();
        assert_eq!(ok, 1, "round {round}");
    }

    // One refresh token refreshed concurrently at A and B: never a fork
    // (the loser is either refused or, inside the grace window, given the
    // very successor the winner got).
    let verifier = PkceVerifier::generate().unwrap();
    let code = code_at(&a, &id, &verifier).await;
    let first: Value = redeem(&b, &id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let mut current = first["refresh_token"].as_str().unwrap().to_owned();
    let mut issued = vec![current.clone()];
    for round in 0..10 {
        let (x, y) = tokio::join!(refresh(&a, &id, &current), refresh(&b, &id, &current));
        let mut next = Vec::new();
        for r in [x, y] {
            if r.status() == 200 {
                next.push(
                    r.json::<Value>().await.unwrap()["refresh_token"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
        assert!(!next.is_empty(), "round {round}: one of them must succeed");
        assert!(
            next.windows(2).all(|w| w[0] == w[1]),
            "round {round}: the same successor"
        );
        current = next[0].clone();
        issued.extend(next);
    }
    let (pg, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let hashes: Vec<String> = issued
        .iter()
        .map(|t| mcp_oauth_core::secret::token_hash(t))
        .collect();
    let families: i64 = pg
        .query_one(
            "SELECT count(DISTINCT family_id) FROM refresh_tokens WHERE token_hash = ANY($1)",
            &[&hashes],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        families, 1,
        "every token of the raced grant is in one family"
    );

    // Kill A in the middle of a run of refreshes: every refresh token A
    // handed out keeps working at B.
    let load = {
        let (base, id, token) = (a.base.clone(), id.clone(), current.clone());
        tokio::spawn(async move {
            let mut last = token;
            for _ in 0..1000 {
                let r = http()
                    .post(format!("{base}/token"))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", last.as_str()),
                        ("client_id", id.as_str()),
                    ])
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        last = r.json::<Value>().await.unwrap()["refresh_token"]
                            .as_str()
                            .unwrap()
                            .to_owned();
                    }
                    _ => break,
                }
            }
            last
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(a);
    let last = load.await.unwrap();
    let r = refresh(&b, &id, &last).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    drop(b);
    db.drop_now().await;
}

/// Device flow across instances: started at A, allowed on B's page, polled
/// at A and B at once: one instance answers with tokens, the other with
/// `invalid_grant`.
#[tokio::test]
async fn a_device_started_at_one_instance_is_redeemed_once_across_both() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let (pa, pb) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{pa}");
    let a = start(&db.url, &issuer, pa).await;
    let b = start(&db.url, &issuer, pb).await;
    const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
    let client = register(
        &a,
        json!({"client_name": "device", "token_endpoint_auth_method": "none",
               "grant_types": [GRANT, "refresh_token"]}),
    )
    .await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let started: Value = http()
        .post(format!("{}/device_authorization", a.base))
        .form(&[("client_id", id.as_str()), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    let device_code = started["device_code"].as_str().unwrap().to_owned();

    // The person, at B's page: sign in with the code, then allow.
    let page = http()
        .get(format!("{}/device", b.base))
        .query(&[("user_code", user_code)])
        .send()
        .await
        .unwrap();
    let cookie = cookie_of(&page, "mcp_oauth_csrf");
    let html = page.text().await.unwrap();
    let csrf = field(&html, "csrf");
    let post = |form: Vec<(&'static str, String)>| {
        http()
            .post(format!("{}/device", b.base))
            .header("cookie", cookie.clone())
            .form(&form)
            .send()
    };
    let confirm = post(vec![
        ("csrf", csrf.clone()),
        ("step", "signin".into()),
        ("user_code", user_code.to_owned()),
        ("username", USER.into()),
        ("password", PASSWORD.into()),
    ])
    .await
    .unwrap();
    assert_eq!(confirm.status(), 200);
    let session = cookie_of(&confirm, "mcp_oauth_session");
    let allowed = http()
        .post(format!("{}/device", b.base))
        .header("cookie", format!("{cookie}; {session}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("step", "decide"),
            ("user_code", user_code),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);

    let poll = |base: String| {
        let (id, device_code) = (id.clone(), device_code.clone());
        async move {
            http()
                .post(format!("{base}/token"))
                .form(&[
                    ("grant_type", GRANT),
                    ("device_code", device_code.as_str()),
                    ("client_id", id.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (x, y) = tokio::join!(poll(a.base.clone()), poll(b.base.clone()));
    let mut statuses = [x, y];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    drop((a, b));
    db.drop_now().await;
}

/// `GET /account` at `at` with `session`: the page, and the CSRF cookie and
/// field its forms need.
async fn account_at(at: &Instance, session: &str) -> (String, String, String) {
    let r = http()
        .get(format!("{}/account", at.base))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csrf_cookie = cookie_of(&r, "mcp_oauth_csrf");
    let html = r.text().await.unwrap();
    let csrf = field(&html, "csrf");
    (html, csrf_cookie, csrf)
}

#[tokio::test]
async fn a_grant_revoked_and_a_session_ended_at_one_instance_hold_at_the_other() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let (pa, pb) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{pa}");
    let a = start(&db.url, &issuer, pa).await;
    let b = start(&db.url, &issuer, pb).await;
    let client = register(&a, json!({"client_name": "Shared Agent", "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}))
    .await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let rs = (RS.0.to_owned(), RS.1.to_owned());
    let verifier = PkceVerifier::generate().unwrap();
    let (code, session) = code_and_session_at(&a, &id, &verifier).await;
    let r = redeem(&a, &id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    // The session started at A works at B, and B lists the grant made at A.
    let (html, csrf_cookie, csrf) = account_at(&b, &session).await;
    assert!(
        html.contains("Signed in as") && html.contains("Shared Agent"),
        "{html}"
    );
    // The person takes it back at B: A refuses the refresh and reports the
    // access token inactive at once.
    let r = http()
        .post(format!("{}/account", b.base))
        .header("cookie", format!("{session}; {csrf_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("step", "revoke"),
            ("client_id", id.as_str()),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Access removed"));
    let r = refresh(&a, &id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 400);
    assert!(!active_at(&a, &rs, access).await);
    assert!(!active_at(&b, &rs, access).await);

    // Signing out at A ends the session at B too.
    let (_, csrf_cookie, csrf) = account_at(&a, &session).await;
    let r = http()
        .post(format!("{}/logout", a.base))
        .header("cookie", format!("{session}; {csrf_cookie}"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (html, _, _) = account_at(&b, &session).await;
    assert!(!html.contains("Signed in as"), "{html}");
    drop((a, b));
    db.drop_now().await;
}
