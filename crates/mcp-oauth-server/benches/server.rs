//! Hot paths of the authorization server: signing and verifying access
//! tokens (ES256, which the server uses, beside EdDSA for comparison), and
//! the storage operations of a flow on each backend (memory, SQLite, and
//! PostgreSQL when `MCP_OAUTH_TEST_POSTGRES_URL` names a server).
//!
//! `cargo bench -p mcp-oauth-server --bench server`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mcp_oauth_core::device::{PollPace, UserCode};
use mcp_oauth_core::secret::{random_base64url, token_hash};
use mcp_oauth_core::token::{AccessTokenClaims, Audience};
use mcp_oauth_server::clock::{Clock, SystemClock};
use mcp_oauth_server::keys::KeyManager;
use mcp_oauth_server::storage::{
    self, CodeRecord, DeviceRecord, DeviceState, IssuedFromCode, MemoryStorage, RefreshRecord,
    Storage,
};
use mcp_oauth_server::testing::TempDatabase;

const ISSUER: &str = "http://127.0.0.1:9000";

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "alice".into(),
        aud: Audience::single("http://127.0.0.1:8000/mcp"),
        client_id: "agent".into(),
        exp: SystemClock.now() + 900,
        iat: SystemClock.now(),
        jti: random_base64url(16).unwrap(),
        nbf: None,
        scope: Some("mcp".parse().unwrap()),
        auth_time: None,
        extra: Default::default(),
    }
}

fn tokens(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let storage = MemoryStorage::new();
    let keys = rt
        .block_on(KeyManager::load_or_create(
            &storage,
            ISSUER,
            mcp_oauth_server::keys::KeyPolicy::default(),
            900,
            SystemClock.now(),
        ))
        .unwrap();
    let claims = claims();
    let token = keys.sign(&claims).unwrap();
    c.bench_function("access token/ES256 sign (server keys)", |b| {
        b.iter(|| keys.sign(black_box(&claims)).unwrap())
    });
    c.bench_function("access token/ES256 verify (server keys)", |b| {
        b.iter(|| keys.verify(black_box(&token)).unwrap())
    });

    // EdDSA, for comparison (the server signs with ES256).
    let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let encoding = EncodingKey::from_ed_der(doc.as_ref());
    let decoding = DecodingKey::from_ed_der(pair.public_key().as_ref());
    let header = Header::new(Algorithm::EdDSA);
    let ed_token = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_aud = false;
    c.bench_function("access token/EdDSA sign (comparison)", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding).unwrap())
    });
    c.bench_function("access token/EdDSA verify (comparison)", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<AccessTokenClaims>(black_box(&ed_token), &decoding, &validation)
                .unwrap()
        })
    });
}

fn code(client_id: &str) -> CodeRecord {
    CodeRecord {
        code_hash: token_hash(&random_base64url(32).unwrap()),
        client_id: client_id.into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        redirect_uri_sent: true,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        resource: Some("http://127.0.0.1:8000/mcp".into()),
        scope: "mcp".into(),
        subject: "alice".into(),
        subject_generation: 0,
        auth_time: SystemClock.now(),
        expires_at: SystemClock.now() + 60,
        nonce: None,
    }
}

fn refresh_record() -> RefreshRecord {
    RefreshRecord {
        token_hash: token_hash(&random_base64url(32).unwrap()),
        family_id: random_base64url(16).unwrap(),
        client_id: "agent".into(),
        subject: "alice".into(),
        subject_generation: 0,
        scope: "mcp".into(),
        resource: None,
        auth_time: SystemClock.now(),
        approved_at: 0,
        expires_at: SystemClock.now() + 3600,
        rotated_at: None,
    }
}

fn device_record() -> DeviceRecord {
    DeviceRecord {
        device_code_hash: token_hash(&random_base64url(32).unwrap()),
        user_code: UserCode::generate().unwrap().as_str().to_owned(),
        client_id: "agent".into(),
        scope: "mcp".into(),
        resource: Some("http://127.0.0.1:8000/mcp".into()),
        expires_at: SystemClock.now() + 600,
        pace: PollPace::new(5),
        state: DeviceState::Pending,
    }
}

fn storage_ops(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("mcp-oauth-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut backends: Vec<(&str, Arc<dyn Storage>)> = vec![
        ("memory", Arc::new(MemoryStorage::new())),
        (
            "sqlite",
            rt.block_on(storage::open(&format!(
                "sqlite:{}",
                dir.join("bench.db").display()
            )))
            .unwrap(),
        ),
    ];
    let pg = rt.block_on(TempDatabase::create());
    if let Some(db) = &pg {
        backends.push(("postgres", rt.block_on(storage::open(&db.url)).unwrap()));
    }
    for (name, store) in &backends {
        let revoked = random_base64url(16).unwrap();
        rt.block_on(store.revoke_jti(&revoked, SystemClock.now() + 900))
            .unwrap();
        let kept = refresh_record();
        rt.block_on(store.insert_refresh(kept.clone())).unwrap();
        c.bench_function(&format!("storage/{name}/code insert + consume"), |b| {
            b.to_async(&rt).iter(|| async {
                let record = code("agent");
                let hash = record.code_hash.clone();
                store.insert_code(record).await.unwrap();
                let issued = IssuedFromCode {
                    family_id: None,
                    access_jti: hash.clone(),
                    access_exp: SystemClock.now() + 900,
                };
                store.consume_code(&hash, issued).await.unwrap()
            })
        });
        c.bench_function(&format!("storage/{name}/revocation check (jti)"), |b| {
            b.to_async(&rt)
                .iter(|| async { store.jti_revoked(black_box(&revoked)).await.unwrap() })
        });
        c.bench_function(&format!("storage/{name}/refresh token lookup"), |b| {
            b.to_async(&rt)
                .iter(|| async { store.refresh(black_box(&kept.token_hash)).await.unwrap() })
        });
        c.bench_function(&format!("storage/{name}/refresh token insert"), |b| {
            b.to_async(&rt)
                .iter(|| async { store.insert_refresh(refresh_record()).await.unwrap() })
        });
        // What one idle agent's poll costs (RFC 8628): a pending device
        // authorization read, paced and written back in one transaction.
        let pending = device_record();
        let polled = pending.device_code_hash.clone();
        rt.block_on(store.insert_device(pending)).unwrap();
        c.bench_function(&format!("storage/{name}/device code poll (pending)"), |b| {
            b.to_async(&rt).iter(|| async {
                store
                    .poll_device(black_box(&polled), "agent", SystemClock.now())
                    .await
                    .unwrap()
            })
        });
        // Millions of inserts would draw the same random user code
        // sooner or later (the server draws again); here each is unique.
        let inserted = std::sync::atomic::AtomicU64::new(0);
        c.bench_function(
            &format!("storage/{name}/device authorization insert"),
            |b| {
                b.to_async(&rt).iter(|| async {
                    let n = inserted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let record = DeviceRecord {
                        user_code: format!("{name}-{n}"),
                        ..device_record()
                    };
                    store.insert_device(record).await.unwrap()
                })
            },
        );
    }
    if let Some(db) = pg {
        drop(backends);
        rt.block_on(db.drop_now());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, tokens, storage_ops);
criterion_main!(benches);
