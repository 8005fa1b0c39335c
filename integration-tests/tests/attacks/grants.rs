//! Attacks on what a person's approval produces: codes, refresh families,
//! sessions and consent. Each finding of the review, rebuilt as a test.

use std::time::Duration;

use integration_tests::{PASSWORD, TestServer, USER, form_login, http};
use mcp_oauth_core::pkce::PkceVerifier;
use mcp_oauth_server::admin;
use serde_json::Value;

use crate::flow::{
    REDIRECT, RESOURCE, cookie_of, error_of, get, introspect, introspector, login, redeem,
    redirect_query, refresh, register_public, token,
};

fn refresh_of(v: &Value) -> String {
    v["refresh_token"].as_str().unwrap().to_owned()
}

async fn tokens(s: &TestServer, client_id: &str) -> Value {
    let (code, verifier) = login(s, client_id).await;
    let r = redeem(s, client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Finding 6: a spent refresh token replayed inside the grace window
/// started an independent chain each time, and reuse was never detected.
/// Now every replay gets the very successor the client holds, so the chain
/// never forks, and whoever uses a spent token later ends the family.
#[tokio::test]
async fn a_refresh_replayed_within_the_grace_window_never_forks_the_chain() {
    let s = TestServer::start(|c| c.refresh_grace(Duration::from_secs(1))).await;
    let client_id = register_public(&s).await;
    let rt0 = refresh_of(&tokens(&s, &client_id).await);
    let r = refresh(&s, &client_id, &rt0).await;
    assert_eq!(r.status(), 200);
    let rt1 = refresh_of(&r.json().await.unwrap());
    // The thief replays rt0 three times inside the window: each time the
    // same successor, never a new branch.
    for _ in 0..3 {
        let r = refresh(&s, &client_id, &rt0).await;
        assert_eq!(r.status(), 200);
        assert_eq!(refresh_of(&r.json().await.unwrap()), rt1);
    }
    // The legitimate client moves on; the thief, holding the same rt1,
    // becomes a reuser as soon as the window has passed, and the whole
    // family ends.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = refresh(&s, &client_id, &rt1).await;
    assert_eq!(r.status(), 200);
    let rt2 = refresh_of(&r.json().await.unwrap());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = refresh(&s, &client_id, &rt1).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    let r = refresh(&s, &client_id, &rt2).await;
    assert_eq!(
        error_of(r, 400).await,
        "invalid_grant",
        "the family is revoked"
    );
    // And a spent token presented again after its successor was used is
    // reuse even inside the window.
    let rt0 = refresh_of(&tokens(&s, &client_id).await);
    let rt1: Value = refresh(&s, &client_id, &rt0).await.json().await.unwrap();
    let r = refresh(&s, &client_id, &refresh_of(&rt1)).await;
    assert_eq!(r.status(), 200);
    let rt2 = refresh_of(&r.json().await.unwrap());
    let r = refresh(&s, &client_id, &rt0).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    let r = refresh(&s, &client_id, &rt2).await;
    assert_eq!(
        error_of(r, 400).await,
        "invalid_grant",
        "the family is revoked"
    );
    s.stop().await;
}

/// A browser signed in on the page, with its session cookie.
async fn signed_in_browser(s: &TestServer, client_id: &str) -> String {
    let (url, _) = authorize_url(s, client_id, RESOURCE);
    let r = form_login(&url, USER, PASSWORD).await;
    assert_eq!(r.status(), 302);
    cookie_of(&r, "mcp_oauth_session").unwrap()
}

fn authorize_url(s: &TestServer, client_id: &str, resource: &str) -> (String, PkceVerifier) {
    crate::flow::authorize_url(s, client_id, REDIRECT, Some(resource))
}

/// Whether a browser with `session` goes straight back (signed in, consent
/// given) for `client_id` and `resource`.
async fn straight_back(s: &TestServer, client_id: &str, resource: &str, session: &str) -> bool {
    let (url, _) = authorize_url(s, client_id, resource);
    let r = http()
        .get(url)
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    r.status() == 302
}

/// Finding 7 (and R7): removing a user or changing their password ended
/// neither their refresh families nor their sessions. Now both end, and
/// neither a re-created user of the same name nor the old password
/// inherits anything.
#[tokio::test]
async fn removal_password_change_and_revocation_end_grants_and_sessions() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let store = s.storage.as_ref();
    let now = integration_tests::now;

    // Password change.
    let session = signed_in_browser(&s, &client_id).await;
    let grant = tokens(&s, &client_id).await;
    assert!(straight_back(&s, &client_id, RESOURCE, &session).await);
    admin::set_password(store, USER, "a brand new password", now())
        .await
        .unwrap();
    let r = refresh(&s, &client_id, &refresh_of(&grant)).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    assert!(
        !straight_back(&s, &client_id, RESOURCE, &session).await,
        "session ended"
    );
    let rs = introspector(&s).await;
    let access = grant["access_token"].as_str().unwrap();
    assert_eq!(introspect(&s, &rs, access).await["active"], false);

    // `user revoke`.
    admin::set_password(store, USER, PASSWORD, now())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later second than the revocation
    let session = signed_in_browser(&s, &client_id).await;
    let grant = tokens(&s, &client_id).await;
    admin::revoke_subject(store, USER, now()).await.unwrap();
    let r = refresh(&s, &client_id, &refresh_of(&grant)).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    assert!(!straight_back(&s, &client_id, RESOURCE, &session).await);

    // Removal, then a new user under the same name: nothing carries over.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let session = signed_in_browser(&s, &client_id).await;
    let grant = tokens(&s, &client_id).await;
    let (code, verifier) = login(&s, &client_id).await; // issued, not yet redeemed
    assert!(admin::remove_user(store, USER, now()).await.unwrap());
    let r = refresh(&s, &client_id, &refresh_of(&grant)).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    admin::set_password(store, USER, "someone else entirely", now())
        .await
        .unwrap();
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(
        error_of(r, 400).await,
        "invalid_grant",
        "the old code died too"
    );
    assert!(!straight_back(&s, &client_id, RESOURCE, &session).await);
    s.stop().await;
}

/// Finding 7, second half: each rotation slid the lifetime, so a grant
/// never ended. Now a grant ends at its maximum lifetime, counted from the
/// sign-in, whatever the refreshes.
#[tokio::test]
async fn refreshes_never_extend_a_grant_past_its_maximum_lifetime() {
    let s = TestServer::start(|mut c| {
        c.grant_max_lifetime = Duration::from_secs(8);
        c.refresh_grace = Duration::ZERO;
        c
    })
    .await;
    let client_id = register_public(&s).await;
    let mut rt = refresh_of(&tokens(&s, &client_id).await);
    // Refresh every second: the grant ends within its lifetime however
    // often it is refreshed.
    let mut refreshed = 0;
    let ended = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = refresh(&s, &client_id, &rt).await;
        if r.status() != 200 {
            break error_of(r, 400).await;
        }
        rt = refresh_of(&r.json().await.unwrap());
        refreshed += 1;
        assert!(refreshed < 10, "the grant outlived its maximum lifetime");
    };
    assert_eq!(ended, "invalid_grant");
    assert!(refreshed >= 1, "refreshes work until then");
    s.stop().await;
}

