//! What the workers do against the authorization server: one fixed request,
//! or a whole OAuth flow (returning user with a session, or a new client
//! with a password login).

use bytes::Bytes;
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::{Value, json};

use crate::BoxError;
use crate::load::{Conn, Scenario, Worker};

/// Superuser of the benchmarked servers.
pub(crate) const USER: &str = "bench";
/// Its password.
pub(crate) const PASSWORD: &str = "bench-password";
/// The redirect URI the benchmark clients register.
const REDIRECT: &str = "http://127.0.0.1/cb";

/// One request, sent over and over; any 2xx counts.
#[derive(Clone)]
pub(crate) struct Fixed {
    pub(crate) method: http::Method,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Fixed {
    /// The headers as `name: value` lines, as `scripts/bench-wrk/request.lua`
    /// reads them.
    pub(crate) fn header_lines(&self) -> String {
        self.headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[async_trait::async_trait]
impl Scenario for Fixed {
    async fn worker(&self, _conn: &mut Conn) -> Result<Box<dyn Worker>, BoxError> {
        Ok(Box::new(FixedWorker(Fixed {
            method: self.method.clone(),
            path: self.path.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        })))
    }
}

struct FixedWorker(Fixed);

#[async_trait::async_trait]
impl Worker for FixedWorker {
    async fn once(&mut self, conn: &mut Conn) -> Result<(), BoxError> {
        let f = &self.0;
        let headers: Vec<(&str, &str)> = f
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = conn
            .send(f.method.clone(), &f.path, &headers, f.body.clone())
            .await?;
        if r.status.is_success() {
            Ok(())
        } else {
            Err(format!("{} {}: HTTP {}", f.method, f.path, r.status).into())
        }
    }
}

/// Registers a public client; returns its id.
async fn register(conn: &mut Conn) -> Result<String, BoxError> {
    register_with(conn, &["authorization_code"]).await
}

/// Registers a public client allowed `grants`; returns its id.
async fn register_with(conn: &mut Conn, grants: &[&str]) -> Result<String, BoxError> {
    let r = conn
        .post_json(
            "/register",
            &[],
            &json!({"client_name": "bench agent", "redirect_uris": [REDIRECT],
                    "grant_types": grants, "token_endpoint_auth_method": "none"}),
        )
        .await?
        .expect(201, "register")?;
    let v: Value = serde_json::from_slice(&r.body)?;
    Ok(v["client_id"].as_str().ok_or("no client_id")?.to_owned())
}

/// `/authorize?…` for `client_id` with a fresh PKCE pair.
fn authorize_path(
    client_id: &str,
    resource: Option<&str>,
) -> Result<(String, PkceVerifier), BoxError> {
    let verifier = PkceVerifier::generate()?;
    let challenge = PkceChallenge::s256(&verifier);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "bench");
    if let Some(r) = resource {
        q.append_pair("resource", r);
    }
    Ok((format!("/authorize?{}", q.finish()), verifier))
}

/// The `code` of a redirect to the client.
fn code_of(location: &str) -> Result<String, BoxError> {
    url::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| format!("no code in {location}").into())
}

/// Redeems a code; returns the token response.
async fn redeem(
    conn: &mut Conn,
    client_id: &str,
    code: &str,
    verifier: &PkceVerifier,
) -> Result<Value, BoxError> {
    let r = conn
        .post_form(
            "/token",
            &[],
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", verifier.secret()),
                ("client_id", client_id),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await?
        .expect(200, "token")?;
    Ok(serde_json::from_slice(&r.body)?)
}

/// The `name=value` of a `Set-Cookie` for `name`.
fn cookie(r: &crate::load::Response, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// The value of a hidden form field.
fn field(html: &str, name: &str) -> Result<String, BoxError> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).ok_or("field not found")? + marker.len();
    let end = html[start..].find('"').ok_or("unterminated field")?;
    Ok(html[start..start + end].replace("&amp;", "&"))
}

/// Password login through the HTML form, as a browser: returns the session
/// cookie (the client's consent is recorded by this first login).
async fn browser_session(conn: &mut Conn, client_id: &str) -> Result<String, BoxError> {
    let (path, _) = authorize_path(client_id, None)?;
    let page = conn.get(&path, &[]).await?.expect(200, "login page")?;
    let csrf_cookie = cookie(&page, "mcp_oauth_csrf").ok_or("no csrf cookie")?;
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let r = conn
        .post_form(
            "/login",
            &[("cookie", &csrf_cookie)],
            &[
                ("username", USER),
                ("password", PASSWORD),
                ("request", &field(&html, "request")?),
                ("csrf", &field(&html, "csrf")?),
            ],
        )
        .await?
        .expect(302, "login")?;
    cookie(&r, "mcp_oauth_session").ok_or_else(|| "no session cookie".into())
}

/// A returning user: the browser has a session and the client has consent,
/// so a flow is `/authorize` (straight back with a code) + `/token`.
pub(crate) struct Returning;

#[async_trait::async_trait]
impl Scenario for Returning {
    async fn worker(&self, conn: &mut Conn) -> Result<Box<dyn Worker>, BoxError> {
        let client_id = register(conn).await?;
        let session = browser_session(conn, &client_id).await?;
        Ok(Box::new(ReturningWorker { client_id, session }))
    }
}

struct ReturningWorker {
    client_id: String,
    session: String,
}

#[async_trait::async_trait]
impl Worker for ReturningWorker {
    async fn once(&mut self, conn: &mut Conn) -> Result<(), BoxError> {
        let (path, verifier) = authorize_path(&self.client_id, None)?;
        let r = conn
            .get(&path, &[("cookie", &self.session)])
            .await?
            .expect(302, "authorize")?;
        let code = code_of(r.header("location"))?;
        redeem(conn, &self.client_id, &code, &verifier).await?;
        Ok(())
    }
}

/// The seed-equivalent flow: a new client registers, authorizes, the user
/// logs in with a password on the login page, the code is redeemed.
pub(crate) struct Password;

#[async_trait::async_trait]
impl Scenario for Password {
    async fn worker(&self, _conn: &mut Conn) -> Result<Box<dyn Worker>, BoxError> {
        Ok(Box::new(PasswordWorker))
    }
}

struct PasswordWorker;

#[async_trait::async_trait]
impl Worker for PasswordWorker {
    async fn once(&mut self, conn: &mut Conn) -> Result<(), BoxError> {
        let client_id = register(conn).await?;
        let (code, verifier) = form_login(conn, &client_id, None).await?;
        redeem(conn, &client_id, &code, &verifier).await?;
        Ok(())
    }
}

/// Signs in on the login page (no session kept): the code and verifier.
async fn form_login(
    conn: &mut Conn,
    client_id: &str,
    resource: Option<&str>,
) -> Result<(String, PkceVerifier), BoxError> {
    let (path, verifier) = authorize_path(client_id, resource)?;
    let page = conn.get(&path, &[]).await?.expect(200, "login page")?;
    let csrf_cookie = cookie(&page, "mcp_oauth_csrf").ok_or("no csrf cookie")?;
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let r = conn
        .post_form(
            "/login",
            &[("cookie", &csrf_cookie)],
            &[
                ("username", USER),
                ("password", PASSWORD),
                ("request", &field(&html, "request")?),
                ("csrf", &field(&html, "csrf")?),
            ],
        )
        .await?
        .expect(302, "login")?;
    Ok((code_of(r.header("location"))?, verifier))
}

/// An access token for `resource` through a login on the page.
pub(crate) async fn token_for(addr: &str, resource: Option<&str>) -> Result<String, BoxError> {
    let mut conn = Conn::open(addr).await?;
    let client_id = register(&mut conn).await?;
    let (code, verifier) = form_login(&mut conn, &client_id, resource).await?;
    let t = redeem(&mut conn, &client_id, &code, &verifier).await?;
    Ok(t["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned())
}

/// Refresh grants: each worker holds a refresh token (from one password
/// login at set-up) and redeems it over and over, keeping the rotated one.
pub(crate) struct Refresh;

#[async_trait::async_trait]
impl Scenario for Refresh {
    async fn worker(&self, conn: &mut Conn) -> Result<Box<dyn Worker>, BoxError> {
        let client_id = register_with(conn, &["authorization_code", "refresh_token"]).await?;
        let (code, verifier) = form_login(conn, &client_id, None).await?;
        let t = redeem(conn, &client_id, &code, &verifier).await?;
        let refresh_token = t["refresh_token"]
            .as_str()
            .ok_or("no refresh token")?
            .to_owned();
        Ok(Box::new(RefreshWorker {
            client_id,
            refresh_token,
        }))
    }
}

struct RefreshWorker {
    client_id: String,
    refresh_token: String,
}

#[async_trait::async_trait]
impl Worker for RefreshWorker {
    async fn once(&mut self, conn: &mut Conn) -> Result<(), BoxError> {
        let r = conn
            .post_form(
                "/token",
                &[],
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &self.refresh_token),
                    ("client_id", &self.client_id),
                ],
            )
            .await?
            .expect(200, "refresh")?;
        let t: Value = serde_json::from_slice(&r.body)?;
        self.refresh_token = t["refresh_token"]
            .as_str()
            .ok_or("no rotated refresh token")?
            .to_owned();
        Ok(())
    }
}
