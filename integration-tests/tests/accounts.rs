//! People and operators in control: consent per resource, the account
//! page (see and take back grants), signing out, and the audit trail of it
//! all, without a secret in it.

use integration_tests::{ManualClock, PASSWORD, TestServer, USER, form_login, http, set_cookie};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_server::clock::Clock;
use mcp_oauth_server::storage::{AuditQuery, GrantFilter};
use serde_json::{Value, json};

use crate::flow::{
    REDIRECT, RESOURCE, authorize_url, error_of, field, get, introspect, introspector, redeem,
    redirect_query, refresh, register,
};

const OTHER_RESOURCE: &str = "http://127.0.0.1:8001/mcp";

async fn register_named(s: &TestServer, name: &str) -> String {
    let c = register(
        s,
        json!({"client_name": name, "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code", "refresh_token"],
               "token_endpoint_auth_method": "none", "application_type": "native"}),
    )
    .await;
    c["client_id"].as_str().unwrap().to_owned()
}

/// Signs in on the login page for `client_id` and `resource` ("Sign in and
/// allow"); returns the code, its verifier and the session cookie.
async fn sign_in_and_allow(
    s: &TestServer,
    client_id: &str,
    resource: &str,
) -> (String, PkceVerifier, String) {
    let (url, verifier) = authorize_url(s, client_id, REDIRECT, Some(resource));
    let r = form_login(&url, USER, PASSWORD).await;
    assert_eq!(r.status(), 302);
    let session = set_cookie(&r, "mcp_oauth_session").expect("a session");
    let code = get(&redirect_query(&r), "code").unwrap().to_owned();
    (code, verifier, session)
}

/// Tokens for `client_id` at `resource`, and the session of the sign-in.
async fn tokens(s: &TestServer, client_id: &str, resource: &str) -> (Value, String) {
    let (code, verifier, session) = sign_in_and_allow(s, client_id, resource).await;
    let r = redeem(s, client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    (r.json().await.unwrap(), session)
}

/// `/authorize` for `client_id` and `resource` with the browser's cookies.
async fn authorize_with(
    s: &TestServer,
    client_id: &str,
    resource: &str,
    cookies: &str,
) -> reqwest::Response {
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    http()
        .get(s.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", resource),
        ])
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
}

/// `GET /account` with `cookies`: the page, and its CSRF cookie and field.
async fn account_page(s: &TestServer, cookies: &str) -> (u16, String, String, String) {
    let r = http()
        .get(s.url("/account"))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["cache-control"], "no-store");
    // A plain-http (loopback) issuer: no HSTS.
    assert!(r.headers().get("strict-transport-security").is_none());
    let csrf_cookie = set_cookie(&r, "mcp_oauth_csrf").unwrap();
    let html = r.text().await.unwrap();
    let csrf = field(&html, "csrf");
    (status, html, csrf_cookie, csrf)
}

async fn post_form(
    s: &TestServer,
    path: &str,
    cookies: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http()
        .post(s.url(path))
        .header("cookie", cookies)
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn consent_to_one_resource_is_not_consent_to_another() {
    let s = TestServer::start(|c| c).await;
    let client = register_named(&s, "resource agent").await;
    let (_, _, session) = sign_in_and_allow(&s, &client, RESOURCE).await;
    // The same resource again: remembered, straight back with a code.
    let r = authorize_with(&s, &client, RESOURCE, &session).await;
    assert_eq!(r.status(), 302);
    assert!(get(&redirect_query(&r), "code").is_some());
    // Another resource, same client and person: asked again, naming it.
    let r = authorize_with(&s, &client, OTHER_RESOURCE, &session).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Allow access?") && html.contains(OTHER_RESOURCE),
        "{html}"
    );
    // The grants: one, for the first resource, remembered.
    let grants = s
        .storage
        .grants(&GrantFilter::subject(USER), integration_tests::now())
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].record.resource, RESOURCE);
    assert!(grants[0].remembered);
    s.stop().await;
}

