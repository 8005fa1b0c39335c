//! The binary refuses `--dev-auto-approve` where it would be dangerous:
//! on a non-loopback address, or for a user that does not exist.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-server"))
        .args(["--storage", "memory", "--port", "0", "--log-level", "error"])
        .args(args)
        .output()
        .expect("the server binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn refused_off_loopback() {
    let (ok, stderr) = run(&[
        "--host",
        "0.0.0.0",
        "--issuer",
        "http://127.0.0.1:9000",
        "--dev-auto-approve",
        "admin",
    ]);
    assert!(!ok, "the server must not start");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[test]
fn refused_for_an_unknown_user() {
    let (ok, stderr) = run(&[
        "--superuser",
        "admin",
        "--superuser-password",
        "correct horse battery staple",
        "--dev-auto-approve",
        "nobody",
    ]);
    assert!(!ok, "the server must not start");
    assert!(
        stderr.contains("names no existing user (\"nobody\")"),
        "{stderr}"
    );
}
