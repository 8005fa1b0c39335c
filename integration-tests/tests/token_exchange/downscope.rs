//! Downscoping: MCP servers passing narrower tokens down a chain, with `act`.

use integration_tests::{RESOURCE, TestServer, USER, http};
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_server::exchange_config::TokenExchangePolicy;
use mcp_oauth_server::storage::GrantFilter;
use mcp_oauth_server::{OperatorClient, ServerConfig};
use mcp_oauth_verifier::Verifier;
use serde_json::{Value, json};

use super::*;
use crate::flow::{error_of, register_public};

/// Downstream MCP servers: A ([`RESOURCE`]) calls B, B calls C, and so on.
const B: &str = "http://127.0.0.1:8001/mcp";
const C: &str = "http://127.0.0.1:8002/mcp";
const D: &str = "http://127.0.0.1:8003/mcp";
const E: &str = "http://127.0.0.1:8004/mcp";
const F: &str = "http://127.0.0.1:8005/mcp";
/// The resource server of B, introspecting its tokens.
const RS_B: (&str, &str) = ("rs-b", "rs-b-secret-0123456789");

/// The credentials of the MCP server `name` (`mcp-a`, …).
fn server(name: &'static str) -> (&'static str, &'static str) {
    (name, "mcp-server-secret-0123456789")
}

fn chain(mut c: ServerConfig) -> ServerConfig {
    c.scopes_supported = vec!["mcp".into(), "files:read".into(), "files:write".into()];
    let hops = [
        ("mcp-a", RESOURCE, B),
        ("mcp-b", B, C),
        ("mcp-c", C, D),
        ("mcp-d", D, E),
        ("mcp-e", E, F),
    ];
    for (i, (name, from, to)) in hops.into_iter().enumerate() {
        let policy = TokenExchangePolicy::new(name, [from], [to]);
        // The first hop needs the person's grant of B and caps the scope;
        // the others leave it to the operator's list.
        let policy = if i == 0 {
            policy.scopes(["mcp", "files:read"])
        } else {
            policy.without_grant_check()
        };
        c.exchange.token_exchange.push(policy);
        let (id, secret) = server(name);
        c = c.client(OperatorClient::service(id, secret).grants([GrantType::TokenExchange]));
    }
    let (id, secret) = server("mcp-none");
    c.client(OperatorClient::service(id, secret).grants([GrantType::TokenExchange]))
        .client(OperatorClient::resource_server(
            RS_B.0,
            RS_B.1,
            [ResourceUri::parse(B).unwrap()],
        ))
}

/// A downscoping request for `subject` to `resource`, with `extra`.
fn down<'a>(
    subject: &'a str,
    resource: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", resource),
    ];
    form.extend_from_slice(extra);
    form
}

/// The access token of a successful exchange, checking the response.
async fn exchanged(r: reqwest::Response) -> (String, Value) {
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none());
    (body["access_token"].as_str().unwrap().to_owned(), body)
}

