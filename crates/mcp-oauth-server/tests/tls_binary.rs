//! The binary serving HTTPS itself: a pair that cannot be used stops the
//! start with an error naming it; `SIGHUP` rereads the files, refusing a
//! broken pair (the process stays up and the old certificate serves) and
//! taking a good one.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-oauth-server");

/// A self-signed certificate for 127.0.0.1: (cert PEM, key PEM).
fn pair() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// A directory of its own for one test, and the two files in it.
fn files(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-bin-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    (dir.clone(), dir.join("cert.pem"), dir.join("key.pem"))
}

fn write(cert: &PathBuf, key: &PathBuf, pair: (&str, &str)) {
    std::fs::write(cert, pair.0).unwrap();
    std::fs::write(key, pair.1).unwrap();
}

fn trusting(cert_pem: &str) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([cert])
        .build()
        .unwrap()
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["--storage", "memory", "--port", "0", "--log-level", "error"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_pair_that_cannot_be_used_stops_the_start() {
    let (dir, cert, key) = files("start");
    let (good_cert, _) = pair();
    let (_, other_key) = pair();
    write(&cert, &key, (&good_cert, &other_key));
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let (code, stderr) = run(&["--tls-cert", c, "--tls-key", k]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("does not belong"), "{stderr}");
    assert!(stderr.contains("key.pem"), "names the file: {stderr}");

    let missing = dir.join("missing.pem");
    let (code, stderr) = run(&["--tls-cert", missing.to_str().unwrap(), "--tls-key", k]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read the TLS certificate file"),
        "{stderr}"
    );

    let (code, stderr) = run(&["--tls-cert", c]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("go together"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The server process; killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hangup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls `url` with `client` until it answers, or gives up after `tries`.
async fn answers(client: &reqwest::Client, url: &str, tries: usize) -> bool {
    for _ in 0..tries {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn sighup_rereads_the_files_and_refuses_a_broken_pair() {
    let (dir, cert, key) = files("hup");
    let old = pair();
    write(&cert, &key, (&old.0, &old.1));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join("stderr.log");
    let child = Command::new(BIN)
        .args(["--storage", "memory", "--port", &port.to_string()])
        .args([
            "--superuser",
            "admin",
            "--superuser-password",
            "tls test password",
        ])
        .args(["--tls-cert", cert.to_str().unwrap()])
        .args(["--tls-key", key.to_str().unwrap()])
        .args(["--log-level", "info"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let url = format!("https://127.0.0.1:{port}/healthz");
    assert!(
        answers(&trusting(&old.0), &url, 200).await,
        "the server did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // A broken pair and a SIGHUP: refused, logged, the process stays up
    // (SIGHUP would otherwise end it) and new connections get the old
    // certificate.
    let (new, stranger) = (pair(), pair());
    write(&cert, &key, (&new.0, &stranger.1));
    hangup(&server);
    let mut refused = false;
    for _ in 0..100 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // The file check may refuse it too; the SIGHUP's own refusal is
        // logged either way.
        if text
            .lines()
            .any(|l| l.contains("TLS certificate reload refused") && l.contains("SIGHUP"))
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "no refusal logged: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "SIGHUP ended the server"
    );
    assert!(
        answers(&trusting(&old.0), &url, 1).await,
        "the old certificate serves"
    );

    // The finished renewal and a SIGHUP: new connections get the new one.
    write(&cert, &key, (&new.0, &new.1));
    hangup(&server);
    assert!(
        answers(&trusting(&new.0), &url, 200).await,
        "the renewed certificate was never served"
    );
    assert!(server.0.try_wait().unwrap().is_none());
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
