//! ID-JAG issuance: this server as the enterprise identity provider.

use base64ct::{Base64UrlUnpadded, Encoding};
use integration_tests::{ManualClock, RESOURCE, TestServer, USER, http};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use mcp_oauth_core::exchange::{IdJagClaims, IdJagExpectations};
use mcp_oauth_server::clock::Clock;
use mcp_oauth_server::storage::{AuditQuery, GrantFilter};
use serde_json::{Value, json};

use super::*;
use crate::flow::{REDIRECT, error_of, register};

#[tokio::test]
async fn an_id_token_of_ours_becomes_an_id_jag_that_verifies_with_our_jwks() {
    let s = TestServer::start(idp).await;
    let meta: Value = http()
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(TOKEN_EXCHANGE))
    );
    let tokens = sign_in(&s, (AGENT.0, Some(AGENT.1)), "openid mcp", RESOURCE).await;
    let id_token = tokens["id_token"].as_str().expect("an ID token");

    let r = exchange(&s, AGENT, &jag_request(id_token, &[])).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["issued_token_type"], ID_JAG);
    assert_eq!(body["token_type"], "N_A");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(
        scope(&body),
        ["chat.history", "chat.read"],
        "no scope asked: the cap"
    );
    assert!(body.get("refresh_token").is_none());
    let jag = body["access_token"].as_str().unwrap();

    let header = part(jag, 0);
    assert_eq!(header["typ"], "oauth-id-jag+jwt");
    let kid = header["kid"].as_str().expect("a kid");
    // Any peer verifies it with our JWKS.
    let set: JwkSet = http()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = set.find(kid).expect("the kid is published");
    let alg = jsonwebtoken::decode_header(jag).unwrap().alg;
    let mut v = Validation::new(alg);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[&s.base]);
    let verified =
        jsonwebtoken::decode::<IdJagClaims>(jag, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .expect("the signature verifies")
            .claims;
    assert_eq!(verified.iss, s.base);
    assert_eq!(verified.sub, USER);
    assert_eq!(verified.resource, TARGET);
    assert_eq!(
        verified.client_id, AGENT_THERE,
        "the id it has at the audience"
    );
    assert_eq!(verified.exp - verified.iat, 300);
    assert!(!verified.jti.is_empty());
    // What the receiving server checks passes.
    let expect = IdJagExpectations {
        issuer: AUDIENCE,
        client_id: AGENT_THERE,
        now: verified.iat,
        leeway: 30,
        max_lifetime: 600,
    };
    assert_eq!(verified.check(&expect), Ok(()));
    // A forged signature does not verify.
    let forged = format!("{}x", &jag[..jag.len() - 1]);
    assert!(
        jsonwebtoken::decode::<Value>(&forged, &DecodingKey::from_jwk(jwk).unwrap(), &v).is_err()
    );

    // The audit trail records the exchange, without the tokens.
    let mut q = AuditQuery::default();
    q.kind = Some("token_exchanged".into());
    let events = s.storage.audit_events(&q).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_client.as_deref(), Some(AGENT.0));
    assert_eq!(events[0].details["audience"], AUDIENCE);
    let recorded = serde_json::to_string(&events[0].details).unwrap();
    assert!(!recorded.contains(id_token) && !recorded.contains(jag));

    // A narrower scope is granted as asked; each grant is a new jti.
    let r = exchange(&s, AGENT, &jag_request(id_token, &[("scope", "chat.read")])).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "chat.read");
    let again = body["access_token"].as_str().unwrap();
    assert_ne!(part(again, 1)["jti"], part(jag, 1)["jti"]);
    s.stop().await;
}