#[tokio::test]
async fn the_account_page_shows_grants_and_takes_one_back() {
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), |c| c).await;
    let first = register_named(&s, "First Agent").await;
    let second = register_named(&s, "Second Agent").await;
    let (t1, _) = tokens(&s, &first, RESOURCE).await;
    let (t2, session) = tokens(&s, &second, RESOURCE).await;
    let rs = introspector(&s).await;

    let (status, html, csrf_cookie, csrf) = account_page(&s, &session).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Signed in as") && html.contains(USER),
        "{html}"
    );
    assert!(
        html.contains("First Agent") && html.contains("Second Agent"),
        "{html}"
    );
    assert!(html.contains(RESOURCE));
    let cookies = format!("{session}; {csrf_cookie}");
    let revoke = [
        ("csrf", csrf.as_str()),
        ("step", "revoke"),
        ("client_id", first.as_str()),
        ("resource", RESOURCE),
    ];
    // Without the CSRF cookie (a cross-site post): refused, nothing ends.
    let r = post_form(&s, "/account", &session, &revoke).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        introspect(&s, &rs, t1["access_token"].as_str().unwrap()).await["active"],
        true
    );
    // With it: the first agent's access is gone, the second's stays.
    let r = post_form(&s, "/account", &cookies, &revoke).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Access removed"), "{html}");
    assert!(
        !html.contains("First Agent") && html.contains("Second Agent"),
        "{html}"
    );
    let r = refresh(&s, &first, t1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    assert_eq!(
        introspect(&s, &rs, t1["access_token"].as_str().unwrap()).await["active"],
        false,
        "the access tokens issued before the revocation are inactive at once"
    );
    assert_eq!(
        introspect(&s, &rs, t2["access_token"].as_str().unwrap()).await["active"],
        true
    );
    let r = refresh(&s, &second, t2["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    // The first agent must ask again: its consent was forgotten.
    let r = authorize_with(&s, &first, RESOURCE, &session).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Allow access?"));
    // And the person approving again (a moment later: revocation is
    // counted in whole seconds, and what the same second issued counts as
    // revoked) gives working tokens again.
    clock.advance(1);
    let (t3, _) = tokens(&s, &first, RESOURCE).await;
    assert_eq!(
        introspect(&s, &rs, t3["access_token"].as_str().unwrap()).await["active"],
        true
    );
    // The revocation is in the audit trail, as the person's own.
    let mut q = AuditQuery::default();
    q.kind = Some("grant_revoked".into());
    let events = s.storage.audit_events(&q).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_user.as_deref(), Some(USER));
    assert_eq!(events[0].details["by"], "self");
    assert_eq!(events[0].details["client_id"], first.as_str());
    s.stop().await;
}

#[tokio::test]
async fn signing_in_on_the_account_page_and_signing_out() {
    let s = TestServer::start(|c| c).await;
    let (status, html, csrf_cookie, csrf) = account_page(&s, "").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Sign in") && html.contains("password"),
        "{html}"
    );
    let sign_in = |password: &'static str| {
        let csrf = csrf.clone();
        let cookie = csrf_cookie.clone();
        let s = &s;
        async move {
            post_form(
                s,
                "/account",
                &cookie,
                &[
                    ("csrf", &csrf),
                    ("step", "signin"),
                    ("username", USER),
                    ("password", password),
                ],
            )
            .await
        }
    };
    let r = sign_in("not the password").await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Invalid username or password")
    );
    let r = sign_in(PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], s.url("/account").as_str());
    let session = set_cookie(&r, "mcp_oauth_session").unwrap();
    let (_, html, csrf_cookie, csrf) = account_page(&s, &session).await;
    assert!(html.contains("Signed in as"), "{html}");
    assert!(html.contains("No application can act for you"), "{html}");

    // Signing out needs the form's CSRF field too.
    let r = post_form(&s, "/logout", &session, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 400);
    let (_, html, _, _) = account_page(&s, &session).await;
    assert!(html.contains("Signed in as"));
    let both = format!("{session}; {csrf_cookie}");
    let r = post_form(&s, "/logout", &both, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    let cleared = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("mcp_oauth_session="))
        .expect("the session cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie, sent again anyway, no longer signs anyone in: the
    // session is gone from storage.
    let (_, html, _, _) = account_page(&s, &session).await;
    assert!(!html.contains("Signed in as"), "{html}");
    let mut q = AuditQuery::default();
    q.user = Some(USER.into());
    let kinds: Vec<String> = s
        .storage
        .audit_events(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["login_failed", "login_succeeded", "logout"]);
    s.stop().await;
}

