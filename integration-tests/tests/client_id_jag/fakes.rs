//! The stand-ins of the ID-JAG client tests: a recording loopback server,
//! the enterprise IdP, the authorization server and the MCP server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64ct::{Base64, Encoding};
use mcp_oauth_client::core::secret::SecurityToken;
use mcp_oauth_client::{CallbackError, IdentityAssertion, IdpClient, Login, OAuthClient};
use serde_json::{Value, json};

pub(super) const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
pub(super) const AGENT: &str = "agent-at-as";
pub(super) const AGENT_SECRET: &str = "agent-secret-at-as";
pub(super) const IDP_CLIENT: &str = "agent-at-idp";
pub(super) const IDP_SECRET: &str = "agent-secret-at-idp";

/// A loopback server that records every request (line, headers, decoded
/// Basic credentials, body raw and form-decoded); stops when dropped.
pub(super) use crate::attacks::hostile::Hostile as Recorded;

pub(super) fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

/// `id:secret` from a Basic header.
pub(super) fn basic(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let decoded = Base64::decode_vec(v.strip_prefix("Basic ")?.trim()).ok()?;
    String::from_utf8(decoded).ok()
}

pub(super) fn oauth_error(status: StatusCode, error: &str, description: String) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// What the fake IdP answers.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum IdpMode {
    /// An ID-JAG after checking every parameter.
    Grant,
    /// `invalid_grant`, always.
    RefuseIdToken,
    /// An access token instead of an ID-JAG.
    WrongType,
}

/// The enterprise IdP: OIDC metadata and a token-exchange endpoint that
/// checks the request against `expect` (audience, resource) and issues
/// `jag-N`; it keeps the ID tokens and scopes it was sent.
pub(super) struct Idp {
    pub(super) server: Recorded,
    pub(super) id_tokens: Arc<Mutex<Vec<String>>>,
    pub(super) scopes: Arc<Mutex<Vec<String>>>,
}

pub(super) async fn idp(mode: IdpMode, audience: String, resource: String) -> Idp {
    let id_tokens = Arc::new(Mutex::new(Vec::new()));
    let scopes = Arc::new(Mutex::new(Vec::new()));
    let (tokens, asked) = (id_tokens.clone(), scopes.clone());
    let issued = Arc::new(AtomicUsize::new(0));
    let server = Recorded::start(move |base| {
        let metadata = json!({"issuer": base, "token_endpoint": format!("{base}/token"),
            "authorization_endpoint": format!("{base}/authorize"),
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"]});
        axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { axum::Json(metadata) }),
            )
            .route(
                "/token",
                post(move |headers: HeaderMap, body: String| async move {
                    let f = form(&body);
                    let p = |k: &str| f.get(k).cloned().unwrap_or_default();
                    let mut wrong = Vec::new();
                    for (k, v) in [
                        (
                            "grant_type",
                            "urn:ietf:params:oauth:grant-type:token-exchange",
                        ),
                        ("requested_token_type", ID_JAG),
                        (
                            "subject_token_type",
                            "urn:ietf:params:oauth:token-type:id_token",
                        ),
                        ("audience", audience.as_str()),
                        ("resource", resource.as_str()),
                    ] {
                        if p(k) != v {
                            wrong.push(format!("{k}={}", p(k)));
                        }
                    }
                    if basic(&headers).as_deref() != Some(&format!("{IDP_CLIENT}:{IDP_SECRET}")) {
                        wrong.push("client authentication".into());
                    }
                    if !wrong.is_empty() {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            wrong.join(", "),
                        );
                    }
                    tokens.lock().unwrap().push(p("subject_token"));
                    asked.lock().unwrap().push(p("scope"));
                    match mode {
                        IdpMode::RefuseIdToken => oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_grant",
                            "the ID token expired".into(),
                        ),
                        IdpMode::WrongType => axum::Json(json!({"access_token": "at",
                            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                            "token_type": "Bearer"}))
                        .into_response(),
                        IdpMode::Grant => {
                            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                            axum::Json(json!({"access_token": format!("jag-{n}"),
                                "issued_token_type": ID_JAG, "token_type": "N_A",
                                "expires_in": 300}))
                            .into_response()
                        }
                    }
                }),
            )
    })
    .await;
    Idp {
        server,
        id_tokens,
        scopes,
    }
}

