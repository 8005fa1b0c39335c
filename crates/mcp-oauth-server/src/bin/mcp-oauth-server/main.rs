//! `mcp-oauth-server`: the authorization server binary and its admin
//! subcommands. Run `mcp-oauth-server --help`.

mod cli;
mod commands;
mod secret_files;

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, LogFormat};
use commands::{Command, KeyCommand, say};
use mcp_oauth_core::secret::random_base64url;
use mcp_oauth_server::storage;
use mcp_oauth_server::{AppState, now, serve};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
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
            eprintln!("error: {e}");
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

async fn run(command: Command, mut settings: cli::Settings) -> Result<(), String> {
    let shown_storage = secret_files::redacted(&settings.storage);
    let storage = storage::open(&settings.storage).await.map_err(|e| {
        // The backend's message may quote the URL: never its password.
        let reason = e.to_string().replace(&settings.storage, &shown_storage);
        format!("storage {shown_storage}: {reason}")
    })?;
    match command {
        Command::Serve => {
            let listener =
                TcpListener::bind((settings.host.as_str(), settings.port)).map_err(|e| {
                    format!("cannot listen on {}:{}: {e}", settings.host, settings.port)
                })?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let issuer = match &settings.explicit_issuer {
                Some(issuer) => issuer.clone(),
                None if addr.ip().is_unspecified() => {
                    return Err(format!(
                        "listening on every address ({addr}) needs --issuer: the public URL \
                         clients reach this server at (https in production)"
                    ));
                }
                None => format!("http://{addr}"),
            };
            raise_descriptor_limit();
            if !settings.config_template.has_superuser()
                && storage.users().await.map_err(|e| e.to_string())?.is_empty()
            {
                let password = random_base64url(18).map_err(|e| e.to_string())?;
                say(&format!(
                    "No users yet: created superuser \"admin\" with password {password}\n\
                     (shown once; change it with `mcp-oauth-server user add admin --password ...`)"
                ));
                settings
                    .config_template
                    .set_superuser("admin".into(), password);
            }
            let config = settings.config_template.build(&issuer)?;
            let state = AppState::new(config, storage)
                .await
                .map_err(|e| e.to_string())?;
            let auto_approve = state.config.dev_auto_approve.clone();
            let server = serve(state.clone(), listener).map_err(|e| e.to_string())?;
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
            let result = server.await.map_err(|e| e.to_string());
            maintenance.abort();
            tracing::info!("authorization server stopped");
            result
        }
        Command::User(cmd) => commands::user(cmd, storage.as_ref()).await,
        Command::Client(cmd) => commands::client(cmd, storage.as_ref()).await,
        Command::Key(cmd) => {
            let issuer = admin_issuer(&settings);
            let config = settings.config_template.build(&issuer)?;
            let max_life = config.access_token_ttl.as_secs();
            let state = AppState::new(config, storage.clone())
                .await
                .map_err(|e| e.to_string())?;
            match cmd {
                KeyCommand::Rotate => {
                    let kid = state
                        .keys
                        .rotate(storage.as_ref(), max_life, now())
                        .await
                        .map_err(|e| e.to_string())?;
                    say(&format!(
                        "new signing key {kid}; restart running servers to sign with it"
                    ));
                }
                KeyCommand::List => {
                    for k in storage.signing_keys().await.map_err(|e| e.to_string())? {
                        let status = k
                            .retired_at
                            .map_or("active".to_owned(), |t| format!("retired at {t}"));
                        say(&format!(
                            "{}\t{}\tcreated {}\t{status}",
                            k.kid, k.alg, k.created_at
                        ));
                    }
                }
            }
            Ok(())
        }
        Command::Token(cmd) => {
            let issuer = admin_issuer(&settings);
            let config = settings.config_template.build(&issuer)?;
            let state = AppState::new(config, storage)
                .await
                .map_err(|e| e.to_string())?;
            commands::token(cmd, state).await
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

/// The issuer admin commands verify tokens against: the configured one, or
/// what `serve` would use by default.
fn admin_issuer(settings: &cli::Settings) -> String {
    settings
        .explicit_issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", settings.host, settings.port))
}
