//! Identity assertion grants (ID-JAG, MCP enterprise-managed
//! authorization §5): an enterprise identity provider of our own (an ES256
//! key, its JWK Set served on loopback or given inline) signs grants, and
//! our authorization server redeems them for access tokens at `/token`.
//! `refusals` checks every refusal with its exact error and description;
//! `grants` the grants the redeemed tokens belong to (revocation, listing,
//! token exchange).

mod grants;
mod refusals;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use integration_tests::{ManualClock, RESOURCE, TestServer, USER, http, now};
use jsonwebtoken::{Algorithm, Header, Validation};
use mcp_oauth_core::jose::verification_keys;
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_server::federation::TrustedIdpConfig;
use mcp_oauth_server::storage::{AuditQuery, MemoryStorage, Storage};
use mcp_oauth_server::{OperatorClient, ServerConfig};
use serde_json::{Value, json};

use crate::client_assertion::{ClientKey, new_key};

/// The client the providers issue grants to.
const AGENT: &str = "idjag-agent";
/// Its secret.
const SECRET: &str = "idjag-agent-secret-0123456789";
/// A client of ours the providers do not trust.
const OTHER: &str = "idjag-other";
/// A public client given the grant (it cannot authenticate).
const PUBLIC: &str = "idjag-public";
/// Another resource the server serves.
const RESOURCE2: &str = "http://127.0.0.1:8000/other";
/// The inline provider's issuer; it requires verified corp.example
/// addresses and limits its grants to [`RESOURCE`].
const CORP: &str = "https://corp.example";
/// The provider whose people are local users (by `preferred_username`,
/// with a verified corp.example address).
const STAFF: &str = "https://staff.example";
/// The grant type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An identity provider of our own: its key, and, for the one served over
/// HTTP, how often its JWK Set was fetched.
pub(crate) struct Idp {
    pub(crate) issuer: String,
    pub(crate) key: ClientKey,
    /// Its JWK Set, which may change while it is served.
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    handle: Option<actix_web::dev::ServerHandle>,
}

