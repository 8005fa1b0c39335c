//! [`ClientStore`]: registrations, consents, purging unused clients.

use super::*;

/// Insert, read, list, update and delete clients.
pub(super) async fn registry(s: &dyn Storage) {
    // Clients.
    s.insert_client(client("c1", 10)).await.unwrap();
    s.insert_client(client("c2", 20)).await.unwrap();
    assert!(matches!(
        s.insert_client(client("c1", 30)).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(s.client("c1").await.unwrap(), Some(client("c1", 10)));
    assert_eq!(s.client("nope").await.unwrap(), None);
    assert_eq!(s.client_count().await.unwrap(), 2);
    let ids: Vec<_> = s
        .clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert!(s.delete_client("c2").await.unwrap());
    assert!(!s.delete_client("c2").await.unwrap());
    // A trusted client keeps its policy; updates replace secret and policy.
    let mut trusted = client("t1", 15);
    trusted.policy = ClientPolicy {
        trusted: true,
        resources: vec!["http://rs.test/mcp".into()],
        resource_server: true,
        headless_login: false,
    };
    s.insert_client(trusted.clone()).await.unwrap();
    assert_eq!(s.client("t1").await.unwrap(), Some(trusted.clone()));
    trusted.secret_hash = Some("rotated".into());
    assert!(s.update_client(trusted.clone()).await.unwrap());
    assert_eq!(s.client("t1").await.unwrap(), Some(trusted));
    assert!(!s.update_client(client("nobody", 1)).await.unwrap());
}

/// Consent per user, client and resource; deleting a client deletes its consents.
pub(super) async fn consents(s: &dyn Storage) {
    // Consent, per user, client and resource; removing the client
    // removes it.
    let rs = "http://rs.test/mcp";
    assert_eq!(s.consent("bob", "c1", rs).await.unwrap(), None);
    s.save_consent("bob", "c1", rs, "mcp", 1).await.unwrap();
    s.save_consent("bob", "c1", rs, "mcp read", 1)
        .await
        .unwrap();
    assert_eq!(
        s.consent("bob", "c1", rs).await.unwrap().as_deref(),
        Some("mcp read")
    );
    assert_eq!(
        s.consent("bob", "c1", "http://other.test/mcp")
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.consent("bob", "c1", "").await.unwrap(), None);
    assert_eq!(s.consent("amy", "c1", rs).await.unwrap(), None);
    s.insert_client(client("c3", 30)).await.unwrap();
    s.save_consent("bob", "c3", "", "mcp", 1).await.unwrap();
    s.delete_client("c3").await.unwrap();
    assert_eq!(s.consent("bob", "c3", "").await.unwrap(), None);
}

/// Unused registrations go, oldest first; consented and trusted ones stay.
pub(super) async fn purge_unused(s: &dyn Storage) {
    // Registrations nobody used: the oldest go first, consented and
    // trusted ones never ("c1" and "t1" are older than all of them: "c1"
    // was consented to above, "t1" is trusted).
    for (id, at) in [("u1", 50), ("u2", 40), ("u3", 60), ("u4", 45)] {
        s.insert_client(client(id, at)).await.unwrap();
    }
    s.save_consent("alice", "u4", "", "mcp", 1).await.unwrap();
    assert_eq!(s.purge_unused_clients(55, 1).await.unwrap(), 1);
    assert_eq!(s.client("u2").await.unwrap(), None, "the oldest went first");
    assert_eq!(s.purge_unused_clients(55, 10).await.unwrap(), 1);
    assert_eq!(s.client("u1").await.unwrap(), None);
    assert!(
        s.client("u3").await.unwrap().is_some(),
        "issued after the cut"
    );
    assert!(s.client("u4").await.unwrap().is_some(), "consented to");
    assert!(s.client("t1").await.unwrap().is_some(), "trusted");
    assert!(s.client("c1").await.unwrap().is_some(), "consented to");
    assert_eq!(s.purge_unused_clients(1000, 10).await.unwrap(), 1);
    assert_eq!(s.client("u3").await.unwrap(), None);
}

/// Last use recorded at most once per period; idle registrations reaped
/// with everything issued to them; used, fresh and trusted ones stay.
pub(super) async fn reap_idle(s: &dyn Storage) {
    let day = 86_400;
    // Far after every other client of the suite (those may be reaped too).
    let base = 1_000_000;
    for id in ["idle", "busy", "fresh"] {
        s.insert_client(client(id, base)).await.unwrap();
    }
    let mut operator = client("operator", base);
    operator.policy = ClientPolicy::trusted();
    s.insert_client(operator).await.unwrap();
    // Recorded once, not again within the period, again after it.
    assert!(s.touch_client("busy", base + 10, day).await.unwrap());
    assert!(!s.touch_client("busy", base + 20, day).await.unwrap());
    let busy = s.client("busy").await.unwrap().unwrap();
    assert_eq!(busy.last_used_at, Some(base + 10));
    assert!(s.touch_client("busy", base + 10 + day, day).await.unwrap());
    assert!(!s.touch_client("nobody", base, day).await.unwrap());
    assert!(s.touch_client("fresh", base + 2 * day, day).await.unwrap());
    // Updates replace the registration token and keep the last use.
    let mut busy = s.client("busy").await.unwrap().unwrap();
    busy.registration_token_hash = Some("rotated".into());
    busy.last_used_at = None;
    assert!(s.update_client(busy).await.unwrap());
    let busy = s.client("busy").await.unwrap().unwrap();
    assert_eq!(busy.last_used_at, Some(base + 10 + day));
    assert_eq!(busy.registration_token_hash.as_deref(), Some("rotated"));
    // What "idle" holds: a grant, a consent, a refresh family.
    s.record_grant(GrantRecord::new(
        "alice",
        "idle",
        None,
        "mcp",
        SignInMethod::Password,
        base,
    ))
    .await
    .unwrap();
    s.save_consent("alice", "idle", "", "mcp", base)
        .await
        .unwrap();
    let mut token = refresh("idle-rt", "idle-family", u64::MAX / 4);
    token.client_id = "idle".into();
    s.insert_refresh(token).await.unwrap();

    let reaped = s
        .reap_idle_clients(base + day + 1, base + 3 * day, 100)
        .await
        .unwrap();
    assert!(reaped.contains(&"idle".to_owned()), "{reaped:?}");
    for kept in ["busy", "fresh", "operator"] {
        assert!(!reaped.contains(&kept.to_owned()), "{kept}");
        assert!(s.client(kept).await.unwrap().is_some(), "{kept}");
    }
    assert_eq!(s.client("idle").await.unwrap(), None);
    assert_eq!(s.consent("alice", "idle", "").await.unwrap(), None);
    assert!(s.family_revoked("idle-family").await.unwrap());
    let live = s
        .grants(&GrantFilter::all().client("idle"), base + 3 * day)
        .await
        .unwrap();
    assert!(live.is_empty(), "{live:?}");
    assert_eq!(
        s.grant_revoked_at("alice", "idle", "").await.unwrap(),
        base + 3 * day
    );
    // The limit holds; nothing idle is left afterwards.
    let rest = s
        .reap_idle_clients(base + 3 * day, base + 3 * day, 1)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    let rest = s
        .reap_idle_clients(base + 3 * day, base + 3 * day, 100)
        .await
        .unwrap();
    assert!(!rest.contains(&"operator".to_owned()));
    assert!(
        s.reap_idle_clients(base + 3 * day, base + 3 * day, 100)
            .await
            .unwrap()
            .is_empty()
    );
}
