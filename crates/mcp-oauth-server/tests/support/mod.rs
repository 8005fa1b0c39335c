//! What the tests that run the real binary on a SQLite file share: the
//! operator's command line, a server process, an HTTP client.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Runs an operator's command on the file `db`: success, stdout, stderr.
pub(crate) fn admin(db: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-server"))
        .args(["--storage", &format!("sqlite:{}", db.display())])
        .args(["--log-level", "error"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first line of a command's output, as JSON.
pub(crate) fn json_line(out: &str) -> Value {
    serde_json::from_str(out.lines().next().unwrap()).unwrap()
}

/// A server process, stopped when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on the file `db` (superuser `admin`) and waits until
/// it answers.
pub(crate) async fn serve(db: &Path) -> Server {
    serve_with(db, &[]).await
}

/// [`serve`] with more arguments.
pub(crate) async fn serve_with(db: &Path, args: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-server"))
        .args(["--storage", &format!("sqlite:{}", db.display())])
        .args(["--port", &port.to_string(), "--log-level", "error"])
        .args([
            "--superuser",
            "admin",
            "--superuser-password",
            "admin password 123",
        ])
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return Server { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not start");
}

/// An HTTP client that does not follow redirects.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
