//! A real browser on the login page: headless Chromium, with JavaScript
//! turned off, driven through WebDriver. `scripts/chromedriver` installs
//! Debian's chromium and chromium-driver, starts ChromeDriver and prints the
//! URL that `scripts/test` passes as `MCP_OAUTH_TEST_WEBDRIVER`. Without it
//! these tests are skipped, except under CI, where they must run.

use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use integration_tests::{PASSWORD, USER};
use mcp_oauth_client::{BrowserOpener, Login, OAuthClient};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use rmcp::ServiceExt;
use serde_json::{Value, json};

use crate::client::logins;
use crate::flow::{get, redeem_at, register};
use crate::verifier::{as_server, jwt_verifier, start_rs};

/// WebDriver's code for the Enter key.
const ENTER: &str = "\u{E007}";

pub(crate) fn webdriver() -> Option<String> {
    match std::env::var("MCP_OAUTH_TEST_WEBDRIVER") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but MCP_OAUTH_TEST_WEBDRIVER is not: the browser tests must run")
        }
        Err(_) => {
            eprintln!("MCP_OAUTH_TEST_WEBDRIVER unset (scripts/chromedriver sets it): skipping");
            None
        }
    }
}

/// A fresh headless Chromium session (own profile, no JavaScript), and
/// that profile's directory, for [`close`].
pub(crate) async fn chromium(webdriver: &str) -> (Client, std::path::PathBuf) {
    let profile = std::env::temp_dir().join(format!(
        "mcp-oauth-chromium-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": ["--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--window-size=900,1000",
                     format!("--user-data-dir={}", profile.display())],
            "prefs": {"profile.managed_default_content_settings.javascript": 2},
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a Chromium session through ChromeDriver");
    (client, profile)
}

/// Ends the session and removes its profile.
pub(crate) async fn close(c: Client, profile: std::path::PathBuf) {
    let _ = c.close().await;
    let _ = std::fs::remove_dir_all(profile);
}

fn rand_suffix() -> String {
    PkceVerifier::generate().unwrap().secret()[..12].to_owned()
}

/// A loopback listener standing in for a client's redirect URI.
pub(crate) async fn callback_listener() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!("http://{}/callback", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(|| async { "Signed in; you may close this page." }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (redirect, task)
}

/// Waits until the browser is at a URL that starts with `prefix`.
pub(crate) async fn wait_for_url_prefix(c: &Client, prefix: &str) -> url::Url {
    for _ in 0..100 {
        let at = c.current_url().await.unwrap();
        if at.as_str().starts_with(prefix) {
            return at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser never reached {prefix}");
}

pub(crate) async fn fill(c: &Client, username: &str, password: &str) {
    let user = c.find(Locator::Id("username")).await.unwrap();
    user.clear().await.unwrap();
    user.send_keys(username).await.unwrap();
    let pass = c.find(Locator::Id("password")).await.unwrap();
    pass.clear().await.unwrap();
    // Enter in the password field submits: the form works by keyboard.
    pass.send_keys(&format!("{password}{ENTER}")).await.unwrap();
}

#[tokio::test]
async fn chromium_signs_in_on_the_login_page_and_lands_on_the_redirect() {
    let Some(webdriver) = webdriver() else { return };
    let s = as_server().await;
    let (redirect, listener) = callback_listener().await;
    let client = register(
        &s,
        json!({"client_name": "Browser Test Agent", "redirect_uris": [redirect],
               "token_endpoint_auth_method": "none"}),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();
    let verifier = PkceVerifier::generate().unwrap();
    let mut authorize = url::Url::parse(&s.url("/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("code_challenge", PkceChallenge::s256(&verifier).as_str())
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "browser-state")
        .append_pair("resource", "http://127.0.0.1:8000/mcp");

    let (c, profile) = chromium(&webdriver).await;
    c.goto(authorize.as_str()).await.unwrap();
    // The page: which client asks, where it will send the browser, labelled
    // fields, the cursor already in the username field.
    let page = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Browser Test Agent"), "{page}");
    assert!(page.contains("127.0.0.1"), "{page}");
    for field in ["username", "password"] {
        c.find(Locator::Css(&format!("label[for={field}]")))
            .await
            .unwrap();
    }
    let focused = c.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("username")
    );
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shot).unwrap();
    std::fs::write(shot.join("login-page.png"), c.screenshot().await.unwrap()).unwrap();

    // Wrong password: an error on the page, no redirect.
    fill(&c, USER, "not the password").await;
    let alert = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[role=alert]"))
        .await
        .unwrap();
    assert!(
        alert
            .text()
            .await
            .unwrap()
            .contains("Invalid username or password")
    );
    assert!(c.current_url().await.unwrap().as_str().starts_with(&s.base));

    // The right one: back at the client with code, state and iss.
    fill(&c, USER, PASSWORD).await;
    let landed = wait_for_url_prefix(&c, &redirect).await;
    let q: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert_eq!(get(&q, "state"), Some("browser-state"));
    assert_eq!(get(&q, "iss"), Some(s.base.as_str()));
    let r = redeem_at(
        &s,
        client_id,
        get(&q, "code").unwrap(),
        &verifier,
        &redirect,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["access_token"].is_string());
    close(c, profile).await;
    listener.abort();
    s.stop().await;
}

/// The person at the browser: Chromium opens the URL the agent gives it and
/// signs in; the agent's loopback listener receives the redirect.
async fn chromium_person(webdriver: String, url: String) {
    let redirect = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let (c, profile) = chromium(&webdriver).await;
    c.goto(&url).await.unwrap();
    fill(&c, USER, PASSWORD).await;
    wait_for_url_prefix(&c, &redirect).await;
    close(c, profile).await;
}

#[tokio::test]
async fn our_browser_login_strategy_with_chromium_reaches_the_tools() {
    let Some(webdriver) = webdriver() else { return };
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let driver = webdriver.clone();
    let opener: BrowserOpener = Arc::new(move |url: &str| {
        tokio::spawn(chromium_person(driver.clone(), url.to_owned()));
        Ok(())
    });
    let client = OAuthClient::builder("chromium-agent")
        .login(Login::BrowserWith(opener))
        .login_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mcp = ().serve(client.transport(&rs.resource).unwrap()).await.unwrap();
    let tools = mcp.list_all_tools().await.unwrap();
    let _ = mcp.cancel().await;
    let mut names: Vec<String> = tools.into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["get_user_profile", "set_user_profile"]);
    // The browser really was the one that signed in.
    assert_eq!(logins(&s).await, 1);
    s.stop().await;
}

/// The device flow's verification page in a real browser (no JavaScript):
/// the link the device shows opens the page with the code filled in; the
/// person signs in, checks the code and the application, and allows; the
/// device's next poll gets the tokens.
#[tokio::test]
async fn chromium_allows_a_device_on_the_verification_page() {
    let Some(webdriver) = webdriver() else { return };
    let s = as_server().await;
    const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
    let client = register(
        &s,
        json!({"client_name": "Device Test Agent", "grant_types": [GRANT],
               "token_endpoint_auth_method": "none"}),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();
    let started: Value = integration_tests::http()
        .post(s.url("/device_authorization"))
        .form(&[("client_id", client_id), ("scope", "mcp")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = started["user_code"].as_str().unwrap();

    let (c, profile) = chromium(&webdriver).await;
    c.goto(started["verification_uri_complete"].as_str().unwrap())
        .await
        .unwrap();
    let code_field = c.find(Locator::Id("user_code")).await.unwrap();
    assert_eq!(
        code_field.prop("value").await.unwrap().as_deref(),
        Some(user_code)
    );
    for field in ["user_code", "username", "password"] {
        c.find(Locator::Css(&format!("label[for={field}]")))
            .await
            .unwrap();
    }
    fill(&c, USER, PASSWORD).await;
    let allow = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .unwrap();
    let page = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Device Test Agent"), "{page}");
    assert!(page.contains(user_code), "{page}");
    allow.click().await.unwrap();
    let mut heading = String::new();
    for _ in 0..100 {
        if let Ok(h) = c.find(Locator::Css("main h1")).await {
            heading = h.text().await.unwrap_or_default();
            if heading == "Device connected" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(heading, "Device connected");
    close(c, profile).await;

    let r = integration_tests::http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", GRANT),
            ("device_code", started["device_code"].as_str().unwrap()),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}
