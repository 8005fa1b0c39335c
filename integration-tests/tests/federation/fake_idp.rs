//! Federation against a small OIDC provider of our own, which checks what
//! we send (client authentication, PKCE, redirect URI) and can be told to
//! answer wrongly: a tampered or foreign-signed ID token, the wrong nonce
//! or audience, an expired token, no ID token, userinfo about someone else,
//! an authorization response naming another issuer or none (RFC 9207).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use integration_tests::TestServer;
use jsonwebtoken::{Algorithm, Header};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::secret::ClientSecret;
use mcp_oauth_server::federation::{ClaimMapping, UpstreamConfig};
use mcp_oauth_server::storage::{MemoryStorage, Storage};
use serde_json::{Value, json};
use std::sync::Mutex;

use super::{Browser, Request, Stop, client_answer, payload, redeem_answer, request};
use crate::client_assertion::{ClientKey, new_key};
use crate::flow::{error_of, get, refresh};

const CLIENT_ID: &str = "fake-client";
const CLIENT_SECRET: &str = "fake secret/with:odd chars";
const KID: &str = "idp-1";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Good,
    Tampered,
    ForeignKey,
    WrongNonce,
    WrongAudience,
    Expired,
    NoIdToken,
    UserinfoAboutSomeoneElse,
    /// The authorization response names another issuer (a mix-up).
    OtherIss,
    /// The authorization response lacks the `iss` the metadata promises.
    NoIss,
    /// The ID token carries an e-mail address but no `email_verified`
    /// (as multi-tenant providers whose users edit their address do).
    EmailVerifiedAbsent,
}

struct Authorization {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

pub(super) struct Shared {
    issuer: String,
    mode: Mutex<Mode>,
    /// The `expires_in` of the access tokens it issues.
    pub(super) expires_in: Mutex<u64>,
    /// The access tokens its API accepts.
    live: Mutex<Vec<String>>,
    /// How many refresh grants it answered.
    pub(super) refreshes: Mutex<u32>,
    /// How many API calls it answered.
    pub(super) api_calls: Mutex<u32>,
    /// Two refreshes racing on one rotating refresh token, made certain:
    /// while set, a granted refresh (the token spent) is answered only once
    /// a refresh was refused, or after a second.
    pub(super) hold_refreshes: AtomicBool,
    /// How many refresh grants were asked for (granted or refused).
    pub(super) refresh_requests: AtomicU32,
    /// Signalled when a refresh was granted.
    pub(super) refresh_granted: tokio::sync::Notify,
    refresh_refused: tokio::sync::Notify,
    key: ClientKey,
    foreign: ClientKey,
    codes: Mutex<HashMap<String, Authorization>>,
    next: Mutex<u32>,
}

pub(super) struct FakeIdp {
    pub(super) shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeIdp {
    pub(super) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let shared = Arc::new(Shared {
            issuer,
            mode: Mutex::new(Mode::Good),
            expires_in: Mutex::new(300),
            live: Mutex::new(Vec::new()),
            refreshes: Mutex::new(0),
            api_calls: Mutex::new(0),
            hold_refreshes: AtomicBool::new(false),
            refresh_requests: AtomicU32::new(0),
            refresh_granted: tokio::sync::Notify::new(),
            refresh_refused: tokio::sync::Notify::new(),
            key: new_key(KID),
            foreign: new_key(KID),
            codes: Mutex::new(HashMap::new()),
            next: Mutex::new(0),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo))
                .route("/api/user", web::get().to(api_user))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { shared, handle }
    }

    fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Its API's base URL.
    pub(super) fn api(&self) -> String {
        format!("{}/api", self.shared.issuer)
    }

    pub(super) fn upstream(&self) -> UpstreamConfig {
        UpstreamConfig::oidc(
            "fake",
            "Fake IdP",
            self.shared.issuer.clone(),
            CLIENT_ID,
            Some(ClientSecret::new(CLIENT_SECRET)),
        )
        .claims(ClaimMapping::default().groups("groups"))
    }

    pub(super) async fn stop(self) {
        self.handle.stop(true).await;
    }
}

async fn discovery(s: web::Data<Shared>) -> HttpResponse {
    let i = &s.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(s: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"keys": [s.key.jwk]}))
}

