//! The agent side: our client logs in to the protected profile server
//! through our authorization server, with rmcp on top, over real sockets.

use std::time::Duration;

use integration_tests::{AGENT_ID, PASSWORD, TestServer, USER, http};
use mcp_oauth_client::{
    ClientError, FileStore, Login, MemoryStore, OAuthClient, SessionKey, TokenStore,
};
use mcp_oauth_examples::profile::WRITE_SCOPE;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::sync::Arc;

use crate::verifier::{as_server, jwt_verifier, start_rs};

/// The first-party agent: trusts `issuer`, logs in there headless.
pub(crate) fn agent(issuer: &str, store: Arc<dyn TokenStore>) -> OAuthClient {
    OAuthClient::builder("test-agent")
        .authorization_server(issuer)
        .client_id(AGENT_ID)
        .login(Login::password(USER, PASSWORD))
        .token_store(store)
        .build()
        .unwrap()
}

/// Successful password logins the AS has seen.
pub(crate) async fn logins(s: &TestServer) -> u64 {
    let text = s.metrics().await;
    text.lines()
        .find(|l| {
            l.starts_with("mcp_oauth_http_requests_total{endpoint=\"/login\",status=\"302\"}")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn tool_names(client: &OAuthClient, url: &str) -> Vec<String> {
    let mcp = ().serve(client.transport(url).unwrap()).await.unwrap();
    let tools = mcp.list_all_tools().await.unwrap();
    let _ = mcp.cancel().await;
    tools.into_iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn logs_in_headless_and_a_second_process_reuses_the_encrypted_store() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let path = std::env::temp_dir().join(format!("mcp-oauth-agent-{}.bin", std::process::id()));
    let _ = std::fs::remove_file(&path);

    let first = agent(&s.base, FileStore::encrypted(&path, [3; 32]));
    let mut names = tool_names(&first, &rs.resource).await;
    names.sort();
    assert_eq!(names, ["get_user_profile", "set_user_profile"]);
    assert_eq!(logins(&s).await, 1);

    // Another client over the same file (as a new process would be): no login.
    let second = agent(&s.base, FileStore::encrypted(&path, [3; 32]));
    assert_eq!(tool_names(&second, &rs.resource).await.len(), 2);
    assert_eq!(logins(&s).await, 1, "the stored token was reused");
    // With the wrong key the store refuses, clearly.
    let wrong = agent(&s.base, FileStore::encrypted(&path, [4; 32]));
    let err = wrong.access_token(&rs.resource).await.unwrap_err();
    assert!(matches!(err, ClientError::Store(_)), "{err}");
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_file(path.with_extension("bin.lock"));
    s.stop().await;
}

#[tokio::test]
async fn expired_tokens_refresh_and_a_revoked_refresh_token_means_a_new_login() {
    let s = TestServer::start(|c| {
        c.scopes(["mcp", WRITE_SCOPE])
            .access_token_ttl(Duration::from_secs(2))
    })
    .await;
    let issuer = s.base.clone();
    let rs = start_rs(move |resource| {
        mcp_oauth_verifier::Verifier::builder(resource)
            .authorization_server(issuer)
            .required_scopes(["mcp"])
            .leeway(0)
            .build()
            .unwrap()
    })
    .await;
    let store = MemoryStore::new();
    let client = agent(&s.base, store.clone());
    let first = client.access_token(&rs.resource).await.unwrap();
    assert_eq!(tool_names(&client, &rs.resource).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // Expired: refreshed transparently, no new login.
    assert_eq!(tool_names(&client, &rs.resource).await.len(), 2);
    let second = client.access_token(&rs.resource).await.unwrap();
    assert_ne!(first.secret(), second.secret());
    assert_eq!(logins(&s).await, 1);

    // Revoke the refresh token family at the AS, then let the access token expire.
    let (client_id, refresh_token) = {
        let session = SessionKey::new("test-agent", rs.resource.as_str());
        let record = store.load_session(&session).unwrap().unwrap();
        let tokens = store
            .load_tokens(&session.tokens_key(&record))
            .unwrap()
            .unwrap();
        (record.client_id, tokens.refresh_token.unwrap())
    };
    let r = http()
        .post(s.url("/revoke"))
        .form(&[
            ("token", refresh_token.secret()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(tool_names(&client, &rs.resource).await.len(), 2);
    assert_eq!(
        logins(&s).await,
        2,
        "the dead refresh token led to a fresh login"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_403_steps_up_to_the_wider_scope() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let client = OAuthClient::builder("step-up-agent")
        .authorization_server(&s.base)
        .client_id(AGENT_ID)
        .login(Login::password(USER, PASSWORD))
        .build()
        .unwrap();
    let mcp = ().serve(client.transport(&rs.resource).unwrap()).await.unwrap();
    // The first login asks for the challenge's scope: just "mcp".
    let me = mcp
        .call_tool(CallToolRequestParams::new("get_user_profile"))
        .await
        .unwrap();
    assert!(
        format!("{me:?}").contains("\\\"scopes\\\":\\\"mcp\\\""),
        "{me:?}"
    );
    let args = json!({"profile": "likes rust"})
        .as_object()
        .unwrap()
        .clone();
    let saved = mcp
        .call_tool(CallToolRequestParams::new("set_user_profile").with_arguments(args))
        .await
        .unwrap();
    assert!(
        format!("{saved:?}").contains("saved profile of alice"),
        "{saved:?}"
    );
    assert_eq!(logins(&s).await, 2, "one login, one step-up");
    let _ = mcp.cancel().await;
    s.stop().await;
}

#[tokio::test]
async fn an_authorization_server_without_s256_is_refused() {
    use axum::Json;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (b1, b2) = (base.clone(), base.clone());
    let app = axum::Router::new()
        .route("/mcp", axum::routing::post(move || {
            let b = b1.clone();
            async move {
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    [("www-authenticate", format!("Bearer resource_metadata=\"{b}/.well-known/oauth-protected-resource/mcp\""))],
                )
            }
        }))
        .route("/.well-known/oauth-protected-resource/mcp", get(move || {
            let b = b2.clone();
            async move { Json(json!({"resource": format!("{b}/mcp"), "authorization_servers": [b]})) }
        }))
        .route("/.well-known/oauth-authorization-server", get({
            let b = base.clone();
            move || {
                let b = b.clone();
                async move { Json(json!({"issuer": b, "authorization_endpoint": format!("{b}/authorize"),
                                          "token_endpoint": format!("{b}/token"), "code_challenge_methods_supported": ["plain"]})) }
            }
        }));
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = agent(&base, MemoryStore::new());
    let err = client
        .access_token(&format!("{base}/mcp"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NoS256(_)), "{err}");
    assert!(err.to_string().contains("S256"));
    task.abort();
}

/// A stand-in for a person at a browser: loads the login page, fills in
/// the form, and follows the redirect to the agent's loopback listener.
pub(crate) async fn person_at_browser(url: String) {
    let browser = http();
    let page = browser.get(&url).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let html = page.text().await.unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&")
    };
    let action = {
        let start = html.find("action=\"").unwrap() + 8;
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let r = browser
        .post(&action)
        .header("cookie", cookie)
        .form(&[
            ("username", USER),
            ("password", PASSWORD),
            ("request", &field("request")),
            ("csrf", &field("csrf")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    let done = browser
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("You are signed in"));
}

#[tokio::test]
async fn the_browser_strategy_receives_the_redirect_on_a_loopback_listener() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let opener: mcp_oauth_client::BrowserOpener = Arc::new(|url: &str| {
        assert!(
            url.contains("code_challenge_method=S256")
                && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A")
        );
        tokio::spawn(person_at_browser(url.to_owned()));
        Ok(())
    });
    let client = OAuthClient::builder("browser-agent")
        .login(Login::BrowserWith(opener))
        .login_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert_eq!(tool_names(&client, &rs.resource).await.len(), 2);
    assert_eq!(logins(&s).await, 1);
    s.stop().await;
}

#[tokio::test]
async fn agents_sharing_a_file_store_use_each_others_refresh() {
    // Two agents over one store file, as two processes would be. Without a
    // grace period at the AS, presenting a refresh token that the other
    // agent already rotated would count as reuse and end the grant.
    let s = TestServer::start(|c| {
        c.scopes(["mcp", WRITE_SCOPE])
            .access_token_ttl(Duration::from_secs(2))
            .refresh_grace(Duration::ZERO)
    })
    .await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let path = std::env::temp_dir().join(format!("mcp-oauth-shared-{}.bin", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let one = agent(&s.base, FileStore::encrypted(&path, [9; 32]));
    let two = agent(&s.base, FileStore::encrypted(&path, [9; 32]));
    let first = one.access_token(&rs.resource).await.unwrap();
    let same = two.access_token(&rs.resource).await.unwrap();
    assert_eq!(
        first.secret(),
        same.secret(),
        "the second agent read the store"
    );
    assert_eq!(logins(&s).await, 1);

    // Both tokens are due; the first agent refreshes, the second must use
    // that result instead of replaying the refresh token it read before.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let refreshed = one.access_token(&rs.resource).await.unwrap();
    assert_ne!(refreshed.secret(), first.secret());
    let seen = two.access_token(&rs.resource).await.unwrap();
    assert_eq!(seen.secret(), refreshed.secret());
    assert_eq!(
        s.requests_to("/token").await,
        2,
        "one code redemption and one refresh"
    );
    // The grant is alive for both: they keep working without a new login.
    assert_eq!(tool_names(&one, &rs.resource).await.len(), 2);
    assert_eq!(tool_names(&two, &rs.resource).await.len(), 2);
    assert_eq!(logins(&s).await, 1, "nobody had to log in again");
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_file(path.with_extension("bin.lock"));
    s.stop().await;
}

#[tokio::test]
async fn the_agent_listens_on_the_redirect_it_chose_and_registers_it() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    // A port free now, chosen as the agent's fixed callback.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let chosen = format!("http://127.0.0.1:{port}/oauth/done");
    let expected = chosen.clone();
    let opener: mcp_oauth_client::BrowserOpener = Arc::new(move |url: &str| {
        let asked = url::Url::parse(url).unwrap();
        let redirect = asked
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned());
        assert_eq!(redirect.as_deref(), Some(expected.as_str()));
        tokio::spawn(person_at_browser(url.to_owned()));
        Ok(())
    });
    let client = OAuthClient::builder("fixed-callback-agent")
        .login(Login::BrowserWith(opener))
        .redirect_uri(chosen.clone())
        .login_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert_eq!(tool_names(&client, &rs.resource).await.len(), 2);
    // Registered with exactly that redirect URI.
    let registered = s
        .storage
        .clients()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.metadata.client_name.as_deref() == Some("fixed-callback-agent"))
        .unwrap();
    assert_eq!(registered.metadata.redirect_uris(), [chosen]);
    // A browser login cannot listen on a URI it cannot bind.
    for bad in [
        "https://app.example/cb",
        "http://localhost:8765/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:0/cb",
    ] {
        assert!(
            OAuthClient::builder("x")
                .login(Login::Browser)
                .redirect_uri(bad)
                .build()
                .is_err(),
            "{bad}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn forgetting_a_server_revokes_its_refresh_token_and_clears_the_store() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let store = MemoryStore::new();
    let client = agent(&s.base, store.clone());
    assert_eq!(tool_names(&client, &rs.resource).await.len(), 2);
    assert_eq!(logins(&s).await, 1);
    let key = mcp_oauth_client::SessionKey::new("test-agent", rs.resource.as_str());
    let index = store.load_session(&key).unwrap().expect("a session");
    let refresh = store
        .load_tokens(&key.tokens_key(&index))
        .unwrap()
        .and_then(|t| t.refresh_token)
        .expect("a refresh token");

    let gone = client.forget(&rs.resource).await.unwrap();
    assert!(gone.had_tokens && gone.revoked_at_server, "{gone:?}");
    assert!(store.load_session(&key).unwrap().is_none());
    assert!(
        store
            .load_tokens(&key.tokens_key(&index))
            .unwrap()
            .is_none()
    );
    // Revoked at the AS: the refresh token no longer works there.
    let r = crate::flow::refresh(&s, AGENT_ID, refresh.secret()).await;
    assert_eq!(crate::flow::error_of(r, 400).await, "invalid_grant");
    // Forgetting again finds nothing; the next use logs in anew.
    let again = client.forget(&rs.resource).await.unwrap();
    assert!(!again.had_tokens && !again.revoked_at_server);
    assert_eq!(tool_names(&client, &rs.resource).await.len(), 2);
    assert_eq!(logins(&s).await, 2);
    s.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_a_typed_denial_also_through_rmcp() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let client = OAuthClient::builder("test-agent")
        .authorization_server(&s.base)
        .client_id(AGENT_ID)
        .login(Login::password(USER, "not the password"))
        .build()
        .unwrap();
    let err = client.access_token(&rs.resource).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Denied(e) if e.error == mcp_oauth_core::ErrorCode::AccessDenied),
        "{err}"
    );
    // Through rmcp, the same error is found in the transport's error.
    let failed = ().serve(client.transport(&rs.resource).unwrap()).await;
    let Err(e) = failed else {
        panic!("a wrong password must not connect")
    };
    let found = ClientError::find(&e);
    assert!(
        matches!(found, Some(ClientError::Denied(_))),
        "{e} / {found:?}"
    );
    s.stop().await;
}
