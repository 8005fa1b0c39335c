//! The account page in a real browser (headless Chromium, no JavaScript):
//! a person sees the applications that can act for them, takes one back
//! (its next refresh fails, the other's works) and signs out.

use std::time::Duration;

use fantoccini::{Client, Locator};
use integration_tests::{PASSWORD, TestServer, USER};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::{Value, json};

use crate::browser::{callback_listener, chromium, close, fill, wait_for_url_prefix, webdriver};
use crate::flow::{error_of, get, redeem_at, refresh, register};

/// The text of the page's `main`.
async fn page_text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits for the page's heading to read `heading`.
async fn wait_for_heading(c: &Client, heading: &str) {
    for _ in 0..100 {
        if let Ok(h) = c.find(Locator::Css("main h1")).await
            && h.text().await.unwrap_or_default() == heading
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never showed {heading:?}: {}", page_text(c).await);
}

/// The browser authorizes `client_id` (signing in when asked, allowing on
/// the consent page otherwise); the tokens its code redeems for.
async fn authorize(c: &Client, s: &TestServer, client_id: &str, redirect: &str) -> Value {
    let verifier = PkceVerifier::generate().unwrap();
    let mut url = url::Url::parse(&s.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("code_challenge", PkceChallenge::s256(&verifier).as_str())
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", integration_tests::RESOURCE);
    c.goto(url.as_str()).await.unwrap();
    if c.find(Locator::Id("password")).await.is_ok() {
        fill(c, USER, PASSWORD).await;
    } else {
        c.find(Locator::Css("button[value=allow]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    let landed = wait_for_url_prefix(c, redirect).await;
    let q: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    let r = redeem_at(s, client_id, get(&q, "code").unwrap(), &verifier, redirect).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn chromium_sees_its_grants_takes_one_back_and_signs_out() {
    let Some(webdriver) = webdriver() else { return };
    let s = TestServer::start(|c| c).await;
    let (redirect, listener) = callback_listener().await;
    let mut clients = Vec::new();
    for name in ["Browser Agent One", "Browser Agent Two"] {
        let c = register(
            &s,
            json!({"client_name": name, "redirect_uris": [redirect],
                   "grant_types": ["authorization_code", "refresh_token"],
                   "token_endpoint_auth_method": "none"}),
        )
        .await;
        clients.push(c["client_id"].as_str().unwrap().to_owned());
    }
    let (c, profile) = chromium(&webdriver).await;
    let one = authorize(&c, &s, &clients[0], &redirect).await;
    let two = authorize(&c, &s, &clients[1], &redirect).await;

    // The account page, signed in by the same browser session.
    c.goto(&s.url("/account")).await.unwrap();
    wait_for_heading(&c, "Your account").await;
    let page = page_text(&c).await;
    assert!(
        page.contains("Signed in as") && page.contains(USER),
        "{page}"
    );
    assert!(
        page.contains("Browser Agent One") && page.contains("Browser Agent Two"),
        "{page}"
    );
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shot).unwrap();
    std::fs::write(shot.join("account-page.png"), c.screenshot().await.unwrap()).unwrap();

    // "Remove access" for the first agent.
    let button = format!(
        "//form[input[@name='client_id' and @value='{}']]/button",
        clients[0]
    );
    c.find(Locator::XPath(&button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The next page may not be there yet (no `main` while it loads).
    for _ in 0..100 {
        if let Ok(main) = c.find(Locator::Css("main")).await
            && main
                .text()
                .await
                .unwrap_or_default()
                .contains("Access removed")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = page_text(&c).await;
    assert!(page.contains("Access removed"), "{page}");
    assert!(
        !page.contains("Browser Agent One") && page.contains("Browser Agent Two"),
        "{page}"
    );
    // The agent's next refresh fails; the other agent's works.
    let r = refresh(&s, &clients[0], one["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    let r = refresh(&s, &clients[1], two["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);

    // Sign out: the account page asks for a sign-in again.
    c.find(Locator::XPath("//button[text()='Sign out']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_heading(&c, "Signed out").await;
    c.goto(&s.url("/account")).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("password"))
        .await
        .unwrap();
    assert!(!page_text(&c).await.contains("Signed in as"));
    close(c, profile).await;
    listener.abort();
    s.stop().await;
}