async fn authorize(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let q = pairs(req.query_string().as_bytes());
    let has = |k: &str, v: &str| q.get(k).map(String::as_str) == Some(v);
    if !has("client_id", CLIENT_ID)
        || !has("response_type", "code")
        || !has("code_challenge_method", "S256")
        || !q
            .get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "openid"))
        || ["nonce", "state", "code_challenge", "redirect_uri"]
            .iter()
            .any(|k| !q.contains_key(*k))
    {
        return HttpResponse::BadRequest().body("bad authorization request");
    }
    let code = {
        let mut n = s.next.lock().unwrap();
        *n += 1;
        format!("upstream-code-{n}")
    };
    s.codes.lock().unwrap().insert(
        code.clone(),
        Authorization {
            nonce: q["nonce"].clone(),
            challenge: q["code_challenge"].clone(),
            redirect_uri: q["redirect_uri"].clone(),
        },
    );
    let mut back = url::Url::parse(&q["redirect_uri"]).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"]);
    let iss = match *s.mode.lock().unwrap() {
        Mode::NoIss => None,
        Mode::OtherIss => Some("http://127.0.0.1:1"),
        _ => Some(s.issuer.as_str()),
    };
    if let Some(iss) = iss {
        back.query_pairs_mut().append_pair("iss", iss);
    }
    HttpResponse::Found()
        .insert_header(("location", back.as_str()))
        .finish()
}

