//! The admin subcommands: users, clients, signing keys, tokens. Each acts
//! on the storage directly (run it beside the server, or on the same
//! PostgreSQL database), and what it changes takes effect on every running
//! instance at their next storage read.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use mcp_oauth_core::registration::ClientAuthMethod;
use mcp_oauth_core::secret::ClientSecret;
use mcp_oauth_server::AuthServer;
use mcp_oauth_server::Revoked;
use mcp_oauth_server::admin::clients::{
    ClientAdminError, NewClient, create_client, describe_client, list_clients, remove_client,
    rotate_secret,
};
use mcp_oauth_server::admin::{
    generate_password, list_users, remove_user, revoke_subject, set_password,
};
use mcp_oauth_server::clock::{Clock, SystemClock};
use mcp_oauth_server::storage::Storage;
use mcp_oauth_server::{Actor, AuditKind, Auditor};

use crate::command_error::CommandError;
pub(crate) use crate::output::say;

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage users who can log in.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage clients: create the trusted ones, list, show, remove.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage issued tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// See and revoke what people allowed clients to do.
    #[command(subcommand)]
    Grant(crate::accounts::GrantCommand),
    /// See and end people's browser sessions.
    #[command(subcommand)]
    Session(crate::accounts::SessionCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(crate::accounts::AuditCommand),
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user, or set a user's password (which ends their sessions and
    /// grants). The password comes from `--password-file`, else
    /// `--password` (visible in the process list), else
    /// `MCP_OAUTH_USER_PASSWORD`, else is generated and printed.
    Add {
        /// User name.
        username: String,
        /// Password.
        #[arg(long, env = "MCP_OAUTH_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Password, from this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Remove a user, ending their sessions and grants.
    Remove {
        /// User name.
        username: String,
    },
    /// End everything a user (or a federated person, `provider:subject`)
    /// holds: sessions, refresh tokens, codes; introspection reports their
    /// access tokens inactive. They must sign in again.
    Revoke {
        /// User name, or a federated subject.
        subject: String,
    },
    /// List users.
    List,
}

/// `client` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Create a client the server trusts (the only kind that may use
    /// `client_credentials`, introspect as a resource server, or post
    /// passwords headlessly). Prints its id and secret; the secret is shown
    /// once.
    Add(ClientAdd),
    /// List clients (trusted and registered).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// Client id.
        client_id: String,
    },
    /// Remove a client.
    Remove {
        /// Client id.
        client_id: String,
    },
    /// Give a trusted confidential client a new secret (printed once); the
    /// old one stops working at once.
    RotateSecret {
        /// Client id.
        client_id: String,
    },
}

/// How a new client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AuthArg {
    /// A public client (no secret).
    None,
    /// A secret in HTTP Basic.
    ClientSecretBasic,
    /// A secret in the form body.
    ClientSecretPost,
    /// A signed JWT (RFC 7523) with keys from `--jwks-uri` or `--jwks-file`.
    PrivateKeyJwt,
}

/// `client add` arguments.
#[derive(Debug, Args)]
pub(crate) struct ClientAdd {
    /// Display name (shown on consent pages).
    name: String,
    /// Client id (default: generated).
    #[arg(long)]
    id: Option<String>,
    /// How it authenticates (default: client-secret-basic, or none with
    /// `--public`).
    #[arg(long, value_enum)]
    auth: Option<AuthArg>,
    /// A public client (same as `--auth none`).
    #[arg(long)]
    public: bool,
    /// A redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// A grant it may use: authorization_code, refresh_token,
    /// client_credentials, device_code, jwt_bearer (identity assertion
    /// grants of the trusted enterprise providers), token_exchange (RFC
    /// 8693, confidential clients only) (repeatable; default: the code and refresh grants
    /// with redirect URIs, else client_credentials).
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// A scope it may ask for (repeatable; default: all supported).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// A resource its tokens may name (repeatable; default: any). For a
    /// resource server: a resource it serves.
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// A resource server: may introspect the tokens of its resources.
    #[arg(long)]
    resource_server: bool,
    /// A first-party agent: may post a user's password as JSON.
    #[arg(long)]
    headless_login: bool,
    /// JWK Set URL (private_key_jwt).
    #[arg(long)]
    jwks_uri: Option<String>,
    /// JWK Set file (private_key_jwt).
    #[arg(long)]
    jwks_file: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// `key` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Generate the next signing key. It is published at once and signs
    /// after `--key-publish-ahead-hours` (a day by default), at every
    /// running server within a minute of that time; the old key stops
    /// signing then and stays published until its tokens expire.
    Rotate {
        /// Sign with the new key at once (for a key no longer trusted):
        /// verifiers holding a cached JWKS must fetch it again.
        #[arg(long)]
        now: bool,
    },
    /// List signing keys.
    List,
    /// Withdraw a retired key (one that no longer signs) from `/jwks` at
    /// once: the tokens it signed stop verifying. For a key you no longer
    /// trust; the active key cannot be withdrawn (rotate first). Other
    /// running servers drop it within a minute.
    Retire {
        /// The key's `kid`.
        kid: String,
    },
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Revoke an access token or a refresh token (and its whole family).
    Revoke {
        /// The token, or `-` to read it from standard input (keeps it out
        /// of the process list and shell history).
        token: String,
    },
}