#[tokio::test]
async fn the_audit_trail_follows_a_flow_and_a_reuse_and_holds_no_secret() {
    // A clock the test moves, past the refresh grace window.
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), |c| c).await;
    let confidential = register(
        &s,
        json!({"client_name": "Confidential", "redirect_uris": [REDIRECT],
               "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    let client_secret = confidential["client_secret"].as_str().unwrap().to_owned();
    let client = register_named(&s, "Audited Agent").await;
    // A wrong password first.
    let (url, _) = authorize_url(&s, &client, REDIRECT, Some(RESOURCE));
    let wrong = "wrong horse battery staple";
    assert_eq!(form_login(&url, USER, wrong).await.status(), 401);
    // A password typed into the name field is not kept either.
    let (url, _) = authorize_url(&s, &client, REDIRECT, Some(RESOURCE));
    let misplaced = "hunter2 typed as a name";
    assert_eq!(form_login(&url, misplaced, "x").await.status(), 401);
    let (code, verifier, session) = sign_in_and_allow(&s, &client, RESOURCE).await;
    let r = redeem(&s, &client, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    let old = first["refresh_token"].as_str().unwrap();
    let r = refresh(&s, &client, old).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    // The spent token again, after the grace window: reuse, the family
    // ends.
    clock.advance(60);
    let r = refresh(&s, &client, old).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");

    let mut q = AuditQuery::default();
    q.limit = 1000;
    let events = s.storage.audit_events(&q).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for expected in [
        "client_registered",
        "login_failed",
        "login_succeeded",
        "consent_granted",
        "code_issued",
        "code_redeemed",
        "refresh_rotated",
        "refresh_reuse_detected",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let consent = events.iter().find(|e| e.kind == "consent_granted").unwrap();
    assert_eq!(consent.actor_user.as_deref(), Some(USER));
    assert_eq!(consent.actor_client.as_deref(), Some(client.as_str()));
    assert_eq!(consent.details["resource"], RESOURCE);
    assert_eq!(consent.details["remembered"], true);
    let failed: Vec<_> = events.iter().filter(|e| e.kind == "login_failed").collect();
    assert_eq!(failed[0].address.as_deref(), Some("127.0.0.1"));
    assert_eq!(failed[0].actor_user.as_deref(), Some(USER));
    assert_eq!(failed[1].actor_user, None);
    assert_eq!(failed[1].details["unknown_user"], true);
    let reuse = events
        .iter()
        .find(|e| e.kind == "refresh_reuse_detected")
        .unwrap();
    assert_eq!(reuse.subject.as_deref(), Some(USER));

    // Not one secret anywhere in the trail.
    let trail = serde_json::to_string(&events).unwrap();
    let session_value = session.split_once('=').unwrap().1;
    for secret in [
        PASSWORD,
        wrong,
        &code,
        verifier.secret(),
        first["access_token"].as_str().unwrap(),
        old,
        second["access_token"].as_str().unwrap(),
        second["refresh_token"].as_str().unwrap(),
        &client_secret,
        session_value,
        misplaced,
    ] {
        assert!(!trail.contains(secret), "a secret is in the audit trail");
    }
    s.stop().await;
}

/// A fresh directory for a test's files.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mcp-oauth-{name}-{}-{}",
        std::process::id(),
        &PkceVerifier::generate().unwrap().secret()[..8]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn revocations_and_sessions_survive_a_restart_on_sqlite() {
    use mcp_oauth_server::storage::SqliteStorage;
    let dir = temp_dir("restart");
    let db = dir.join("as.db");
    let open = || std::sync::Arc::new(SqliteStorage::open(&db).unwrap());
    let s = TestServer::start_with(open(), |c| c).await;
    let port = s.port();
    let first = register_named(&s, "Kept Agent").await;
    let second = register_named(&s, "Revoked Agent").await;
    let (kept, _) = tokens(&s, &first, RESOURCE).await;
    let (revoked, session) = tokens(&s, &second, RESOURCE).await;
    let (_, _, csrf_cookie, csrf) = account_page(&s, &session).await;
    let r = post_form(
        &s,
        "/account",
        &format!("{session}; {csrf_cookie}"),
        &[
            ("csrf", &csrf),
            ("step", "revoke"),
            ("client_id", &second),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    s.stop().await;

    // The same file, the same issuer, a new process state.
    let s = TestServer::start_on(port, open(), |c| c).await;
    let rs = introspector(&s).await;
    let r = refresh(&s, &second, revoked["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    assert_eq!(
        introspect(&s, &rs, revoked["access_token"].as_str().unwrap()).await["active"],
        false
    );
    assert_eq!(
        introspect(&s, &rs, kept["access_token"].as_str().unwrap()).await["active"],
        true
    );
    // The session is still there (kept in the file), showing what is left.
    let (_, html, _, _) = account_page(&s, &session).await;
    assert!(
        html.contains("Kept Agent") && !html.contains("Revoked Agent"),
        "{html}"
    );
    s.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_audit_trail_is_also_written_as_json_lines_to_a_private_file() {
    let dir = temp_dir("audit-log");
    let log = dir.join("audit.jsonl");
    let path = log.clone();
    let s = TestServer::start(move |c| {
        let mut c = c;
        c.audit_log = Some(mcp_oauth_server::AuditLog::File(path));
        c
    })
    .await;
    let client = register_named(&s, "Logged Agent").await;
    let _ = sign_in_and_allow(&s, &client, RESOURCE).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "client_registered",
            "login_succeeded",
            "consent_granted",
            "code_issued"
        ]
    );
    // The same events as storage keeps, with their positions.
    let stored = s
        .storage
        .audit_events(&AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(lines[1]["id"], stored[1].id);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    s.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_refresh_family_stored_after_its_grant_was_revoked_cannot_refresh() {
    use mcp_oauth_core::secret::token_hash;
    use mcp_oauth_server::storage::RefreshRecord;
    // A redemption that passed its checks just before the revocation may
    // store its family just after it, out of reach of the revocation's
    // sweep. Such a family, approved before the revocation, is refused.
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), |c| c).await;
    let client = register_named(&s, "Raced Agent").await;
    let (t, _) = tokens(&s, &client, RESOURCE).await;
    let approved = clock.now();
    clock.advance(5);
    s.storage
        .revoke_grants(&GrantFilter::subject(USER).client(&client), clock.now())
        .await
        .unwrap();
    let raced = "a-refresh-token-stored-after-the-revocation-0123456789";
    let mut record: RefreshRecord = s
        .storage
        .refresh(&token_hash(t["refresh_token"].as_str().unwrap()))
        .await
        .unwrap()
        .unwrap();
    record.token_hash = token_hash(raced);
    record.family_id = "raced-family".into();
    record.approved_at = approved;
    s.storage.insert_refresh(record).await.unwrap();
    let r = refresh(&s, &client, raced).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn signing_in_again_right_after_everything_was_ended_works() {
    // `user revoke` (or a password change) and a new sign-in in the same
    // second: the new approval is not mistaken for one made before.
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), |c| c).await;
    let client = register_named(&s, "Returning Agent").await;
    let (old, session) = tokens(&s, &client, RESOURCE).await;
    s.storage.revoke_subject(USER, clock.now()).await.unwrap();
    let r = refresh(&s, &client, old["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    // The remembered consent went with it: the old session is gone, and a
    // new sign-in asks again and works at once.
    let r = authorize_with(&s, &client, RESOURCE, &session).await;
    assert_eq!(r.status(), 200, "no silent approval");
    let (new, _) = tokens(&s, &client, RESOURCE).await;
    let r = refresh(&s, &client, new["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn a_hostile_client_name_is_shown_as_text_on_the_account_page() {
    let s = TestServer::start(|c| c).await;
    let hostile = "<script>alert(1)</script><a href=\"https://evil.example\">Official</a>";
    let client = register_named(&s, hostile).await;
    let (_, session) = tokens(&s, &client, RESOURCE).await;
    let (_, html, _, _) = account_page(&s, &session).await;
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(!html.contains("<a href=\"https://evil.example\""), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(html.contains("name not verified"), "{html}");
    s.stop().await;
}