fn pairs(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

use integration_tests::now;

async fn token(s: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let refuse = |why: &str| HttpResponse::BadRequest().json(json!({"error": why}));
    // Our AS must authenticate with client_secret_basic, form-encoded.
    let enc = |v: &str| -> String { url::form_urlencoded::byte_serialize(v.as_bytes()).collect() };
    let basic = format!(
        "Basic {}",
        Base64::encode_string(format!("{}:{}", enc(CLIENT_ID), enc(CLIENT_SECRET)).as_bytes())
    );
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let form = pairs(&body);
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("grant_type") == "refresh_token" {
        s.refresh_requests.fetch_add(1, Ordering::SeqCst);
        let answer = refresh_grant(&s, &field("refresh_token"));
        if s.hold_refreshes.load(Ordering::SeqCst) {
            if answer.status().is_success() {
                s.refresh_granted.notify_one();
                let refused = s.refresh_refused.notified();
                let _ = tokio::time::timeout(Duration::from_secs(1), refused).await;
            } else {
                s.refresh_refused.notify_one();
            }
        }
        return answer;
    }
    let Some(auth) = s.codes.lock().unwrap().remove(&field("code")) else {
        return refuse("invalid_grant");
    };
    let Ok(verifier) = PkceVerifier::parse(field("code_verifier")) else {
        return refuse("invalid_grant");
    };
    if PkceChallenge::s256(&verifier).as_str() != auth.challenge
        || field("redirect_uri") != auth.redirect_uri
    {
        return refuse("invalid_grant");
    }
    let mode = *s.mode.lock().unwrap();
    let t = now();
    let mut claims = json!({
        "iss": s.issuer, "sub": "u-1", "aud": CLIENT_ID, "iat": t, "exp": t + 300,
        "nonce": auth.nonce, "email": "u1@example.com", "email_verified": true,
        "name": "User One", "groups": ["staff"],
    });
    match mode {
        Mode::WrongNonce => claims["nonce"] = json!("another-sign-in"),
        Mode::WrongAudience => claims["aud"] = json!("someone-else"),
        Mode::Expired => {
            claims["iat"] = json!(t - 3600);
            claims["exp"] = json!(t - 600);
        }
        Mode::UserinfoAboutSomeoneElse => {
            claims.as_object_mut().unwrap().remove("name");
        }
        Mode::EmailVerifiedAbsent => {
            claims.as_object_mut().unwrap().remove("email_verified");
        }
        _ => {}
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.into());
    let key = if mode == Mode::ForeignKey {
        &s.foreign
    } else {
        &s.key
    };
    let mut id_token = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
    if mode == Mode::Tampered {
        // Same signature, another person: the signature no longer matches.
        claims["sub"] = json!("admin");
        let parts: Vec<&str> = id_token.split('.').collect();
        let body = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
        id_token = format!("{}.{body}.{}", parts[0], parts[2]);
    }
    let expires_in = *s.expires_in.lock().unwrap();
    s.live.lock().unwrap().push("upstream-access-token".into());
    let mut response = json!({"access_token": "upstream-access-token", "token_type": "Bearer",
                              "expires_in": expires_in, "refresh_token": "upstream-refresh-token"});
    if mode != Mode::NoIdToken {
        response["id_token"] = json!(id_token);
    }
    HttpResponse::Ok().json(response)
}

/// The refresh grant: a new access token (numbered) and a rotated refresh
/// token; the old refresh token is spent.
fn refresh_grant(s: &Shared, presented: &str) -> HttpResponse {
    let mut n = s.refreshes.lock().unwrap();
    let current = if *n == 0 {
        "upstream-refresh-token".to_owned()
    } else {
        format!("upstream-refresh-token-{n}")
    };
    if presented != current {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_grant"}));
    }
    *n += 1;
    let access = format!("upstream-access-token-{n}");
    s.live.lock().unwrap().push(access.clone());
    HttpResponse::Ok().json(json!({
        "access_token": access, "token_type": "Bearer",
        "expires_in": *s.expires_in.lock().unwrap(),
        "refresh_token": format!("upstream-refresh-token-{n}"),
    }))
}

/// The provider's API: who the bearer's token belongs to.
async fn api_user(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !s.live.lock().unwrap().iter().any(|t| t == token) {
        return HttpResponse::Unauthorized().finish();
    }
    *s.api_calls.lock().unwrap() += 1;
    HttpResponse::Ok().json(json!({"login": "u-1", "token": token.len()}))
}

async fn userinfo(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some("Bearer upstream-access-token")
    {
        return HttpResponse::Unauthorized().finish();
    }
    let sub = match *s.mode.lock().unwrap() {
        Mode::UserinfoAboutSomeoneElse => "u-2",
        _ => "u-1",
    };
    HttpResponse::Ok().json(json!({"sub": sub, "name": "From Userinfo"}))
}

/// One browser sign-in through the fake IdP; our answer to the client.
async fn sign_in(s: &TestServer) -> (Request, Vec<(String, String)>) {
    let req = request(s).await;
    let browser = Browser::new();
    let upstream = browser.choose_upstream(&req.url, "fake").await;
    let Stop::At(callback) = browser.follow(upstream, &s.url("/callback/")).await else {
        panic!("the IdP did not send the browser back");
    };
    let (status, loc) = browser.open(&callback).await;
    assert_eq!(status, 302);
    let q = client_answer(s, &loc.unwrap());
    (req, q)
}

#[tokio::test]
async fn signs_in_upstream_and_issues_our_own_tokens_with_the_mapped_claims() {
    let idp = FakeIdp::start().await;
    let up = idp.upstream();
    let s = TestServer::start(|c| c.upstream(up)).await;
    let (req, q) = sign_in(&s).await;
    let (body, claims) = redeem_answer(&s, &req, &q).await;
    assert_eq!(claims["sub"], "fake:u-1");
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["email"], "u1@example.com");
    assert_eq!(
        claims["name"], "User One",
        "the ID token's claims come first"
    );
    assert_eq!(claims["groups"], json!(["staff"]));
    // No token passthrough: nothing of the upstream's reaches the client.
    let text = body.to_string();
    assert!(!text.contains("upstream-"), "{text}");
    assert!(body.get("id_token").is_none());
    // Refreshed tokens carry the same identity.
    let r = refresh(&s, &req.client_id, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let refreshed = payload(
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(refreshed["sub"], "fake:u-1");
    assert_eq!(refreshed["email"], "u1@example.com");
    let who = s.storage.identity("fake:u-1").await.unwrap().unwrap();
    assert_eq!(who.provider, "fake");
    s.stop().await;
    idp.stop().await;
}

#[tokio::test]
async fn a_misbehaving_upstream_is_refused_and_nothing_is_kept() {
    let idp = FakeIdp::start().await;
    let up = idp.upstream();
    let s = TestServer::start(|c| c.upstream(up)).await;
    for mode in [
        Mode::Tampered,
        Mode::ForeignKey,
        Mode::WrongNonce,
        Mode::WrongAudience,
        Mode::Expired,
        Mode::NoIdToken,
        Mode::UserinfoAboutSomeoneElse,
        Mode::OtherIss,
        Mode::NoIss,
    ] {
        idp.set(mode);
        let (_, q) = sign_in(&s).await;
        assert_eq!(get(&q, "error"), Some("access_denied"), "{mode:?}: {q:?}");
        assert_eq!(get(&q, "code"), None, "{mode:?}");
    }
    assert_eq!(s.storage.identity("fake:u-1").await.unwrap(), None);
    assert_eq!(s.storage.identity("fake:admin").await.unwrap(), None);
    s.stop().await;

    // A group allow-list the person does not meet.
    let up = idp.upstream().allowed_groups(["admins"]);
    let s = TestServer::start(|c| c.upstream(up)).await;
    idp.set(Mode::Good);
    let (_, q) = sign_in(&s).await;
    assert_eq!(get(&q, "error"), Some("access_denied"), "{q:?}");
    s.stop().await;
    idp.stop().await;
}

#[tokio::test]
async fn a_callback_is_honoured_once_and_only_in_the_browser_that_started_it() {
    let idp = FakeIdp::start().await;
    let up = idp.upstream();
    let s = TestServer::start(|c| c.upstream(up)).await;
    let req = request(&s).await;
    let victim = Browser::new();
    let upstream = victim.choose_upstream(&req.url, "fake").await;
    let Stop::At(callback) = victim.follow(upstream, &s.url("/callback/")).await else {
        panic!("the IdP did not send the browser back");
    };
    // Another browser (login CSRF: an attacker's response planted in a
    // victim's browser) is refused on a page, never redirected.
    let (status, loc) = Browser::new().open(&callback).await;
    assert_eq!((status, loc), (400, None));
    // A wrong state in the right browser, likewise.
    let mut forged = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, format!("{v}x"))
            } else {
                (k, v)
            }
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(&pairs);
    assert_eq!(victim.open(&forged).await, (400, None));
    // The genuine one works once.
    let (status, loc) = victim.open(&callback).await;
    assert_eq!(status, 302);
    let q = client_answer(&s, &loc.unwrap());
    assert!(get(&q, "code").is_some(), "{q:?}");
    assert_eq!(victim.open(&callback).await, (400, None), "replayed");
    s.stop().await;
    idp.stop().await;
}

