//! The two-line server: `QuickServer::new(host, port).superuser(u, p).run()`.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::secret::Password;

use crate::app::AuthServer;
use crate::config::ServerConfig;
use crate::http::serve;
use crate::startup::StartError;
use crate::storage::{self, Storage};

/// An authorization server with defaults, for the common case; see the
/// crate documentation.
pub struct QuickServer {
    host: String,
    port: u16,
    issuer: Option<String>,
    superuser: Option<(String, Password)>,
    storage: Option<Arc<dyn Storage>>,
    tweak: Option<Box<dyn FnOnce(ServerConfig) -> ServerConfig>>,
}

/// A server started by [`QuickServer::start`].
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its issuer URL.
    pub issuer: String,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    maintenance: tokio::task::JoinHandle<()>,
}

impl QuickServer {
    /// A server for `host:port` (port 0 picks a free one) with in-memory
    /// storage and issuer `http://host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            issuer: None,
            superuser: None,
            storage: None,
            tweak: None,
        }
    }

    /// The user who can log in.
    pub fn superuser(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.superuser = Some((username.into(), Password::new(password.into())));
        self
    }

    /// A public issuer URL (behind a proxy); emitted exactly as given.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Storage by specification (`memory`, `sqlite:PATH`, `postgres://…`).
    pub async fn storage(mut self, spec: &str) -> Result<Self, StartError> {
        self.storage = Some(storage::open(spec).await?);
        Ok(self)
    }

    /// Any other configuration.
    pub fn configure(mut self, f: impl FnOnce(ServerConfig) -> ServerConfig + 'static) -> Self {
        self.tweak = Some(Box::new(f));
        self
    }

    /// Binds and starts serving in the background.
    pub async fn start(self) -> Result<RunningServer, StartError> {
        let listener = TcpListener::bind((self.host.as_str(), self.port))?;
        let addr = listener.local_addr()?;
        let issuer = self.issuer.unwrap_or_else(|| match addr {
            SocketAddr::V6(a) => format!("http://[{}]:{}", a.ip(), a.port()),
            SocketAddr::V4(a) => format!("http://{a}"),
        });
        let mut config = ServerConfig::new(
            Issuer::parse(issuer.clone()).map_err(|e| StartError::Config(e.to_string()))?,
        );
        config.superuser = self.superuser;
        if let Some(f) = self.tweak {
            config = f(config);
        }
        let storage = self
            .storage
            .unwrap_or_else(|| Arc::new(storage::MemoryStorage::new()));
        let state = AuthServer::new(config, storage).await?;
        let maintenance = state.spawn_maintenance();
        let server = serve(state, listener)?;
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(RunningServer {
            addr,
            issuer,
            handle,
            task,
            maintenance,
        })
    }

    /// Starts and serves until SIGINT/SIGTERM.
    pub async fn run(self) -> Result<(), StartError> {
        self.start().await?.wait().await
    }
}

impl RunningServer {
    /// Waits until the server stops (on SIGINT/SIGTERM or [`Self::stop`]).
    pub async fn wait(self) -> Result<(), StartError> {
        let result = self.task.await;
        self.maintenance.abort();
        match result {
            Ok(r) => r.map_err(StartError::Io),
            Err(e) => Err(StartError::Io(std::io::Error::other(e))),
        }
    }

    /// Stops gracefully: in-flight requests finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.maintenance.abort();
    }
}
