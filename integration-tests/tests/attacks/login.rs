//! Password guessing with concurrency: attempts are reserved atomically
//! before the hash, so a burst is cut off exactly at the limit, on every
//! storage backend; the hashing queue is bounded, so a flood is answered
//! "busy" instead of starving real logins.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::{PASSWORD, TestServer, USER, http};
use mcp_oauth_server::ratelimit::ThrottleLimits;
use mcp_oauth_server::storage::{AuditQuery, Storage};
use mcp_oauth_server::{AuditKind, ProxyHeader};

use crate::flow::{cookie_of, field, register_public};

/// A login page to post attempts to: (CSRF cookie, request, CSRF field).
async fn page(s: &TestServer) -> (String, String, String) {
    let client_id = register_public(s).await;
    let (url, _) = crate::flow::authorize_url(s, &client_id, crate::flow::REDIRECT, None);
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = cookie_of(&r, "mcp_oauth_csrf").unwrap();
    let html = r.text().await.unwrap();
    (cookie, field(&html, "request"), field(&html, "csrf"))
}

/// One login attempt by `client` (one client for all of a test's attempts:
/// building one per request would keep the test's thread busy while the
/// connections it opened sit idle past the server's head timeout).
async fn attempt(
    client: &reqwest::Client,
    s: &TestServer,
    page: &(String, String, String),
    user: &str,
    password: &str,
) -> u16 {
    client
        .post(s.url("/login"))
        .header("cookie", &page.0)
        .form(&[
            ("username", user),
            ("password", password),
            ("request", &page.1),
            ("csrf", &page.2),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Finding 3: 60 concurrent guesses for one account against a limit of 5
/// were all evaluated (and the right one among them signed in). Now
/// exactly 5 reach the password check, and the account is locked.
async fn burst_is_cut_off_at_the_limit(storage: Arc<dyn Storage>) {
    let s = TestServer::start_with(storage, |mut c| {
        c.login_limits = ThrottleLimits {
            per_account: 5,
            per_address: 1000,
            window: Duration::from_secs(900),
        };
        c
    })
    .await;
    let p = Arc::new(page(&s).await);
    let s = Arc::new(s);
    let client = http();
    let attempts: Vec<_> = (0..60)
        .map(|_| {
            let (s, p, c) = (s.clone(), p.clone(), client.clone());
            tokio::spawn(async move { attempt(&c, &s, &p, USER, "wrong").await })
        })
        .collect();
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, refused),
        (5, 55),
        "exactly the limit reached the password check: {statuses:?}"
    );
    // The account stays locked for the window, whatever the password.
    assert_eq!(attempt(&client, &s, &p, USER, PASSWORD).await, 429);
    match Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("server still shared"),
    }
}

#[tokio::test]
async fn a_concurrent_burst_is_cut_off_at_the_limit_in_memory() {
    burst_is_cut_off_at_the_limit(Arc::new(mcp_oauth_server::storage::MemoryStorage::new())).await;
}

#[tokio::test]
async fn a_concurrent_burst_is_cut_off_at_the_limit_on_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "mcp-oauth-burst-{}-{}",
        std::process::id(),
        integration_tests::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let storage = mcp_oauth_server::storage::open(&format!("sqlite:{}", dir.join("db").display()))
        .await
        .unwrap();
    burst_is_cut_off_at_the_limit(storage).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_concurrent_burst_is_cut_off_at_the_limit_on_postgres() {
    let Some(db) = mcp_oauth_server::testing::TempDatabase::create().await else {
        return;
    };
    let storage = mcp_oauth_server::storage::open(&db.url).await.unwrap();
    burst_is_cut_off_at_the_limit(storage).await;
    db.drop_now().await;
}

/// A6: on PostgreSQL, failures with very long (random) usernames were
/// never counted, so one address could guess without limit. Names that
/// cannot exist now cost the address its attempt, on every backend, and
/// the account key has a fixed size.
async fn long_usernames_count_against_the_address(storage: Arc<dyn Storage>) {
    let s = TestServer::start_with(storage, |mut c| {
        c.login_limits = ThrottleLimits {
            per_account: 1000,
            per_address: 4,
            window: Duration::from_secs(900),
        };
        c
    })
    .await;
    let p = page(&s).await;
    let client = http();
    for i in 0..4 {
        let name: String = format!(
            "{i}{}",
            mcp_oauth_core::secret::random_base64url(4000).unwrap()
        );
        assert_eq!(attempt(&client, &s, &p, &name, "guess").await, 401);
    }
    assert_eq!(attempt(&client, &s, &p, USER, PASSWORD).await, 429);
    s.stop().await;
}

