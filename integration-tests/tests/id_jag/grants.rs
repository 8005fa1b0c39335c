//! The grant a redeemed ID-JAG records: listed for the person, ended by
//! revoking it (its tokens then inactive at introspection), and good for
//! exchanging the token downstream while its provider is trusted.

use mcp_oauth_server::Actor;
use mcp_oauth_server::clock::Clock;
use mcp_oauth_server::exchange_config::TokenExchangePolicy;
use mcp_oauth_server::storage::{GrantFilter, SignInMethod};

use super::*;

/// The person the `acme` provider's grants name.
const ANN: &str = "acme:00u-ann";
/// An MCP server of ours passing tokens for [`RESOURCE`] down to
/// [`RESOURCE2`].
const MCP: (&str, &str) = ("idjag-mcp", "idjag-mcp-secret-0123456789");

/// `claims` issued at `t` (the server's clock), for two minutes.
fn issued_at(mut claims: Value, t: u64) -> Value {
    claims["iat"] = json!(t);
    claims["exp"] = json!(t + 120);
    claims
}

/// The access token of a redeemed grant.
async fn token_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_grant_is_listed_and_revoking_it_ends_its_tokens() {
    let clock = ManualClock::start();
    let storage = Arc::new(MemoryStorage::new());
    let setup = Setup::start_with(storage, Some(clock.clone()), |c| c).await;
    let Setup { s, acme, .. } = &setup;
    let grant = |jti: &str| acme.sign(&issued_at(acme.claims(s, AGENT, jti), clock.now()));
    let token = token_of(redeem(s, AGENT, Some(&grant("g1")), None).await).await;
    let rs = crate::flow::introspector(s).await;
    assert_eq!(
        crate::flow::introspect(s, &rs, &token).await["active"],
        true
    );

    // The person's grant to the client, as the operator lists it.
    let accounts = s.server.accounts();
    let listed = accounts.grants(&GrantFilter::subject(ANN)).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let record = &listed[0].record;
    assert_eq!(
        (record.client_id.as_str(), record.resource.as_str()),
        (AGENT, RESOURCE)
    );
    assert_eq!(record.method, SignInMethod::JwtBearer);
    assert_eq!(record.scope, "mcp");

    // `grant revoke --user acme:00u-ann --client idjag-agent`.
    clock.advance(1);
    let ended = accounts
        .revoke_grants(&GrantFilter::subject(ANN).client(AGENT), &Actor::Operator)
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        crate::flow::introspect(s, &rs, &token).await["active"],
        false,
        "the token issued under the grant ends with it"
    );
    assert!(
        accounts
            .grants(&GrantFilter::subject(ANN))
            .await
            .unwrap()
            .is_empty()
    );

    // A grant the provider issues afterwards makes a new one; ending every
    // grant of the client (as removing it does) ends that one too.
    clock.advance(1);
    let token = token_of(redeem(s, AGENT, Some(&grant("g2")), None).await).await;
    assert_eq!(
        crate::flow::introspect(s, &rs, &token).await["active"],
        true
    );
    clock.advance(1);
    let ended = accounts
        .revoke_grants(&GrantFilter::all().client(AGENT), &Actor::Operator)
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        crate::flow::introspect(s, &rs, &token).await["active"],
        false
    );
    setup.stop().await;
}

/// The policy letting [`MCP`] pass tokens for [`RESOURCE`] to
/// [`RESOURCE2`] (the person's grant of it required), and its client.
fn downstream(c: ServerConfig) -> ServerConfig {
    let mut c = c.client(OperatorClient::service(MCP.0, MCP.1).grants([GrantType::TokenExchange]));
    c.exchange
        .token_exchange
        .push(TokenExchangePolicy::new(MCP.0, [RESOURCE], [RESOURCE2]));
    c
}

/// `POST /token` exchanging `token` for one for [`RESOURCE2`], as [`MCP`].
async fn pass_down(s: &TestServer, token: &str) -> reqwest::Response {
    http()
        .post(s.url("/token"))
        .basic_auth(MCP.0, Some(MCP.1))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", RESOURCE2),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_from_an_id_jag_is_exchanged_downstream_while_its_provider_is_trusted() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let setup = Setup::start_with(storage.clone(), None, downstream).await;
    let Setup { s, acme, .. } = &setup;
    let token = token_of(
        redeem(
            s,
            AGENT,
            Some(&acme.sign(&acme.claims(s, AGENT, "x1"))),
            None,
        )
        .await,
    )
    .await;
    // The person (known only through the provider's grants) is accepted;
    // they have not granted the downstream resource to the client yet.
    let (error, description) = refusal(pass_down(s, &token).await, 400).await;
    assert_eq!(
        (error.as_str(), description.as_str()),
        (
            "invalid_target",
            "the person has not granted this resource to the client they signed in with"
        )
    );
    // The provider grants it; the token is passed down, for the person.
    let mut down = acme.claims(s, AGENT, "x2");
    down["resource"] = json!(RESOURCE2);
    token_of(redeem(s, AGENT, Some(&acme.sign(&down)), None).await).await;
    let passed = token_of(pass_down(s, &token).await).await;
    let claims = verified(s, &passed, RESOURCE2).await;
    assert_eq!(claims["sub"], ANN);
    assert_eq!(claims["client_id"], AGENT);
    assert_eq!(claims["act"], json!({"sub": MCP.0}));

    // The same server without the provider: its people's tokens are no
    // longer exchanged.
    let port = url::Url::parse(&s.base).unwrap().port().unwrap();
    setup.stop().await;
    let s = TestServer::start_on(port, storage, |c| {
        downstream(
            c.allowed_resources(vec![
                ResourceUri::parse(RESOURCE).unwrap(),
                ResourceUri::parse(RESOURCE2).unwrap(),
            ])
            .client(OperatorClient::service(AGENT, SECRET).grants([GrantType::JwtBearer])),
        )
    })
    .await;
    let (error, description) = refusal(pass_down(&s, &token).await, 400).await;
    assert_eq!(
        (error.as_str(), description.as_str()),
        (
            "invalid_request",
            "the identity provider of this grant is no longer configured"
        )
    );
    s.stop().await;
}