#[tokio::test]
async fn id_jag_refusals_name_their_reason() {
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), idp).await;
    let mine = sign_in(&s, (AGENT.0, Some(AGENT.1)), "openid mcp", RESOURCE).await;
    let id_token = mine["id_token"].as_str().unwrap();
    let access = mine["access_token"].as_str().unwrap();
    let theirs = sign_in(&s, (OTHER.0, Some(OTHER.1)), "openid mcp", RESOURCE).await;
    let other_id_token = theirs["id_token"].as_str().unwrap();

    // A parameter sent twice (a second audience or subject token smuggled
    // past whatever read the first) is refused, never one of them picked.
    for (twice, value) in [
        ("audience", "https://evil.example"),
        ("subject_token", access),
    ] {
        refused(
            exchange(&s, AGENT, &jag_request(id_token, &[(twice, value)])).await,
            "invalid_request",
            &format!("duplicate field `{twice}`"),
        )
        .await;
    }
    // Another client's ID token (aud is that client).
    refused(
        exchange(&s, AGENT, &jag_request(other_id_token, &[])).await,
        "invalid_request",
        "another client",
    )
    .await;
    // A tampered ID token: another person, the signature kept.
    let mut claims = part(id_token, 1);
    claims["sub"] = json!("mallory");
    let forged_payload = Base64UrlUnpadded::encode_string(&serde_json::to_vec(&claims).unwrap());
    let parts: Vec<&str> = id_token.split('.').collect();
    let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    refused(
        exchange(&s, AGENT, &jag_request(&tampered, &[])).await,
        "invalid_request",
        "not a valid",
    )
    .await;
    // An access token presented as an ID token, or as what it is.
    refused(
        exchange(&s, AGENT, &jag_request(access, &[])).await,
        "invalid_request",
        "not a valid",
    )
    .await;
    let as_access = [
        ("requested_token_type", ID_JAG),
        ("subject_token", access),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", AUDIENCE),
        ("resource", TARGET),
    ];
    refused(
        exchange(&s, AGENT, &as_access).await,
        "invalid_request",
        "an ID-JAG is issued for an ID token",
    )
    .await;
    // An audience, a resource the policy does not list.
    let mut other_as = jag_request(id_token, &[]);
    other_as[3] = ("audience", "https://auth.elsewhere.example");
    refused(
        exchange(&s, AGENT, &other_as).await,
        "invalid_target",
        "authorization server",
    )
    .await;
    let mut other_rs = jag_request(id_token, &[]);
    other_rs[4] = ("resource", "https://mcp.chat.example/other");
    refused(
        exchange(&s, AGENT, &other_rs).await,
        "invalid_target",
        "this resource",
    )
    .await;
    // A scope beyond the cap.
    refused(
        exchange(
            &s,
            AGENT,
            &jag_request(id_token, &[("scope", "chat.read chat.admin")]),
        )
        .await,
        "invalid_scope",
        "chat.admin",
    )
    .await;
    // A client the policy maps no id for, with its own ID token.
    refused(
        exchange(&s, OTHER, &jag_request(other_id_token, &[])).await,
        "invalid_target",
        "this client may not obtain grants",
    )
    .await;
    // Missing audience, missing resource.
    let mut no_audience = jag_request(id_token, &[]);
    no_audience.remove(3);
    refused(
        exchange(&s, AGENT, &no_audience).await,
        "invalid_request",
        "audience",
    )
    .await;
    let mut no_resource = jag_request(id_token, &[]);
    no_resource.remove(4);
    refused(
        exchange(&s, AGENT, &no_resource).await,
        "invalid_request",
        "resource",
    )
    .await;
    // An actor token (the extension does not use one).
    let with_actor = jag_request(
        id_token,
        &[("actor_token", access), ("actor_token_type", ACCESS_TOKEN)],
    );
    refused(
        exchange(&s, AGENT, &with_actor).await,
        "invalid_request",
        "actor_token",
    )
    .await;

    // A registered client: open registration cannot ask for the grant, and
    // a registered confidential client is refused it.
    let r = http()
        .post(s.url("/register"))
        .json(&json!({"client_name": "x", "redirect_uris": [REDIRECT],
                      "grant_types": ["authorization_code", TOKEN_EXCHANGE]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_client_metadata");
    let dcr = register(
        &s,
        json!({"client_name": "x", "redirect_uris": [REDIRECT],
               "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    let dcr = (
        dcr["client_id"].as_str().unwrap(),
        dcr["client_secret"].as_str().unwrap(),
    );
    refused(
        exchange(&s, dcr, &jag_request(id_token, &[])).await,
        "unauthorized_client",
        "may not use",
    )
    .await;

    // The person's grants ended since the ID token was issued.
    clock.advance(1);
    s.storage.revoke_subject(USER, clock.now()).await.unwrap();
    refused(
        exchange(&s, AGENT, &jag_request(id_token, &[])).await,
        "invalid_request",
        "ended",
    )
    .await;
    // A fresh sign-in works again; once it expired, its ID token does not.
    clock.advance(1);
    let fresh = sign_in(&s, (AGENT.0, Some(AGENT.1)), "openid", RESOURCE).await;
    let fresh = fresh["id_token"].as_str().unwrap();
    assert_eq!(
        exchange(&s, AGENT, &jag_request(fresh, &[])).await.status(),
        200
    );
    clock.advance(15 * 60 + 1);
    refused(
        exchange(&s, AGENT, &jag_request(fresh, &[])).await,
        "invalid_request",
        "expired",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_client_whose_grant_was_revoked_gets_no_id_jag_for_earlier_id_tokens() {
    let clock = ManualClock::start();
    let s = TestServer::start_on_clock(clock.clone(), idp).await;
    let mine = sign_in(&s, (AGENT.0, Some(AGENT.1)), "openid mcp", RESOURCE).await;
    let id_token = mine["id_token"].as_str().unwrap();
    let theirs = sign_in(&s, (OTHER.0, Some(OTHER.1)), "openid mcp", RESOURCE).await;
    let other_id_token = theirs["id_token"].as_str().unwrap();
    assert_eq!(
        exchange(&s, AGENT, &jag_request(id_token, &[]))
            .await
            .status(),
        200
    );

    // The person ends their grant to the client (the account page and
    // `grant revoke` do this); the ID token names no resource, so any of
    // the client's grants counts.
    clock.advance(1);
    let ended = s
        .server
        .accounts()
        .revoke_grants(
            &GrantFilter::subject(USER)
                .client(AGENT.0)
                .resource(RESOURCE),
            &mcp_oauth_server::Actor::Operator,
        )
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    refused(
        exchange(&s, AGENT, &jag_request(id_token, &[])).await,
        "invalid_request",
        "the person's grant to this client was ended since it was issued",
    )
    .await;
    // Another client's grants are not touched.
    let other = exchange(&s, OTHER, &jag_request(other_id_token, &[])).await;
    refused(other, "invalid_target", "this client may not obtain grants").await;
    // After signing in again, the client gets grants again.
    clock.advance(1);
    let fresh = sign_in(&s, (AGENT.0, Some(AGENT.1)), "openid mcp", RESOURCE).await;
    let fresh = fresh["id_token"].as_str().unwrap();
    assert_eq!(
        exchange(&s, AGENT, &jag_request(fresh, &[])).await.status(),
        200
    );
    s.stop().await;
}
