//! The upstream token vault: one record per (subject, provider), a
//! compare-and-set that lets one of two concurrent refreshes win, and
//! records that end with the grants they belong to.

use super::*;

fn sealed(subject: &str, provider: &str, client: &str, text: &str) -> UpstreamTokenRecord {
    UpstreamTokenRecord::new(subject, provider, client, 3, text, 100)
}

pub(super) async fn run(s: &dyn Storage) {
    assert_eq!(s.upstream_token("v:ann", "gh").await.unwrap(), None);
    let v1 = s
        .put_upstream_token(sealed("v:ann", "gh", "app", "one"))
        .await
        .unwrap();
    let got = s.upstream_token("v:ann", "gh").await.unwrap().unwrap();
    assert_eq!(
        (
            got.client_id.as_str(),
            got.generation,
            got.sealed.as_str(),
            got.version
        ),
        ("app", 3, "one", v1)
    );
    // A new sign-in replaces the record and moves the version on.
    let v2 = s
        .put_upstream_token(sealed("v:ann", "gh", "app2", "two"))
        .await
        .unwrap();
    assert_ne!(v2, v1);
    let got = s.upstream_token("v:ann", "gh").await.unwrap().unwrap();
    assert_eq!(
        (got.client_id.as_str(), got.sealed.as_str()),
        ("app2", "two")
    );

    // Compare-and-set: the first refresh wins, the second finds it moved.
    let mut refreshed = sealed("v:ann", "gh", "ignored", "three");
    refreshed.updated_at = 200;
    let v3 = s
        .replace_upstream_token(refreshed.clone(), v2)
        .await
        .unwrap()
        .expect("the version matched");
    assert_ne!(v3, v2);
    let mut late = refreshed.clone();
    late.sealed = "stale".into();
    assert_eq!(s.replace_upstream_token(late, v2).await.unwrap(), None);
    let got = s.upstream_token("v:ann", "gh").await.unwrap().unwrap();
    assert_eq!(
        (
            got.sealed.as_str(),
            got.updated_at,
            got.client_id.as_str(),
            got.version
        ),
        ("three", 200, "app2", v3),
        "replacing keeps whose the tokens are"
    );
    // Deleting is conditional too.
    assert!(!s.delete_upstream_token("v:ann", "gh", v2).await.unwrap());
    assert!(s.delete_upstream_token("v:ann", "gh", v3).await.unwrap());
    assert_eq!(s.upstream_token("v:ann", "gh").await.unwrap(), None);
    assert_eq!(
        s.replace_upstream_token(refreshed, v3).await.unwrap(),
        None,
        "a deleted record is not brought back"
    );

    // A version never comes back for a (subject, provider): a refresh that
    // read the record before it was deleted (revocation) and stored again
    // (a new sign-in) does not overwrite the new one.
    let old = s
        .put_upstream_token(sealed("v:ann", "gh", "app", "before"))
        .await
        .unwrap();
    assert!(s.delete_upstream_token("v:ann", "gh", old).await.unwrap());
    let new = s
        .put_upstream_token(sealed("v:ann", "gh", "app", "after"))
        .await
        .unwrap();
    assert_ne!(new, old);
    assert_eq!(
        s.replace_upstream_token(sealed("v:ann", "gh", "app", "slow"), old)
            .await
            .unwrap(),
        None,
        "a version of the deleted record does not match the new one"
    );
    assert!(!s.delete_upstream_token("v:ann", "gh", old).await.unwrap());
    let got = s.upstream_token("v:ann", "gh").await.unwrap().unwrap();
    assert_eq!((got.sealed.as_str(), got.version), ("after", new));
    // Versions are nonzero and fit a signed 64-bit column.
    for v in [v1, v2, v3, old, new] {
        assert!(v > 0 && v <= i64::MAX as u64, "{v}");
    }
    assert!(s.delete_upstream_token("v:ann", "gh", new).await.unwrap());

    // Providers no longer storing tokens lose theirs.
    s.put_upstream_token(sealed("v:ann", "gh", "app", "a"))
        .await
        .unwrap();
    s.put_upstream_token(sealed("v:ann", "old", "app", "b"))
        .await
        .unwrap();
    assert_eq!(s.retain_upstream_tokens(&["gh".into()]).await.unwrap(), 1);
    assert!(s.upstream_token("v:ann", "gh").await.unwrap().is_some());
    assert_eq!(s.upstream_token("v:ann", "old").await.unwrap(), None);
}

/// The records end with the grants they belong to, in the same write.
pub(super) async fn ended_with_grants(s: &dyn Storage) {
    let t = 1_000;
    for (who, client) in [
        ("v:bob", "vault-a"),
        ("v:cy", "vault-a"),
        ("v:dee", "vault-b"),
    ] {
        s.record_grant(GrantRecord::new(
            who,
            client,
            Some("http://rs.test/mcp"),
            "mcp",
            SignInMethod::Federated,
            t,
        ))
        .await
        .unwrap();
        s.put_upstream_token(sealed(who, "gh", client, "x"))
            .await
            .unwrap();
    }
    // bob's tokens came through vault-a; ending his grant to another
    // client leaves them.
    s.revoke_grants(&GrantFilter::subject("v:bob").client("vault-b"), t + 1)
        .await
        .unwrap();
    assert!(s.upstream_token("v:bob", "gh").await.unwrap().is_some());
    // Ending his grant to vault-a ends them, and nobody else's.
    s.revoke_grants(&GrantFilter::subject("v:bob").client("vault-a"), t + 1)
        .await
        .unwrap();
    assert_eq!(s.upstream_token("v:bob", "gh").await.unwrap(), None);
    assert!(s.upstream_token("v:cy", "gh").await.unwrap().is_some());
    // Ending a subject ends theirs.
    s.revoke_subject("v:cy", t + 2).await.unwrap();
    assert_eq!(s.upstream_token("v:cy", "gh").await.unwrap(), None);
    assert!(s.upstream_token("v:dee", "gh").await.unwrap().is_some());
    // Reaping an idle client ends the tokens of sign-ins through it.
    let mut idle = client("vault-b", 5);
    idle.last_used_at = Some(5);
    s.insert_client(idle).await.unwrap();
    let reaped = s.reap_idle_clients(10, t + 3, 100).await.unwrap();
    assert!(reaped.contains(&"vault-b".to_owned()), "{reaped:?}");
    assert_eq!(s.upstream_token("v:dee", "gh").await.unwrap(), None);
}

/// Two writers racing on one version: exactly one wins.
pub(super) async fn one_refresh_wins(a: &dyn Storage, b: &dyn Storage) {
    for round in 0..10 {
        let subject = format!("v:race-{round}");
        let v = a
            .put_upstream_token(sealed(&subject, "gh", "app", "old"))
            .await
            .unwrap();
        let (x, y) = tokio::join!(
            a.replace_upstream_token(sealed(&subject, "gh", "app", "from-a"), v),
            b.replace_upstream_token(sealed(&subject, "gh", "app", "from-b"), v)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(
            usize::from(x.is_some()) + usize::from(y.is_some()),
            1,
            "round {round}"
        );
        let kept = a.upstream_token(&subject, "gh").await.unwrap().unwrap();
        let winner = if x.is_some() { "from-a" } else { "from-b" };
        assert_eq!(kept.sealed, winner);
    }
}
