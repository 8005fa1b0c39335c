//! The client's enterprise-managed authorization (`Login::IdentityAssertion`)
//! over real sockets, against hand-written stand-ins: an enterprise IdP
//! whose token endpoint checks the token exchange and answers with a grant
//! string, an authorization server whose token endpoint checks the JWT
//! bearer grant and its Basic authentication, and an MCP server speaking
//! just enough JSON-RPC for rmcp. Each records every request, so the tests
//! can say where the ID token went, and where it did not.

mod fakes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::routing::get;
use mcp_oauth_client::core::secret::SecurityToken;
use mcp_oauth_client::{
    CallbackError, ClientError, FixedIdToken, IdJagRequest, IdentityAssertion,
    IdentityAssertionError, IdpClient,
};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

use self::fakes::{
    AGENT, AGENT_SECRET, IDP_CLIENT, IDP_SECRET, IdpMode, Recorded, World, authorization_server,
    mcp_server,
};

#[tokio::test]
async fn the_id_token_becomes_a_grant_then_an_access_token() {
    let w = World::start(IdpMode::Grant).await;
    let client = w.agent();
    let token = client.access_token(&w.mcp_url()).await.unwrap();
    assert_eq!(token.secret(), "at-1");
    assert_eq!(*w.idp.id_tokens.lock().unwrap(), ["id-token-1"]);
    assert_eq!(*w.idp.scopes.lock().unwrap(), ["mcp"]);
    // The grant reached the authorization server, with the agent's Basic
    // credentials there, the scope and the resource.
    assert!(w.authorization.saw("assertion=jag-1"));
    assert!(w.authorization.saw(&format!("{AGENT}:{AGENT_SECRET}")));
    assert!(w.authorization.saw(&format!("resource={}", w.mcp_url())));
    // Held while valid: no second exchange.
    assert_eq!(
        client.access_token(&w.mcp_url()).await.unwrap().secret(),
        "at-1"
    );
    assert_eq!(w.idp.id_tokens.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_expiring_access_token_is_replaced_by_a_new_grant() {
    let w = World::start_with(IdpMode::Grant, 1).await;
    let client = w.agent();
    assert_eq!(
        client.access_token(&w.mcp_url()).await.unwrap().secret(),
        "at-1"
    );
    // A one-second token is due once a whole second has passed: no refresh
    // token to use, so a new exchange with a fresh ID token, same scope.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        client.access_token(&w.mcp_url()).await.unwrap().secret(),
        "at-2"
    );
    assert_eq!(
        *w.idp.id_tokens.lock().unwrap(),
        ["id-token-1", "id-token-2"]
    );
    assert_eq!(*w.idp.scopes.lock().unwrap(), ["mcp", "mcp"]);
}

#[tokio::test]
async fn a_401_and_a_403_make_new_grants_from_fresh_id_tokens() {
    let w = World::start(IdpMode::Grant).await;
    let client = w.agent();
    let mcp = ().serve(client.transport(&w.mcp_url()).unwrap()).await.unwrap();
    let tools = mcp.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 1);
    let done = mcp
        .call_tool(CallToolRequestParams::new("write"))
        .await
        .unwrap();
    assert_ne!(done.is_error, Some(true));
    let _ = mcp.cancel().await;
    // at-1 was refused (401): a new exchange with a fresh ID token; the
    // 403 on tools/call: another, for the union of the scopes.
    assert_eq!(
        *w.idp.id_tokens.lock().unwrap(),
        ["id-token-1", "id-token-2", "id-token-3"]
    );
    assert_eq!(*w.idp.scopes.lock().unwrap(), ["mcp", "mcp", "mcp write"]);
    // The ID token and the IdP credentials went to the IdP only; the
    // agent's secret at the authorization server never went to the IdP.
    for other in [&w.authorization, &w.mcp] {
        assert!(!other.saw("id-token-"));
        assert!(!other.saw(IDP_SECRET));
    }
    assert!(!w.idp.server.saw(AGENT_SECRET));
    assert!(!w.mcp.saw("jag-"));
}

