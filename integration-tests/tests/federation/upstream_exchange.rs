//! Calling an upstream provider's API as the person: they sign in through
//! the fake provider (which keeps their tokens sealed at our AS), and a tool
//! of a protected rmcp server exchanges the request's bearer token for their
//! token at the provider (RFC 8693) and calls the provider's API with it.

use std::net::TcpListener;
use std::sync::Arc;

use base64ct::{Base64, Encoding};
use integration_tests::{TestServer, http};
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_examples::upstream_api::{UpstreamApiServer, app};
use mcp_oauth_server::keys::KeyEncryptionKey;
use mcp_oauth_server::storage::{GrantFilter, SqliteStorage, Storage};
use mcp_oauth_server::{OperatorClient, ServerConfig};
use mcp_oauth_verifier::Verifier;
use serde_json::{Value, json};

mod races;

use super::fake_idp::FakeIdp;
use super::{Browser, Stop, client_answer, request_for};
use crate::flow::{get, redeem};
use crate::verifier::{post, result_of, rpc};

const RS_ID: &str = "github-tools";
const RS_SECRET: &str = "github-tools-secret-0123456789";
const OTHER_ID: &str = "other-rs";
const OTHER_SECRET: &str = "other-rs-secret-0123456789";
/// A trusted confidential client (an agent) whose tokens may name the
/// tools' resource, listed in `exchange_clients` by mistake: not a
/// resource server.
const AGENT_ID: &str = "agent";
const AGENT_SECRET: &str = "agent-secret-0123456789";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

struct World {
    idp: FakeIdp,
    s: TestServer,
    rs: String,
    other: String,
    db: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl World {
    /// The fake provider, our AS on a SQLite file keeping the provider's
    /// tokens for `github-tools`, and the rmcp server of `github-tools`
    /// whose tool calls the provider's API.
    async fn start() -> Self {
        crate::logs::capture();
        let idp = FakeIdp::start().await;
        let as_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://{}", as_listener.local_addr().unwrap());
        let rs_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = rs_listener.local_addr().unwrap().port();
        let rs = format!("http://127.0.0.1:{port}/mcp");
        let other = "http://127.0.0.1:1/other".to_owned();
        let verifier = Verifier::builder(rs.clone())
            .authorization_server(issuer)
            .required_scopes(["mcp"])
            .exchange_credentials(RS_ID, RS_SECRET)
            .build()
            .unwrap();
        let server = UpstreamApiServer::new(verifier, "fake", format!("{}/user", idp.api()));
        let router = app(server, vec![format!("127.0.0.1:{port}")]);
        let task = tokio::spawn(async move {
            let _ = axum::serve(rs_listener, router).await;
        });
        // One database per test: tests run in parallel.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcp-oauth-vault-{}-{}-{}",
            std::process::id(),
            integration_tests::now(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("as.db");
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&db).unwrap());
        let config = Self::config(&idp, &rs, &other);
        let s = TestServer::start_listening(as_listener, storage, config).await;
        Self {
            idp,
            s,
            rs,
            other,
            db,
            task,
        }
    }

    /// The AS's configuration: the provider keeping tokens for
    /// `github-tools` (and, by mistake, the agent), `github-tools` and
    /// another resource server, the agent.
    fn config(
        idp: &FakeIdp,
        rs: &str,
        other: &str,
    ) -> impl FnOnce(ServerConfig) -> ServerConfig + use<> {
        let upstream = idp
            .upstream()
            .store_tokens([RS_ID, AGENT_ID])
            .api_urls([idp.api()]);
        let (rs_uri, other_uri) = (
            ResourceUri::parse(rs).unwrap(),
            ResourceUri::parse(other).unwrap(),
        );
        move |mut c| {
            c.keys.encryption_key =
                Some(KeyEncryptionKey::from_base64(&Base64::encode_string(&[42u8; 32])).unwrap());
            c.scopes(["mcp"])
                .upstream(upstream)
                .client(
                    OperatorClient::resource_server(RS_ID, RS_SECRET, [rs_uri.clone()])
                        .grants([GrantType::TokenExchange]),
                )
                .client(
                    OperatorClient::resource_server(OTHER_ID, OTHER_SECRET, [other_uri])
                        .grants([GrantType::TokenExchange]),
                )
                .client(
                    OperatorClient::service(AGENT_ID, AGENT_SECRET)
                        .resource(rs_uri)
                        .grants([GrantType::TokenExchange]),
                )
        }
    }

