//! Idle registrations: the maintenance task deletes the clients of
//! dynamic registration no token was issued to for `dcr_idle_days`, with
//! their grants; the last use is recorded at most once a day; the
//! operator's clients stay; a reaped client at the token endpoint is
//! answered 401 `invalid_client`.

use std::sync::Arc;

use integration_tests::{ManualClock, TestServer, now};
use mcp_oauth_server::admin::clients::{NewClient, create_client};
use mcp_oauth_server::clock::Clock;
use serde_json::Value;

use crate::flow::{error_of, login, redeem, refresh, register_public};

const DAY: u64 = 86_400;

/// A registered public client someone signed in to: its id and refresh
/// token.
async fn signed_in(s: &TestServer) -> (String, String) {
    let id = register_public(s).await;
    let (code, verifier) = login(s, &id).await;
    let r = redeem(s, &id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    (id, tokens["refresh_token"].as_str().unwrap().to_owned())
}

/// Refreshes; the next refresh token.
async fn refreshed(s: &TestServer, id: &str, token: &str) -> String {
    let r = refresh(s, id, token).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

async fn last_used(s: &TestServer, id: &str) -> Option<u64> {
    s.storage.client(id).await.unwrap().unwrap().last_used_at
}

async fn start(clock: &Arc<ManualClock>, idle_days: u64) -> TestServer {
    TestServer::start_on_clock(clock.clone(), move |mut c| {
        // Refresh tokens outlive the idle time here, so only reaping ends them.
        c.refresh_token_ttl = std::time::Duration::from_secs(60 * DAY);
        c.dcr_idle_days(idle_days)
    })
    .await
}

#[tokio::test]
async fn idle_registrations_are_reaped_and_then_meet_invalid_client() {
    let clock = ManualClock::start();
    let s = start(&clock, 30).await;
    let (idle, idle_token) = signed_in(&s).await;
    let (busy, busy_token) = signed_in(&s).await;
    assert_eq!(last_used(&s, &idle).await, Some(clock.now()));
    create_client(&*s.storage, NewClient::named("operator's"), now())
        .await
        .unwrap();

    // Twenty days on, "busy" refreshes: its use is recorded; within the
    // same day, not again.
    clock.advance(20 * DAY);
    let busy_token = refreshed(&s, &busy, &busy_token).await;
    let recorded = clock.now();
    assert_eq!(last_used(&s, &busy).await, Some(recorded));
    clock.advance(3600);
    let busy_token = refreshed(&s, &busy, &busy_token).await;
    assert_eq!(last_used(&s, &busy).await, Some(recorded), "once a day");

    // Fifteen more: "idle" has had no token for 35 days, "busy" for 15.
    clock.advance(15 * DAY);
    s.server.maintain().await;
    assert!(s.storage.client(&idle).await.unwrap().is_none(), "reaped");
    assert!(s.storage.client(&busy).await.unwrap().is_some());
    let operator = s.storage.clients().await.unwrap();
    assert!(operator.iter().any(|c| c.is_trusted()), "never reaped");
    let grants = s
        .storage
        .grants(
            &mcp_oauth_server::storage::GrantFilter::all().client(&idle),
            clock.now(),
        )
        .await
        .unwrap();
    assert!(grants.is_empty(), "its grants went with it");
    // The reaped client is answered as an unknown one: register again.
    let r = refresh(&s, &idle, &idle_token).await;
    assert_eq!(error_of(r, 401).await, "invalid_client");
    refreshed(&s, &busy, &busy_token).await;
    s.stop().await;
}

#[tokio::test]
async fn zero_idle_days_keeps_registrations_for_good() {
    let clock = ManualClock::start();
    let s = start(&clock, 0).await;
    let (id, _) = signed_in(&s).await;
    clock.advance(1000 * DAY);
    s.server.maintain().await;
    assert!(s.storage.client(&id).await.unwrap().is_some());
    s.stop().await;
}
