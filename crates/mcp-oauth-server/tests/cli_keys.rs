//! Signing keys through the binary: EdDSA chosen in the configuration, and
//! private keys encrypted at rest under `MCP_OAUTH_KEY_ENCRYPTION_KEY`, so a
//! copy of the database without that key cannot start a server (nor sign).

#![allow(clippy::unwrap_used, clippy::zombie_processes, missing_docs)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const KEK: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const OTHER_KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn command(db: &Path, kek: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-server"));
    cmd.args(["--storage", &format!("sqlite:{}", db.display())])
        .args(["--log-level", "error"])
        .env_remove("MCP_OAUTH_KEY_ENCRYPTION_KEY");
    if let Some(kek) = kek {
        cmd.env("MCP_OAUTH_KEY_ENCRYPTION_KEY", kek);
    }
    cmd
}

fn run(db: &Path, kek: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let out = command(db, kek).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(db: &Path, kek: Option<&str>, extra: &[&str]) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = command(db, kek)
        .args(["--port", &port.to_string()])
        .args([
            "--superuser",
            "admin",
            "--superuser-password",
            "admin password 123",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return (server, base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not start");
}

#[tokio::test]
async fn eddsa_keys_encrypted_at_rest() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("as.db");
    let (server, base) = serve(&db, Some(KEK), &["--signing-alg", "EdDSA"]).await;
    let jwks: Value = reqwest::get(format!("{base}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA")),
        "{jwks}"
    );
    assert!(key.get("d").is_none());
    drop(server);

    // The stored key is sealed: listed as encrypted with the key, and
    // neither the list nor a server works without it or with another.
    let (ok, out, err) = run(&db, Some(KEK), &["key", "list"]);
    assert!(
        ok && out.contains("\tEdDSA\tsigning\t") && out.contains("encrypted"),
        "{out}{err}"
    );
    let (ok, _, err) = run(&db, None, &["key", "list"]);
    assert!(!ok && err.contains("encrypted at rest"), "{err}");
    let (ok, _, err) = run(&db, Some(OTHER_KEK), &["key", "list"]);
    assert!(!ok && err.contains("does not decrypt"), "{err}");
    let (ok, _, err) = run(&db, Some("not base64 of 32 bytes"), &["key", "list"]);
    assert!(!ok && err.contains("MCP_OAUTH_KEY_ENCRYPTION_KEY"), "{err}");
    let out = command(&db, None)
        .args(["--port", "0"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a server started without the key");
    assert!(String::from_utf8_lossy(&out.stderr).contains("encrypted at rest"));
    // The file holds no private key in the clear: every key column value
    // is sealed (checked through SQLite, not by guessing bytes).
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: Vec<String> = conn
        .prepare("SELECT pkcs8 FROM signing_keys")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!stored.is_empty());
    assert!(
        stored.iter().all(|k| k.starts_with("sealed.v1.")),
        "{stored:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