#[tokio::test]
async fn a_resource_server_passes_a_narrower_token_down_a_chain_with_act() {
    let s = TestServer::start(chain).await;
    let agent = register_public(&s).await;
    let at_a = sign_in(&s, (&agent, None), "mcp files:read files:write", RESOURCE).await;
    let at_a = at_a["access_token"].as_str().unwrap().to_owned();

    // The person has not granted B to their client yet.
    refused(
        exchange(&s, server("mcp-a"), &down(&at_a, B, &[])).await,
        "invalid_target",
        "has not granted",
    )
    .await;
    let at_b_direct = sign_in(&s, (&agent, None), "mcp files:read", B).await;
    let at_b_direct = at_b_direct["access_token"].as_str().unwrap().to_owned();

    // Now A gets a token for B: the presented scope within the cap.
    let (at_b, body) = exchanged(exchange(&s, server("mcp-a"), &down(&at_a, B, &[])).await).await;
    assert_eq!(scope(&body), ["files:read", "mcp"]);
    let claims = part(&at_b, 1);
    assert_eq!(claims["aud"], B);
    assert_eq!(claims["sub"], USER);
    assert_eq!(claims["client_id"], agent.as_str(), "the person's client");
    assert_eq!(claims["act"], json!({"sub": "mcp-a"}));
    assert!(claims["exp"].as_u64() <= part(&at_a, 1)["exp"].as_u64());
    // Introspection by B's resource server carries act.
    let r: Value = http()
        .post(s.url("/introspect"))
        .basic_auth(RS_B.0, Some(RS_B.1))
        .form(&[("token", at_b.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], true);
    assert_eq!(r["act"], json!({"sub": "mcp-a"}));
    // So do the verifier's claims, by JWKS and by introspection.
    let by_jwks = Verifier::builder(B)
        .authorization_server(&s.base)
        .build()
        .unwrap();
    let by_introspection = Verifier::builder(B)
        .authorization_server(&s.base)
        .introspection(RS_B.0, RS_B.1)
        .build()
        .unwrap();
    for v in [&by_jwks, &by_introspection] {
        let c = v.verify_token(&at_b).await.expect("a valid token at B");
        assert_eq!(c.act().map(|a| a.sub), Some("mcp-a".to_owned()));
    }
    // Narrower on request; never wider than the presented token and the cap.
    let (_, body) = exchanged(
        exchange(
            &s,
            server("mcp-a"),
            &down(&at_a, B, &[("scope", "files:read")]),
        )
        .await,
    )
    .await;
    assert_eq!(body["scope"], "files:read");
    refused(
        exchange(
            &s,
            server("mcp-a"),
            &down(&at_a, B, &[("scope", "files:write")]),
        )
        .await,
        "invalid_scope",
        "files:write",
    )
    .await;
    // A token for a resource not in `from`, a target not in `to`.
    refused(
        exchange(&s, server("mcp-a"), &down(&at_b_direct, B, &[])).await,
        "invalid_request",
        "may not exchange",
    )
    .await;
    refused(
        exchange(&s, server("mcp-a"), &down(&at_a, C, &[])).await,
        "invalid_target",
        "may not obtain tokens",
    )
    .await;
    // A client with the grant but no policy; an actor token.
    refused(
        exchange(&s, server("mcp-none"), &down(&at_a, B, &[])).await,
        "unauthorized_client",
        "is not configured",
    )
    .await;
    let with_actor = down(
        &at_a,
        B,
        &[("actor_token", &at_a), ("actor_token_type", ACCESS_TOKEN)],
    );
    refused(
        exchange(&s, server("mcp-a"), &with_actor).await,
        "invalid_request",
        "actor_token",
    )
    .await;

    // Down the chain: each hop nests the previous actors, up to four.
    let mut token = at_b.clone();
    for (name, to) in [("mcp-b", C), ("mcp-c", D), ("mcp-d", E)] {
        let (next, _) = exchanged(exchange(&s, server(name), &down(&token, to, &[])).await).await;
        let act = &part(&next, 1)["act"];
        assert_eq!(act["sub"], name);
        token = next;
    }
    assert_eq!(
        part(&token, 1)["act"],
        json!({"sub": "mcp-d", "act": {"sub": "mcp-c", "act": {"sub": "mcp-b", "act": {"sub": "mcp-a"}}}})
    );
    refused(
        exchange(&s, server("mcp-e"), &down(&token, F, &[])).await,
        "invalid_request",
        "chain of actors",
    )
    .await;

    // The person's grant of B to their client governs the token at B:
    // revoking it ends the exchanged token too.
    s.storage
        .revoke_grants(
            &GrantFilter::subject(USER).client(&agent).resource(B),
            integration_tests::now(),
        )
        .await
        .unwrap();
    let r: Value = http()
        .post(s.url("/introspect"))
        .basic_auth(RS_B.0, Some(RS_B.1))
        .form(&[("token", at_b.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({"active": false}));
    // A revoked subject token is refused.
    let r = http()
        .post(s.url("/revoke"))
        .form(&[("token", at_a.as_str()), ("client_id", agent.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    refused(
        exchange(&s, server("mcp-a"), &down(&at_a, B, &[])).await,
        "invalid_request",
        "revoked",
    )
    .await;
    s.stop().await;
}

/// The operator gives an MCP server the grant through the admin API (the
/// `client add --grant token_exchange` command shares its code); a public
/// client cannot have it.
#[tokio::test]
async fn operators_give_the_grant_through_the_admin_api() {
    const ADMIN: &str = "exchange-admin-token-0123456789abcdef";
    let s = TestServer::start(|c| {
        let mut c = c.admin_token(ADMIN);
        c.exchange
            .token_exchange
            .push(TokenExchangePolicy::new("mcp-a", [RESOURCE], [B]).without_grant_check());
        c
    })
    .await;
    let create = |body: Value| {
        http()
            .post(s.url("/admin/v1/clients"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let r = create(
        json!({"client_name": "public", "token_endpoint_auth_method": "none",
                          "grant_types": ["token_exchange"]}),
    )
    .await
    .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_client_metadata");
    let r = create(json!({"client_name": "MCP server A", "client_id": "mcp-a",
                          "grant_types": ["token_exchange"]}))
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let secret = created["client_secret"].as_str().unwrap();

    let agent = register_public(&s).await;
    let at_a = sign_in(&s, (&agent, None), "mcp", RESOURCE).await;
    let at_a = at_a["access_token"].as_str().unwrap();
    let (at_b, _) = exchanged(exchange(&s, ("mcp-a", secret), &down(at_a, B, &[])).await).await;
    assert_eq!(part(&at_b, 1)["act"], json!({"sub": "mcp-a"}));
    // The audience parameter may name the resource instead.
    let by_audience = [
        ("subject_token", at_a),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", B),
    ];
    exchanged(exchange(&s, ("mcp-a", secret), &by_audience).await).await;
    s.stop().await;
}
