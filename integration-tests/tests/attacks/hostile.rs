//! Hostile servers for the client attacks, on loopback: each records every
//! request it receives (method, target, headers, body, and any Basic
//! credentials decoded), so a test can assert what the agent did not send.
//! [`auto_approving_as`] is a minimal authorization server that approves
//! every authorization request at once and answers the token request with
//! a body of the test's choosing.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use base64ct::{Base64, Encoding};
use mcp_oauth_client::{AuthorizeCallback, Login};
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// `GET /path?query`.
    pub(super) line: String,
    /// Everything else, searchable: headers, body (raw and
    /// percent-decoded), decoded Basic credentials.
    pub(super) text: String,
}

/// A running hostile server; stops when dropped.
pub(crate) struct Hostile {
    pub(crate) base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    /// Serves the router `routes` builds from the server's base URL.
    pub(crate) async fn start(routes: impl FnOnce(&str) -> axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = routes(&base).layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let log = log.clone();
                async move { record(log, req, next).await }
            },
        ));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, seen, task }
    }

    /// `{base}{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The request lines received so far.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.line.clone())
            .collect()
    }

    /// Whether `needle` appeared anywhere in any request received.
    pub(crate) fn saw(&self, needle: &str) -> bool {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.line.contains(needle) || s.text.contains(needle))
    }
}

async fn record(log: Arc<Mutex<Vec<Seen>>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let line = format!("{} {}", parts.method, parts.uri);
    let mut text = String::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or_default();
        text.push_str(&format!("{name}: {value}\n"));
        if let Some(basic) = value.strip_prefix("Basic ")
            && let Ok(decoded) = Base64::decode_vec(basic.trim())
        {
            text.push_str(&String::from_utf8_lossy(&decoded));
            text.push('\n');
        }
    }
    let body_text = String::from_utf8_lossy(&bytes).into_owned();
    text.push_str(&body_text);
    text.push('\n');
    for (k, v) in url::form_urlencoded::parse(body_text.as_bytes()) {
        text.push_str(&format!("{k}={v}\n"));
    }
    log.lock().unwrap().push(Seen { line, text });
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Protected-resource metadata for `{base}{path}` naming `issuer`.
pub(super) fn prm(resource: &str, issuer: &str) -> Value {
    json!({"resource": resource, "authorization_servers": [issuer]})
}

/// Authorization server metadata of an issuer at `base`.
pub(super) fn as_metadata(base: &str) -> Value {
    json!({"issuer": base, "authorization_endpoint": format!("{base}/authorize"),
           "token_endpoint": format!("{base}/token"),
           "registration_endpoint": format!("{base}/register"),
           "response_types_supported": ["code"],
           "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
           "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
           "code_challenge_methods_supported": ["S256"]})
}

/// A GET route answering this JSON document.
pub(super) fn json_doc(doc: Value) -> MethodRouter {
    get(move || {
        let doc = doc.clone();
        async move { axum::Json(doc) }
    })
}

/// A POST route (an MCP endpoint) answering 401 with a challenge naming
/// `metadata_url`.
pub(super) fn unauthorized(metadata_url: String) -> MethodRouter {
    post(move || {
        let url = metadata_url.clone();
        async move { challenge(&url) }
    })
}

/// A 401 with a Bearer challenge naming `metadata_url`.
pub(super) fn challenge(metadata_url: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            "www-authenticate",
            format!("Bearer resource_metadata=\"{metadata_url}\""),
        )],
    )
        .into_response()
}

/// An authorization server at `base` that approves everything at once
/// (`/authorize` redirects back with a code, `state` and `iss`), registers
/// anyone and answers `/token` with `token`. Add the protected-resource
/// metadata of an MCP server on the same origin, and it is both.
pub(super) fn auto_approving_as(base: &str, token: Value) -> axum::Router {
    auto_approving_as_with(base, move || token.clone())
}

/// [`auto_approving_as`] whose token endpoint answers `token()` afresh on
/// each request (to tell the tokens of several logins apart).
pub(super) fn auto_approving_as_with(
    base: &str,
    token: impl Fn() -> Value + Clone + Send + Sync + 'static,
) -> axum::Router {
    let issuer = base.to_owned();
    axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            json_doc(as_metadata(base)),
        )
        .route(
            "/register",
            post(|| async {
                (
                    StatusCode::CREATED,
                    axum::Json(json!({"client_id": "hostile-client",
                                      "redirect_uris": ["http://127.0.0.1/callback"],
                                      "token_endpoint_auth_method": "none"})),
                )
            }),
        )
        .route(
            "/authorize",
            get(move |req: Request| {
                let issuer = issuer.clone();
                async move {
                    let query = req.uri().query().unwrap_or_default().to_owned();
                    let param = |name: &str| {
                        url::form_urlencoded::parse(query.as_bytes())
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    let mut back = url::Url::parse(&param("redirect_uri")).unwrap();
                    back.query_pairs_mut()
                        .append_pair("code", "hostile-code")
                        .append_pair("state", &param("state"))
                        .append_pair("iss", &issuer);
                    (StatusCode::FOUND, [("location", back.to_string())]).into_response()
                }
            }),
        )
        .route(
            "/token",
            post(move || {
                let token = token();
                async move { axum::Json(token) }
            }),
        )
}

/// The login of a browser at an authorization server that approves at
/// once: load the authorization URL and follow its redirect.
pub(super) fn follow_redirect() -> Login {
    let cb: AuthorizeCallback = Arc::new(|authorize: url::Url| {
        Box::pin(async move {
            let r = integration_tests::http()
                .get(authorize)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let location = r
                .headers()
                .get("location")
                .ok_or_else(|| format!("no redirect: {}", r.status()))?
                .to_str()
                .map_err(|e| e.to_string())?;
            Ok(url::Url::parse(location)?)
        })
    });
    Login::Callback(cb)
}

/// The login of a person at our authorization server's login page (the
/// test user), returning where the browser is sent back to.
pub(super) fn person_signs_in() -> Login {
    let cb: AuthorizeCallback = Arc::new(|authorize: url::Url| {
        Box::pin(async move {
            let r = integration_tests::form_login(
                authorize.as_str(),
                integration_tests::USER,
                integration_tests::PASSWORD,
            )
            .await;
            let back = r
                .headers()
                .get("location")
                .ok_or_else(|| format!("login refused: {}", r.status()))?
                .to_str()
                .map_err(|e| e.to_string())?;
            Ok(url::Url::parse(back)?)
        })
    });
    Login::Callback(cb)
}

/// Connects rmcp to `url` through `client`, which must fail; returns the
/// error as `Debug` text (the client's error is inside rmcp's).
pub(super) async fn refused_over_rmcp(client: &mcp_oauth_client::OAuthClient, url: &str) -> String {
    use rmcp::ServiceExt;
    let Err(e) = ().serve(client.transport(url).unwrap()).await else {
        panic!("the connection to {url} was not refused");
    };
    format!("{e:?}")
}
