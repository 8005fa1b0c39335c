//! [`AccountStore`] and [`AuditStore`]: grants listed and revoked per
//! person, client and resource; sessions; the audit trail.

use super::*;

fn token(
    hash: &str,
    family: &str,
    subject: &str,
    client: &str,
    resource: Option<&str>,
) -> RefreshRecord {
    RefreshRecord {
        token_hash: hash.into(),
        family_id: family.into(),
        client_id: client.into(),
        subject: subject.into(),
        subject_generation: 0,
        scope: "mcp".into(),
        resource: resource.map(Into::into),
        auth_time: 1,
        approved_at: 0,
        expires_at: 10_000,
        rotated_at: None,
    }
}

const A: &str = "https://a.test/mcp";
const B: &str = "https://b.test/mcp";

/// Grants: recorded, listed with their consents and live families,
/// revoked per resource without touching the other, re-approved.
pub(super) async fn grants(s: &dyn Storage) {
    let now = 100;
    s.record_grant(GrantRecord::new(
        "gina",
        "agent",
        Some(A),
        "mcp",
        SignInMethod::Password,
        now,
    ))
    .await
    .unwrap();
    s.record_grant(
        GrantRecord::new(
            "gina",
            "agent",
            Some(B),
            "mcp files",
            SignInMethod::Federated,
            now + 1,
        )
        .through_device(),
    )
    .await
    .unwrap();
    s.record_grant(GrantRecord::new(
        "hank",
        "agent",
        Some(A),
        "mcp",
        SignInMethod::Password,
        now + 2,
    ))
    .await
    .unwrap();
    s.save_consent("gina", "agent", A, "mcp", now)
        .await
        .unwrap();
    s.save_consent("gina", "agent", B, "mcp files", now)
        .await
        .unwrap();
    s.insert_refresh(token("ga1", "fa", "gina", "agent", Some(A)))
        .await
        .unwrap();
    s.insert_refresh(token("gb1", "fb", "gina", "agent", Some(B)))
        .await
        .unwrap();
    s.insert_refresh(token("ha1", "fh", "hank", "agent", Some(A)))
        .await
        .unwrap();

    let all = s.grants(&GrantFilter::all(), now).await.unwrap();
    assert_eq!(all.len(), 3);
    let gina = s.grants(&GrantFilter::subject("gina"), now).await.unwrap();
    assert_eq!(gina.len(), 2);
    assert_eq!(gina[0].record.resource, A);
    assert!(gina[0].remembered);
    assert_eq!(gina[0].live_refresh_families, 1);
    assert_eq!(gina[1].record.method, SignInMethod::Federated);
    assert!(gina[1].record.device);
    assert_eq!(gina[1].record.scope, "mcp files");
    // A family past its expiry is not live.
    let later = s
        .grants(&GrantFilter::subject("gina"), 20_000)
        .await
        .unwrap();
    assert_eq!(later[0].live_refresh_families, 0);

    // Revoking resource A for gina leaves B, and hank's A, alone.
    let ended = s
        .revoke_grants(
            &GrantFilter::subject("gina").client("agent").resource(A),
            now + 5,
        )
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].resource, A);
    assert!(s.consent("gina", "agent", A).await.unwrap().is_none());
    assert!(s.consent("gina", "agent", B).await.unwrap().is_some());
    assert!(s.family_revoked("fa").await.unwrap());
    assert!(!s.family_revoked("fb").await.unwrap());
    assert!(!s.family_revoked("fh").await.unwrap());
    assert_eq!(
        s.grant_revoked_at("gina", "agent", A).await.unwrap(),
        now + 5
    );
    assert_eq!(s.grant_revoked_at("gina", "agent", B).await.unwrap(), 0);
    assert_eq!(s.grant_revoked_at("nobody", "agent", A).await.unwrap(), 0);
    // Client-wide: any resource's revocation counts, other people's not.
    assert_eq!(
        s.client_grant_revoked_at("gina", "agent").await.unwrap(),
        now + 5
    );
    assert_eq!(s.client_grant_revoked_at("hank", "agent").await.unwrap(), 0);
    assert_eq!(s.client_grant_revoked_at("gina", "other").await.unwrap(), 0);
    let gina = s.grants(&GrantFilter::subject("gina"), now).await.unwrap();
    assert_eq!(gina.len(), 1);
    assert_eq!(gina[0].record.resource, B);
    // Revoking again ends nothing more.
    assert!(
        s.revoke_grants(&GrantFilter::subject("gina").resource(A), now + 6)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.grant_revoked_at("gina", "agent", A).await.unwrap(),
        now + 5
    );

    // Approving again makes it live again, keeping when it was revoked.
    s.record_grant(GrantRecord::new(
        "gina",
        "agent",
        Some(A),
        "mcp",
        SignInMethod::Password,
        now + 10,
    ))
    .await
    .unwrap();
    assert_eq!(
        s.grants(&GrantFilter::subject("gina"), now)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.grant_revoked_at("gina", "agent", A).await.unwrap(),
        now + 5
    );

    // Every grant of a client, for everyone.
    let ended = s
        .revoke_grants(&GrantFilter::all().client("agent"), now + 20)
        .await
        .unwrap();
    assert_eq!(ended.len(), 3);
    assert!(s.grants(&GrantFilter::all(), now).await.unwrap().is_empty());
    assert!(s.family_revoked("fh").await.unwrap());
    assert!(s.family_revoked("fb").await.unwrap());
    // A family with no grant recorded (from before grants were kept) is
    // revoked all the same.
    s.insert_refresh(token("old1", "fold", "ivy", "legacy", None))
        .await
        .unwrap();
    s.revoke_grants(&GrantFilter::subject("ivy"), now + 30)
        .await
        .unwrap();
    assert!(s.family_revoked("fold").await.unwrap());
    // Revoking the grant that named no resource reaches the tokens of
    // every audience of that client (they carry the default audience).
    s.record_grant(GrantRecord::new(
        "ivy",
        "legacy",
        None,
        "mcp",
        SignInMethod::Password,
        now,
    ))
    .await
    .unwrap();
    s.revoke_grants(&GrantFilter::subject("ivy").resource(""), now + 40)
        .await
        .unwrap();
    assert_eq!(
        s.grant_revoked_at("ivy", "legacy", A).await.unwrap(),
        now + 40
    );
    assert_eq!(s.grant_revoked_at("ivy", "other", A).await.unwrap(), 0);
    // Revoking a client's grants, then deleting the client, keeps their
    // revocation time until the purge (twice the retention later).
    s.insert_client(client("gclient", 1)).await.unwrap();
    s.record_grant(GrantRecord::new(
        "gina",
        "gclient",
        None,
        "mcp",
        SignInMethod::Password,
        now,
    ))
    .await
    .unwrap();
    s.revoke_grants(&GrantFilter::all().client("gclient"), now + 50)
        .await
        .unwrap();
    assert!(s.delete_client("gclient").await.unwrap());
    assert_eq!(
        s.grant_revoked_at("gina", "gclient", "").await.unwrap(),
        now + 50
    );
    s.record_grant(GrantRecord::new(
        "gina",
        "kept",
        None,
        "mcp",
        SignInMethod::Password,
        now,
    ))
    .await
    .unwrap();
    s.purge_expired_grants(now + 50 + 2 * 1_000 - 1, 1_000)
        .await
        .unwrap();
    assert_eq!(
        s.grant_revoked_at("gina", "gclient", "").await.unwrap(),
        now + 50
    );
    s.purge_expired_grants(now + 50 + 2 * 1_000, 1_000)
        .await
        .unwrap();
    assert_eq!(s.grant_revoked_at("gina", "gclient", "").await.unwrap(), 0);
    // A live grant is never purged.
    let kept = s
        .grants(&GrantFilter::all().client("kept"), now)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
}

