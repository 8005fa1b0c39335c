//! `mcp-oauth-server`: the authorization server binary and its admin
//! subcommands. Run `mcp-oauth-server --help`.

mod accounts;
mod cli;
mod command_error;
mod commands;
mod output;
mod secret_files;

use std::error::Error;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, ConfigError, LogFormat};
use command_error::CommandError;
use commands::{Command, KeyCommand, say};
use mcp_oauth_core::secret::{RandomnessError, random_base64url};
use mcp_oauth_server::admin::keys::list_keys;
use mcp_oauth_server::keys::{KeyError, Withdrawal};
use mcp_oauth_server::storage::{self, StorageError};
use mcp_oauth_server::{Actor, AuditKind, AuditLog, Auditor, AuthServer, StartError, serve};

/// The server or an admin subcommand failed.
#[derive(Debug, thiserror::Error)]
enum RunError {
    /// The storage could not be opened. The reason is the backend's
    /// message with the URL's password replaced: the error itself may
    /// quote it, so it is not kept.
    #[error("storage {shown}: {reason}")]
    Storage {
        /// The storage URL as it may be shown.
        shown: String,
        /// Why, redacted.
        reason: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {host}:{port}")]
    Listen {
        /// The address asked for.
        host: String,
        /// The port asked for.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Listening on every address without a public issuer.
    #[error(
        "listening on every address ({0}) needs --issuer: the public URL clients reach this \
         server at (https in production)"
    )]
    NeedsIssuer(SocketAddr),
    /// A setting is refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Storage failed.
    #[error(transparent)]
    StorageFailed(#[from] StorageError),
    /// A signing key could not be made or read.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// No password could be generated.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The socket or the running server failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An admin subcommand failed.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// `error`, then each cause it does not already quote, joined by `: `.
fn report(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            return ExitCode::from(2);
        }
    };
    init_logging(&settings.log_level, settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(command: Command, mut settings: cli::Settings) -> Result<(), RunError> {
    let shown_storage = secret_files::redacted(&settings.storage);
    let storage = storage::open(&settings.storage)
        .await
        .map_err(|e| RunError::Storage {
            // The backend's message may quote the URL: never its password.
            reason: report(&e).replace(&settings.storage, &shown_storage),
            shown: shown_storage.clone(),
        })?;
    match command {
        Command::Serve => {
            let listener =
                TcpListener::bind((settings.host.as_str(), settings.port)).map_err(|source| {
                    RunError::Listen {
                        host: settings.host.clone(),
                        port: settings.port,
                        source,
                    }
                })?;
            let addr = listener.local_addr()?;
            let issuer = match &settings.explicit_issuer {
                Some(issuer) => issuer.clone(),
                None if addr.ip().is_unspecified() => return Err(RunError::NeedsIssuer(addr)),
                None => format!("http://{addr}"),
            };
            raise_descriptor_limit();
            if !settings.config_template.has_superuser() && storage.users().await?.is_empty() {
                let password = random_base64url(18)?;
                say(&format!(
                    "No users yet: created superuser \"admin\" with password {password}\n\
                     (shown once; change it with `mcp-oauth-server user add admin --password ...`)"
                ));
                settings
                    .config_template
                    .set_superuser("admin".into(), password);
            }
            let config = settings.config_template.build(&issuer)?;
            let state = AuthServer::new(config, storage).await?;
            let auto_approve = state.config().dev_auto_approve.clone();
            let server = serve(state.clone(), listener)?;
            let maintenance = state.spawn_maintenance();
            tracing::info!(%addr, %issuer, storage = %shown_storage, "authorization server listening");
            say(&format!(
                "mcp-oauth-server: issuer {issuer}, listening on {addr}"
            ));
            if !addr.ip().is_loopback() && issuer.starts_with("http://") {
                tracing::warn!(%addr, %issuer, "plain-http issuer on a non-loopback listener: passwords and tokens travel unencrypted");
                say(&format!(
                    "WARNING: {addr} is reachable from other machines but the issuer {issuer} is plain \
                     http: passwords, codes and tokens travel unencrypted and cookies are not Secure. \
                     Put TLS in front and set --issuer https://…"
                ));
            }
            if let Some(user) = &auto_approve {
                tracing::warn!(%user, "DEV AUTO-APPROVE is on: every authorization request is approved without a person");
                say(&format!(
                    "WARNING: --dev-auto-approve is on: every authorization request is approved as \
                     {user:?} without a login page. For tests only."
                ));
            }
            let result = server.await.map_err(RunError::from);
            maintenance.abort();
            tracing::info!("authorization server stopped");
            result
        }
        Command::User(cmd) => {
            let audit = admin_auditor(&settings, &storage)?;
            Ok(commands::user(cmd, storage.as_ref(), &audit).await?)
        }
        Command::Client(cmd) => {
            let audit = admin_auditor(&settings, &storage)?;
            Ok(commands::client(cmd, storage.as_ref(), &audit).await?)
        }
        Command::Key(cmd) => {
            let state = admin_server(&settings, storage.clone()).await?;
            match cmd {
                KeyCommand::Rotate { now } => {
                    let next = state.rotate_signing_key(now).await?;
                    let entry = AuditKind::KeyRotated.entry().subject(&next.kid);
                    state.audit().record(entry.by(&Actor::Operator)).await;
                    let wait = next.activates_at.saturating_sub(state.now());
                    say(&format!(
                        "new signing key {kid}, published now; it signs {when} (running servers switch within a minute of that)",
                        kid = next.kid,
                        when = if wait == 0 {
                            "from now".to_owned()
                        } else {
                            format!("from {} (in {wait} s)", next.activates_at)
                        },
                    ));
                }
                KeyCommand::Retire { kid } => match state.retire_signing_key(&kid).await? {
                    Withdrawal::Withdrawn => {
                        let entry = AuditKind::KeyRetired.entry().subject(&kid);
                        state.audit().record(entry.by(&Actor::Operator)).await;
                        say(&format!(
                            "key {kid} withdrawn: no longer published; the tokens it signed no longer verify"
                        ));
                    }
                    Withdrawal::Active => return Err(CommandError::ActiveKey(kid).into()),
                    _ => return Err(CommandError::NoKey(kid).into()),
                },
                KeyCommand::List => {
                    for k in list_keys(storage.as_ref(), state.now()).await? {
                        let until = k
                            .retired_at
                            .map_or(String::new(), |t| format!("\tuntil {t}"));
                        say(&format!(
                            "{}\t{}\t{}\tcreated {}\tsigns from {}{until}{}",
                            k.kid,
                            k.alg,
                            k.status.as_str(),
                            k.created_at,
                            k.activates_at,
                            if k.encrypted { "\tencrypted" } else { "" },
                        ));
                    }
                }
            }
            Ok(())
        }
        Command::Token(cmd) => {
            Ok(commands::token(cmd, admin_server(&settings, storage).await?).await?)
        }
        Command::Grant(cmd) => {
            Ok(accounts::grant(cmd, &*admin_server(&settings, storage).await?).await?)
        }
        Command::Session(cmd) => {
            Ok(accounts::session(cmd, &*admin_server(&settings, storage).await?).await?)
        }
        Command::Audit(cmd) => {
            Ok(accounts::audit(cmd, &*admin_server(&settings, storage).await?).await?)
        }
    }
}

/// Raises the soft file-descriptor limit to the hard one, so the server can
/// hold as many connections as the system allows (the connection cap is
/// derived from the limit, with room to spare).
fn raise_descriptor_limit() {
    #[cfg(unix)]
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "file-descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file-descriptor limit"),
    }
}