/// Runs a `user` subcommand.
/// Records an operator's change in the audit trail.
async fn audited(audit: &Auditor, kind: AuditKind, subject: &str) {
    audit
        .record(kind.entry().subject(subject).by(&Actor::Operator))
        .await;
}

pub(crate) async fn user(
    cmd: UserCommand,
    storage: &dyn Storage,
    audit: &Auditor,
) -> Result<(), CommandError> {
    match cmd {
        UserCommand::Add {
            username,
            password,
            password_file,
        } => {
            let password = match password_file {
                Some(path) => Some(crate::secret_files::read_secret(&path, "password file")?),
                None => password,
            };
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (generate_password()?.into_secret(), true),
            };
            let existed = set_password(storage, &username, &password, SystemClock.now()).await?;
            let kind = if existed {
                AuditKind::PasswordChanged
            } else {
                AuditKind::UserAdded
            };
            audited(audit, kind, &username).await;
            let what = if existed {
                "password changed; their sessions and grants are ended"
            } else {
                "saved"
            };
            if generated {
                say(&format!("user {username} {what}; password: {password}"));
            } else {
                say(&format!("user {username} {what}"));
            }
            Ok(())
        }
        UserCommand::Remove { username } => {
            if remove_user(storage, &username, SystemClock.now()).await? {
                audited(audit, AuditKind::UserRemoved, &username).await;
                say(&format!(
                    "user {username} removed; their sessions and grants are ended"
                ));
                Ok(())
            } else {
                Err(CommandError::NoUser(username))
            }
        }
        UserCommand::Revoke { subject } => {
            revoke_subject(storage, &subject, SystemClock.now()).await?;
            audited(audit, AuditKind::SubjectRevoked, &subject).await;
            say(&format!(
                "{subject}: sessions and grants ended; they must sign in again"
            ));
            Ok(())
        }
        UserCommand::List => {
            for u in list_users(storage).await? {
                say(&u);
            }
            Ok(())
        }
    }
}

/// The CLI's own words for the library's refusals.
fn client_error(e: ClientAdminError) -> CommandError {
    match e {
        ClientAdminError::Grant(g) => CommandError::Grant(g),
        ClientAdminError::Invalid(why) => CommandError::InvalidClient(why),
        ClientAdminError::Exists(id) => CommandError::ClientExists(id),
        ClientAdminError::NotFound(id) => CommandError::NoClient(id),
        ClientAdminError::NoSecretToRotate(id) => CommandError::NoSecretToRotate(id),
        ClientAdminError::Randomness(e) => CommandError::Randomness(e),
        ClientAdminError::Storage(e) => CommandError::Storage(e),
        other => CommandError::InvalidClient(other.to_string()),
    }
}