/// Sessions: stored, listed live, ended one or all, ended with the
/// subject, purged.
pub(super) async fn sessions(s: &dyn Storage) {
    s.insert_session(
        SessionRecord::new("s1", "jane", SignInMethod::Password, 10, 1_000).address("127.0.0.1"),
    )
    .await
    .unwrap();
    s.insert_session(SessionRecord::new(
        "s2",
        "jane",
        SignInMethod::Federated,
        20,
        50,
    ))
    .await
    .unwrap();
    s.insert_session(SessionRecord::new(
        "s3",
        "kim",
        SignInMethod::Password,
        30,
        1_000,
    ))
    .await
    .unwrap();
    assert!(matches!(
        s.insert_session(SessionRecord::new("s1", "x", SignInMethod::Password, 1, 2))
            .await,
        Err(StorageError::Conflict)
    ));
    let one = s.session("s1").await.unwrap().unwrap();
    assert_eq!(one.subject, "jane");
    assert_eq!(one.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(s.sessions("jane", 40).await.unwrap().len(), 2);
    assert_eq!(s.sessions("jane", 60).await.unwrap().len(), 1);
    assert!(s.delete_session("s1").await.unwrap());
    assert!(!s.delete_session("s1").await.unwrap());
    assert_eq!(s.delete_sessions("jane").await.unwrap(), 1);
    assert!(s.sessions("jane", 0).await.unwrap().is_empty());
    // Ending a subject ends its sessions, consents and grants too.
    s.save_consent("kim", "agent", A, "mcp", 30).await.unwrap();
    s.record_grant(GrantRecord::new(
        "kim",
        "agent",
        Some(A),
        "mcp",
        SignInMethod::Password,
        30,
    ))
    .await
    .unwrap();
    s.revoke_subject("kim", 35).await.unwrap();
    assert!(s.session("s3").await.unwrap().is_none());
    assert!(s.consent("kim", "agent", A).await.unwrap().is_none());
    assert!(
        s.grants(&GrantFilter::subject("kim"), 35)
            .await
            .unwrap()
            .is_empty()
    );
    // (The records go: the subject's generation ends what they issued.)
    assert_eq!(s.grant_revoked_at("kim", "agent", A).await.unwrap(), 0);
    assert!(s.subject("kim").await.unwrap().revoked_at == 35);
    s.insert_session(SessionRecord::new(
        "s4",
        "lee",
        SignInMethod::Password,
        1,
        70,
    ))
    .await
    .unwrap();
    s.purge_expired(71, 0).await.unwrap();
    assert!(s.session("s4").await.unwrap().is_none());
}

/// The audit trail: appended in order, queried by person, client, kind
/// and time, paged, purged by age.
pub(super) async fn audit(s: &dyn Storage) {
    let mut first = AuditEvent::new("login_succeeded", 100);
    first.actor_user = Some("mia".into());
    first.address = Some("127.0.0.1".into());
    let a = s.append_audit(first).await.unwrap();
    let mut second = AuditEvent::new("consent_granted", 101);
    second.actor_user = Some("mia".into());
    second.actor_client = Some("agent".into());
    second.details = serde_json::json!({"scope": "mcp", "resource": A});
    let b = s.append_audit(second).await.unwrap();
    let mut third = AuditEvent::new("grant_revoked", 200);
    third.subject = Some("mia".into());
    third.actor_client = Some("ops".into());
    third.client = Some("agent".into());
    let c = s.append_audit(third).await.unwrap();
    assert!(a < b && b < c);

    let all = s.audit_events(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a, b, c]);
    assert_eq!(all[1].details["scope"], "mcp");
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let mia = s
        .audit_events(&q(&|q| q.user = Some("mia".into())))
        .await
        .unwrap();
    assert_eq!(mia.len(), 3, "as actor, and as the subject of a revocation");
    let agent = s
        .audit_events(&q(&|q| q.client = Some("agent".into())))
        .await
        .unwrap();
    assert_eq!(agent.iter().map(|e| e.id).collect::<Vec<_>>(), vec![b, c]);
    let kind = s
        .audit_events(&q(&|q| q.kind = Some("grant_revoked".into())))
        .await
        .unwrap();
    assert_eq!(kind.len(), 1);
    assert_eq!(kind[0].client.as_deref(), Some("agent"));
    let ops = s
        .audit_events(&q(&|q| q.client = Some("ops".into())))
        .await
        .unwrap();
    assert_eq!(ops.iter().map(|e| e.id).collect::<Vec<_>>(), vec![c]);
    let since = s.audit_events(&q(&|q| q.since = Some(101))).await.unwrap();
    assert_eq!(since.len(), 2);
    let page = s
        .audit_events(&q(&|q| {
            q.after = a;
            q.limit = 1;
        }))
        .await
        .unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), vec![b]);
    assert_eq!(s.purge_audit(150).await.unwrap(), 2);
    let left = s.audit_events(&AuditQuery::default()).await.unwrap();
    assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), vec![c]);
    // Positions keep growing after a purge.
    assert!(
        s.append_audit(AuditEvent::new("key_rotated", 300))
            .await
            .unwrap()
            > c
    );
}
