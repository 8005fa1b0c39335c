//! Two exchanges for one person at once, when their upstream token is due
//! and the provider rotates refresh tokens (a spent one is refused): the
//! person keeps their upstream login, in one instance and across two.
//!
//! The fake provider holds the answer of the refresh it granted until it
//! refused another one (or a second passed), so the race is certain: the
//! first refresh has spent the refresh token while the second exchange
//! starts.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::{RS_ID, RS_SECRET, World, error_of, exchange_at};

/// Signs a person in with a token that is due, and makes the provider hold
/// the next granted refresh.
async fn due(w: &World) -> String {
    *w.idp.shared.expires_in.lock().unwrap() = 5;
    let (token, _) = w.sign_in(&w.rs).await;
    *w.idp.shared.expires_in.lock().unwrap() = 3600;
    w.idp.shared.hold_refreshes.store(true, Ordering::SeqCst);
    token
}

async fn access_token(r: reqwest::Response) -> String {
    if r.status() != 200 {
        let (status, error, why) = error_of(r).await;
        panic!("{status} {error}: {why}");
    }
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// `github-tools`'s exchange of `token` at the token endpoint `url`, for a
/// task of its own.
async fn exchange_by_url(url: String, token: String) -> String {
    let r = super::http()
        .post(url)
        .basic_auth(RS_ID, Some(RS_SECRET))
        .form(&[
            ("grant_type", super::EXCHANGE),
            ("subject_token", token.as_str()),
            ("subject_token_type", super::ACCESS),
            ("audience", "fake"),
        ])
        .send()
        .await
        .unwrap();
    access_token(r).await
}

#[tokio::test]
async fn one_instance_refreshes_once_for_concurrent_exchanges() {
    let w = World::start().await;
    let token = due(&w).await;
    let first = tokio::spawn(exchange_by_url(w.s.url("/token"), token.clone()));
    // The first exchange's refresh has spent the refresh token.
    w.idp.shared.refresh_granted.notified().await;
    let second = access_token(w.exchange((RS_ID, RS_SECRET), &token, "fake").await).await;
    let first = first.await.unwrap();
    assert_eq!(first, "upstream-access-token-1");
    assert_eq!(second, first, "both hand out the one refreshed token");
    assert_eq!(*w.idp.shared.refreshes.lock().unwrap(), 1);
    assert_eq!(
        w.idp.shared.refresh_requests.load(Ordering::SeqCst),
        1,
        "one instance presents the refresh token once"
    );
    w.stop().await;
}

#[tokio::test]
async fn across_instances_the_loser_hands_out_the_winners_token() {
    let w = World::start().await;
    let b = w.second_instance().await;
    let token = due(&w).await;
    let first = tokio::spawn(exchange_by_url(w.s.url("/token"), token.clone()));
    w.idp.shared.refresh_granted.notified().await;
    // The other instance read the due token and presents the spent
    // refresh token: refused, it reads again and finds the winner's.
    let second = access_token(exchange_at(&b, (RS_ID, RS_SECRET), &token, "fake").await).await;
    let first = first.await.unwrap();
    assert_eq!(first, "upstream-access-token-1");
    assert_eq!(second, first);
    assert_eq!(*w.idp.shared.refreshes.lock().unwrap(), 1);
    assert_eq!(w.idp.shared.refresh_requests.load(Ordering::SeqCst), 2);
    // Kept: later exchanges at either instance refresh nothing.
    let again = access_token(exchange_at(&b, (RS_ID, RS_SECRET), &token, "fake").await).await;
    assert_eq!(again, first);
    b.stop().await;
    w.stop().await;
}
