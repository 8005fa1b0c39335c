//! The device authorization grant (RFC 8628) over real sockets: a device
//! starts, polls and gets its tokens once; a person signs in on the
//! verification page, types the code and decides. The server runs on a
//! clock the tests move, so polling pace and expiry are exact.

use integration_tests::{ManualClock, PASSWORD, RESOURCE, TestServer, USER, http};
use mcp_oauth_client::{
    ClientError, DeviceCodePrompt, DevicePrompt, Login, MemoryStore, OAuthClient,
};
use mcp_oauth_examples::profile::WRITE_SCOPE;
use mcp_oauth_server::clock::Clock;
use mcp_oauth_server::storage::{GrantFilter, SignInMethod};
use rmcp::ServiceExt;
use serde_json::{Value, json};

use crate::flow::{error_of, introspect, introspector, register};
use crate::verifier::{jwt_verifier, start_rs};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public client that may use the device grant (and refresh).
async fn register_device_client(s: &TestServer) -> String {
    let c = register(
        s,
        json!({"client_name": "headless agent",
               "grant_types": [DEVICE_GRANT, "refresh_token"],
               "token_endpoint_auth_method": "none"}),
    )
    .await;
    c["client_id"].as_str().unwrap().to_owned()
}

async fn start(s: &TestServer, client_id: &str) -> Value {
    let r = http()
        .post(s.url("/device_authorization"))
        .form(&[
            ("client_id", client_id),
            ("scope", "mcp"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

async fn poll(s: &TestServer, client_id: &str, device_code: &str) -> reqwest::Response {
    http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
}

/// A browser at the verification page: its cookies, by hand.
struct Browser {
    cookies: Vec<String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for name in ["mcp_oauth_csrf", "mcp_oauth_session"] {
            if let Some(c) = integration_tests::set_cookie(r, name) {
                self.cookies.retain(|k| !k.starts_with(&format!("{name}=")));
                self.cookies.push(c);
            }
        }
    }

    async fn get(&mut self, url: &str) -> (u16, String) {
        let r = http()
            .get(url)
            .header("cookie", self.cookies.join("; "))
            .send()
            .await
            .unwrap();
        self.keep(&r);
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = http()
            .post(url)
            .header("cookie", self.cookies.join("; "))
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn csrf(html: &str) -> String {
    integration_tests::form_field(html, "csrf").expect("a csrf field")
}

/// Signs in at the page the device's link opens, and returns the
/// confirmation page.
async fn sign_in_and_confirm(s: &TestServer, b: &mut Browser, complete_uri: &str) -> String {
    sign_in_and_confirm_at(&s.url("/device"), b, complete_uri).await
}

/// [`sign_in_and_confirm`] at the page `device_url`.
async fn sign_in_and_confirm_at(device_url: &str, b: &mut Browser, complete_uri: &str) -> String {
    let (status, page) = b.get(complete_uri).await;
    assert_eq!(status, 200, "{page}");
    let user_code = integration_tests::form_field(&page, "user_code").unwrap();
    let (status, page) = b
        .post(
            device_url,
            &[
                ("csrf", &csrf(&page)),
                ("step", "signin"),
                ("user_code", &user_code),
                ("username", USER),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Allow this device?"), "{page}");
    page
}

async fn decide(s: &TestServer, b: &mut Browser, confirm: &str, decision: &str) -> (u16, String) {
    decide_at(&s.url("/device"), b, confirm, decision).await
}

async fn decide_at(
    device_url: &str,
    b: &mut Browser,
    confirm: &str,
    decision: &str,
) -> (u16, String) {
    let user_code = integration_tests::form_field(confirm, "user_code").unwrap();
    b.post(
        device_url,
        &[
            ("csrf", &csrf(confirm)),
            ("step", "decide"),
            ("user_code", &user_code),
            ("decision", decision),
        ],
    )
    .await
}

#[tokio::test]
async fn a_person_allows_a_device_which_gets_its_tokens_once() {
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), |c| c).await;
    let metadata: Value = http()
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["device_authorization_endpoint"],
        s.url("/device_authorization")
    );
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(DEVICE_GRANT))
    );

    let client_id = register_device_client(&s).await;
    let d = start(&s, &client_id).await;
    let user_code = d["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(d["verification_uri"], s.url("/device"));
    assert_eq!(d["expires_in"], 600);
    assert_eq!(d["interval"], 5);
    let device_code = d["device_code"].as_str().unwrap();

    // Nobody decided yet; polling again at once is too fast.
    let r = poll(&s, &client_id, device_code).await;
    assert_eq!(error_of(r, 400).await, "authorization_pending");
    let r = poll(&s, &client_id, device_code).await;
    assert_eq!(error_of(r, 400).await, "slow_down");
    clock.advance(10);

    let mut b = Browser::new();
    let complete = d["verification_uri_complete"].as_str().unwrap();
    let confirm = sign_in_and_confirm(&s, &mut b, complete).await;
    assert!(confirm.contains("headless agent"), "{confirm}");
    assert!(confirm.contains(RESOURCE), "{confirm}");
    assert!(confirm.contains(user_code), "{confirm}");
    let (status, page) = decide(&s, &mut b, &confirm, "allow").await;
    assert_eq!(status, 200);
    assert!(page.contains("Device connected"), "{page}");

    let r = poll(&s, &client_id, device_code).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert!(t["refresh_token"].is_string());
    let info = introspect(
        &s,
        &introspector(&s).await,
        t["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], USER);
    assert_eq!(info["aud"], RESOURCE);
    assert_eq!(info["client_id"], client_id.as_str());
    // Spent: a second redemption is refused.
    clock.advance(20);
    let r = poll(&s, &client_id, device_code).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn denial_expiry_and_other_clients_end_in_the_rfc_errors() {
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), |c| c).await;
    let client_id = register_device_client(&s).await;

    // Denied.
    let d = start(&s, &client_id).await;
    let mut b = Browser::new();
    let confirm =
        sign_in_and_confirm(&s, &mut b, d["verification_uri_complete"].as_str().unwrap()).await;
    let (status, page) = decide(&s, &mut b, &confirm, "deny").await;
    assert_eq!(status, 200);
    assert!(page.contains("Access denied"), "{page}");
    let r = poll(&s, &client_id, d["device_code"].as_str().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "access_denied");

    // Another client polling a stolen device code learns nothing and
    // spends nothing.
    let d = start(&s, &client_id).await;
    let thief = register_device_client(&s).await;
    let device_code = d["device_code"].as_str().unwrap();
    let r = poll(&s, &thief, device_code).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    let r = poll(&s, &client_id, device_code).await;
    assert_eq!(error_of(r, 400).await, "authorization_pending");

    // Expired after 600 s: the device must start again, and the person
    // can no longer approve it.
    clock.advance(601);
    let r = poll(&s, &client_id, device_code).await;
    assert_eq!(error_of(r, 400).await, "expired_token");
    let (status, page) = b
        .get(d["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let (status, page) = b
        .post(
            &s.url("/device"),
            &[
                ("csrf", &csrf(&page)),
                ("step", "code"),
                ("user_code", d["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("not valid or has expired"), "{page}");

    // A client not allowed the device grant cannot start one.
    let r = http()
        .post(s.url("/register"))
        .json(
            &json!({"client_name": "browser agent", "redirect_uris": ["http://127.0.0.1/cb"],
                      "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap();
    let other: Value = r.json().await.unwrap();
    let r = http()
        .post(s.url("/device_authorization"))
        .form(&[("client_id", other["client_id"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "unauthorized_client");
    s.stop().await;
}

#[tokio::test]
async fn wrong_codes_read_alike_and_guessing_is_throttled() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_device_client(&s).await;
    let d = start(&s, &client_id).await;
    let mut b = Browser::new();
    let confirm =
        sign_in_and_confirm(&s, &mut b, d["verification_uri_complete"].as_str().unwrap()).await;
    // Typed leniently: lower case, no dash.
    let typed = d["user_code"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace('-', "");
    let (status, page) = b
        .post(
            &s.url("/device"),
            &[
                ("csrf", &csrf(&confirm)),
                ("step", "code"),
                ("user_code", &typed),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Allow this device?"));
    // Wrong codes (well-formed or not) all read the same, until the
    // address has tried too many (20 lookups per 10 minutes).
    let mut statuses = Vec::new();
    for n in 0..25 {
        let guess = if n % 2 == 0 {
            "BCDF-GHJK"
        } else {
            "not a code"
        };
        let (status, page) = b
            .post(
                &s.url("/device"),
                &[
                    ("csrf", &csrf(&confirm)),
                    ("step", "code"),
                    ("user_code", guess),
                ],
            )
            .await;
        if status == 400 {
            assert!(page.contains("not valid or has expired"), "{page}");
        }
        statuses.push(status);
    }
    assert!(statuses.contains(&400));
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The decision step counts too: it cannot be used to probe codes.
    let (status, _) = decide(&s, &mut b, &confirm, "allow").await;
    assert_eq!(status, 429);
    s.stop().await;
}

#[tokio::test]
async fn two_pollers_of_an_approved_code_get_one_set_of_tokens() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_device_client(&s).await;
    let d = start(&s, &client_id).await;
    let mut b = Browser::new();
    let confirm =
        sign_in_and_confirm(&s, &mut b, d["verification_uri_complete"].as_str().unwrap()).await;
    assert_eq!(decide(&s, &mut b, &confirm, "allow").await.0, 200);
    let mut pollers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (url, client_id) = (s.url("/token"), client_id.clone());
        let device_code = d["device_code"].as_str().unwrap().to_owned();
        pollers.spawn(async move {
            http()
                .post(url)
                .form(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", device_code.as_str()),
                    ("client_id", client_id.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = pollers.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn operators_can_turn_the_device_flow_off() {
    let s = TestServer::start(|c| c.device_flow(false)).await;
    let metadata: Value = http()
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(metadata.get("device_authorization_endpoint").is_none());
    assert!(
        !metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(DEVICE_GRANT))
    );
    let r = http()
        .post(s.url("/device_authorization"))
        .form(&[("client_id", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http().get(s.url("/device")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    s.stop().await;
}

/// The person, from another device: signs in at the page the prompt named
/// and allows (or denies) what the agent asks.
fn person_at_another_device(
    device_url: String,
    decision: &'static str,
) -> (DevicePrompt, tokio::task::JoinHandle<DeviceCodePrompt>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<DeviceCodePrompt>();
    let prompt: DevicePrompt = std::sync::Arc::new(move |p: &DeviceCodePrompt| {
        let _ = tx.send(p.clone());
    });
    let person = tokio::spawn(async move {
        let shown = rx.recv().await.expect("the agent shows a code");
        let mut b = Browser::new();
        let link = shown
            .verification_uri_complete
            .clone()
            .expect("a complete link");
        let confirm = sign_in_and_confirm_at(&device_url, &mut b, &link).await;
        assert!(confirm.contains(&shown.user_code));
        assert_eq!(
            decide_at(&device_url, &mut b, &confirm, decision).await.0,
            200
        );
        shown
    });
    (prompt, person)
}

#[tokio::test]
async fn an_agent_without_a_browser_logs_in_with_the_device_flow() {
    let s = TestServer::start(|c| {
        let mut c = c.scopes(["mcp", WRITE_SCOPE]);
        c.device_poll_interval = std::time::Duration::from_secs(1);
        c
    })
    .await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let (prompt, person) = person_at_another_device(s.url("/device"), "allow");
    let client = OAuthClient::builder("device agent")
        .login(Login::Device(prompt))
        .token_store(MemoryStore::new())
        .build()
        .unwrap();
    let mcp = ().serve(client.transport(&rs.resource).unwrap()).await.unwrap();
    let tools = mcp.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 2);
    let _ = mcp.cancel().await;
    let shown = person.await.unwrap();
    assert_eq!(shown.verification_uri, s.url("/device"));
    assert_eq!(shown.expires_in, 600);

    // Denied: the agent says so, as a denial.
    let (prompt, person) = person_at_another_device(s.url("/device"), "deny");
    let denied = OAuthClient::builder("device agent")
        .login(Login::Device(prompt))
        .token_store(MemoryStore::new())
        .build()
        .unwrap();
    let err = denied.access_token(&rs.resource).await.unwrap_err();
    assert!(matches!(err, ClientError::Denied(_)), "{err}");
    person.await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn an_agent_is_told_when_the_server_has_no_device_flow() {
    let s = TestServer::start(|c| c.scopes(["mcp", WRITE_SCOPE]).device_flow(false)).await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let client = OAuthClient::builder("device agent")
        .login(Login::device())
        .token_store(MemoryStore::new())
        .build()
        .unwrap();
    let err = client.access_token(&rs.resource).await.unwrap_err();
    assert!(matches!(err, ClientError::Discovery(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("device") && text.contains("authorization_code"),
        "{text}"
    );
    s.stop().await;
}

/// The example agent's binary, as `cargo build --example agent` leaves it
/// (`scripts/test` builds it first; `cargo test` builds examples as test
/// harnesses, under other names).
fn agent_binary() -> Option<std::path::PathBuf> {
    example_binary("agent")
}

/// The example program `name`, built by `scripts/test` (`None`, skipping,
/// outside CI when it is not built).
fn example_binary(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.join("examples");
    let bin = dir.join(name);
    if bin.exists() {
        Some(bin)
    } else if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but the {name} example is not built at {}",
            bin.display()
        );
    } else {
        eprintln!("the {name} example is not built (scripts/test builds it): skipping");
        None
    }
}

/// Runs `agent --device` against the protected server; the person (this
/// test) reads the code from its output and decides on the page. Returns
/// whether the agent succeeded, and its output.
async fn run_agent_with_device(
    bin: &std::path::Path,
    s: &TestServer,
    mcp_url: &str,
    decision: &'static str,
) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["--mcp-url", mcp_url, "--device"])
        .env_remove("MCP_OAUTH_TOKEN_KEY");
    run_with_device(cmd, s, decision).await
}

/// Runs a program that logs in with the device flow; the person (this
/// test) reads the code from its standard error and decides on the page.
/// Returns whether it succeeded, and its output.
async fn run_with_device(
    mut cmd: tokio::process::Command,
    s: &TestServer,
    decision: &'static str,
) -> (bool, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut link = None;
    let mut seen = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.strip_prefix("(or open ") {
            link = rest.strip_suffix(" directly)").map(str::to_owned);
            break;
        }
    }
    let link = link.unwrap_or_else(|| panic!("the agent printed no link: {seen}"));
    assert!(seen.contains("enter the code:"), "{seen}");
    let mut b = Browser::new();
    let confirm = sign_in_and_confirm(s, &mut b, &link).await;
    assert_eq!(decide(s, &mut b, &confirm, decision).await.0, 200);
    let rest = tokio::spawn(async move {
        let mut more = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            more.push_str(&line);
            more.push('\n');
        }
        more
    });
    let output = child.wait_with_output().await.unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&rest.await.unwrap());
    (output.status.success(), text)
}

#[tokio::test]
async fn the_example_agent_logs_in_with_device_and_fails_cleanly_on_denial() {
    let Some(bin) = agent_binary() else { return };
    let s = TestServer::start(|c| {
        let mut c = c.scopes(["mcp", WRITE_SCOPE]);
        c.device_poll_interval = std::time::Duration::from_secs(1);
        c
    })
    .await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let (ok, out) = run_agent_with_device(&bin, &s, &rs.resource, "allow").await;
    assert!(ok, "{out}");
    assert!(out.contains("tools: "), "{out}");
    assert!(out.contains("get_user_profile"), "{out}");

    let (ok, out) = run_agent_with_device(&bin, &s, &rs.resource, "deny").await;
    assert!(!ok, "{out}");
    assert!(out.contains("authorization refused by the server"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    s.stop().await;
}

#[tokio::test]
async fn starting_device_authorizations_is_bounded_per_address() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_device_client(&s).await;
    let mut statuses = Vec::new();
    for _ in 0..31 {
        let r = http()
            .post(s.url("/device_authorization"))
            .form(&[("client_id", client_id.as_str())])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 30);
    assert_eq!(statuses.last(), Some(&429));
    s.stop().await;
}

/// A step-up on a device-flow session is a new device authorization for
/// the wider scope: the person allows twice, and the write goes through.
#[tokio::test]
async fn a_403_on_a_device_session_asks_the_person_again_for_the_wider_scope() {
    let s = TestServer::start(|c| {
        let mut c = c.scopes(["mcp", WRITE_SCOPE]);
        c.device_poll_interval = std::time::Duration::from_secs(1);
        c
    })
    .await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<DeviceCodePrompt>();
    let prompt: DevicePrompt = std::sync::Arc::new(move |p: &DeviceCodePrompt| {
        let _ = tx.send(p.clone());
    });
    let device_url = s.url("/device");
    let person = tokio::spawn(async move {
        let mut scopes_seen = Vec::new();
        while let Some(shown) = rx.recv().await {
            let mut b = Browser::new();
            let link = shown.verification_uri_complete.clone().unwrap();
            let confirm = sign_in_and_confirm_at(&device_url, &mut b, &link).await;
            scopes_seen.push(confirm.contains(WRITE_SCOPE));
            assert_eq!(
                decide_at(&device_url, &mut b, &confirm, "allow").await.0,
                200
            );
        }
        scopes_seen
    });
    let client = OAuthClient::builder("device agent")
        .login(Login::Device(prompt))
        .token_store(MemoryStore::new())
        .build()
        .unwrap();
    let mcp = ().serve(client.transport(&rs.resource).unwrap()).await.unwrap();
    let args = json!({"profile": "likes rust"})
        .as_object()
        .unwrap()
        .clone();
    let saved = mcp
        .call_tool(rmcp::model::CallToolRequestParams::new("set_user_profile").with_arguments(args))
        .await
        .unwrap();
    assert!(
        format!("{saved:?}").contains("saved profile of alice"),
        "{saved:?}"
    );
    let _ = mcp.cancel().await;
    drop(client);
    let scopes_seen = person.await.unwrap();
    assert_eq!(
        scopes_seen,
        [false, true],
        "first the challenge's scope, then the wider one"
    );
    s.stop().await;
}

/// Hostile input at the device endpoints: scopes and resources beyond the
/// client's, malformed parameters, markup in the code of the link.
#[tokio::test]
async fn hostile_device_requests_are_refused_or_shown_harmlessly() {
    let s = TestServer::start(|c| {
        c.allowed_resources(vec![
            mcp_oauth_core::resource::ResourceUri::parse(RESOURCE).unwrap(),
        ])
    })
    .await;
    let client_id = register_device_client(&s).await;
    for (form, error) in [
        (vec![("scope", "mcp admin")], "invalid_scope"),
        (vec![("scope", "bad\u{1}scope")], "invalid_scope"),
        (vec![("resource", "not a url")], "invalid_target"),
        (
            vec![("resource", "https://elsewhere.example/mcp")],
            "invalid_target",
        ),
        (
            vec![("resource", "http://127.0.0.1:8000/mcp#frag")],
            "invalid_target",
        ),
    ] {
        let mut form = form;
        form.push(("client_id", client_id.as_str()));
        let r = http()
            .post(s.url("/device_authorization"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r, 400).await, error, "{form:?}");
    }
    // A repeated client_id is a malformed request, not a guess at which.
    let r = http()
        .post(s.url("/device_authorization"))
        .body(format!("client_id={client_id}&client_id=other"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_request");
    // Markup in the link's code is neither echoed nor kept.
    let r = http()
        .get(s.url("/device"))
        .query(&[("user_code", "<script>alert(1)</script>")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let page = r.text().await.unwrap();
    assert!(
        !page.contains("<script>") && !page.contains("alert(1)"),
        "{page}"
    );
    assert_eq!(
        integration_tests::form_field(&page, "user_code").as_deref(),
        Some("")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_device_approval_is_a_grant_and_revoking_it_before_the_poll_ends_it() {
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), |c| c).await;
    let client_id = register_device_client(&s).await;
    let d = start(&s, &client_id).await;
    let mut b = Browser::new();
    let complete = d["verification_uri_complete"].as_str().unwrap();
    let confirm = sign_in_and_confirm(&s, &mut b, complete).await;
    assert_eq!(decide(&s, &mut b, &confirm, "allow").await.0, 200);
    // The approval is a grant: through a device, by password.
    let grants = s
        .storage
        .grants(&GrantFilter::subject(USER), clock.now())
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert!(grants[0].record.device);
    assert_eq!(grants[0].record.method, SignInMethod::Password);
    assert_eq!(grants[0].record.client_id, client_id);
    // Revoked before the device polls: the approval is void.
    s.storage
        .revoke_grants(&GrantFilter::subject(USER).client(&client_id), clock.now())
        .await
        .unwrap();
    clock.advance(10);
    let r = poll(&s, &client_id, d["device_code"].as_str().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    // A new approval after the revocation works.
    let d = start(&s, &client_id).await;
    let complete = d["verification_uri_complete"].as_str().unwrap();
    let confirm = sign_in_and_confirm(&s, &mut b, complete).await;
    assert_eq!(decide(&s, &mut b, &confirm, "allow").await.0, 200);
    clock.advance(10);
    let r = poll(&s, &client_id, d["device_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let kinds: Vec<String> = s
        .storage
        .audit_events(&mcp_oauth_server::storage::AuditQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "device_approved").count(),
        2,
        "{kinds:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_example_agent_says_how_to_make_a_store_key() {
    let Some(bin) = agent_binary() else { return };
    let dir = std::env::temp_dir().join(format!("mcp-oauth-agent-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A key that is not one: refused, with the way to make one; nothing
    // falls back silently to a store that forgets.
    let out = tokio::process::Command::new(&bin)
        .args(["--mcp-url", "http://127.0.0.1:9/mcp"])
        .env("MCP_OAUTH_TOKEN_KEY", "not a key")
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MCP_OAUTH_TOKEN_KEY") && err.contains("generate_key_base64"),
        "{err}"
    );
    // A fresh key from the library is accepted.
    let out = tokio::process::Command::new(&bin)
        .args(["--mcp-url", "http://127.0.0.1:9/mcp"])
        .env(
            "MCP_OAUTH_TOKEN_KEY",
            mcp_oauth_client::store::generate_key_base64(),
        )
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("token store key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_minimal_server_and_agent_of_the_docs_work_together() {
    let (Some(server), Some(agent)) = (
        example_binary("minimal_server"),
        example_binary("minimal_agent"),
    ) else {
        return;
    };
    let s = TestServer::start(|c| {
        let mut c = c;
        c.device_poll_interval = std::time::Duration::from_secs(1);
        c
    })
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut rs = tokio::process::Command::new(&server)
        .args(["--issuer", &s.base, "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mcp_url = format!("http://127.0.0.1:{port}/mcp");
    let metadata = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    for _ in 0..100 {
        if http().get(&metadata).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let dir = std::env::temp_dir().join(format!("mcp-oauth-minimal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = mcp_oauth_client::store::generate_key_base64();
    let command = || {
        let mut cmd = tokio::process::Command::new(&agent);
        cmd.args(["--mcp-url", &mcp_url])
            .env("MCP_OAUTH_TOKEN_KEY", &key)
            .current_dir(&dir);
        cmd
    };
    let (ok, out) = run_with_device(command(), &s, "allow").await;
    assert!(ok, "{out}");
    assert!(out.contains("whoami"), "{out}");
    // Again: the stored tokens and registration are used; no new device
    // code, no new registration.
    let again = command().output().await.unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && text.contains("whoami"), "{text}");
    assert_eq!(
        s.storage.client_count().await.unwrap(),
        1,
        "one registration for both runs"
    );
    let _ = rs.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    s.stop().await;
}

#[test]
fn the_docs_show_the_minimal_programs_as_they_are() {
    // The guides show these programs whole; they must not drift apart.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (doc, example) in [
        ("docs/verifier.md", "examples/minimal_server.rs"),
        ("docs/client.md", "examples/minimal_agent.rs"),
    ] {
        let doc = std::fs::read_to_string(root.join(doc)).unwrap();
        let code = std::fs::read_to_string(root.join(example)).unwrap();
        let body = &code[code.find("\nuse ").unwrap() + 1..];
        assert!(
            doc.contains(body.trim_end()),
            "{example} differs from its guide"
        );
    }
}