#[tokio::test]
async fn long_usernames_count_against_the_address_in_memory() {
    long_usernames_count_against_the_address(Arc::new(
        mcp_oauth_server::storage::MemoryStorage::new(),
    ))
    .await;
}

#[tokio::test]
async fn long_usernames_count_against_the_address_on_postgres() {
    let Some(db) = mcp_oauth_server::testing::TempDatabase::create().await else {
        return;
    };
    let storage = mcp_oauth_server::storage::open(&db.url).await.unwrap();
    long_usernames_count_against_the_address(storage).await;
    db.drop_now().await;
}

/// Finding 3, second half: the hashing queue was unbounded, so a flood of
/// logins from many accounts starved real ones. Now what does not fit the
/// bounded queue is answered 503 with `Retry-After` at once.
#[tokio::test]
async fn a_flood_of_logins_is_answered_busy_not_queued() {
    let s = TestServer::start(|mut c| {
        c.login_limits = ThrottleLimits {
            per_account: 1000,
            per_address: 100_000,
            window: Duration::from_secs(900),
        };
        c
    })
    .await;
    let p = Arc::new(page(&s).await);
    let s = Arc::new(s);
    // One client for the whole flood: building one per request would keep
    // this test's thread busy while opened connections sit idle.
    let client = http();
    let flood: Vec<_> = (0..300)
        .map(|i| {
            let (s, p, client) = (s.clone(), p.clone(), client.clone());
            tokio::spawn(async move {
                let r = client
                    .post(s.url("/login"))
                    .header("cookie", &p.0)
                    .form(&[
                        ("username", format!("user{i}").as_str()),
                        ("password", "guess"),
                        ("request", &p.1),
                        ("csrf", &p.2),
                    ])
                    .send()
                    .await
                    .unwrap();
                let retry = r.headers().get("retry-after").is_some();
                (r.status().as_u16(), retry)
            })
        })
        .collect();
    let mut busy = 0;
    for f in flood {
        let (status, retry) = f.await.unwrap();
        assert!(status == 401 || status == 503, "{status}");
        if status == 503 {
            assert!(retry, "503 carries Retry-After");
            busy += 1;
        }
    }
    assert!(busy > 0, "the queue is bounded");
    // Once the flood has passed, a real login goes through.
    assert_eq!(attempt(&client, &s, &p, USER, PASSWORD).await, 302);
    match Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("server still shared"),
    }
}

/// The addresses the audit trail names in the events of `kind`, oldest
/// first.
async fn audited(s: &TestServer, kind: AuditKind) -> Vec<String> {
    let mut q = AuditQuery::default();
    q.kind = Some(kind.as_str().to_owned());
    q.limit = AuditQuery::MAX_LIMIT;
    let events = s.storage.audit_events(&q).await.unwrap();
    events
        .into_iter()
        .map(|e| e.address.unwrap_or_default())
        .collect()
}

/// A3: behind a reverse proxy every client had the proxy's address, so
/// twenty wrong passwords by anyone locked everyone out. From a proxy the
/// operator trusts, the client it reports in the header it writes is
/// counted; from anyone else, and in the other header (review 3: a client
/// varied `Forwarded`, which an `X-Forwarded-For` proxy passes on), the
/// headers are ignored. The audit trail names the same address the limits
/// count.
#[tokio::test]
async fn per_address_limits_follow_the_client_behind_a_trusted_proxy() {
    let limits = ThrottleLimits {
        per_account: 1000,
        per_address: 3,
        window: Duration::from_secs(900),
    };
    let client = http();
    let guess = |s: &TestServer, p: &(String, String, String), forwarded: &'static str| {
        // What a client sends in the header the proxy does not write is
        // passed on as it is: it must never count.
        let spoofed = format!("for=198.51.100.{}", forwarded.len());
        client
            .post(s.url("/login"))
            .header("cookie", &p.0)
            .header("x-forwarded-for", forwarded)
            .header("forwarded", spoofed)
            .form(&[
                ("username", "nobody"),
                ("password", "guess"),
                ("request", p.1.as_str()),
                ("csrf", p.2.as_str()),
            ])
            .send()
    };
    // Behind a trusted proxy: one client's guesses do not lock another out.
    let s = TestServer::start(|mut c| {
        c.login_limits = limits;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c
    })
    .await;
    let p = page(&s).await;
    for _ in 0..3 {
        let r = guess(&s, &p, "203.0.113.1").await.unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(guess(&s, &p, "203.0.113.1").await.unwrap().status(), 429);
    assert_eq!(
        guess(&s, &p, "203.0.113.2").await.unwrap().status(),
        401,
        "another client behind the proxy is not locked out"
    );
    // A client cannot slip a fake address in front of its own.
    assert_eq!(
        guess(&s, &p, "198.51.100.1, 203.0.113.1")
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        audited(&s, AuditKind::LoginFailed).await,
        ["203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2"]
    );
    let throttled = audited(&s, AuditKind::LoginThrottled).await;
    assert!(!throttled.is_empty());
    assert!(
        throttled.iter().all(|a| a == "203.0.113.1"),
        "{throttled:?}"
    );
    s.stop().await;
    // Without trusted proxies the header is ignored: the peer is the client.
    let s = TestServer::start(|mut c| {
        c.login_limits = limits;
        c
    })
    .await;
    let p = page(&s).await;
    for forwarded in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(guess(&s, &p, forwarded).await.unwrap().status(), 401);
    }
    assert_eq!(guess(&s, &p, "203.0.113.4").await.unwrap().status(), 429);
    let failed = audited(&s, AuditKind::LoginFailed).await;
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|a| a == "127.0.0.1"), "{failed:?}");
    s.stop().await;
}