/// The configuration of an admin subcommand: the server's, except that
/// audit lines meant for standard output go to standard error (standard
/// output carries the subcommand's own answer: a secret, or JSON a script
/// parses).
fn admin_config(settings: &cli::Settings) -> Result<mcp_oauth_server::ServerConfig, RunError> {
    let mut config = settings.config_template.build(&admin_issuer(settings))?;
    if config.audit_log == Some(AuditLog::Stdout) {
        config.audit_log = Some(AuditLog::Stderr);
    }
    Ok(config)
}

/// The audit trail writer of the admin commands that act on storage
/// directly (their changes are recorded as the operator's).
fn admin_auditor(
    settings: &cli::Settings,
    storage: &std::sync::Arc<dyn storage::Storage>,
) -> Result<Auditor, RunError> {
    let config = admin_config(settings)?;
    Auditor::new(
        storage.clone(),
        std::sync::Arc::new(mcp_oauth_server::clock::SystemClock),
        config.audit_log.as_ref(),
    )
    .map_err(|source| {
        RunError::Start(StartError::AuditLog {
            path: match &config.audit_log {
                Some(AuditLog::File(path)) => path.clone(),
                _ => "stderr".into(),
            },
            source,
        })
    })
}

/// The server an admin command acts through (for its audit trail, and the
/// issuer tokens are verified against), on `storage`.
async fn admin_server(
    settings: &cli::Settings,
    storage: std::sync::Arc<dyn storage::Storage>,
) -> Result<std::sync::Arc<AuthServer>, RunError> {
    Ok(AuthServer::new(admin_config(settings)?, storage).await?)
}

/// The issuer admin commands verify tokens against: the configured one, or
/// what `serve` would use by default.
fn admin_issuer(settings: &cli::Settings) -> String {
    settings
        .explicit_issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", settings.host, settings.port))
}
