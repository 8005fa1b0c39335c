//! The browser login's loopback listener against other local processes
//! (first review R9, second review B5): a connection that never speaks, a
//! hit on a look-alike path, a forged `state`. None of them ends or blocks
//! the login; the person's real redirect still completes it.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::{PASSWORD, USER, http};
use mcp_oauth_client::{BrowserOpener, Login, MemoryStore, OAuthClient};

use crate::client::logins;
use crate::verifier::{as_server, jwt_verifier, start_rs};

/// The loopback callback's `http://127.0.0.1:PORT` and the `state` of the
/// authorization URL.
fn callback_and_state(authorize: &str) -> (String, String) {
    let url = url::Url::parse(authorize).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let redirect = param("redirect_uri");
    let base = redirect.strip_suffix("/callback").unwrap().to_owned();
    (base, param("state"))
}

/// The person signs in on the login page and their browser follows the
/// redirect to the agent's listener; returns the page it shows.
async fn person_signs_in(authorize: String) -> String {
    let r = integration_tests::form_login(&authorize, USER, PASSWORD).await;
    assert_eq!(r.status(), 302);
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    http().get(back).send().await.unwrap().text().await.unwrap()
}

/// Logs in with a browser whose opener first lets `interfere` at the
/// listener, then lets the person sign in; returns the page the person's
/// browser shows at the end.
async fn browser_login_after<F, Fut>(interfere: F) -> String
where
    F: Fn(String, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let (page_tx, page_rx) = tokio::sync::oneshot::channel();
    let page_tx = Arc::new(std::sync::Mutex::new(Some(page_tx)));
    let interfere = Arc::new(interfere);
    let opener: BrowserOpener = Arc::new(move |authorize: &str| {
        let (base, state) = callback_and_state(authorize);
        let (authorize, interfere, page_tx) =
            (authorize.to_owned(), interfere.clone(), page_tx.clone());
        tokio::spawn(async move {
            interfere(base, state).await;
            let page = person_signs_in(authorize).await;
            if let Some(tx) = page_tx.lock().unwrap().take() {
                let _ = tx.send(page);
            }
        });
        Ok(())
    });
    let client = OAuthClient::builder("callback-agent")
        .login(Login::BrowserWith(opener))
        .login_timeout(Duration::from_secs(30))
        .token_store(MemoryStore::new())
        .build()
        .unwrap();
    let token = client.access_token(&rs.resource).await;
    assert!(token.is_ok(), "the login completed: {:?}", token.err());
    assert_eq!(logins(&s).await, 1);
    s.stop().await;
    page_rx.await.unwrap()
}

#[tokio::test]
async fn an_idle_local_connection_does_not_block_the_browser_login() {
    let page = browser_login_after(|base, _state| async move {
        // Connect first and never say anything (kept open until the test
        // ends: the listener must not wait for it).
        let addr = base.strip_prefix("http://").unwrap().to_owned();
        let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::spawn(async move {
            let _keep = idle;
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
    })
    .await;
    assert!(page.contains("You are signed in"), "{page}");
}

#[tokio::test]
async fn stray_requests_to_the_loopback_listener_do_not_end_the_browser_login() {
    let page = browser_login_after(|base, state| async move {
        let get = |path: String| async move { http().get(path).send().await.unwrap() };
        // A look-alike path, even with the right state: not found.
        let r = get(format!("{base}/callbackX?code=stolen&state={state}")).await;
        assert_eq!(r.status(), 404);
        let r = get(format!("{base}/callback/x?code=stolen&state={state}")).await;
        assert_eq!(r.status(), 404);
        // The right path with a forged, missing or doubled state: refused,
        // and the page does not claim a sign-in.
        for query in [
            "code=forged&state=forged".to_owned(),
            "code=forged".to_owned(),
            format!("code=forged&state={state}&state={state}"),
        ] {
            let r = get(format!("{base}/callback?{query}")).await;
            assert_eq!(r.status(), 400, "{query}");
            let text = r.text().await.unwrap();
            assert!(!text.contains("signed in"), "{text}");
        }
    })
    .await;
    assert!(page.contains("You are signed in"), "{page}");
}
