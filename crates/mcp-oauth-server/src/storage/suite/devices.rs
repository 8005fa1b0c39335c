//! [`DeviceStore`]: device authorizations, decided once, redeemed once.

use mcp_oauth_core::device::PollPace;

use super::*;
use crate::storage::policy::DevicePoll;

/// A pending device authorization expiring at `expires_at`, polled every
/// 5 s.
pub(super) fn device(hash: &str, user_code: &str, expires_at: u64) -> DeviceRecord {
    DeviceRecord {
        device_code_hash: hash.into(),
        user_code: user_code.into(),
        client_id: "agent".into(),
        scope: "mcp".into(),
        resource: Some("https://rs.example/mcp".into()),
        expires_at,
        pace: PollPace::new(5),
        state: DeviceState::Pending,
    }
}

fn approved() -> DeviceState {
    DeviceState::Approved {
        subject: "alice".into(),
        generation: 3,
        auth_time: 90,
        approved_at: 95,
    }
}

/// The life of device authorizations: pending, slowed down, decided once,
/// redeemed once, expired, purged.
pub(super) async fn run(s: &dyn Storage) {
    s.insert_device(device("d1", "BCDF-GHJK", 1_000))
        .await
        .unwrap();
    // Neither code may be reused while the first lives.
    for dup in [
        device("d1", "LMNP-QRST", 1_000),
        device("d2", "BCDF-GHJK", 1_000),
    ] {
        assert!(matches!(
            s.insert_device(dup).await,
            Err(StorageError::Conflict)
        ));
    }
    let found = s.device_by_user_code("BCDF-GHJK").await.unwrap().unwrap();
    assert_eq!(found.device_code_hash, "d1");
    assert_eq!(s.device_by_user_code("LMNP-QRST").await.unwrap(), None);

    assert_eq!(
        s.poll_device("nope", "agent", 100).await.unwrap(),
        DevicePoll::Unknown
    );
    // Another client's poll learns nothing and changes nothing.
    assert_eq!(
        s.poll_device("d1", "thief", 100).await.unwrap(),
        DevicePoll::Unknown
    );
    assert_eq!(
        s.poll_device("d1", "agent", 100).await.unwrap(),
        DevicePoll::Pending
    );
    // 2 s later: too fast, and the interval grows (kept by the store).
    assert_eq!(
        s.poll_device("d1", "agent", 102).await.unwrap(),
        DevicePoll::SlowDown
    );
    assert_eq!(
        s.poll_device("d1", "agent", 109).await.unwrap(),
        DevicePoll::SlowDown
    );
    let slowed = s.device_by_user_code("BCDF-GHJK").await.unwrap().unwrap();
    assert_eq!(slowed.pace.interval(), 15);
    assert_eq!(
        s.poll_device("d1", "agent", 124).await.unwrap(),
        DevicePoll::Pending
    );

    // One decision; a second (a deny racing an approve) is not recorded.
    assert!(s.decide_device("BCDF-GHJK", approved(), 130).await.unwrap());
    assert!(
        !s.decide_device("BCDF-GHJK", DeviceState::Denied, 131)
            .await
            .unwrap()
    );
    assert!(!s.decide_device("ZZZZ-ZZZZ", approved(), 131).await.unwrap());
    // The first poll after approval spends it; the next is a replay.
    match s.poll_device("d1", "agent", 200).await.unwrap() {
        DevicePoll::Approved(r) => assert_eq!(r.state, approved()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.poll_device("d1", "agent", 300).await.unwrap(),
        DevicePoll::Redeemed
    );

    // Denied stays denied; expired is expired, and cannot be decided.
    s.insert_device(device("d3", "LMNP-QRST", 1_000))
        .await
        .unwrap();
    assert!(
        s.decide_device("LMNP-QRST", DeviceState::Denied, 100)
            .await
            .unwrap()
    );
    assert_eq!(
        s.poll_device("d3", "agent", 200).await.unwrap(),
        DevicePoll::Denied
    );
    s.insert_device(device("d4", "VWXZ-BCDF", 500))
        .await
        .unwrap();
    assert!(!s.decide_device("VWXZ-BCDF", approved(), 500).await.unwrap());
    assert_eq!(
        s.poll_device("d4", "agent", 500).await.unwrap(),
        DevicePoll::Expired
    );

    // Purging forgets the expired ones and frees their user codes.
    s.purge_devices(600).await.unwrap();
    assert_eq!(s.device_by_user_code("VWXZ-BCDF").await.unwrap(), None);
    assert!(s.device_by_user_code("LMNP-QRST").await.unwrap().is_some());
    s.insert_device(device("d5", "VWXZ-BCDF", 2_000))
        .await
        .unwrap();
}

/// Two pollers of one approved device code (two threads, or two instances
/// on one database): exactly one gets the tokens.
pub(super) async fn one_redemption(a: &dyn Storage, b: &dyn Storage) {
    for round in 0..25 {
        let hash = format!("race-{round}");
        let code = format!("RACE-{round:04}");
        a.insert_device(device(&hash, &code, u64::MAX / 4))
            .await
            .unwrap();
        assert!(a.decide_device(&code, approved(), 10).await.unwrap());
        let (x, y) = tokio::join!(
            a.poll_device(&hash, "agent", 20),
            b.poll_device(&hash, "agent", 20)
        );
        let outcomes = [x.unwrap(), y.unwrap()];
        let approved = outcomes
            .iter()
            .filter(|o| matches!(o, DevicePoll::Approved(_)))
            .count();
        assert_eq!(approved, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.contains(&DevicePoll::Redeemed), "{outcomes:?}");
    }
}
