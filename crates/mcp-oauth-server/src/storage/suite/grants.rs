//! [`GrantStore`]: codes, refresh rotation, revocations, subjects, purging.

use super::*;

/// Codes are spent once; refresh tokens rotate once, repeat within the grace window, and reuse revokes the family.
pub(super) async fn codes_and_refresh(s: &dyn Storage) {
    // Codes: read without spending; spent once, recording what they issue;
    // a replay reports it.
    s.insert_code(code("k1", 100)).await.unwrap();
    assert!(matches!(
        s.insert_code(code("k1", 100)).await,
        Err(StorageError::Conflict)
    ));
    let unspent = s.code("k1").await.unwrap().unwrap();
    assert_eq!(
        (unspent.record, unspent.used, unspent.issued),
        (code("k1", 100), false, None)
    );
    let issued = IssuedFromCode {
        family_id: Some("f1".into()),
        access_jti: "j1".into(),
        access_exp: 200,
    };
    assert_eq!(
        s.consume_code("k1", issued.clone()).await.unwrap(),
        CodeConsumption::First(code("k1", 100))
    );
    let spent = s.code("k1").await.unwrap().unwrap();
    assert!(spent.used);
    assert_eq!(spent.issued.as_ref(), Some(&issued));
    assert_eq!(
        s.consume_code("k1", issued.clone()).await.unwrap(),
        CodeConsumption::Replayed {
            record: code("k1", 100),
            issued: Some(issued.clone())
        }
    );
    assert_eq!(
        s.consume_code("unknown", issued.clone()).await.unwrap(),
        CodeConsumption::Unknown
    );
    assert_eq!(s.code("unknown").await.unwrap(), None);

    // Refresh rotation: a retry within the grace window gets the same
    // (sealed) successor and stores nothing; once the successor is used,
    // or past the window, presenting the spent token is reuse.
    s.insert_refresh(refresh("r1", "f1", 1000)).await.unwrap();
    let out = s
        .rotate_refresh("r1", refresh("r2", "f1", 1000), "sealed-r2".into(), 100, 5)
        .await
        .unwrap();
    assert_eq!(out, RefreshRotation::Rotated(refresh("r1", "f1", 1000)));
    assert_eq!(
        s.refresh("r1").await.unwrap().unwrap().rotated_at,
        Some(100)
    );
    let out = s
        .rotate_refresh("r1", refresh("r3", "f1", 1000), "sealed-r3".into(), 104, 5)
        .await
        .unwrap();
    let RefreshRotation::Repeated {
        sealed_successor, ..
    } = out
    else {
        panic!("expected a repeat, got {out:?}");
    };
    assert_eq!(sealed_successor, "sealed-r2", "the same successor");
    assert_eq!(s.refresh("r3").await.unwrap(), None, "no fork stored");
    assert!(!s.family_revoked("f1").await.unwrap());
    // The successor is used; the spent token presented again (even within
    // the window) is reuse, and the family dies.
    assert!(matches!(
        s.rotate_refresh("r2", refresh("r4", "f1", 1000), "sealed-r4".into(), 104, 5)
            .await
            .unwrap(),
        RefreshRotation::Rotated(_)
    ));
    let out = s
        .rotate_refresh("r1", refresh("r5", "f1", 1000), "x".into(), 105, 5)
        .await
        .unwrap();
    assert!(matches!(out, RefreshRotation::Reused(_)), "{out:?}");
    assert!(s.family_revoked("f1").await.unwrap());
    let out = s
        .rotate_refresh("r4", refresh("r6", "f1", 1000), "x".into(), 106, 5)
        .await
        .unwrap();
    assert_eq!(
        out,
        RefreshRotation::Invalid,
        "live tokens die with the family"
    );
    // Past the window, a spent token is reuse even if its successor is unused.
    s.insert_refresh(refresh("g1", "fg", 1000)).await.unwrap();
    s.rotate_refresh("g1", refresh("g2", "fg", 1000), "s".into(), 100, 5)
        .await
        .unwrap();
    assert!(matches!(
        s.rotate_refresh("g1", refresh("g3", "fg", 1000), "s".into(), 200, 5)
            .await
            .unwrap(),
        RefreshRotation::Reused(_)
    ));
    assert_eq!(
        s.rotate_refresh("nope", refresh("r7", "f9", 1000), "x".into(), 1, 5)
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    // Expired tokens do not rotate.
    s.insert_refresh(refresh("e1", "f2", 50)).await.unwrap();
    assert_eq!(
        s.rotate_refresh("e1", refresh("e2", "f2", 1000), "x".into(), 60, 5)
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    s.revoke_family("f3", 1).await.unwrap();
    assert!(s.family_revoked("f3").await.unwrap());
}

/// Revoked access tokens, single-use identifiers and subject revocation.
pub(super) async fn revocations(s: &dyn Storage) {
    // Access-token revocation.
    s.revoke_jti("j9", 500).await.unwrap();
    assert!(s.jti_revoked("j9").await.unwrap());
    assert!(!s.jti_revoked("j8").await.unwrap());
    // Single-use identifiers.
    assert!(s.use_once("assertion:a", 500).await.unwrap());
    assert!(!s.use_once("assertion:a", 500).await.unwrap());

    // Subjects: revocation moves the generation on and ends the families.
    assert_eq!(s.subject("carol").await.unwrap(), SubjectState::default());
    let mut carol = refresh("c-r1", "c-f1", 1000);
    carol.subject = "carol".into();
    s.insert_refresh(carol).await.unwrap();
    let st = s.revoke_subject("carol", 300).await.unwrap();
    assert_eq!(
        st,
        SubjectState {
            generation: 1,
            revoked_at: 300
        }
    );
    assert_eq!(s.subject("carol").await.unwrap(), st);
    assert!(s.family_revoked("c-f1").await.unwrap());
    assert_eq!(
        s.revoke_subject("carol", 310).await.unwrap(),
        SubjectState {
            generation: 2,
            revoked_at: 310
        }
    );
}

/// What expired goes; spent codes stay for the retention window.
pub(super) async fn purge(s: &dyn Storage) {
    // Purge: expired refresh tokens and revoked jtis go; spent codes stay
    // for the retention window.
    s.purge_expired(300, 1000).await.unwrap();
    assert!(s.code("k1").await.unwrap().is_some_and(|c| c.used));
    assert_eq!(s.refresh("e1").await.unwrap(), None);
    s.purge_expired(600, 0).await.unwrap();
    assert!(!s.jti_revoked("j9").await.unwrap());
    assert_eq!(s.code("k1").await.unwrap(), None);
    s.purge_expired(2000, 0).await.unwrap();
    assert_eq!(s.refresh("r2").await.unwrap(), None);
}