    /// Another instance of the AS (same issuer, configuration and key) on
    /// the same SQLite file, with its own connection.
    async fn second_instance(&self) -> TestServer {
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&self.db).unwrap());
        let config = Self::config(&self.idp, &self.rs, &self.other);
        let issuer = Issuer::parse(self.s.base.clone()).unwrap();
        TestServer::start_with(storage, move |c| {
            let mut c = config(c);
            c.issuer = issuer;
            c
        })
        .await
    }

    /// A person signs in through the fake provider for a client asking a
    /// token for `resource`; returns our access token and the client.
    async fn sign_in(&self, resource: &str) -> (String, String) {
        let req = request_for(&self.s, resource).await;
        let browser = Browser::new();
        let upstream = browser.choose_upstream(&req.url, "fake").await;
        let Stop::At(callback) = browser.follow(upstream, &self.s.url("/callback/")).await else {
            panic!("the IdP did not send the browser back");
        };
        let (status, loc) = browser.open(&callback).await;
        assert_eq!(status, 302);
        let q = client_answer(&self.s, &loc.unwrap());
        let r = redeem(
            &self.s,
            &req.client_id,
            get(&q, "code").unwrap(),
            &req.verifier,
        )
        .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        (
            body["access_token"].as_str().unwrap().to_owned(),
            req.client_id,
        )
    }

    /// A token exchange at our AS as `client` (id, secret).
    async fn exchange(
        &self,
        client: (&str, &str),
        token: &str,
        audience: &str,
    ) -> reqwest::Response {
        exchange_at(&self.s, client, token, audience).await
    }

    /// Calls the rmcp server's `upstream_user` tool with `token`.
    async fn tool(&self, token: &str) -> Value {
        let init = rpc(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}}),
        );
        let r = post(&self.rs, Some(token), None, &init).await;
        assert_eq!(r.status(), 200);
        let session = r
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let _ = result_of(r).await;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = post(&self.rs, Some(token), session.as_deref(), &note).await;
        assert!(r.status().is_success());
        let call = rpc(
            2,
            "tools/call",
            json!({"name": "upstream_user", "arguments": {}}),
        );
        let r = post(&self.rs, Some(token), session.as_deref(), &call).await;
        assert_eq!(r.status(), 200);
        result_of(r).await
    }

    async fn stop(self) {
        self.task.abort();
        self.s.stop().await;
        self.idp.stop().await;
        let _ = std::fs::remove_dir_all(self.db.parent().unwrap());
    }
}

/// A token exchange at the AS `s` as `client` (id, secret).
async fn exchange_at(
    s: &TestServer,
    client: (&str, &str),
    token: &str,
    audience: &str,
) -> reqwest::Response {
    http()
        .post(s.url("/token"))
        .basic_auth(client.0, Some(client.1))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", token),
            ("subject_token_type", ACCESS),
            ("requested_token_type", ACCESS),
            ("audience", audience),
        ])
        .send()
        .await
        .unwrap()
}

