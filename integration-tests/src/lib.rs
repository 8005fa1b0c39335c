//! Helpers for the integration tests: start servers on loopback port 0 and
//! drive them with a real HTTP client.

use std::net::TcpListener;
use std::sync::Arc;

use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::secret::Password;
use mcp_oauth_server::{AppState, ServerConfig, serve, storage::MemoryStorage, storage::Storage};

/// Superuser name of test servers.
pub const USER: &str = "alice";
/// Superuser password of test servers.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running authorization server.
pub struct TestServer {
    /// Its issuer / base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its storage, for assertions and restarts.
    pub storage: Arc<dyn Storage>,
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

    /// Starts a server on a listener bound beforehand, for tests that must
    /// know the address first (to register it somewhere).
    pub async fn start_listening(
        listener: TcpListener,
        storage: Arc<dyn Storage>,
        tweak: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        let port = listener.local_addr().expect("local addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let config = tweak(
            ServerConfig::new(Issuer::parse(base.clone()).expect("issuer"))
                .superuser(USER, Password::new(PASSWORD)),
        );
        let state = AppState::new(config, storage.clone()).await.expect("state");
        let server = serve(state, listener).expect("serve");
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base,
            storage,
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

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// An HTTP client that does not follow redirects (a test reads them).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}