#[tokio::test]
async fn a_returning_person_skips_the_upstream_and_refreshes_stop_when_the_rules_change() {
    let idp = FakeIdp::start().await;
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let up = idp.upstream();
    let s = TestServer::start_with(storage.clone(), |c| c.upstream(up)).await;
    let req = request(&s).await;
    let browser = Browser::new();
    let upstream = browser.choose_upstream(&req.url, "fake").await;
    let Stop::At(callback) = browser.follow(upstream, &s.url("/callback/")).await else {
        panic!("the IdP did not send the browser back");
    };
    let (_, loc) = browser.open(&callback).await;
    let q = client_answer(&s, &loc.unwrap());
    let (body, _) = redeem_answer(&s, &req, &q).await;
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    // Same browser, same client: the session and the remembered consent
    // answer at once, without the upstream.
    let again = request(&s).await;
    let (status, loc) = browser.open(&url::Url::parse(&again.url).unwrap()).await;
    assert_eq!(status, 200, "a new client needs consent: {loc:?}");
    let mut same_client = url::Url::parse(&again.url).unwrap();
    let pairs: Vec<(String, String)> = same_client
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "client_id" {
                (k, req.client_id.clone())
            } else {
                (k, v)
            }
        })
        .collect();
    same_client.query_pairs_mut().clear().extend_pairs(&pairs);
    let (status, loc) = browser.open(&same_client).await;
    assert_eq!(status, 302);
    assert!(get(&client_answer(&s, &loc.unwrap()), "code").is_some());

    // The operator tightens the allow-list: the grant stops refreshing.
    let port = s.port();
    s.stop().await;
    let strict = idp.upstream().allowed_groups(["admins"]);
    let s = TestServer::start_on(port, storage.clone(), |c| c.upstream(strict)).await;
    let r = refresh(&s, &req.client_id, &refresh_token).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
    // Or removes the provider.
    let s = TestServer::start_on(port, storage, |c| c).await;
    let r = refresh(&s, &req.client_id, &refresh_token).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
    idp.stop().await;
}

/// The "nOAuth" class: an address the provider does not say it verified
/// admits nobody through an e-mail domain allow-list and never reaches our
/// tokens, unless the operator says this provider verifies every address.
#[tokio::test]
async fn an_unverified_email_address_neither_admits_nor_reaches_our_tokens() {
    let idp = FakeIdp::start().await;
    idp.set(Mode::EmailVerifiedAbsent);
    let up = idp.upstream().allowed_email_domains(["example.com"]);
    let s = TestServer::start(|c| c.upstream(up)).await;
    let (_, q) = sign_in(&s).await;
    assert_eq!(get(&q, "error"), Some("access_denied"), "{q:?}");
    s.stop().await;
    // Without an allow-list the person signs in, but our tokens carry no
    // e-mail address for them.
    let up = idp.upstream();
    let s = TestServer::start(|c| c.upstream(up)).await;
    let (req, q) = sign_in(&s).await;
    let (_, claims) = redeem_answer(&s, &req, &q).await;
    assert_eq!(claims["sub"], "fake:u-1");
    assert!(claims.get("email").is_none(), "{claims}");
    s.stop().await;
    // The operator vouches for this provider's addresses: admitted, and
    // the address is carried.
    let up = idp
        .upstream()
        .allowed_email_domains(["example.com"])
        .assume_email_verified();
    let s = TestServer::start(|c| c.upstream(up)).await;
    let (req, q) = sign_in(&s).await;
    let (_, claims) = redeem_answer(&s, &req, &q).await;
    assert_eq!(claims["email"], "u1@example.com");
    s.stop().await;
    idp.stop().await;
}