async fn add_client(
    args: ClientAdd,
    storage: &dyn Storage,
    audit: &Auditor,
) -> Result<(), CommandError> {
    let auth = match (args.auth, args.public) {
        (Some(AuthArg::None), _) | (None, true) => ClientAuthMethod::None,
        (Some(_), true) => return Err(CommandError::PublicWithAuth),
        (Some(AuthArg::ClientSecretPost), _) => ClientAuthMethod::ClientSecretPost,
        (Some(AuthArg::PrivateKeyJwt), _) => ClientAuthMethod::PrivateKeyJwt,
        (Some(AuthArg::ClientSecretBasic), _) | (None, false) => {
            ClientAuthMethod::ClientSecretBasic
        }
    };
    let jwks = match &args.jwks_file {
        Some(path) => Some(
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path).map_err(
                |source| CommandError::JwksRead {
                    path: path.clone(),
                    source,
                },
            )?)
            .map_err(|source| CommandError::JwksParse {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let mut request = NewClient::named(args.name);
    request.client_id = args.id;
    request.token_endpoint_auth_method = Some(auth);
    request.redirect_uris = args.redirect_uris;
    request.grant_types = args.grants;
    request.scopes = args.scopes;
    request.resources = args.resources;
    request.resource_server = args.resource_server;
    request.headless_login = args.headless_login;
    request.jwks = jwks;
    request.jwks_uri = args.jwks_uri;
    let created = create_client(storage, request, SystemClock.now())
        .await
        .map_err(client_error)?;
    let id = created.client_id;
    audited(audit, AuditKind::ClientCreated, &id).await;
    let secret = created.client_secret.map(ClientSecret::into_secret);
    if args.json {
        say(&serde_json::json!({"client_id": id, "client_secret": secret}).to_string());
    } else {
        say(&format!("client {id} created (trusted)"));
        if let Some(secret) = secret {
            say(&format!(
                "client secret: {secret}\n(shown once; keep it safe)"
            ));
        }
    }
    Ok(())
}

/// Runs a `client` subcommand.
pub(crate) async fn client(
    cmd: ClientCommand,
    storage: &dyn Storage,
    audit: &Auditor,
) -> Result<(), CommandError> {
    match cmd {
        ClientCommand::Add(args) => add_client(args, storage, audit).await,
        ClientCommand::List { json } => {
            for c in list_clients(storage).await? {
                if json {
                    say(&serde_json::to_value(&c)?.to_string());
                } else {
                    say(&format!(
                        "{}\t{}\t{}\t{}\t{}",
                        c.client_id,
                        c.client_name.as_deref().unwrap_or("-"),
                        if c.trusted { "trusted" } else { "registered" },
                        c.token_endpoint_auth_method,
                        c.redirect_uris.join(" ")
                    ));
                }
            }
            Ok(())
        }
        ClientCommand::Show { client_id } => {
            let c = describe_client(storage, &client_id)
                .await
                .map_err(client_error)?;
            say(&serde_json::to_string_pretty(&serde_json::to_value(&c)?)?);
            Ok(())
        }
        ClientCommand::Remove { client_id } => {
            remove_client(storage, &client_id, SystemClock.now())
                .await
                .map_err(client_error)?;
            audited(audit, AuditKind::ClientRemoved, &client_id).await;
            say(&format!("client {client_id} removed"));
            Ok(())
        }
        ClientCommand::RotateSecret { client_id } => {
            let rotated = rotate_secret(storage, &client_id)
                .await
                .map_err(client_error)?;
            audited(audit, AuditKind::ClientSecretRotated, &client_id).await;
            say(&format!(
                "client {client_id}: new secret: {}\n(shown once; the old one no longer works)",
                rotated.client_secret.secret()
            ));
            Ok(())
        }
    }
}

/// Runs a `token` subcommand.
pub(crate) async fn token(cmd: TokenCommand, state: Arc<AuthServer>) -> Result<(), CommandError> {
    let TokenCommand::Revoke { token } = cmd;
    let token = if token == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(CommandError::ReadToken)?;
        line.trim().to_owned()
    } else {
        token
    };
    let revoked = state.revoke_token(&token, None).await?;
    if let Revoked::AccessToken { client_id } | Revoked::RefreshFamily { client_id } = &revoked {
        let entry = AuditKind::TokenRevoked.entry().client(client_id);
        state.audit().record(entry.by(&Actor::Operator)).await;
    }
    match revoked {
        Revoked::AccessToken { client_id } => say(&format!("access token of {client_id} revoked")),
        Revoked::RefreshFamily { client_id } => {
            say(&format!("refresh token family of {client_id} revoked"))
        }
        _ => return Err(CommandError::UnknownToken),
    }
    Ok(())
}
