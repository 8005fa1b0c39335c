//! Hostile input: costly values, log injection, replayed client
//! assertions, and the database file's permissions.

use std::sync::Arc;

use integration_tests::{TestServer, http};
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

use crate::client_assertion::new_key;
use crate::flow::{error_of, register_public};

/// Finding 14: a 64 KiB `scope` of distinct tokens cost ~0.3 s of a worker
/// (quadratic de-duplication). Scope values now parse in linear time and
/// hold at most 128 distinct tokens.
#[tokio::test]
async fn a_huge_scope_is_refused_cheaply() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let scope: String = (0..8_000)
        .map(|i| format!("s{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let r = http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", client_id.as_str()),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("more than 128 scope tokens"),
        "{body}"
    );
    s.stop().await;
}

/// Finding 16: a `client_id` carrying CR/LF and terminal escapes was written
/// raw into text logs, forging lines. Attacker-controlled values are now
/// logged escaped.
#[tokio::test]
async fn control_characters_never_reach_the_log_raw() {
    crate::logs::capture();
    let s = TestServer::start(|c| c).await;
    let forged = "2026-11-29T17:59:59.000000Z  INFO mcp_oauth_server::http::authorize: authorization granted client_id=legit";
    let client_id = format!("https://localhost/a.json\n{forged}\x1b[31mRED");
    let r = http()
        .get(s.url("/authorize"))
        .query(&[("client_id", client_id.as_str()), ("response_type", "code")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let logs = crate::logs::text();
    assert!(
        logs.contains("https://localhost/a.json\\n2026-11-29T17:59:59"),
        "the value is logged, escaped"
    );
    assert!(!logs.contains(&format!("\n{forged}")), "no forged line");
    assert!(!logs.contains('\x1b'), "no terminal escapes");
    s.stop().await;
}

/// Finding 13: one `private_key_jwt` assertion sent 30 times at once was
/// accepted twice (check-then-insert of its `jti`). Now exactly once. A
/// JWS declaring critical extensions (R5) is refused too.
#[tokio::test]
async fn a_client_assertion_is_accepted_once_however_many_copies_race() {
    let key = new_key("k1");
    let jwks = json!({"keys": [key.jwk]});
    let s = TestServer::start(move |c| {
        c.client(mcp_oauth_server::OperatorClient::service_with_keys(
            "m2m", jwks,
        ))
    })
    .await;
    let now = integration_tests::now();
    let claims = json!({"iss": "m2m", "sub": "m2m", "aud": s.url("/token"),
                        "exp": now + 60, "iat": now, "jti": "once"});
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    let assertion = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
    let s = Arc::new(s);
    let client = http();
    let tries: Vec<_> = (0..30)
        .map(|_| {
            let (s, client, assertion) = (s.clone(), client.clone(), assertion.clone());
            tokio::spawn(async move {
                client
                    .post(s.url("/token"))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", "m2m"),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", assertion.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tries {
        match t.await.unwrap() {
            200 => ok += 1,
            401 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1, "exactly one copy authenticated");
    // `crit`: refused even when correctly signed.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    let claims = json!({"iss": "m2m", "sub": "m2m", "aud": s.url("/token"),
                        "exp": now + 60, "iat": now, "jti": "crit"});
    let signed = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
    let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
    use base64ct::{Base64UrlUnpadded, Encoding};
    parts[0] = Base64UrlUnpadded::encode_string(br#"{"alg":"ES256","kid":"k1","crit":["exp"]}"#);
    let r = client
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "m2m"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", parts.join(".").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 401).await, "invalid_client");
    match Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("server still shared"),
    }
}

/// Finding 9: the SQLite file (signing keys, password hashes) was created
/// world-readable. It is now 0600 from creation, with its `-wal` and `-shm`
/// files, and an existing readable file is tightened.
#[cfg(unix)]
#[tokio::test]
async fn the_database_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!(
        "mcp-oauth-perms-{}-{}",
        std::process::id(),
        integration_tests::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("as.db");
    let mode = |suffix: &str| {
        std::fs::metadata(format!("{}{suffix}", db.display()))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    let storage = mcp_oauth_server::storage::open(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let s = TestServer::start_with(storage, |c| c).await;
    register_public(&s).await; // writes: the -wal and -shm files exist now
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(mode(suffix), 0o600, "as.db{suffix}");
    }
    s.stop().await;
    // A file made readable by others is tightened when opened.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = mcp_oauth_server::storage::open(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    assert_eq!(mode(""), 0o600);
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}
