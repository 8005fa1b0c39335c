//! Helpers for the integration tests: start servers on loopback port 0 and
//! drive them with a real HTTP client.

use std::net::TcpListener;
use std::sync::Arc;

use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::secret::Password;
use mcp_oauth_server::clock::{Clock, SystemClock};
use mcp_oauth_server::{
    AuthServer, OperatorClient, ServerConfig, serve, storage::MemoryStorage, storage::Storage,
};

/// Superuser name of test servers.
pub const USER: &str = "alice";
/// Superuser password of test servers.
pub const PASSWORD: &str = "correct horse battery staple";
/// The resource most tests ask tokens for.
pub const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
/// The resource server every test server trusts to introspect the tokens
/// of [`RESOURCE`].
pub const RS_ID: &str = "test-rs";
/// Its secret.
pub const RS_SECRET: &str = "test-rs-secret-0123456789";
/// The bearer token of `/metrics` on test servers.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// A first-party agent every test server trusts: a public client allowed
/// the headless password login, redirecting to the loopback callback.
pub const AGENT_ID: &str = "test-agent-client";

/// The client of [`AGENT_ID`], for configurations.
pub fn headless_agent() -> OperatorClient {
    OperatorClient::public(AGENT_ID, ["http://127.0.0.1/callback"]).headless_login()
}

/// The resource server of [`RS_ID`], for configurations.
pub fn test_resource_server() -> OperatorClient {
    OperatorClient::resource_server(
        RS_ID,
        RS_SECRET,
        [ResourceUri::parse(RESOURCE).expect("resource")],
    )
}

/// A running authorization server.
pub struct TestServer {
    /// Its issuer / base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its storage, for assertions and restarts.
    pub storage: Arc<dyn Storage>,
    /// The server itself, for what a test drives directly (maintenance
    /// rounds, key rotation).
    pub server: Arc<AuthServer>,
    handle: actix_web::dev::ServerHandle,
}

impl TestServer {
    /// Starts a server with in-memory storage; `tweak` adjusts the config.
    pub async fn start(tweak: impl FnOnce(ServerConfig) -> ServerConfig) -> Self {
        Self::start_with(Arc::new(MemoryStorage::new()), tweak).await
    }

    /// Starts a server on the given storage.
    pub async fn start_with(
        storage: Arc<dyn Storage>,
        tweak: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        Self::start_on(0, storage, tweak).await
    }

    /// Starts a server on a given port (0: any) and storage; a restart on
    /// the same port keeps the issuer.
    pub async fn start_on(
        port: u16,
        storage: Arc<dyn Storage>,
        tweak: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
        Self::start_listening(listener, storage, tweak).await
    }

    /// Starts a server with in-memory storage on `clock`, which the test
    /// moves.
    pub async fn start_on_clock(
        clock: Arc<ManualClock>,
        tweak: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind loopback");
        Self::start_full(listener, Arc::new(MemoryStorage::new()), clock, tweak).await
    }

    /// Starts a server on `storage` and `clock`, which the test moves; a
    /// second instance started on the same storage and clock (with the
    /// first one's issuer) stands for several instances behind one name.
    pub async fn start_on_clock_with(
        storage: Arc<dyn Storage>,
        clock: Arc<ManualClock>,
        tweak: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind loopback");
        Self::start_full(listener, storage, clock, tweak).await
    }

    /// Starts a server on a listener bound beforehand, for tests that must
    /// know the address first (to register it somewhere).
    pub async fn start_listening(
        listener: TcpListener,
        storage: Arc<dyn Storage>,
        tweak: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        Self::start_full(listener, storage, Arc::new(SystemClock), tweak).await
    }

    async fn start_full(
        listener: TcpListener,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        let port = listener.local_addr().expect("local addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let config = tweak(
            ServerConfig::new(Issuer::parse(base.clone()).expect("issuer"))
                .superuser(USER, Password::new(PASSWORD))
                .client(test_resource_server())
                .client(headless_agent())
                .metrics_token(METRICS_TOKEN),
        );
        let state = AuthServer::with_clock(config, storage.clone(), clock)
            .await
            .expect("state");
        let server = serve(state.clone(), listener).expect("serve");
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base,
            storage,
            server: state,
            handle,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `/metrics` exposition (with the test metrics token).
    pub async fn metrics(&self) -> String {
        http()
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// How many requests to `endpoint` (a path such as `/token`) it has
    /// answered, whatever their status, from its metrics.
    pub async fn requests_to(&self, endpoint: &str) -> usize {
        let prefix = format!("mcp_oauth_http_requests_total{{endpoint=\"{endpoint}\"");
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|n| n as usize)
            .sum()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// The value of a hidden form field of a page.
pub fn form_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

/// `name=value` of the `Set-Cookie` header for `name`.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// Signs in on the login page as a person would: opens `authorize_url`
/// (a full `/authorize` URL), reads the form and its CSRF cookie, and
/// posts the credentials. Returns the answer to the post (a redirect back
/// to the client on success).
pub async fn form_login(authorize_url: &str, user: &str, password: &str) -> reqwest::Response {
    let page = http().get(authorize_url).send().await.expect("authorize");
    assert_eq!(page.status(), 200, "the login page");
    let cookie = set_cookie(&page, "mcp_oauth_csrf").expect("a CSRF cookie");
    let login = url::Url::parse(page.url().as_str())
        .expect("url")
        .join("login")
        .expect("login url");
    let html = page.text().await.expect("page");
    let request = form_field(&html, "request").expect("request field");
    let csrf = form_field(&html, "csrf").expect("csrf field");
    http()
        .post(login)
        .header("cookie", cookie)
        .form(&[
            ("username", user),
            ("password", password),
            ("request", &request),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("login")
}

/// An HTTP client that does not follow redirects (a test reads them).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Seconds since the Unix epoch, on the server's system clock.
pub fn now() -> u64 {
    SystemClock.now()
}

/// A clock a test moves by hand, starting at the system's time.
#[derive(Debug)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// A clock at the current system time.
    pub fn start() -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicU64::new(now())))
    }

    /// Moves the clock `secs` seconds forward.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
