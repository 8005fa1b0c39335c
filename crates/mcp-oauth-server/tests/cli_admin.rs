//! The admin subcommands against a running server sharing their SQLite
//! file: `client add/list/show/rotate-secret/remove` and `user
//! add/revoke/remove`, each change seen by the server at once.

#![allow(clippy::unwrap_used, clippy::zombie_processes, missing_docs)]

mod support;

use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::{Value, json};
use support::{Server, admin, http, json_line, serve};

const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
const AGENT_REDIRECT: &str = "http://127.0.0.1/callback";

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

/// Signs `user` in on the login page for `client_id` (a browser: a
/// session); returns the session cookie.
async fn browser_sign_in(s: &Server, client_id: &str, user: &str, password: &str) -> String {
    let verifier = PkceVerifier::generate().unwrap();
    let page = http()
        .get(format!("{}/authorize", s.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", AGENT_REDIRECT),
            ("code_challenge", PkceChallenge::s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf_cookie = cookie(&page, "mcp_oauth_csrf");
    let html = page.text().await.unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let r = http()
        .post(format!("{}/login", s.base))
        .header("cookie", csrf_cookie)
        .form(&[
            ("username", user),
            ("password", password),
            ("request", &field("request")),
            ("csrf", &field("csrf")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    cookie(&r, "mcp_oauth_session")
}

fn cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap()
}

#[tokio::test]
async fn grants_sessions_and_the_audit_trail_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-grants-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("as.db");
    let s = serve(&db).await;
    let add = |name: &str, id: &str| {
        let (ok, _, err) = admin(
            &db,
            &[
                "client",
                "add",
                name,
                "--id",
                id,
                "--public",
                "--redirect-uri",
                AGENT_REDIRECT,
                "--headless-login",
            ],
        );
        assert!(ok, "{err}");
    };
    add("Agent One", "agent-one");
    add("Agent Two", "agent-two");
    assert!(
        admin(
            &db,
            &["user", "add", "carol", "--password", "carol password 1"]
        )
        .0
    );
    let one = headless_tokens(&s, "agent-one", "carol", "carol password 1").await;
    let two = headless_tokens(&s, "agent-two", "carol", "carol password 1").await;
    let session = browser_sign_in(&s, "agent-two", "carol", "carol password 1").await;

    // Who can act as carol: both agents, for the resource.
    let (ok, out, err) = admin(&db, &["grant", "list", "--user", "carol", "--json"]);
    assert!(ok, "{err}");
    let grants: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(grants.len(), 2, "{out}");
    assert!(grants.iter().all(|g| g["resource"] == RESOURCE));
    assert!(
        grants
            .iter()
            .any(|g| g["client_id"] == "agent-one" && g["method"] == "headless")
    );
    assert!(
        grants
            .iter()
            .any(|g| g["client_id"] == "agent-two" && g["remembered"] == true)
    );
    let (ok, out, _) = admin(&db, &["grant", "list", "--client", "agent-one"]);
    assert!(ok);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("USER"), "{out}");
    assert!(lines.next().unwrap().contains("agent-one"), "{out}");
    assert!(lines.next().is_none(), "{out}");

    // A revocation must name someone.
    let (ok, _, err) = admin(&db, &["grant", "revoke"]);
    assert!(!ok && err.contains("name a user"), "{err}");
    // carol's grant to agent-one ends; agent-two's stays.
    let (ok, out, err) = admin(
        &db,
        &[
            "grant",
            "revoke",
            "--user",
            "carol",
            "--client",
            "agent-one",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("1 grant(s) revoked"), "{out}");
    assert_eq!(
        refresh(&s, "agent-one", one["refresh_token"].as_str().unwrap()).await,
        400
    );
    assert_eq!(
        refresh(&s, "agent-two", two["refresh_token"].as_str().unwrap()).await,
        200
    );
    let (_, out, _) = admin(&db, &["grant", "list", "--user", "carol", "--json"]);
    assert_eq!(out.lines().count(), 1, "{out}");

    // Sessions: carol's browser session, listed, then ended.
    let (ok, out, _) = admin(&db, &["session", "list", "--user", "carol", "--json"]);
    assert!(ok);
    let sessions: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sessions.len(), 1, "{out}");
    assert_eq!(sessions[0]["method"], "password");
    assert_eq!(sessions[0]["address"], "127.0.0.1");
    let account = |cookie: String| {
        http()
            .get(format!("{}/account", s.base))
            .header("cookie", cookie)
            .send()
    };
    let page = account(session.clone())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Signed in as"), "{page}");
    let (ok, out, _) = admin(&db, &["session", "revoke", "--user", "carol"]);
    assert!(ok && out.contains("1 session(s)"), "{out}");
    let page = account(session).await.unwrap().text().await.unwrap();
    assert!(
        !page.contains("Signed in as"),
        "the running server sees it at once"
    );

    // The audit trail: what happened, by whom, filtered.
    let (ok, out, err) = admin(&db, &["audit", "list", "--user", "carol", "--json"]);
    assert!(ok, "{err}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in [
        "user_added",
        "login_succeeded",
        "consent_granted",
        "grant_revoked",
        "sessions_revoked",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
    let revoked = events
        .iter()
        .find(|e| e["kind"] == "grant_revoked")
        .unwrap();
    assert_eq!(revoked["details"]["by"], "operator");
    let (ok, out, _) = admin(
        &db,
        &["audit", "list", "--type", "client_created", "--since", "1h"],
    );
    assert!(ok);
    assert_eq!(out.lines().count(), 3, "a header and two clients: {out}");
    let (ok, _, err) = admin(&db, &["audit", "list", "--since", "yesterday"]);
    assert!(!ok && err.contains("--since yesterday"), "{err}");
    // Paging: one at a time, after the last seen.
    let (_, out, _) = admin(&db, &["audit", "list", "--json", "--limit", "1"]);
    let first: Value = serde_json::from_str(out.trim()).unwrap();
    let after = first["id"].to_string();
    let (_, out, _) = admin(
        &db,
        &["audit", "list", "--json", "--limit", "1", "--after", &after],
    );
    let second: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(second["id"].as_i64().unwrap() > first["id"].as_i64().unwrap());
    // No secret in the whole trail.
    let (_, all, _) = admin(&db, &["audit", "list", "--json", "--limit", "1000"]);
    for secret in [
        "carol password 1",
        one["access_token"].as_str().unwrap(),
        one["refresh_token"].as_str().unwrap(),
        two["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!all.contains(secret), "a secret is in the audit trail");
    }
    // Keys: the active one cannot be withdrawn; after a rotation, the old
    // one can, and the withdrawal is audited.
    let (_, out, _) = admin(&db, &["key", "list"]);
    let first = out
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let (ok, _, err) = admin(&db, &["key", "retire", &first]);
    assert!(!ok && err.contains("active signing key"), "{err}");
    // A rotation publishes the next key a day ahead: the first still signs.
    let (ok, out, err) = admin(&db, &["key", "rotate"]);
    assert!(ok && out.contains("published now; it signs from"), "{err}");
    let (_, out, _) = admin(&db, &["key", "list"]);
    let status = |out: &str, kid: &str| {
        out.lines()
            .find(|l| l.starts_with(kid))
            .map(|l| l.split('\t').nth(2).unwrap().to_owned())
    };
    assert_eq!(status(&out, &first).as_deref(), Some("signing"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains("\tnext\t")).count(), 1);
    let (ok, _, err) = admin(&db, &["key", "retire", &first]);
    assert!(!ok && err.contains("active signing key"), "{err}");
    // At once, for a key no longer trusted.
    let (ok, out, err) = admin(&db, &["key", "rotate", "--now"]);
    assert!(ok && out.contains("it signs from now"), "{err}");
    let (_, out, _) = admin(&db, &["key", "list"]);
    assert_eq!(status(&out, &first).as_deref(), Some("retired"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains("\tsigning\t")).count(), 1);
    let (ok, out, err) = admin(&db, &["key", "retire", &first]);
    assert!(ok && out.contains("withdrawn"), "{err}");
    let (_, out, _) = admin(&db, &["key", "list"]);
    assert!(!out.contains(&first), "{out}");
    let (_, out, _) = admin(&db, &["audit", "list", "--type", "key_retired", "--json"]);
    assert_eq!(json_line(&out)["subject"], first.as_str());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