/// The same behind proxies that write `Forwarded` (RFC 7239,
/// `--proxy-header forwarded`): the rightmost `for=` that is not a
/// trusted proxy is the client, an IPv6 client counts as its /64, and
/// `X-Forwarded-For`, which such proxies pass on from the client, is
/// ignored.
#[tokio::test]
async fn per_address_limits_follow_forwarded_when_the_proxies_write_it() {
    let s = TestServer::start(|mut c| {
        c.login_limits = ThrottleLimits {
            per_account: 1000,
            per_address: 2,
            window: Duration::from_secs(900),
        };
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.proxy_header = ProxyHeader::Forwarded;
        c
    })
    .await;
    let p = page(&s).await;
    let client = http();
    let guess = |forwarded: &'static str, spoofed: &'static str| {
        client
            .post(s.url("/login"))
            .header("cookie", &p.0)
            .header("forwarded", forwarded)
            .header("x-forwarded-for", spoofed)
            .form(&[
                ("username", "nobody"),
                ("password", "guess"),
                ("request", p.1.as_str()),
                ("csrf", p.2.as_str()),
            ])
            .send()
    };
    // A client behind two proxies: the inner one (127.0.0.1) is trusted.
    let a = "for=203.0.113.7;proto=https, for=127.0.0.1";
    for spoofed in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(guess(a, spoofed).await.unwrap().status(), 401);
    }
    assert_eq!(
        guess(a, "198.51.100.3").await.unwrap().status(),
        429,
        "varying X-Forwarded-For does not help"
    );
    let b = "for=\"[2001:db8:0:1::5]:4711\"";
    assert_eq!(guess(b, "203.0.113.7").await.unwrap().status(), 401);
    assert_eq!(
        audited(&s, AuditKind::LoginFailed).await,
        ["203.0.113.7", "203.0.113.7", "2001:db8:0:1::/64"]
    );
    s.stop().await;
}

/// Review 3 asked whether signing in to one's own account between guesses
/// lifts the per-address limit. It does not: a success takes back only its
/// own attempt, so the failed guesses keep counting.
#[tokio::test]
async fn successes_in_between_do_not_lift_the_address_limit() {
    let s = TestServer::start(|mut c| {
        c.login_limits = ThrottleLimits {
            per_account: 1000,
            per_address: 3,
            window: Duration::from_secs(900),
        };
        c
    })
    .await;
    let client = http();
    let p = page(&s).await;
    for round in 0..2 {
        assert_eq!(
            attempt(&client, &s, &p, "victim", "guess").await,
            401,
            "{round}"
        );
        assert_eq!(
            attempt(&client, &s, &p, USER, PASSWORD).await,
            302,
            "{round}"
        );
    }
    assert_eq!(attempt(&client, &s, &p, "victim", "guess").await, 401);
    // Three failures: the address is at its limit, whatever succeeded.
    assert_eq!(attempt(&client, &s, &p, "victim", "guess").await, 429);
    assert_eq!(attempt(&client, &s, &p, USER, PASSWORD).await, 429);
    s.stop().await;
}