/// Finding 12: a code whose request named no resource could be redeemed
/// for any audience.
#[tokio::test]
async fn a_code_without_a_resource_cannot_be_redeemed_for_one() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (url, verifier) = crate::flow::authorize_url(&s, &client_id, REDIRECT, None);
    let r = form_login(&url, USER, PASSWORD).await;
    let code = get(&redirect_query(&r), "code").unwrap().to_owned();
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("resource", "https://any.example/anything"),
        ],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_target");
    // The code was not spent by the refusal: redeemed as asked, it works.
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}

/// Finding 18: any failed redemption burnt the code, so whoever saw it
/// could deny the legitimate client its tokens. (R11: and `redirect_uri`
/// must be repeated when the request named it, RFC 6749 §4.1.3.)
#[tokio::test]
async fn failed_redemptions_do_not_burn_the_code() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let attacker = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let wrong = PkceVerifier::generate().unwrap();
    for (who, v, redirect) in [
        (attacker.as_str(), verifier.secret(), Some(REDIRECT)),
        (client_id.as_str(), wrong.secret(), Some(REDIRECT)),
        (
            client_id.as_str(),
            verifier.secret(),
            Some("http://127.0.0.1:4711/other"),
        ),
        (client_id.as_str(), verifier.secret(), None),
    ] {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", v),
            ("client_id", who),
        ];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        let r = token(&s, &form).await;
        assert_eq!(r.status(), 400, "{who} {redirect:?}");
    }
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200, "the legitimate redemption still works");
    s.stop().await;
}