/// The device flow's page with an upstream provider: the person signs in
/// there instead of with a password, comes back signed in with the code
/// carried over, and allows the device, whose tokens name them.
#[tokio::test]
async fn a_person_signs_in_upstream_at_the_device_page_and_allows_a_device() {
    const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
    let idp = FakeIdp::start().await;
    let up = idp.upstream();
    let s = TestServer::start(|c| c.upstream(up)).await;
    let http = integration_tests::http();
    let client: Value = http
        .post(s.url("/register"))
        .json(&json!({"client_name": "device", "grant_types": [GRANT],
                      "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let started: Value = http
        .post(s.url("/device_authorization"))
        .form(&[("client_id", client_id)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = started["user_code"].as_str().unwrap();

    let browser = Browser::new();
    let page = browser
        .http
        .get(started["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/federate/fake\""), "{page}");
    let r = browser
        .post(
            url::Url::parse(&s.url("/federate/fake")).unwrap(),
            &[
                ("csrf", crate::flow::field(&page, "csrf").as_str()),
                ("user_code", user_code),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let upstream = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let Stop::At(callback) = browser.follow(upstream, &s.url("/callback/")).await else {
        panic!("the IdP did not send the browser back");
    };
    let (status, back) = browser.open(&callback).await;
    assert_eq!(status, 303);
    let back = back.unwrap();
    assert_eq!(
        back.as_str(),
        format!("{}?user_code={user_code}", s.url("/device"))
    );
    let r = browser.http.get(back).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("fake:u-1"),
        "signed in as the upstream person: {page}"
    );
    let device = url::Url::parse(&s.url("/device")).unwrap();
    let csrf = crate::flow::field(&page, "csrf");
    let confirm = browser
        .post(
            device.clone(),
            &[
                ("csrf", csrf.as_str()),
                ("step", "code"),
                ("user_code", user_code),
            ],
        )
        .await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.unwrap();
    let csrf = crate::flow::field(&confirm, "csrf");
    let done = browser
        .post(
            device,
            &[
                ("csrf", csrf.as_str()),
                ("step", "decide"),
                ("user_code", user_code),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(done.status(), 200);

    let t: Value = http
        .post(s.url("/token"))
        .form(&[
            ("grant_type", GRANT),
            ("device_code", started["device_code"].as_str().unwrap()),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = payload(t["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "fake:u-1");
    assert_eq!(claims["email"], "u1@example.com");
    s.stop().await;
    idp.stop().await;
}

/// The account page with an upstream provider: a person who signed in
/// there for an application comes back to `/account` through the same
/// provider, sees that grant (recorded as federated) and takes it back.
#[tokio::test]
async fn a_federated_person_signs_in_on_the_account_page_and_takes_a_grant_back() {
    let idp = FakeIdp::start().await;
    let up = idp.upstream();
    let s = TestServer::start(|c| c.upstream(up)).await;
    let (req, q) = sign_in(&s).await;
    let (body, _) = redeem_answer(&s, &req, &q).await;
    let grants = s
        .storage
        .grants(
            &mcp_oauth_server::storage::GrantFilter::subject("fake:u-1"),
            integration_tests::now(),
        )
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].record.method,
        mcp_oauth_server::storage::SignInMethod::Federated
    );

    // A fresh browser: the account page offers the provider.
    let browser = Browser::new();
    let page = browser
        .http
        .get(s.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/federate/fake\""), "{page}");
    let r = browser
        .post(
            url::Url::parse(&s.url("/federate/fake")).unwrap(),
            &[
                ("csrf", crate::flow::field(&page, "csrf").as_str()),
                ("account", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let upstream = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let Stop::At(callback) = browser.follow(upstream, &s.url("/callback/")).await else {
        panic!("the IdP did not send the browser back");
    };
    let (status, back) = browser.open(&callback).await;
    assert_eq!(status, 303);
    assert_eq!(back.unwrap().as_str(), s.url("/account"));
    let page = browser
        .http
        .get(s.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("fake:u-1") && page.contains(&req.client_id),
        "{page}"
    );
    let r = browser
        .post(
            url::Url::parse(&s.url("/account")).unwrap(),
            &[
                ("csrf", crate::flow::field(&page, "csrf").as_str()),
                ("step", "revoke"),
                ("client_id", req.client_id.as_str()),
                ("resource", crate::flow::field(&page, "resource").as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Access removed"));
    let r = refresh(&s, &req.client_id, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
    idp.stop().await;
}
