//! A dynamic registration the operator removed: the token endpoint answers
//! `invalid_client` with 401, and our agent drops the registration,
//! registers again and logs in again, once. A pre-registered identity is
//! never replaced: the agent gets a typed error instead.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::{PASSWORD, USER, http, now};
use mcp_oauth_client::{
    BrowserOpener, ClientError, Login, MemoryStore, OAuthClient, RegistrationKey, SessionKey,
    TokenStore,
};
use mcp_oauth_server::admin::clients::{NewClient, create_client, remove_client};
use mcp_oauth_server::core::registration::ClientAuthMethod;

use crate::client::{logins, person_at_browser};
use crate::flow::{error_of, refresh};
use crate::verifier::{as_server, jwt_verifier, start_rs};

/// The client id and refresh token the agent stored for `mcp_url`, after
/// marking its access token due for a refresh (as time passing would); an
/// agent that loads the store next refreshes first.
fn make_due(store: &MemoryStore, name: &str, mcp_url: &str) -> (String, String) {
    let key = SessionKey::new(name, mcp_url);
    let index = store.load_session(&key).unwrap().expect("a session");
    let tokens_key = key.tokens_key(&index);
    let mut tokens = store.load_tokens(&tokens_key).unwrap().expect("tokens");
    tokens.refresh_at = Some(0);
    store.save_tokens(&tokens_key, &tokens).unwrap();
    let refresh = tokens.refresh_token.expect("a refresh token");
    (index.client_id, refresh.secret().to_owned())
}

#[tokio::test]
async fn an_unknown_client_at_the_token_endpoint_is_invalid_client_with_401() {
    let s = as_server().await;
    // A public client: client_id only.
    let r = refresh(&s, "no-such-client", "some-refresh-token").await;
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(error_of(r, 401).await, "invalid_client");
    // A confidential one over HTTP Basic: the challenge names Basic.
    let r = http()
        .post(s.url("/token"))
        .basic_auth("no-such-client", Some("a-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    assert_eq!(error_of(r, 401).await, "invalid_client");
    // The same through client_secret_post.
    let r = crate::flow::token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", "no-such-client"),
            ("client_secret", "a-secret"),
        ],
    )
    .await;
    assert_eq!(error_of(r, 401).await, "invalid_client");
    s.stop().await;
}

#[tokio::test]
async fn an_agent_whose_registration_was_removed_registers_and_logs_in_again() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let store = MemoryStore::new();
    let name = "comeback-agent";
    // The agent as one run of its process: over the shared store.
    let run = || {
        let opener: BrowserOpener = Arc::new(|url: &str| {
            tokio::spawn(person_at_browser(url.to_owned()));
            Ok(())
        });
        OAuthClient::builder(name)
            .login(Login::BrowserWith(opener))
            .login_timeout(Duration::from_secs(20))
            .token_store(store.clone())
            .build()
            .unwrap()
    };
    run().access_token(&rs.resource).await.unwrap();
    assert_eq!(logins(&s).await, 1);
    assert_eq!(s.requests_to("/register").await, 1);

    // The operator removes the registration.
    let (old_id, refresh_token) = make_due(&store, name, &rs.resource);
    remove_client(&*s.storage, &old_id, now()).await.unwrap();
    // Its refresh token now meets 401 invalid_client at the token endpoint.
    let r = refresh(&s, &old_id, &refresh_token).await;
    assert_eq!(error_of(r, 401).await, "invalid_client");

    // The agent's next run refreshes and meets the same; it registers anew
    // and the person logs in once more.
    let client = run();
    let token = client.access_token(&rs.resource).await.unwrap();
    assert!(!token.secret().is_empty());
    assert_eq!(s.requests_to("/register").await, 2);
    assert_eq!(logins(&s).await, 2);
    let key = SessionKey::new(name, rs.resource.as_str());
    let new_id = store.load_session(&key).unwrap().unwrap().client_id;
    assert_ne!(new_id, old_id);
    let stored = store
        .load_registration(&RegistrationKey::new(name, s.base.as_str()))
        .unwrap()
        .expect("the new registration is kept");
    assert_eq!(stored.client_id, new_id);
    assert!(s.storage.client(&new_id).await.unwrap().is_some());
    // The new identity works as any other: a refresh, no more logins.
    make_due(&store, name, &rs.resource);
    run().access_token(&rs.resource).await.unwrap();
    assert_eq!(logins(&s).await, 2);
    assert_eq!(s.requests_to("/register").await, 2);
    s.stop().await;
}

#[tokio::test]
async fn a_removed_preregistered_client_is_a_typed_error_and_never_replaced() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let mut new = NewClient::named("operator agent");
    new.client_id = Some("operator-agent".into());
    new.token_endpoint_auth_method = Some(ClientAuthMethod::None);
    new.redirect_uris = vec!["http://127.0.0.1/callback".into()];
    new.headless_login = true;
    create_client(&*s.storage, new, now()).await.unwrap();
    let store = MemoryStore::new();
    let name = "preregistered-agent";
    let run = || {
        OAuthClient::builder(name)
            .authorization_server(&s.base)
            .client_id("operator-agent")
            .login(Login::password(USER, PASSWORD))
            .token_store(store.clone())
            .build()
            .unwrap()
    };
    run().access_token(&rs.resource).await.unwrap();

    make_due(&store, name, &rs.resource);
    remove_client(&*s.storage, "operator-agent", now())
        .await
        .unwrap();
    let err = run().access_token(&rs.resource).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::ClientRefused { client_id, error }
            if client_id == "operator-agent"
                && error.error == mcp_oauth_server::core::ErrorCode::InvalidClient),
        "{err}"
    );
    assert_eq!(s.requests_to("/register").await, 0, "never registered");
    assert_eq!(logins(&s).await, 1, "no second login");
    s.stop().await;
}
