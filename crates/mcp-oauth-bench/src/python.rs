//! The Python original (PyPI `mcp-oauth` 0.0.6, its `QuickOAuthServerHost`),
//! started by `scripts/bench-python/quick_host.py` with the interpreter of
//! the virtual environment `scripts/bench` prepares, pinned like ours, and
//! its flows: a new client registers (`client_secret_post`, its default),
//! authorizes (redirected to its login page), the user's password is posted
//! to `/login`, the code is redeemed at `/token`. Its `/introspect` takes
//! no client authentication.

use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::{Value, json};

use crate::BoxError;
use crate::flows::{PASSWORD, USER};
use crate::load::{Conn, Scenario, Worker};
use crate::proc::{Server, free_port};

/// The launcher script in this repository.
const LAUNCHER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/bench-python/quick_host.py"
);
const REDIRECT: &str = "http://127.0.0.1/cb";
/// The resource its tokens are for (RFC 8707; it records it as `aud`).
pub(crate) const RESOURCE: &str = "http://127.0.0.1/mcp";

/// Starts the Python original with `python` (the venv's interpreter).
pub(crate) async fn start(python: &str) -> Result<Server, BoxError> {
    let port = free_port()?;
    let args = [
        LAUNCHER.to_owned(),
        port.to_string(),
        USER.to_owned(),
        PASSWORD.to_owned(),
    ];
    Server::start(std::path::Path::new(python), &args, port).await
}

/// One whole flow as a new client; the token response.
async fn new_client_flow(conn: &mut Conn) -> Result<Value, BoxError> {
    let r = conn
        .post_json(
            "/register",
            &[],
            &json!({"redirect_uris": [REDIRECT], "scope": "user",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"]}),
        )
        .await?
        .expect(201, "register (Python)")?;
    let client: Value = serde_json::from_slice(&r.body)?;
    let id = client["client_id"].as_str().ok_or("no client_id")?;
    let secret = client["client_secret"].as_str().ok_or("no client_secret")?;
    let verifier = PkceVerifier::generate()?;
    let challenge = PkceChallenge::s256(&verifier);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &hex_state(&verifier))
        .append_pair("resource", RESOURCE)
        .finish();
    let r = conn
        .get(&format!("/authorize?{query}"), &[])
        .await?
        .expect(302, "authorize (Python)")?;
    let login = url::Url::parse(r.header("location"))?;
    let state = login
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .ok_or("no state")?;
    let r = conn
        .post_form(
            "/login",
            &[],
            &[
                ("username", USER),
                ("password", PASSWORD),
                ("state", &state),
            ],
        )
        .await?
        .expect(302, "login (Python)")?;
    let code = url::Url::parse(r.header("location"))?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or("no code")?;
    let r = conn
        .post_form(
            "/token",
            &[],
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.secret()),
                ("client_id", id),
                ("client_secret", secret),
                ("resource", RESOURCE),
            ],
        )
        .await?
        .expect(200, "token (Python)")?;
    Ok(serde_json::from_slice(&r.body)?)
}

/// A state unique per flow (its login keeps pending flows by state).
fn hex_state(verifier: &PkceVerifier) -> String {
    verifier.secret().chars().take(32).collect()
}

/// An access token of the Python original.
pub(crate) async fn token(addr: &str) -> Result<String, BoxError> {
    let mut conn = Conn::open(addr).await?;
    let t = new_client_flow(&mut conn).await?;
    Ok(t["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned())
}

/// The new-client flow, as a load scenario.
pub(crate) struct NewClient;

#[async_trait::async_trait]
impl Scenario for NewClient {
    async fn worker(&self, _conn: &mut Conn) -> Result<Box<dyn Worker>, BoxError> {
        Ok(Box::new(NewClient))
    }
}

#[async_trait::async_trait]
impl Worker for NewClient {
    async fn once(&mut self, conn: &mut Conn) -> Result<(), BoxError> {
        new_client_flow(conn).await.map(|_| ())
    }
}
