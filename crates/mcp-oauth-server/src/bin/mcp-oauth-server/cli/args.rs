//! The command line: the flags and variables only it reads, and the
//! subcommands.

use std::path::PathBuf;

use clap::{Args, Parser};

use super::options::Options;
use crate::commands::Command;

/// The OAuth 2.1 authorization server for MCP.
///
/// Starts on 127.0.0.1:9000 with an embedded SQLite database
/// (./mcp-oauth.db) holding clients, tokens, signing keys and users. At
/// first start without a configured superuser, a user `admin` with a
/// generated password is created and the password printed once.
#[derive(Debug, Parser)]
#[command(name = "mcp-oauth-server", version, about, long_about)]
pub(crate) struct Cli {
    /// TOML configuration file (lowest precedence after defaults).
    #[arg(long, env = "MCP_OAUTH_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The settings given as flags or environment variables.
    #[command(flatten)]
    pub options: Options,
    /// Secrets given as files.
    #[command(flatten)]
    pub secret_files: SecretFiles,
    /// TEST-ONLY: approve every valid authorization request as USER without
    /// a login page (automated conformance runs). Refused unless the server
    /// listens on a loopback address; every approval is logged as a warning.
    #[arg(long, env = "MCP_OAUTH_DEV_AUTO_APPROVE", value_name = "USER")]
    pub dev_auto_approve: Option<String>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Secrets read from files (flags and environment only): arguments are
/// visible to every user of the machine, files can be kept private.
#[derive(Debug, Default, Args)]
pub(crate) struct SecretFiles {
    /// The PostgreSQL password, from this file (keeps it out of the URL,
    /// the process list and the environment).
    #[arg(long, env = "MCP_OAUTH_STORAGE_PASSWORD_FILE", global = true)]
    pub storage_password_file: Option<PathBuf>,
    /// Superuser password, from this file.
    #[arg(long, env = "MCP_OAUTH_SUPERUSER_PASSWORD_FILE")]
    pub superuser_password_file: Option<PathBuf>,
    /// The initial access token, from this file.
    #[arg(long, env = "MCP_OAUTH_INITIAL_ACCESS_TOKEN_FILE")]
    pub initial_access_token_file: Option<PathBuf>,
    /// The `/metrics` token, from this file.
    #[arg(long, env = "MCP_OAUTH_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// The admin API's static token, from this file.
    #[arg(long, env = "MCP_OAUTH_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
}
