//! [`UserStore`]: users and federated identities.

use super::*;

/// Users are replaced on upsert, listed by name, deleted.
pub(super) async fn users(s: &dyn Storage) {
    // Users.
    let user = |n: &str, h: &str| UserRecord {
        username: n.into(),
        password_hash: h.into(),
    };
    s.upsert_user(user("bob", "h1")).await.unwrap();
    s.upsert_user(user("bob", "h2")).await.unwrap();
    s.upsert_user(user("amy", "h3")).await.unwrap();
    assert_eq!(s.user("bob").await.unwrap(), Some(user("bob", "h2")));
    let names: Vec<_> = s
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["amy", "bob"]);
    // Insert-only: a taken name is a conflict and changes nothing.
    assert!(matches!(
        s.insert_user(user("bob", "h9")).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(s.user("bob").await.unwrap(), Some(user("bob", "h2")));
    s.insert_user(user("cal", "h4")).await.unwrap();
    assert!(s.update_password("cal", "h5").await.unwrap());
    assert_eq!(s.user("cal").await.unwrap(), Some(user("cal", "h5")));
    assert!(!s.update_password("nobody", "h6").await.unwrap());
    assert_eq!(s.user("nobody").await.unwrap(), None);
    assert!(s.delete_user("cal").await.unwrap());
    assert!(s.delete_user("amy").await.unwrap());
    assert_eq!(s.user("amy").await.unwrap(), None);
}

/// Federated identities are replaced at every sign-in.
pub(super) async fn identities(s: &dyn Storage) {
    // Federated identities: replaced at every sign-in.
    assert_eq!(s.identity("corp:u1").await.unwrap(), None);
    let mut who = IdentityRecord {
        subject: "corp:u1".into(),
        provider: "corp".into(),
        email: Some("u1@example.com".into()),
        email_verified: Some(true),
        name: None,
        groups: vec!["staff".into()],
        updated_at: 100,
    };
    s.save_identity(who.clone()).await.unwrap();
    assert_eq!(s.identity("corp:u1").await.unwrap().as_ref(), Some(&who));
    who.groups.clear();
    who.updated_at = 200;
    s.save_identity(who.clone()).await.unwrap();
    assert_eq!(s.identity("corp:u1").await.unwrap(), Some(who));
    assert_eq!(s.identity("corp:u2").await.unwrap(), None);
}
