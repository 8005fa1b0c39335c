//! Enterprise-managed authorization end to end, over real sockets, with
//! nothing but our own parts: one of our authorization servers is the
//! enterprise identity provider (it signs the person in with OpenID Connect
//! and exchanges their ID token for an ID-JAG), another is the MCP server's
//! authorization server (it trusts the first one's grants through
//! `[[trusted_idps]]` and its published keys), our client logs in with
//! `Login::IdentityAssertion`, and the protected example serves the tools.

use std::sync::Arc;

use integration_tests::{RESOURCE, TestServer};
use mcp_oauth_client::{FixedIdToken, IdentityAssertion, IdpClient, Login, OAuthClient};
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_examples::profile::{WRITE_SCOPE, app};
use mcp_oauth_server::OperatorClient;
use mcp_oauth_server::exchange_config::IdJagAudience;
use mcp_oauth_server::federation::TrustedIdpConfig;
use mcp_oauth_server::storage::{AuditQuery, MemoryStorage};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

use crate::token_exchange::{ID_JAG, ID_TOKEN, exchange, exchanging_agent, sign_in};
use crate::verifier::jwt_verifier;

/// The agent as the identity provider knows it.
const AT_IDP: (&str, &str) = ("ent-agent", "ent-agent-secret-0123456789");
/// The same agent as the MCP server's authorization server knows it.
const AT_AS: (&str, &str) = ("ent-agent-at-mcp", "ent-agent-at-mcp-secret-0123456789");

async fn audited(s: &TestServer, kind: &str) -> Vec<mcp_oauth_server::storage::AuditEvent> {
    let mut q = AuditQuery::default();
    q.kind = Some(kind.into());
    s.storage.audit_events(&q).await.unwrap()
}

#[tokio::test]
async fn two_of_our_servers_carry_a_person_from_their_idp_into_the_protected_example() {
    // The MCP server's authorization server and the protected example
    // listen first, so that the identity provider's policy can name them.
    let as_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let as_issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let rs_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = rs_listener.local_addr().unwrap().port();
    let resource = format!("http://127.0.0.1:{port}/mcp");

    let idp = {
        let (as_issuer, resource) = (as_issuer.clone(), resource.clone());
        TestServer::start(move |mut c| {
            c.exchange.id_jag_audiences.push(
                IdJagAudience::new(as_issuer, [resource], [(AT_IDP.0, AT_AS.0)])
                    .scopes(["mcp", WRITE_SCOPE]),
            );
            c.scopes(["mcp", WRITE_SCOPE])
                .client(exchanging_agent(AT_IDP.0, AT_IDP.1))
        })
        .await
    };
    let mcp_as = {
        let (idp_issuer, jwks) = (idp.base.clone(), idp.url("/jwks"));
        TestServer::start_listening(as_listener, Arc::new(MemoryStorage::new()), move |c| {
            c.scopes(["mcp", WRITE_SCOPE])
                .trusted_idp(TrustedIdpConfig::with_jwks_uri(
                    "corp",
                    &idp_issuer,
                    &jwks,
                    [AT_AS.0],
                ))
                .client(OperatorClient::service(AT_AS.0, AT_AS.1).grants([GrantType::JwtBearer]))
        })
        .await
    };
    let verifier = jwt_verifier(&mcp_as.base)(resource.clone());
    let example = app(
        &verifier,
        Default::default(),
        vec![format!("127.0.0.1:{port}")],
    );
    let rs = tokio::spawn(async move {
        let _ = axum::serve(rs_listener, example).await;
    });

    // The person signs in to the agent at their identity provider.
    let signed_in = sign_in(&idp, (AT_IDP.0, Some(AT_IDP.1)), "openid", RESOURCE).await;
    let id_token = signed_in["id_token"].as_str().expect("an ID token");

    // The agent knows its identity provider and its credentials at the
    // MCP server's authorization server; the rest it discovers.
    let agent = OAuthClient::builder("enterprise-agent")
        .authorization_server(mcp_as.base.clone())
        .client_credentials(AT_AS.0, AT_AS.1)
        .login(Login::IdentityAssertion(IdentityAssertion::new(
            idp.base.clone(),
            IdpClient::secret_basic(AT_IDP.0, AT_IDP.1),
            FixedIdToken::new(id_token),
        )))
        .build()
        .unwrap();
    let mcp = ().serve(agent.transport(&resource).unwrap()).await.unwrap();
    let who = mcp
        .call_tool(CallToolRequestParams::new("get_user_profile"))
        .await
        .unwrap();
    let text = serde_json::to_string(&who.content).unwrap();
    // The person, as the MCP server's authorization server names people of
    // that provider, through the agent's client there.
    assert!(text.contains("corp:alice"), "{text}");
    assert!(text.contains(AT_AS.0), "{text}");
    // A tool that needs more: the 403 makes a new grant for the union of
    // the scopes, which the identity provider's policy allows.
    let saved = mcp
        .call_tool(
            CallToolRequestParams::new("set_user_profile").with_arguments(
                json!({"profile": "from the enterprise"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_ne!(saved.is_error, Some(true), "{saved:?}");
    let _ = mcp.cancel().await;

    // Each side recorded its half: two exchanges at the provider, two
    // grants redeemed at the MCP server's authorization server.
    let exchanged = audited(&idp, "token_exchanged").await;
    assert_eq!(exchanged.len(), 2, "{exchanged:?}");
    assert!(
        exchanged
            .iter()
            .all(|e| e.subject.as_deref() == Some("alice"))
    );
    let accepted = audited(&mcp_as, "id_jag_accepted").await;
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    assert!(
        accepted
            .iter()
            .all(|e| e.subject.as_deref() == Some("corp:alice"))
    );

    // Ending the person's grants at the provider ends the exchange: the
    // agent cannot get a new grant with the ID token it holds.
    idp.storage
        .revoke_subject("alice", integration_tests::now())
        .await
        .unwrap();
    let refused = exchange(
        &idp,
        AT_IDP,
        &[
            ("subject_token", id_token),
            ("subject_token_type", ID_TOKEN),
            ("requested_token_type", ID_JAG),
            ("audience", mcp_as.base.as_str()),
            ("resource", resource.as_str()),
        ],
    )
    .await;
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{body}"
    );
    rs.abort();
}
