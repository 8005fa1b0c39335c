//! The admin subcommands against a running server sharing their SQLite
//! file: `client add/list/show/rotate-secret/remove` and `user
//! add/revoke/remove`, each change seen by the server at once.

#![allow(clippy::unwrap_used, clippy::zombie_processes, missing_docs)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::{Value, json};

const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
const AGENT_REDIRECT: &str = "http://127.0.0.1/callback";

fn admin(db: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-server"))
        .args(["--storage", &format!("sqlite:{}", db.display())])
        .args(["--log-level", "error"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_line(out: &str) -> Value {
    serde_json::from_str(out.lines().next().unwrap()).unwrap()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(db: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-server"))
        .args(["--storage", &format!("sqlite:{}", db.display())])
        .args(["--port", &port.to_string(), "--log-level", "error"])
        .args([
            "--superuser",
            "admin",
            "--superuser-password",
            "admin password 123",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return Server { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not start");
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn client_credentials(s: &Server, id: &str, secret: &str) -> u16 {
    http()
        .post(format!("{}/token", s.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A headless login by the trusted agent `agent`; the token response.
async fn headless_tokens(s: &Server, agent: &str, user: &str, password: &str) -> Value {
    let verifier = PkceVerifier::generate().unwrap();
    let pending: Value = http()
        .get(format!("{}/authorize", s.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", agent),
            ("redirect_uri", AGENT_REDIRECT),
            ("code_challenge", PkceChallenge::s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
        ])
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http()
        .post(format!("{}/login", s.base))
        .json(&json!({"username": user, "password": password, "request": pending["request"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    http()
        .post(format!("{}/token", s.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
            ("client_id", agent),
            ("redirect_uri", AGENT_REDIRECT),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn refresh(s: &Server, agent: &str, token: &str) -> u16 {
    http()
        .post(format!("{}/token", s.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", agent),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn clients_and_users_are_administered_while_the_server_runs() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-admin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("as.db");
    let s = serve(&db).await;

    // A service client: created trusted, its secret printed once.
    let (ok, out, err) = admin(
        &db,
        &[
            "client",
            "add",
            "Nightly report",
            "--grant",
            "client_credentials",
            "--resource",
            RESOURCE,
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let created = json_line(&out);
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(client_credentials(&s, &id, &secret).await, 200);

    let (ok, out, _) = admin(&db, &["client", "list", "--json"]);
    assert!(ok);
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mine = listed
        .iter()
        .find(|c| c["client_id"] == id.as_str())
        .unwrap();
    assert_eq!(mine["trusted"], true);
    assert_eq!(mine["resources"], json!([RESOURCE]));
    assert!(!out.contains(&secret), "the secret is never shown again");
    let (ok, out, _) = admin(&db, &["client", "show", &id]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["client_name"],
        "Nightly report"
    );

    // Rotating the secret: the old one stops working at once.
    let (ok, out, _) = admin(&db, &["client", "rotate-secret", &id]);
    assert!(ok);
    let new_secret = out
        .split("new secret: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(client_credentials(&s, &id, &secret).await, 401);
    assert_eq!(client_credentials(&s, &id, &new_secret).await, 200);
    // Removing it: nothing works any more.
    assert!(admin(&db, &["client", "remove", &id]).0);
    assert_eq!(client_credentials(&s, &id, &new_secret).await, 401);
    let (ok, _, err) = admin(&db, &["client", "remove", &id]);
    assert!(!ok && err.contains("no client"), "{err}");
    // A headless agent allowed the device flow (RFC 8628): it may start
    // a device authorization; without the grant a client may not.
    let (ok, out, err) = admin(
        &db,
        &[
            "client",
            "add",
            "Build agent",
            "--public",
            "--grant",
            "device_code",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let device_agent = json_line(&out)["client_id"].as_str().unwrap().to_owned();
    let start = |client_id: String| {
        http()
            .post(format!("{}/device_authorization", s.base))
            .form(&[("client_id", client_id)])
            .send()
    };
    let r = start(device_agent).await.unwrap();
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["verification_uri"], format!("{}/device", s.base));
    // Bad requests are refused with a reason.
    let (ok, _, err) = admin(&db, &["client", "add", "x", "--grant", "password"]);
    assert!(!ok && err.contains("--grant password"), "{err}");
    let (ok, _, err) = admin(&db, &["client", "add", "x", "--resource-server"]);
    assert!(!ok && err.contains("must name the resources"), "{err}");

    // A first-party agent and a user: `user revoke`, a password change and
    // `user remove` each end the user's grants at once.
    let (ok, out, err) = admin(
        &db,
        &[
            "client",
            "add",
            "Agent",
            "--id",
            "agent",
            "--public",
            "--redirect-uri",
            AGENT_REDIRECT,
            "--headless-login",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    assert!(json_line(&out)["client_secret"].is_null());
    assert!(admin(&db, &["user", "add", "bob", "--password", "bob password 1"]).0);
    let t = headless_tokens(&s, "agent", "bob", "bob password 1").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let (ok, out, _) = admin(&db, &["user", "revoke", "bob"]);
    assert!(ok && out.contains("must sign in again"), "{out}");
    assert_eq!(refresh(&s, "agent", rt).await, 400);

    let t = headless_tokens(&s, "agent", "bob", "bob password 1").await;
    let (ok, out, _) = admin(&db, &["user", "add", "bob", "--password", "bob password 2"]);
    assert!(ok && out.contains("sessions and grants are ended"), "{out}");
    assert_eq!(
        refresh(&s, "agent", t["refresh_token"].as_str().unwrap()).await,
        400
    );

    let t = headless_tokens(&s, "agent", "bob", "bob password 2").await;
    assert!(admin(&db, &["user", "remove", "bob"]).0);
    assert_eq!(
        refresh(&s, "agent", t["refresh_token"].as_str().unwrap()).await,
        400
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
