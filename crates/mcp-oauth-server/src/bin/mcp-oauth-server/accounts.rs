//! The `grant`, `session` and `audit` subcommands: who can act for whom,
//! ended on request; browser sessions; the audit trail. Tables for people,
//! `--json` (one object a line) for scripts.

use clap::Subcommand;
use mcp_oauth_server::clock::{Clock, SystemClock};
use mcp_oauth_server::storage::{AuditQuery, GrantFilter};
use mcp_oauth_server::{AccountError, Actor, AuthServer};

use crate::command_error::CommandError;
use crate::output::{say, table};

/// `grant` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// List live grants: who allowed which client, for which resource,
    /// with which scopes, since when and how.
    List {
        /// Only this user's (or federated `provider:subject`).
        #[arg(long)]
        user: Option<String>,
        /// Only this client's.
        #[arg(long)]
        client: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// End grants: the remembered consent, every refresh token, and (for
    /// introspection) the access tokens issued so far. Name a user, a
    /// client, or both; `--resource` narrows to one resource.
    Revoke {
        /// The user whose grants end.
        #[arg(long)]
        user: Option<String>,
        /// Only this client's grants (without `--user`: for every user).
        #[arg(long)]
        client: Option<String>,
        /// Only the grants for this resource (`""`: those that named none).
        #[arg(long)]
        resource: Option<String>,
    },
}

/// `session` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum SessionCommand {
    /// List a user's browser sessions on this server.
    List {
        /// The user.
        #[arg(long)]
        user: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// End all of a user's browser sessions (their grants stay).
    Revoke {
        /// The user.
        #[arg(long)]
        user: String,
    },
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit events, oldest first.
    List {
        /// Since a time: seconds since the epoch, or an age such as `30m`,
        /// `12h`, `7d`.
        #[arg(long)]
        since: Option<String>,
        /// Events by or about this user.
        #[arg(long)]
        user: Option<String>,
        /// Events by or about this client.
        #[arg(long)]
        client: Option<String>,
        /// Events of this type (`login_failed`, `grant_revoked`, …).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Only events after this position (paging).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many (up to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

/// Reads `--since`: epoch seconds, or an age (`90s`, `30m`, `12h`, `7d`).
pub(crate) fn since(text: &str, now: u64) -> Result<u64, CommandError> {
    if let Ok(at) = text.parse::<u64>() {
        return Ok(at);
    }
    let bad = || CommandError::Since(text.to_owned());
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(now.saturating_sub(n.saturating_mul(seconds)))
}

/// Runs a `grant` subcommand.
pub(crate) async fn grant(cmd: GrantCommand, server: &AuthServer) -> Result<(), CommandError> {
    let accounts = server.accounts();
    match cmd {
        GrantCommand::List { user, client, json } => {
            let mut filter = GrantFilter::all();
            filter.subject = user;
            filter.client_id = client;
            let grants = accounts.grants(&filter).await?;
            if json {
                for g in &grants {
                    say(&serde_json::to_string(g)?);
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = grants
                .iter()
                .map(|g| {
                    let r = &g.record;
                    vec![
                        r.subject.clone(),
                        r.client_id.clone(),
                        or_dash(&r.resource),
                        or_dash(&r.scope),
                        r.granted_at.to_string(),
                        format!(
                            "{}{}",
                            r.method.as_str(),
                            if r.device { "+device" } else { "" }
                        ),
                        if g.remembered { "yes" } else { "no" }.into(),
                        g.live_refresh_families.to_string(),
                    ]
                })
                .collect();
            table(
                &[
                    "USER",
                    "CLIENT",
                    "RESOURCE",
                    "SCOPE",
                    "GRANTED",
                    "HOW",
                    "REMEMBERED",
                    "REFRESH",
                ],
                &rows,
            );
            Ok(())
        }
        GrantCommand::Revoke {
            user,
            client,
            resource,
        } => {
            let mut filter = GrantFilter::all();
            filter.subject = user;
            filter.client_id = client;
            filter.resource = resource;
            let ended = match accounts.revoke_grants(&filter, &Actor::Operator).await {
                Ok(ended) => ended,
                Err(AccountError::TooBroad) => return Err(CommandError::GrantTooBroad),
                Err(AccountError::Storage(e)) => return Err(e.into()),
                Err(e) => return Err(CommandError::Account(e.to_string())),
            };
            say(&format!(
                "{} grant(s) revoked; their refresh tokens no longer work and introspection \
                 reports their access tokens inactive",
                ended.len()
            ));
            for g in ended {
                say(&format!(
                    "  {} -> {} {}",
                    g.subject,
                    g.client_id,
                    or_dash(&g.resource)
                ));
            }
            Ok(())
        }
    }
}

/// Runs a `session` subcommand.
pub(crate) async fn session(cmd: SessionCommand, server: &AuthServer) -> Result<(), CommandError> {
    let accounts = server.accounts();
    match cmd {
        SessionCommand::List { user, json } => {
            let sessions = accounts.sessions(&user).await?;
            if json {
                for s in &sessions {
                    // The identifier's hash stays in storage: nothing here
                    // could resume a session, but nothing needs it either.
                    say(&serde_json::json!({
                        "subject": s.subject,
                        "method": s.method.as_str(),
                        "auth_time": s.auth_time,
                        "expires_at": s.expires_at,
                        "address": s.address,
                    })
                    .to_string());
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = sessions
                .iter()
                .map(|s| {
                    vec![
                        s.subject.clone(),
                        s.method.as_str().into(),
                        s.auth_time.to_string(),
                        s.expires_at.to_string(),
                        or_dash(s.address.as_deref().unwrap_or_default()),
                    ]
                })
                .collect();
            table(&["USER", "HOW", "SIGNED IN", "EXPIRES", "ADDRESS"], &rows);
            Ok(())
        }
        SessionCommand::Revoke { user } => {
            let n = accounts.revoke_sessions(&user, &Actor::Operator).await?;
            say(&format!("{n} session(s) of {user} ended"));
            Ok(())
        }
    }
}

/// Runs an `audit` subcommand.
pub(crate) async fn audit(cmd: AuditCommand, server: &AuthServer) -> Result<(), CommandError> {
    let AuditCommand::List {
        since: from,
        user,
        client,
        kind,
        after,
        limit,
        json,
    } = cmd;
    let mut query = AuditQuery::default();
    query.since = from.map(|t| since(&t, SystemClock.now())).transpose()?;
    query.user = user;
    query.client = client;
    query.kind = kind;
    query.after = after;
    query.limit = limit;
    let events = server.accounts().audit_events(&query).await?;
    if json {
        for e in &events {
            say(&serde_json::to_string(e)?);
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.at.to_string(),
                e.kind.clone(),
                or_dash(e.actor_user.as_deref().unwrap_or_default()),
                or_dash(e.actor_client.as_deref().unwrap_or_default()),
                or_dash(e.subject.as_deref().unwrap_or_default()),
                or_dash(e.address.as_deref().unwrap_or_default()),
                if e.details.is_null() {
                    "-".into()
                } else {
                    e.details.to_string()
                },
            ]
        })
        .collect();
    table(
        &[
            "ID", "AT", "TYPE", "USER", "CLIENT", "SUBJECT", "ADDRESS", "DETAILS",
        ],
        &rows,
    );
    Ok(())
}
