//! RFC 7592 over real sockets: a registered client reads, replaces and
//! deletes its registration with its registration access token; every
//! other token is refused alike; a replacement is checked as a
//! registration is.

use integration_tests::{AGENT_ID, TestServer, http, now};
use mcp_oauth_server::admin::clients::{NewClient, create_client};
use mcp_oauth_server::core::secret::token_hash;
use serde_json::{Value, json};

use crate::flow::{REDIRECT, error_of, login, redeem, refresh, register};

/// A public client's registration: (client_id, token, configuration URI).
async fn registered(s: &TestServer, name: &str) -> (String, String, String) {
    let c = register(
        s,
        json!({"client_name": name, "redirect_uris": [REDIRECT],
               "client_uri": "https://agent.example/about",
               "grant_types": ["authorization_code", "refresh_token"],
               "token_endpoint_auth_method": "none"}),
    )
    .await;
    let id = c["client_id"].as_str().unwrap().to_owned();
    let token = c["registration_access_token"].as_str().unwrap().to_owned();
    let uri = c["registration_client_uri"].as_str().unwrap().to_owned();
    (id, token, uri)
}

async fn get(uri: &str, token: &str) -> reqwest::Response {
    http().get(uri).bearer_auth(token).send().await.unwrap()
}

async fn put(uri: &str, token: &str, body: Value) -> reqwest::Response {
    http()
        .put(uri)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(uri: &str, token: &str) -> reqwest::Response {
    http().delete(uri).bearer_auth(token).send().await.unwrap()
}

/// A 401 `invalid_token` with a Bearer challenge (RFC 6750 §3).
async fn refused(r: reqwest::Response) {
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    assert_eq!(error_of(r, 401).await, "invalid_token");
}

#[tokio::test]
async fn a_client_reads_replaces_and_deletes_its_registration() {
    let s = TestServer::start(|c| c).await;
    let (id, token, uri) = registered(&s, "managed agent").await;
    assert_eq!(uri, s.url(&format!("/register/{id}")));
    assert!(token.len() >= 43, "256 bits, base64url");
    // Stored only as a hash.
    let stored = s.storage.client(&id).await.unwrap().unwrap();
    assert_eq!(stored.registration_token_hash, Some(token_hash(&token)));

    // Read.
    let r = get(&uri, &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["client_id"], id.as_str());
    assert_eq!(info["client_name"], "managed agent");
    assert_eq!(info["client_uri"], "https://agent.example/about");
    assert_eq!(info["redirect_uris"], json!([REDIRECT]));
    assert_eq!(info["registration_client_uri"], uri.as_str());
    assert!(info.get("registration_access_token").is_none());

    // Someone signs in and the client holds a refresh token.
    let (code, verifier) = login(&s, &id).await;
    let tokens: Value = redeem(&s, &id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Replace: the new metadata is the whole of it; what is not sent goes.
    let second = "http://127.0.0.1:4712/callback";
    let r = put(
        &uri,
        &token,
        json!({"client_id": id, "client_name": "renamed agent",
               "redirect_uris": [REDIRECT, second],
               "grant_types": ["authorization_code", "refresh_token"],
               "registration_access_token": "ignored", "client_id_issued_at": 1}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["client_name"], "renamed agent");
    assert_eq!(info["token_endpoint_auth_method"], "none", "kept");
    let info: Value = get(&uri, &token).await.json().await.unwrap();
    assert_eq!(info["client_name"], "renamed agent");
    assert_eq!(info["redirect_uris"], json!([REDIRECT, second]));
    assert!(info.get("client_uri").is_none(), "not sent, so removed");
    // New redirect addresses end what people allowed for the old ones: a
    // stolen registration token cannot steer remembered consent elsewhere.
    let r = refresh(&s, &id, &refresh_token).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    // The token stays as it was.
    assert_eq!(
        s.storage
            .client(&id)
            .await
            .unwrap()
            .unwrap()
            .registration_token_hash,
        Some(token_hash(&token))
    );

    // Delete: 204, and nothing of it is left.
    let r = delete(&uri, &token).await;
    assert_eq!(r.status(), 204);
    assert!(s.storage.client(&id).await.unwrap().is_none());
    refused(get(&uri, &token).await).await;
    refused(delete(&uri, &token).await).await;
    let r = refresh(&s, &id, &refresh_token).await;
    assert_eq!(error_of(r, 401).await, "invalid_client");
    let grants = s
        .storage
        .grants(
            &mcp_oauth_server::storage::GrantFilter::all().client(&id),
            now(),
        )
        .await
        .unwrap();
    assert!(grants.is_empty(), "{grants:?}");
    s.stop().await;
}

#[tokio::test]
async fn only_the_clients_own_token_manages_it() {
    let s = TestServer::start(|c| c).await;
    let (a, a_token, a_uri) = registered(&s, "a").await;
    let (_, b_token, b_uri) = registered(&s, "b").await;
    // Another client's token, a made-up one, none at all.
    refused(get(&a_uri, &b_token).await).await;
    refused(get(&a_uri, "not-a-token").await).await;
    refused(http().get(&a_uri).send().await.unwrap()).await;
    refused(
        http()
            .get(&a_uri)
            .header("authorization", format!("Basic {a_token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // A token for a client that does not exist, or one the operator made
    // (which has no registration access token): the same answer.
    refused(get(&s.url("/register/no-such-client"), &a_token).await).await;
    refused(get(&s.url(&format!("/register/{AGENT_ID}")), &a_token).await).await;
    create_client(&*s.storage, NewClient::named("operator's"), now())
        .await
        .unwrap();
    let operator = s
        .storage
        .clients()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.is_trusted())
        .unwrap();
    refused(get(&s.url(&format!("/register/{}", operator.client_id)), "").await).await;
    // Neither replace nor delete works with another's token.
    let body = json!({"client_id": a, "redirect_uris": [REDIRECT]});
    refused(put(&a_uri, &b_token, body).await).await;
    refused(delete(&a_uri, &b_token).await).await;
    assert!(s.storage.client(&a).await.unwrap().is_some());
    // Each token still works for its own client.
    assert_eq!(get(&a_uri, &a_token).await.status(), 200);
    assert_eq!(get(&b_uri, &b_token).await.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn a_replacement_is_checked_as_a_registration_is() {
    let s = TestServer::start(|c| c).await;
    let (id, token, uri) = registered(&s, "careful agent").await;
    let confidential = register(
        &s,
        json!({"client_name": "confidential", "redirect_uris": [REDIRECT]}),
    )
    .await;
    for (hostile, error) in [
        (
            json!({"client_id": id, "redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"client_id": id, "redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"client_id": id, "redirect_uris": [REDIRECT],
                   "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": "someone-else", "redirect_uris": [REDIRECT]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": id, "redirect_uris": [REDIRECT],
                   "token_endpoint_auth_method": "client_secret_basic"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": id, "client_secret": "guess", "redirect_uris": [REDIRECT]}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let r = put(&uri, &token, hostile.clone()).await;
        assert_eq!(error_of(r, 400).await, error, "{hostile}");
    }
    // Registration refuses the same redirect URI the same way.
    let r = http()
        .post(s.url("/register"))
        .json(&json!({"redirect_uris": ["http://evil.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_redirect_uri");
    // Nothing changed.
    let info: Value = get(&uri, &token).await.json().await.unwrap();
    assert_eq!(info["redirect_uris"], json!([REDIRECT]));
    assert_eq!(info["client_name"], "careful agent");

    // A confidential client may repeat its secret, and only its own.
    let cid = confidential["client_id"].as_str().unwrap();
    let secret = confidential["client_secret"].as_str().unwrap();
    let ctoken = confidential["registration_access_token"].as_str().unwrap();
    let curi = confidential["registration_client_uri"].as_str().unwrap();
    let r = put(
        curi,
        ctoken,
        json!({"client_id": cid, "client_secret": secret, "client_name": "still confidential",
               "redirect_uris": [REDIRECT]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["token_endpoint_auth_method"], "client_secret_basic");
    assert!(info.get("client_secret").is_none(), "never repeated");
    s.stop().await;
}
