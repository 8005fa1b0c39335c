//! Deployment mistakes the binary refuses or warns about, and secrets that
//! must not show: B1, B2, B8, A8, A12, A13.

use std::process::Command;

use crate::support::{PASSWORD, USER, client, start};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-server"))
        .args(["--log-level", "info"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A12: a loopback listener behind a public proxy approved anyone. Now the
/// issuer must be plain-http loopback too.
#[test]
fn a12_auto_approve_needs_a_loopback_issuer() {
    let (ok, out) = run(&[
        "--storage",
        "memory",
        "--port",
        "0",
        "--superuser",
        USER,
        "--superuser-password",
        PASSWORD,
        "--issuer",
        "https://auth.example.com",
        "--dev-auto-approve",
        USER,
    ]);
    assert!(!ok, "must not start");
    assert!(out.contains("not a plain-http loopback URL"), "{out}");
}

/// B1: `--host 0.0.0.0` made the issuer `http://0.0.0.0:PORT`. Now an
/// issuer is required there, and a plain-http issuer on a non-loopback
/// listener is warned about loudly.
#[tokio::test]
async fn b1_all_addresses_need_an_issuer_and_plain_http_is_warned_about() {
    let (ok, out) = run(&["--storage", "memory", "--host", "0.0.0.0", "--port", "0"]);
    assert!(!ok);
    assert!(out.contains("needs --issuer"), "{out}");
    let s = start(
        &[
            "--host",
            "0.0.0.0",
            "--issuer",
            "http://as.internal.example:9000",
        ],
        &[],
        None,
    )
    .await;
    // The listener is on every address; the test reaches it on loopback.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(s.output().contains("WARNING"), "{}", s.output());
    assert!(s.output().contains("travel unencrypted"), "{}", s.output());
}

/// A8: the PostgreSQL password was logged at start and shown in errors.
/// Now the URL is shown with its password replaced, and the password can
/// come from a file instead of the process list.
#[tokio::test]
async fn a8_the_database_password_never_shows() {
    let Ok(admin) = std::env::var("MCP_OAUTH_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL tests must run under CI"
        );
        return;
    };
    // An unreachable database: the error names the URL, not the password.
    let (ok, out) = run(&[
        "--storage",
        "postgres://as:S3cretPgPw@127.0.0.1:1/none",
        "--port",
        "0",
    ]);
    assert!(!ok);
    assert!(out.contains("as:redacted@127.0.0.1:1"), "{out}");
    assert!(!out.contains("S3cretPgPw"), "{out}");
    // A working one (trust authentication ignores the password), the
    // password from a file: neither the log nor the process list has it.
    let dir = std::env::temp_dir().join(format!("mcp-oauth-a8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pw");
    std::fs::write(&file, "S3cretPgPw\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let db = mcp_oauth_server::testing::TempDatabase::create()
        .await
        .unwrap();
    let _ = admin;
    let s = start(
        &[
            "--storage",
            &db.url,
            "--storage-password-file",
            file.to_str().unwrap(),
            "--log-level",
            "info",
        ],
        &[],
        None,
    )
    .await;
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", s.child.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("S3cretPgPw"));
    assert!(s.output().contains("listening"), "{}", s.output());
    assert!(!s.output().contains("S3cretPgPw"), "{}", s.output());
    drop(s);
    db.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A13: cookies without the `__Host-` prefix could be planted by a sibling
/// subdomain (login CSRF). Under an https issuer every cookie is
/// `__Host-`, `Secure`, `Path=/`, with no `Domain`.
#[tokio::test]
async fn a13_cookies_are_host_only_under_https() {
    let s = start(&["--issuer", "https://as.example"], &[], None).await;
    let http = client();
    let reg: serde_json::Value = http
        .post(s.url("/register"))
        .json(
            &serde_json::json!({"client_name": "x", "redirect_uris": ["http://127.0.0.1:4700/cb"],
                                  "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = reg["client_id"].as_str().unwrap();
    let page = http
        .get(s.url(&crate::support::authorize_path(id)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // An https issuer: HSTS on every answer.
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("__Host-mcp_oauth_csrf="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(csrf.contains("Secure") && csrf.contains("Path=/"), "{csrf}");
    assert!(!csrf.contains("Domain"), "{csrf}");
    // The bare name is not accepted in its place.
    let html = page.text().await.unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let value = csrf
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let post = |cookie: String| {
        http.post(s.url("/login"))
            .header("cookie", cookie)
            .form(&[
                ("username", USER),
                ("password", PASSWORD),
                ("request", &field("request")),
                ("csrf", &field("csrf")),
            ])
            .send()
    };
    let r = post(format!("mcp_oauth_csrf={value}")).await.unwrap();
    assert_eq!(
        r.status(),
        400,
        "a tossed, unprefixed cookie is not the CSRF cookie"
    );
    let r = post(format!("__Host-mcp_oauth_csrf={value}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-mcp_oauth_session="))
        .unwrap();
    assert!(
        session.contains("Secure") && session.contains("Path=/"),
        "{session}"
    );
}

/// B8: successful registration and revocation answers carry
/// `Pragma: no-cache` beside `Cache-Control: no-store`.
#[tokio::test]
async fn b8_credential_answers_are_never_cached() {
    let s = start(&[], &[], None).await;
    let http = client();
    let r = http
        .post(s.url("/register"))
        .json(&serde_json::json!({"redirect_uris": ["http://127.0.0.1:4700/cb"], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let id = r.json::<serde_json::Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(s.url("/revoke"))
        .form(&[("token", "unknown"), ("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["pragma"], "no-cache");
}