/// Review 3, finding 18 again: a spent code was checked for replay before
/// its verifier and its expiry, so anyone who saw it later (history, logs,
/// Referer) and knew the public `client_id` could end the person's grant.
/// Now a replay revokes only when it passes every check the first
/// redemption passed; the legitimate client's own replay still does.
#[tokio::test]
async fn a_spent_code_seen_later_revokes_nothing() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let rs = introspector(&s).await;
    let access = |v: &Value| v["access_token"].as_str().unwrap().to_owned();

    // Without the verifier: refused, and the grant lives on.
    let (code, verifier) = login(&s, &client_id).await;
    let first: Value = redeem(&s, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let wrong = PkceVerifier::generate().unwrap();
    let r = redeem(&s, &client_id, &code, &wrong).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    assert_eq!(introspect(&s, &rs, &access(&first)).await["active"], true);
    let r = refresh(&s, &client_id, &refresh_of(&first)).await;
    assert_eq!(r.status(), 200, "the family lives on");

    // The client's own replay (verifier and all): everything revoked.
    let (code, verifier) = login(&s, &client_id).await;
    let second: Value = redeem(&s, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    assert_eq!(introspect(&s, &rs, &access(&second)).await["active"], false);
    s.stop().await;

    // With the verifier, after the code expired: refused, no harm.
    let s = TestServer::start(|c| c.code_ttl(Duration::from_secs(2))).await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let third: Value = redeem(&s, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    assert_eq!(introspect(&s, &rs, &access(&third)).await["active"], true);
    let r = refresh(&s, &client_id, &refresh_of(&third)).await;
    assert_eq!(r.status(), 200, "the family lives on");
    s.stop().await;
}

/// B7: a replay racing the first redemption could not revoke its tokens.
/// Now the code records what it issues as it is spent: of concurrent
/// redemptions exactly one succeeds, and a replay revokes its tokens.
#[tokio::test]
async fn a_code_replayed_in_a_race_still_revokes_what_it_issued() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let rs = introspector(&s).await;
    for round in 0..10 {
        let (code, verifier) = login(&s, &client_id).await;
        let (a, b) = tokio::join!(
            redeem(&s, &client_id, &code, &verifier),
            redeem(&s, &client_id, &code, &verifier)
        );
        let mut ok: Vec<Value> = Vec::new();
        for r in [a, b] {
            if r.status() == 200 {
                ok.push(r.json().await.unwrap());
            } else {
                assert_eq!(error_of(r, 400).await, "invalid_grant");
            }
        }
        assert_eq!(ok.len(), 1, "round {round}");
        let access = ok[0]["access_token"].as_str().unwrap();
        assert_eq!(
            introspect(&s, &rs, access).await["active"],
            false,
            "round {round}"
        );
        let r = refresh(&s, &client_id, &refresh_of(&ok[0])).await;
        assert_eq!(error_of(r, 400).await, "invalid_grant", "round {round}");
    }
    s.stop().await;
}

/// R10: consent was kept per client only, so approving one resource
/// silently approved another.
#[tokio::test]
async fn consent_is_per_resource() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let session = signed_in_browser(&s, &client_id).await;
    assert!(straight_back(&s, &client_id, RESOURCE, &session).await);
    assert!(
        !straight_back(&s, &client_id, "http://127.0.0.1:8002/mcp", &session).await,
        "another resource asks again"
    );
    s.stop().await;
}