#[tokio::test]
async fn refusals_of_the_idp_are_typed_and_retried_once() {
    let w = World::start(IdpMode::RefuseIdToken).await;
    let err = w.agent().access_token(&w.mcp_url()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::IdentityAssertion { idp, source: IdentityAssertionError::Refused(e) }
                if *idp == w.idp.server.base && e.error == mcp_oauth_client::core::ErrorCode::InvalidGrant
        ),
        "{err:?}"
    );
    // One more try with a fresh ID token, no more; nothing reached the
    // authorization server's token endpoint.
    assert_eq!(
        *w.idp.id_tokens.lock().unwrap(),
        ["id-token-1", "id-token-2"]
    );
    assert!(!w.authorization.saw("/token"));
    assert!(!format!("{err:?} {err}").contains("id-token-"));

    let w = World::start(IdpMode::WrongType).await;
    let err = w.agent().access_token(&w.mcp_url()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::IdentityAssertion {
                source: IdentityAssertionError::NotAnIdJag { issued_token_type: Some(t) },
                ..
            } if t.ends_with(":access_token")
        ),
        "{err:?}"
    );
    assert!(!w.authorization.saw("/token"));
}

#[tokio::test]
async fn an_application_provider_supplies_the_grant() {
    let w = World::start(IdpMode::Grant).await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let provider = move |r: IdJagRequest| {
        log.lock().unwrap().push(r.clone());
        async move { Ok::<_, CallbackError>(SecurityToken::new("jag-from-broker")) }
    };
    let client = w.agent_with(IdentityAssertion::from_provider(provider));
    assert_eq!(
        client.access_token(&w.mcp_url()).await.unwrap().secret(),
        "at-1"
    );
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].audience, w.authorization.base);
    assert_eq!(asked[0].resource, w.mcp_url());
    assert_eq!(asked[0].scope.to_string(), "mcp");
    assert!(w.authorization.saw("assertion=jag-from-broker"));
    assert_eq!(w.idp.server.requests().len(), 0);
}

#[tokio::test]
async fn the_id_token_never_goes_to_a_server_the_agent_was_not_configured_with() {
    // A hostile MCP server naming its own authorization server: refused
    // before anything is sent there, and the IdP is not even asked.
    let w = World::start(IdpMode::Grant).await;
    let evil_issued = Arc::new(Mutex::new(HashMap::new()));
    let evil_as = authorization_server(evil_issued.clone(), 3600).await;
    let evil_mcp = mcp_server(evil_as.base.clone(), evil_issued).await;
    let err = w
        .agent()
        .access_token(&format!("{}/mcp", evil_mcp.base))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::UntrustedIssuer { .. }),
        "{err:?}"
    );
    assert_eq!(evil_as.requests().len(), 0);
    assert_eq!(w.idp.server.requests().len(), 0);
    assert!(!evil_mcp.saw("id-token-"));

    // An "IdP" whose metadata names another issuer (a mix-up): refused,
    // and the token endpoint that metadata names gets nothing.
    let sink = Recorded::start(|_| axum::Router::new()).await;
    let sink_token = format!("{}/token", sink.base);
    let impostor = Recorded::start(move |_| {
        let doc = json!({"issuer": "https://idp.evil.example", "token_endpoint": sink_token});
        axum::Router::new().route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(doc) }),
        )
    })
    .await;
    let client = w.agent_with(IdentityAssertion::new(
        impostor.base.clone(),
        IdpClient::secret_post(IDP_CLIENT, IDP_SECRET),
        FixedIdToken::new("id-token-fixed"),
    ));
    let err = client.access_token(&w.mcp_url()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::IdentityAssertion {
                source: IdentityAssertionError::NoMetadata { found: Some(f) },
                ..
            } if f == "https://idp.evil.example"
        ),
        "{err:?}"
    );
    assert_eq!(sink.requests().len(), 0);
    for s in [&impostor, &w.authorization, &w.mcp, &w.idp.server] {
        assert!(!s.saw("id-token-fixed"));
        assert!(!s.saw(IDP_SECRET));
    }
}

#[tokio::test]
async fn a_grant_the_authorization_server_refuses_is_made_once_more_then_reported() {
    let w = World::start(IdpMode::Grant).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let provider = move |_: IdJagRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, CallbackError>(SecurityToken::new("forged")) }
    };
    let err = w
        .agent_with(IdentityAssertion::from_provider(provider))
        .access_token(&w.mcp_url())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Token(e) if e.error == mcp_oauth_client::core::ErrorCode::InvalidGrant),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
