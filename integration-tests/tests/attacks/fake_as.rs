//! An authorization server stand-in for the verifier attacks, on loopback:
//! its metadata names its JWK Set and introspection endpoint; the JWK Set
//! (one ES256 key, a document of the test's choosing, or HTTP 500) and the
//! introspection answers (per token, optionally slow) are set by each
//! test; it counts what it serves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// What `/jwks` answers.
#[derive(Clone)]
pub(super) enum Jwks {
    /// The server's own key, `kid` as given.
    Key,
    /// This document.
    Document(Value),
    /// HTTP 500.
    Fail,
}

struct State {
    jwks: Mutex<Jwks>,
    jwks_delay: Mutex<Duration>,
    jwks_fetches: AtomicUsize,
    answers: Mutex<HashMap<String, Value>>,
    introspection_delay: Mutex<Duration>,
    introspections: AtomicUsize,
    public_jwk: Value,
}

/// A running stand-in; stops when dropped.
pub(super) struct FakeAs {
    pub(super) issuer: String,
    pub(super) kid: String,
    pkcs8: Vec<u8>,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeAs {
    /// Starts one whose key has this `kid`.
    pub(super) async fn start(kid: &str) -> Self {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let public_jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": Base64UrlUnpadded::encode_string(&point[1..33]),
            "y": Base64UrlUnpadded::encode_string(&point[33..65]),
        });
        let state = Arc::new(State {
            jwks: Mutex::new(Jwks::Key),
            jwks_delay: Mutex::new(Duration::ZERO),
            jwks_fetches: AtomicUsize::new(0),
            answers: Mutex::new(HashMap::new()),
            introspection_delay: Mutex::new(Duration::ZERO),
            introspections: AtomicUsize::new(0),
            public_jwk,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let metadata = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "introspection_endpoint": format!("{issuer}/introspect"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        });
        let (s1, s2) = (state.clone(), state.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                axum::routing::get(move || async move { axum::Json(metadata) }),
            )
            .route("/jwks", axum::routing::get(move || jwks(s1.clone())))
            .route(
                "/introspect",
                axum::routing::post(move |body: String| introspect(s2.clone(), body)),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            issuer,
            kid: kid.to_owned(),
            pkcs8: doc.as_ref().to_vec(),
            state,
            task,
        }
    }

    /// Sets what `/jwks` answers, after `delay`.
    pub(super) fn set_jwks(&self, jwks: Jwks, delay: Duration) {
        *self.state.jwks.lock().unwrap() = jwks;
        *self.state.jwks_delay.lock().unwrap() = delay;
    }

    /// The public JWK of the server's key.
    pub(super) fn public_jwk(&self) -> Value {
        self.state.public_jwk.clone()
    }

    /// `/jwks` requests served so far.
    pub(super) fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Introspection requests received so far.
    pub(super) fn introspections(&self) -> usize {
        self.state.introspections.load(Ordering::SeqCst)
    }

    /// What introspecting `token` answers (default `{"active": false}`).
    pub(super) fn answer(&self, token: &str, answer: Value) {
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    /// Introspection answers come after `delay`.
    pub(super) fn slow_introspection(&self, delay: Duration) {
        *self.state.introspection_delay.lock().unwrap() = delay;
    }

    /// Signs `claims` with the server's key (`typ: at+jwt`, its `kid`),
    /// after applying `tweak` to the header.
    pub(super) fn sign(&self, claims: &Value, tweak: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        tweak(&mut header);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

async fn jwks(state: Arc<State>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let delay = *state.jwks_delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let jwks = state.jwks.lock().unwrap().clone();
    match jwks {
        Jwks::Key => axum::Json(json!({"keys": [state.public_jwk]})).into_response(),
        Jwks::Document(d) => axum::Json(d).into_response(),
        Jwks::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn introspect(state: Arc<State>, body: String) -> axum::Json<Value> {
    state.introspections.fetch_add(1, Ordering::SeqCst);
    let delay = *state.introspection_delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let answers = state.answers.lock().unwrap();
    axum::Json(
        answers
            .get(&token)
            .cloned()
            .unwrap_or_else(|| json!({"active": false})),
    )
}
