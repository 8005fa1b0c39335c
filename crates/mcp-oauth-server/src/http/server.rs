//! Serving an [`AuthServer`]: mounting its routes into an actix-web app,
//! or running it on a listener with connection limits, in plain HTTP or
//! over TLS (HTTP/1.1).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::app::AuthServer;
use crate::startup::StartError;
use crate::tls::CertificateReloader;

/// Mounts the authorization server's routes into an actix-web app. The
/// paths are relative to the issuer's path, so mount this at the scope
/// that matches the issuer URL.
pub fn configure(state: Arc<AuthServer>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let issuer_path = state
            .config
            .issuer
            .url()
            .path()
            .trim_end_matches('/')
            .to_owned();
        let state_device_flow = state.config.device_flow;
        let admin_api = state.config.admin.enabled();
        let oidc = state.config.oidc;
        cfg.app_data(web::Data::from(state))
            .app_data(web::PayloadConfig::new(super::middleware::MAX_BODY_BYTES));
        super::routes(cfg, &issuer_path, state_device_flow, admin_api, oidc);
    }
}

/// Starts the server on an already bound listener (use port 0 in tests).
/// A configuration with `dev_auto_approve` is refused unless the listener
/// is on a loopback address.
pub fn serve(state: Arc<AuthServer>, listener: TcpListener) -> Result<Server, StartError> {
    start(state, listener, None)
}

/// Starts the server on an already bound listener, over TLS: each new
/// connection is offered the certificate `tls` holds at that moment (so a
/// [`CertificateReloader::reload`] reaches new connections and leaves open
/// ones alone), and ALPN offers `http/1.1` (HTTP/2 in
/// actix-web 4 brings h2 0.3, which has RUSTSEC-2026-0258 and no fixed 0.3
/// release). The reloader does
/// not watch its files by itself: see
/// [`CertificateReloader::watch_files`].
///
/// The issuer should be the `https://` URL clients reach this listener
/// at; the server does not check it.
pub fn serve_tls(
    state: Arc<AuthServer>,
    listener: TcpListener,
    tls: &Arc<CertificateReloader>,
) -> Result<Server, StartError> {
    start(state, listener, Some(tls.server_config()?))
}

/// [`serve`] or [`serve_tls`].
fn start(
    state: Arc<AuthServer>,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
) -> Result<Server, StartError> {
    let addr = listener.local_addr()?;
    if state.config.dev_auto_approve.is_some() && !addr.ip().is_loopback() {
        return Err(StartError::Config(format!(
            "dev_auto_approve approves every request without a person and is for tests only: \
             refusing it on {addr}, which is not a loopback address"
        )));
    }
    let limits = state.config.limits;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_worker = limits
        .max_connections
        .unwrap_or_else(connections_from_descriptor_limit)
        .div_ceil(workers)
        .max(1);
    let server = HttpServer::new(move || App::new().configure(configure(state.clone())))
        .workers(workers)
        .client_request_timeout(limits.head_timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(2))
        .keep_alive(limits.keep_alive)
        .max_connections(per_worker)
        .backlog(1024)
        .shutdown_timeout(10);
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// Connections the process can hold: its file-descriptor limit, less a
/// quarter (at least 64) kept for storage, outbound fetches and the
/// listener, so that a flood of connections is queued by the kernel rather
/// than running the process out of descriptors.
fn connections_from_descriptor_limit() -> usize {
    #[cfg(unix)]
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| {
        usize::try_from(soft).unwrap_or(usize::MAX)
    });
    #[cfg(not(unix))]
    let limit = 8192;
    let reserve = (limit / 4).max(64);
    limit.saturating_sub(reserve).clamp(16, 25_000)
}
