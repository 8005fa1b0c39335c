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

mod downscope;
mod id_jag;

use base64ct::{Base64UrlUnpadded, Encoding};
use integration_tests::{PASSWORD, TestServer, USER, form_login, http};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::registration::{ClientAuthMethod, GrantType};
use mcp_oauth_core::secret::ClientSecret;
use mcp_oauth_server::exchange_config::IdJagAudience;
use mcp_oauth_server::{OperatorClient, ServerConfig};
use serde_json::Value;

use crate::flow::{REDIRECT, get};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub(crate) const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// The other authorization server, and its MCP server.
const AUDIENCE: &str = "https://auth.chat.example";
const TARGET: &str = "https://mcp.chat.example/mcp";
/// A client the policy maps to its id at [`AUDIENCE`], and one it does not.
const AGENT: (&str, &str) = ("exch-agent", "exch-agent-secret-0123456789");
const AGENT_THERE: &str = "agent-at-chat";
const OTHER: (&str, &str) = ("exch-other", "exch-other-secret-0123456789");

/// A confidential client the operator created that signs people in and
/// may exchange tokens.
pub(crate) fn exchanging_agent(id: &str, secret: &str) -> OperatorClient {
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
pub(crate) async fn sign_in(
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
pub(crate) async fn exchange(
    s: &TestServer,
    who: (&str, &str),
    params: &[(&str, &str)],
) -> reqwest::Response {
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