/// The MCP server's authorization server: metadata (JWT bearer only, no
/// PKCE advertised) and a token endpoint that checks the grant and Basic
/// authentication and issues `at-N` with the scope asked, valid
/// `expires_in` seconds, which it writes into `issued` for the MCP server
/// to check.
pub(super) async fn authorization_server(
    issued: Arc<Mutex<HashMap<String, String>>>,
    expires_in: u64,
) -> Recorded {
    let count = Arc::new(AtomicUsize::new(0));
    Recorded::start(move |base| {
        let metadata = json!({"issuer": base, "token_endpoint": format!("{base}/token"),
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"]});
        axum::Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move { axum::Json(metadata) }),
            )
            .route(
                "/token",
                post(move |headers: HeaderMap, body: String| async move {
                    let f = form(&body);
                    if basic(&headers).as_deref() != Some(&format!("{AGENT}:{AGENT_SECRET}")) {
                        return oauth_error(
                            StatusCode::UNAUTHORIZED,
                            "invalid_client",
                            "Basic".into(),
                        );
                    }
                    let grant = f.get("grant_type").map(String::as_str);
                    let assertion = f.get("assertion").cloned().unwrap_or_default();
                    if grant != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                        || !assertion.starts_with("jag-")
                    {
                        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", body);
                    }
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    let token = format!("at-{n}");
                    let scope = f.get("scope").cloned().unwrap_or_default();
                    issued.lock().unwrap().insert(token.clone(), scope.clone());
                    axum::Json(json!({"access_token": token, "token_type": "Bearer",
                        "expires_in": expires_in, "scope": scope}))
                    .into_response()
                }),
            )
    })
    .await
}

/// The MCP server: its resource metadata names `issuer`; `/mcp` wants a
/// token from `issued` (`at-1` is revoked by the time of `tools/list`:
/// 401), scope `mcp`, and `write` for `tools/call` (403 otherwise).
pub(super) async fn mcp_server(
    issuer: String,
    issued: Arc<Mutex<HashMap<String, String>>>,
) -> Recorded {
    Recorded::start(move |base| {
        let resource = format!("{base}/mcp");
        let prm_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
        let prm = json!({"resource": resource, "authorization_servers": [issuer],
                         "scopes_supported": ["mcp"]});
        axum::Router::new()
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                get(move || async move { axum::Json(prm) }),
            )
            .route(
                "/mcp",
                post(move |headers: HeaderMap, body: String| async move {
                    let token = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .unwrap_or_default()
                        .to_owned();
                    let scope = issued.lock().unwrap().get(&token).cloned();
                    let message: Value = serde_json::from_str(&body).unwrap_or_default();
                    let method = message["method"].as_str().unwrap_or_default();
                    let challenge =
                        |extra: &str| format!(r#"Bearer resource_metadata="{prm_url}"{extra}"#);
                    let revoked = token == "at-1" && method == "tools/list";
                    let Some(scope) = scope.filter(|_| !revoked) else {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [("www-authenticate", challenge(r#", scope="mcp""#))],
                        )
                            .into_response();
                    };
                    if method == "tools/call" && !scope.split(' ').any(|s| s == "write") {
                        return (
                            StatusCode::FORBIDDEN,
                            [(
                                "www-authenticate",
                                challenge(r#", error="insufficient_scope", scope="mcp write""#),
                            )],
                        )
                            .into_response();
                    }
                    let result = match method {
                        "initialize" => json!({"protocolVersion": "2025-06-18",
                            "capabilities": {"tools": {}},
                            "serverInfo": {"name": "fake", "version": "1"}}),
                        "tools/list" => json!({"tools": [{"name": "write",
                            "inputSchema": {"type": "object"}}]}),
                        "tools/call" => json!({"content": [{"type": "text", "text": "done"}]}),
                        _ => return StatusCode::ACCEPTED.into_response(),
                    };
                    axum::Json(json!({"jsonrpc": "2.0", "id": message["id"], "result": result}))
                        .into_response()
                })
                .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                .delete(|| async { StatusCode::METHOD_NOT_ALLOWED }),
            )
    })
    .await
}

/// The three stand-ins, wired together.
pub(super) struct World {
    pub(super) idp: Idp,
    pub(super) authorization: Recorded,
    pub(super) mcp: Recorded,
}

impl World {
    pub(super) async fn start(mode: IdpMode) -> Self {
        Self::start_with(mode, 3600).await
    }

    pub(super) async fn start_with(mode: IdpMode, expires_in: u64) -> Self {
        let issued = Arc::new(Mutex::new(HashMap::new()));
        let authorization = authorization_server(issued.clone(), expires_in).await;
        let mcp = mcp_server(authorization.base.clone(), issued).await;
        let idp = idp(
            mode,
            authorization.base.clone(),
            format!("{}/mcp", mcp.base),
        )
        .await;
        Self {
            idp,
            authorization,
            mcp,
        }
    }

    pub(super) fn mcp_url(&self) -> String {
        format!("{}/mcp", self.mcp.base)
    }

    /// An agent pre-registered at the authorization server, exchanging ID
    /// tokens `id-token-1`, `id-token-2`, … (a fresh one each time).
    pub(super) fn agent(&self) -> OAuthClient {
        let n = Arc::new(AtomicUsize::new(0));
        let source = move || {
            let k = n.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok::<_, CallbackError>(SecurityToken::new(format!("id-token-{k}"))) }
        };
        self.agent_with(IdentityAssertion::new(
            self.idp.server.base.clone(),
            IdpClient::secret_basic(IDP_CLIENT, IDP_SECRET),
            source,
        ))
    }

    pub(super) fn agent_with(&self, login: IdentityAssertion) -> OAuthClient {
        OAuthClient::builder("jag-agent")
            .authorization_server(self.authorization.base.clone())
            .client_credentials(AGENT, AGENT_SECRET)
            .login(Login::IdentityAssertion(login))
            .build()
            .unwrap()
    }
}
