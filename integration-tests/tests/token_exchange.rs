//! RFC 8693 token exchange at `/token`, over real sockets:
//!
//! - this server as an enterprise identity provider: a person signs in to a
//!   trusted client with `openid`, the client exchanges the ID token for an
//!   ID-JAG (header, claims, signature checked against `/jwks`), and every
//!   refusal: another client's, a tampered or expired ID token, an access
//!   token in its place, an audience, resource or client the policy does
//!   not list, a scope beyond its cap, a registered client, missing
//!   parameters, an actor token, a person whose grants were ended;
//! - downscoping: an MCP server exchanges the person's token it received
//!   for a narrower one to a downstream resource, with `act` in the token,
//!   in introspection and in the verifier's claims; a chain of MCP servers
//!   up to the depth bound; and the refusals: a token for a resource not in
//!   `from`, a target not in `to`, a wider scope, a revoked token, no grant
//!   of the downstream resource, a client without a policy.

use base64ct::{Base64UrlUnpadded, Encoding};
use integration_tests::{ManualClock, PASSWORD, RESOURCE, TestServer, USER, form_login, http};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use mcp_oauth_core::exchange::{IdJagClaims, IdJagExpectations};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::registration::{ClientAuthMethod, GrantType};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::secret::ClientSecret;
use mcp_oauth_server::clock::Clock;
use mcp_oauth_server::exchange_config::{IdJagAudience, TokenExchangePolicy};
use mcp_oauth_server::storage::{AuditQuery, GrantFilter};
use mcp_oauth_server::{OperatorClient, ServerConfig};
use mcp_oauth_verifier::Verifier;
use serde_json::{Value, json};

use crate::flow::{REDIRECT, error_of, get, register, register_public};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// The other authorization server, and its MCP server.
const AUDIENCE: &str = "https://auth.chat.example";
const TARGET: &str = "https://mcp.chat.example/mcp";
/// A client the policy maps to its id at [`AUDIENCE`], and one it does not.
const AGENT: (&str, &str) = ("exch-agent", "exch-agent-secret-0123456789");
const AGENT_THERE: &str = "agent-at-chat";
const OTHER: (&str, &str) = ("exch-other", "exch-other-secret-0123456789");

/// A confidential client the operator created that signs people in and
/// may exchange tokens.
fn exchanging_agent(id: &str, secret: &str) -> OperatorClient {
    let mut c = OperatorClient::public(id, [REDIRECT]).grants([
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::TokenExchange,
    ]);
    c.auth = ClientAuthMethod::ClientSecretBasic;
    c.secret = Some(ClientSecret::new(secret.to_owned()));
    c
}

fn idp(mut c: ServerConfig) -> ServerConfig {
    c.exchange.id_jag_audiences.push(
        IdJagAudience::new(AUDIENCE, [TARGET], [(AGENT.0, AGENT_THERE)])
            .scopes(["chat.read", "chat.history"]),
    );
    c.client(exchanging_agent(AGENT.0, AGENT.1))
        .client(exchanging_agent(OTHER.0, OTHER.1))
}

/// Signs the person in to `client` (with its secret, if confidential) for
/// `resource` with `scope`, through the login page; the token response.
async fn sign_in(
    s: &TestServer,
    client: (&str, Option<&str>),
    scope: &str,
    resource: &str,
) -> Value {
    let verifier = PkceVerifier::generate().unwrap();
    let challenge = PkceChallenge::s256(&verifier);
    let q = [
        ("response_type", "code"),
        ("client_id", client.0),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("scope", scope),
        ("resource", resource),
    ];
    let url = url::Url::parse_with_params(&s.url("/authorize"), &q).unwrap();
    let r = form_login(url.as_str(), USER, PASSWORD).await;
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    let code = get(&q, "code").expect("a code").to_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", verifier.secret()),
        ("redirect_uri", REDIRECT),
        ("resource", resource),
        ("client_id", client.0),
    ];
    let mut request = http().post(s.url("/token"));
    if let Some(secret) = client.1 {
        request = request.basic_auth(client.0, Some(secret));
    }
    let r = request.form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// A token exchange request by `who` with these parameters.
async fn exchange(s: &TestServer, who: (&str, &str), params: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", TOKEN_EXCHANGE)];
    form.extend_from_slice(params);
    http()
        .post(s.url("/token"))
        .basic_auth(who.0, Some(who.1))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Asserts a 400 token error with this code whose description mentions
/// `needle`.
async fn refused(r: reqwest::Response, code: &str, needle: &str) {
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(needle),
        "{description:?} lacks {needle:?}"
    );
}

/// The scope of a token response, sorted.
fn scope(body: &Value) -> Vec<&str> {
    let mut s: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    s.sort_unstable();
    s
}

/// The JSON of one part (0: header, 1: claims) of a JWT, unchecked.
fn part(jwt: &str, i: usize) -> Value {
    let p = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(p).unwrap()).unwrap()
}

/// An ID-JAG request of `id_token` for [`AUDIENCE`] and [`TARGET`], with
/// `extra` parameters.
fn jag_request<'a>(id_token: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("requested_token_type", ID_JAG),
        ("subject_token", id_token),
        ("subject_token_type", ID_TOKEN),
        ("audience", AUDIENCE),
        ("resource", TARGET),
    ];
    form.extend_from_slice(extra);
    form
}

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
