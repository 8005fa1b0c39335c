use mcp_oauth_core::secret::{AccessToken, RefreshToken};

use super::file::{write_atomic, write_new};
use super::*;

#[test]
fn processes_sharing_a_store_never_lose_each_others_updates() {
    // Each thread has its own FileStore over the same file, as separate
    // processes would: only the OS lock orders their read-modify-writes.
    let path = temp("shared");
    let _ = std::fs::remove_file(&path);
    let writers = 4;
    let keys = 25;
    std::thread::scope(|scope| {
        for w in 0..writers {
            let path = path.clone();
            scope.spawn(move || {
                let store = FileStore::encrypted(&path, [5; 32]);
                for k in 0..keys {
                    store
                        .put(&format!("w{w}-k{k}"), serde_json::json!(k))
                        .unwrap();
                }
            });
        }
    });
    let store = FileStore::encrypted(&path, [5; 32]);
    let map = store.read_all().unwrap();
    assert_eq!(map.len(), writers * keys, "every update survived");
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(store.lock_path()).unwrap();
}

#[cfg(unix)]
#[test]
fn a_planted_symlink_is_never_followed_by_a_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp("links");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let planted = dir.join("store.bin.tmp");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let err = write_new(&planted, b"clobbered").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    // The store's own writes use fresh names, created with mode 0600.
    let path = dir.join("store.bin");
    write_atomic(&path, b"data").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("store.bin.") && n != "store.bin.tmp")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mcp-oauth-store-{}-{name}", std::process::id()))
}

#[test]
fn encrypted_round_trip_wrong_key_and_corruption() {
    let path = temp("a");
    let _ = std::fs::remove_file(&path);
    let store = FileStore::encrypted(&path, [7; 32]);
    store.put("k1", serde_json::json!({"a": 1})).unwrap();
    store
        .put("k2", serde_json::json!("secret-token-value"))
        .unwrap();
    assert_eq!(store.get("k1").unwrap(), Some(serde_json::json!({"a": 1})));
    let raw = std::fs::read(&path).unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains("secret-token-value"),
        "encrypted at rest"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Another process with the same key reads the same entries.
    let again = FileStore::encrypted(&path, [7; 32]);
    assert_eq!(
        again.get("k2").unwrap(),
        Some(serde_json::json!("secret-token-value"))
    );
    // A wrong key: a clear error, and nothing is overwritten.
    let wrong = FileStore::encrypted(&path, [8; 32]);
    assert!(matches!(wrong.get("k1"), Err(StoreError::Decrypt(_))));
    assert!(matches!(
        wrong.put("k3", serde_json::json!(1)),
        Err(StoreError::Decrypt(_))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), raw);
    // Corruption: same.
    let mut bad = raw.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(matches!(store.get("k1"), Err(StoreError::Decrypt(_))));
    std::fs::write(&path, b"not ours").unwrap();
    assert!(matches!(store.get("k1"), Err(StoreError::Format { .. })));
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(store.lock_path()).unwrap();
}

#[test]
fn typed_records_round_trip_under_the_entry_names_of_earlier_releases() {
    let s = MemoryStore::new();
    let t = Tokens {
        access_token: AccessToken::new("a"),
        refresh_token: Some(RefreshToken::new("r")),
        expires_at: Some(10),
        refresh_at: Some(8),
        scope: "mcp".into(),
    };
    let session = SessionKey::new("agent", "https://mcp.example/mcp");
    let record = SessionRecord::new(
        "https://as.example",
        "https://mcp.example/mcp",
        "c1",
        "https://as.example/token",
        true,
    );
    let tokens = session.tokens_key(&record);
    let registration = RegistrationKey::new("agent", "https://as.example");
    let reg = Registration {
        client_id: "c1".into(),
        client_secret: None,
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
    };
    s.save_session(&session, &record).unwrap();
    s.save_tokens(&tokens, &t).unwrap();
    s.save_registration(&registration, &reg).unwrap();
    assert_eq!(s.load_session(&session).unwrap(), Some(record));
    assert_eq!(s.load_tokens(&tokens).unwrap(), Some(t));
    assert_eq!(s.load_registration(&registration).unwrap(), Some(reg));
    // Files written by earlier releases name their entries so; they load.
    for entry in [
        "session|agent|https://mcp.example/mcp",
        "tokens|https://as.example|https://mcp.example/mcp|c1|https://mcp.example/mcp",
        "registration|agent|https://as.example",
    ] {
        assert!(s.get(entry).unwrap().is_some(), "{entry}");
    }
    s.remove_tokens(&tokens).unwrap();
    assert_eq!(s.load_tokens(&tokens).unwrap(), None);
    // An entry of an unknown layout is treated as absent.
    s.put(&session.entry(), serde_json::json!({"issuer": 1}))
        .unwrap();
    assert_eq!(s.load_session(&session).unwrap(), None);
}