impl Idp {
    /// A provider serving its JWK Set at `{issuer}/keys`.
    async fn served() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let key = new_key("k1");
        let keys = Arc::new(Mutex::new(json!({"keys": [key.jwk]})));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let server = HttpServer::new(move || {
            let (k, f) = (k.clone(), f.clone());
            App::new().route(
                "/keys",
                web::get().to(move || {
                    let (k, f) = (k.clone(), f.clone());
                    async move {
                        f.fetch_add(1, Ordering::SeqCst);
                        let set = k.lock().unwrap().clone();
                        HttpResponse::Ok().json(set)
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            issuer,
            key,
            keys,
            fetches,
            handle: Some(handle),
        }
    }

    /// A provider whose keys are configured inline.
    fn inline(issuer: &str) -> Self {
        let key = new_key("c1");
        Self {
            issuer: issuer.to_owned(),
            keys: Arc::new(Mutex::new(json!({"keys": [key.jwk]}))),
            key,
            fetches: Arc::new(AtomicUsize::new(0)),
            handle: None,
        }
    }

    fn jwks(&self) -> Value {
        self.keys.lock().unwrap().clone()
    }

    /// Publishes one more key.
    pub(crate) fn publish(&self, key: &ClientKey) {
        let mut set = self.keys.lock().unwrap();
        set["keys"].as_array_mut().unwrap().push(key.jwk.clone());
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The usual claims of a grant from this provider to `client` for the
    /// server `s`; `jti` makes it unique.
    pub(crate) fn claims(&self, s: &TestServer, client: &str, jti: &str) -> Value {
        let t = now();
        json!({
            "iss": self.issuer, "sub": "00u-ann", "aud": s.base, "resource": RESOURCE,
            "client_id": client, "jti": jti, "iat": t, "exp": t + 120, "scope": "mcp",
            "email": "ann@corp.example", "email_verified": true,
            "preferred_username": USER,
        })
    }

    /// `claims` signed with this provider's key, as an ID-JAG.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        sign_with(&self.key, "k1", claims)
    }

    async fn stop(self) {
        if let Some(h) = self.handle {
            h.stop(true).await;
        }
    }
}

/// `claims` signed with `key` under `kid`, typed as an ID-JAG.
pub(crate) fn sign_with(key: &ClientKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    header.typ = Some("oauth-id-jag+jwt".into());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// The three providers and the server trusting them.
pub(crate) struct Setup {
    pub(crate) s: TestServer,
    /// Served JWK Set, issuer on loopback, trusted for [`AGENT`] and
    /// [`PUBLIC`], people named `acme:{sub}`.
    pub(crate) acme: Idp,
    /// Inline keys, verified e-mail in corp.example, [`RESOURCE`] only.
    pub(crate) corp: Idp,
    /// Inline keys, people are local users.
    pub(crate) staff: Idp,
}

impl Setup {
    pub(crate) async fn start(storage: Arc<dyn Storage>) -> Self {
        Self::start_with(storage, None, |c| c).await
    }

    /// The server on `clock` (the system's if `None`), configured further
    /// by `more`.
    pub(crate) async fn start_with(
        storage: Arc<dyn Storage>,
        clock: Option<Arc<ManualClock>>,
        more: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        let acme = Idp::served().await;
        let corp = Idp::inline(CORP);
        let staff = Idp::inline(STAFF);
        let grant = || [GrantType::JwtBearer];
        let config = |c: ServerConfig| {
            c.allowed_resources(vec![
                ResourceUri::parse(RESOURCE).unwrap(),
                ResourceUri::parse(RESOURCE2).unwrap(),
            ])
            .client(OperatorClient::service(AGENT, SECRET).grants(grant()))
            .client(OperatorClient::service(OTHER, SECRET).grants(grant()))
            .client(OperatorClient::public(PUBLIC, Vec::<String>::new()).grants(grant()))
            .trusted_idp(TrustedIdpConfig::with_jwks_uri(
                "acme",
                &acme.issuer,
                &format!("{}/keys", acme.issuer),
                [AGENT, PUBLIC],
            ))
            .trusted_idp(
                TrustedIdpConfig::with_jwks("corp", CORP, corp.jwks(), [AGENT])
                    .email_domains(["corp.example"])
                    .resources([RESOURCE]),
            )
            .trusted_idp(
                TrustedIdpConfig::with_jwks("staff", STAFF, staff.jwks(), [AGENT])
                    .subject_claim("preferred_username")
                    .email_domains(["corp.example"])
                    .local_users(),
            )
        };
        let config = |c| more(config(c));
        let s = match clock {
            Some(clock) => TestServer::start_on_clock_with(storage, clock, config).await,
            None => TestServer::start_with(storage, config).await,
        };
        Self {
            s,
            acme,
            corp,
            staff,
        }
    }

    async fn stop(self) {
        self.s.stop().await;
        self.acme.stop().await;
    }
}

/// `POST /token` with the grant, as `client` (with its secret unless
/// public), with an optional `scope`.
pub(crate) async fn redeem(
    s: &TestServer,
    client: &str,
    assertion: Option<&str>,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", JWT_BEARER)];
    if let Some(a) = assertion {
        form.push(("assertion", a));
    }
    if let Some(sc) = scope {
        form.push(("scope", sc));
    }
    let mut request = http().post(s.url("/token"));
    if client == PUBLIC {
        form.push(("client_id", client));
    } else {
        request = request.basic_auth(client, Some(SECRET));
    }
    request.form(&form).send().await.unwrap()
}

/// The error and description of a refusal, after checking its status.
pub(crate) async fn refusal(r: reqwest::Response, status: u16) -> (String, String) {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    (
        body["error"].as_str().unwrap().to_owned(),
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The claims of one of our access tokens, verified with our JWK Set for
/// `audience`.
async fn verified(s: &TestServer, token: &str, audience: &str) -> Value {
    let set: Value = http()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let keys = verification_keys(&set);
    let key = keys
        .iter()
        .find(|k| k.kid.as_deref() == header.kid.as_deref())
        .unwrap();
    let mut v = Validation::new(header.alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[&s.base]);
    jsonwebtoken::decode::<Value>(token, &key.key, &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn an_id_jag_is_redeemed_for_an_access_token_only() {
    let setup = Setup::start(Arc::new(MemoryStorage::new())).await;
    let Setup { s, acme, .. } = &setup;
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
            .contains(&json!(JWT_BEARER))
    );

    let r = redeem(
        s,
        AGENT,
        Some(&acme.sign(&acme.claims(s, AGENT, "j1"))),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "mcp");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap();
    let claims = verified(s, token, RESOURCE).await;
    assert_eq!(claims["sub"], "acme:00u-ann");
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], AGENT);
    assert_eq!(claims["scope"], "mcp");
    assert_eq!(claims["email"], "ann@corp.example", "a verified address");
    assert_eq!(acme.fetches(), 1, "the JWK Set was fetched from jwks_uri");

    // The resource server sees it active, for the person.
    let rs = crate::flow::introspector(s).await;
    let info = crate::flow::introspect(s, &rs, token).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "acme:00u-ann");

    // The audit trail has it, without the assertion.
    let mut q = AuditQuery::default();
    q.kind = Some("id_jag_accepted".into());
    let events = s.storage.audit_events(&q).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.actor_client.as_deref(), Some(AGENT));
    assert_eq!(event.subject.as_deref(), Some("acme:00u-ann"));
    assert_eq!(event.details["idp"], "acme");
    assert_eq!(event.details["jti"], "j1");
    assert!(
        !format!("{event:?}").contains("eyJ"),
        "no token in the trail"
    );
    assert!(s.metrics().await.contains(JWT_BEARER), "counted by grant");

    // A narrower scope may be asked; the inline provider works as well;
    // local users are themselves.
    let mut c = acme.claims(s, AGENT, "j2");
    c["scope"] = json!("mcp files");
    let r = redeem(s, AGENT, Some(&acme.sign(&c)), Some("mcp")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], "mcp");
    let corp = &setup.corp;
    let c = corp.claims(s, AGENT, "c1");
    let r = redeem(s, AGENT, Some(&sign_with(&corp.key, "c1", &c)), None).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(verified(s, &token, RESOURCE).await["sub"], "corp:00u-ann");
    let staff = &setup.staff;
    let c = staff.claims(s, AGENT, "s1");
    let r = redeem(s, AGENT, Some(&sign_with(&staff.key, "c1", &c)), None).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(verified(s, &token, RESOURCE).await["sub"], USER);
    setup.stop().await;
}

#[tokio::test]
async fn without_a_trusted_provider_the_grant_is_neither_offered_nor_accepted() {
    let s = TestServer::start(|c| {
        c.client(OperatorClient::service(AGENT, SECRET).grants([GrantType::JwtBearer]))
    })
    .await;
    let meta: Value = http()
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(JWT_BEARER))
    );
    for assertion in [Some("a.b.c"), None] {
        let r = redeem(&s, AGENT, assertion, None).await;
        assert_eq!(
            refusal(r, 400).await,
            (
                "unsupported_grant_type".into(),
                "no identity provider is trusted for JWT authorization grants".into()
            )
        );
    }
    s.stop().await;
}

/// A burst of copies of one grant: exactly one token.
async fn replay_is_refused(storage: Arc<dyn Storage>) {
    let setup = Setup::start(storage).await;
    let Setup { s, acme, .. } = &setup;
    let once = acme.sign(&acme.claims(s, AGENT, "once"));
    let r = redeem(s, AGENT, Some(&once), None).await;
    assert_eq!(r.status(), 200);
    let r = redeem(s, AGENT, Some(&once), None).await;
    assert_eq!(
        refusal(r, 400).await,
        (
            "invalid_grant".into(),
            "the assertion was already used (jti)".into()
        )
    );

    let burst = Arc::new(acme.sign(&acme.claims(s, AGENT, "burst")));
    let base = Arc::new(s.base.clone());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (burst, base) = (burst.clone(), base.clone());
            tokio::spawn(async move {
                http()
                    .post(format!("{base}/token"))
                    .basic_auth(AGENT, Some(SECRET))
                    .form(&[("grant_type", JWT_BEARER), ("assertion", burst.as_str())])
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status() == 200 {
            ok += 1;
        } else {
            assert_eq!(
                refusal(r, 400).await,
                (
                    "invalid_grant".into(),
                    "the assertion was already used (jti)".into()
                )
            );
        }
    }
    assert_eq!(ok, 1, "exactly one of the burst gets a token");
    setup.stop().await;
}

#[tokio::test]
async fn a_replayed_grant_is_refused_in_memory() {
    replay_is_refused(Arc::new(MemoryStorage::new())).await;
}

#[tokio::test]
async fn a_replayed_grant_is_refused_on_sqlite() {
    let dir =
        std::env::temp_dir().join(format!("mcp-oauth-idjag-{}-{}", std::process::id(), now()));
    std::fs::create_dir_all(&dir).unwrap();
    let storage = mcp_oauth_server::storage::open(&format!("sqlite:{}", dir.join("db").display()))
        .await
        .unwrap();
    replay_is_refused(storage).await;
    let _ = std::fs::remove_dir_all(&dir);
}