async fn error_of(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_tool_calls_the_upstream_api_as_the_person_and_only_allowed_servers_may_ask() {
    let w = World::start().await;
    // The metadata offers token exchange though only the provider's
    // `exchange_clients` use it.
    let meta: Value = http()
        .get(w.s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grants = meta["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(EXCHANGE)), "{meta}");
    let (token, client_id) = w.sign_in(&w.rs).await;

    // The tool exchanges the request's token and calls the provider's API.
    let result = w.tool(&token).await;
    let text = result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"));
    let me: Value = serde_json::from_str(text).unwrap();
    assert_eq!(me["login"], "u-1");
    assert_eq!(*w.idp.shared.api_calls.lock().unwrap(), 1);

    // The exchange itself: the provider's token, no refresh token.
    let r = w.exchange((RS_ID, RS_SECRET), &token, "fake").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["access_token"], "upstream-access-token");
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["expires_in"]
            .as_u64()
            .is_some_and(|e| e > 200 && e <= 300)
    );
    assert!(body.get("refresh_token").is_none());
    // By the provider's API URL as `resource`, the same.
    let r = http()
        .post(w.s.url("/token"))
        .basic_auth(RS_ID, Some(RS_SECRET))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", token.as_str()),
            ("subject_token_type", ACCESS),
            ("resource", w.idp.api().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A resource server the provider does not list may not ask.
    let (status, error, _) =
        error_of(w.exchange((OTHER_ID, OTHER_SECRET), &token, "fake").await).await;
    assert_eq!((status, error.as_str()), (400, "unauthorized_client"));
    // Nor may a listed client that is not a resource server, though the
    // token's audience is among the audiences it may ask for.
    let (status, error, _) =
        error_of(w.exchange((AGENT_ID, AGENT_SECRET), &token, "fake").await).await;
    assert_eq!((status, error.as_str()), (400, "unauthorized_client"));

    // A token sent to another resource cannot be exchanged by this one.
    let (elsewhere, _) = w.sign_in(&w.other).await;
    let (status, error, why) =
        error_of(w.exchange((RS_ID, RS_SECRET), &elsewhere, "fake").await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{why}");
    assert!(why.contains("resource"), "{why}");

    // Not one of our tokens.
    let (_, error, _) = error_of(w.exchange((RS_ID, RS_SECRET), "forged", "fake").await).await;
    assert_eq!(error, "invalid_grant");

    // The audit trail says who got whose token, without the token.
    let events = w.s.storage.audit_events(&Default::default()).await.unwrap();
    let exchanged: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "upstream_token_exchanged")
        .collect();
    assert!(!exchanged.is_empty());
    assert_eq!(exchanged[0].subject.as_deref(), Some("fake:u-1"));
    assert_eq!(exchanged[0].actor_client.as_deref(), Some(RS_ID));
    let trail = serde_json::to_string(&events).unwrap();
    assert!(!trail.contains("upstream-access-token"), "{trail}");
    assert!(!trail.contains("upstream-refresh-token"), "{trail}");

    // The second sign-in (through another client) holds the tokens now;
    // revoking the person's grant to that client ends them.
    let row =
        w.s.storage
            .upstream_token("fake:u-1", "fake")
            .await
            .unwrap();
    let row = row.expect("the tokens are kept");
    assert_ne!(row.client_id, client_id);
    w.s.server
        .accounts()
        .revoke_grants(
            &GrantFilter::subject("fake:u-1").client(row.client_id.clone()),
            &mcp_oauth_server::Actor::Operator,
        )
        .await
        .unwrap();
    assert!(
        w.s.storage
            .upstream_token("fake:u-1", "fake")
            .await
            .unwrap()
            .is_none()
    );
    // The first token is still live, but nothing is kept any more.
    let (status, error, why) = error_of(w.exchange((RS_ID, RS_SECRET), &token, "fake").await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(why.contains("sign in"), "{why}");
    w.stop().await;
}

#[tokio::test]
async fn an_expired_upstream_token_is_refreshed_and_revoking_the_person_ends_it() {
    let w = World::start().await;
    // Tokens that expire within the refresh margin.
    *w.idp.shared.expires_in.lock().unwrap() = 5;
    let (token, _) = w.sign_in(&w.rs).await;
    *w.idp.shared.expires_in.lock().unwrap() = 3600;
    let r = w.exchange((RS_ID, RS_SECRET), &token, "fake").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["access_token"], "upstream-access-token-1");
    assert_eq!(*w.idp.shared.refreshes.lock().unwrap(), 1);
    // The refreshed token is kept: no second refresh.
    let body: Value = w
        .exchange((RS_ID, RS_SECRET), &token, "fake")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["access_token"], "upstream-access-token-1");
    assert_eq!(*w.idp.shared.refreshes.lock().unwrap(), 1);
    let result = w.tool(&token).await;
    assert!(result.to_string().contains("u-1"), "{result}");

    // At rest, nothing of the provider's tokens is readable in the file.
    assert!(
        w.s.storage
            .upstream_token("fake:u-1", "fake")
            .await
            .unwrap()
            .is_some()
    );
    let mut sealed_seen = false;
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", w.db.display());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let prefix = b"xc20p.v1.";
        sealed_seen |= bytes.windows(prefix.len()).any(|w| w == prefix);
        for needle in [&b"upstream-access-token"[..], b"upstream-refresh-token"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{path} holds a token in the clear"
            );
        }
    }
    assert!(sealed_seen, "the sealed tokens are in the file");
    // Nor in any log line.
    for needle in ["upstream-access-token", "upstream-refresh-token"] {
        assert_eq!(crate::logs::lines_with(needle), Vec::<String>::new());
    }

    // `user revoke`: the person's grants end, the kept tokens go.
    mcp_oauth_server::admin::revoke_subject(
        w.s.storage.as_ref(),
        "fake:u-1",
        integration_tests::now(),
    )
    .await
    .unwrap();
    assert!(
        w.s.storage
            .upstream_token("fake:u-1", "fake")
            .await
            .unwrap()
            .is_none()
    );
    let (status, error, _) = error_of(w.exchange((RS_ID, RS_SECRET), &token, "fake").await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    w.stop().await;
}

#[tokio::test]
async fn a_person_who_signed_in_locally_has_no_upstream_token() {
    let w = World::start().await;
    let token = crate::verifier::token_for(&w.s, &w.rs, "mcp").await;
    let (status, error, why) = error_of(w.exchange((RS_ID, RS_SECRET), &token, "fake").await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(why.contains("no Fake IdP token is kept"), "{why}");
    w.stop().await;
}

#[tokio::test]
async fn keeping_upstream_tokens_needs_the_key_encryption_key() {
    let idp = FakeIdp::start().await;
    let upstream = idp.upstream().store_tokens([RS_ID]);
    let config = mcp_oauth_server::ServerConfig::new(
        mcp_oauth_core::issuer::Issuer::parse("http://127.0.0.1:1").unwrap(),
    )
    .upstream(upstream);
    let storage: Arc<dyn Storage> = Arc::new(mcp_oauth_server::storage::MemoryStorage::new());
    let Err(e) = mcp_oauth_server::AuthServer::new(config, storage).await else {
        panic!("started without a key-encryption key");
    };
    assert!(
        e.to_string().contains("MCP_OAUTH_KEY_ENCRYPTION_KEY"),
        "{e}"
    );
    idp.stop().await;
}
