//! The audit trail's writer: every approval, sign-in, revocation and
//! operator change becomes an [`AuditEvent`] in storage (and, if
//! configured, a JSON line for a log shipper). Events name people,
//! clients and addresses, never a secret: no password, code, token or
//! client secret is ever passed here.

use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::config::AuditLog;
use crate::storage::{AuditEvent, Storage};

/// What happened; stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditKind {
    /// A person signed in with a password (form, device page, headless).
    LoginSucceeded,
    /// A wrong username or password.
    LoginFailed,
    /// A person signed in through an upstream provider.
    FederatedLogin,
    /// Sign-in attempts from an address or for a user hit the limit.
    LoginThrottled,
    /// A person approved a client for a resource (details: scope,
    /// resource, remembered).
    ConsentGranted,
    /// A person's grants were revoked (by themselves or an operator).
    GrantRevoked,
    /// An authorization code was issued.
    CodeIssued,
    /// An authorization code was redeemed.
    CodeRedeemed,
    /// An authorization code was presented twice; what it issued is
    /// revoked.
    CodeReplayed,
    /// A refresh token was rotated.
    RefreshRotated,
    /// A spent refresh token came back: its family is revoked.
    RefreshReuseDetected,
    /// A person approved a device (RFC 8628).
    DeviceApproved,
    /// A person denied a device.
    DeviceDenied,
    /// A client registered itself (RFC 7591).
    ClientRegistered,
    /// Registration from an address hit the hourly limit.
    RegistrationThrottled,
    /// The operator created a client.
    ClientCreated,
    /// A client was removed (by the operator, by itself through RFC 7592,
    /// or reaped as idle).
    ClientRemoved,
    /// A registered client replaced its metadata (RFC 7592).
    ClientUpdated,
    /// A client's secret was replaced.
    ClientSecretRotated,
    /// A signing key was created and made active.
    KeyRotated,
    /// A retired signing key was withdrawn from publication.
    KeyRetired,
    /// A user was added.
    UserAdded,
    /// A user's password was changed (their grants and sessions end).
    PasswordChanged,
    /// A user was removed.
    UserRemoved,
    /// Everything a person held was ended.
    SubjectRevoked,
    /// A person signed out.
    Logout,
    /// A person's sessions were ended by an operator.
    SessionsRevoked,
    /// A token was revoked (RFC 7009 or the operator).
    TokenRevoked,
    /// A call to the admin API.
    AdminCall,
    /// An identity assertion grant (ID-JAG) from a trusted enterprise
    /// provider was redeemed for an access token (details: provider,
    /// `jti`, resource, scope; never the assertion).
    IdJagAccepted,
    /// A client exchanged a person's token (RFC 8693; details: the type
    /// issued, its audience or resource, scope; never a token).
    TokenExchanged,
    /// A resource server obtained a person's upstream provider token
    /// (RFC 8693 token exchange); the token itself is never recorded.
    UpstreamTokenExchanged,
}

impl AuditKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::FederatedLogin => "federated_login",
            Self::LoginThrottled => "login_throttled",
            Self::ConsentGranted => "consent_granted",
            Self::GrantRevoked => "grant_revoked",
            Self::CodeIssued => "code_issued",
            Self::CodeRedeemed => "code_redeemed",
            Self::CodeReplayed => "code_replayed",
            Self::RefreshRotated => "refresh_rotated",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::DeviceApproved => "device_approved",
            Self::DeviceDenied => "device_denied",
            Self::ClientRegistered => "client_registered",
            Self::RegistrationThrottled => "registration_throttled",
            Self::ClientCreated => "client_created",
            Self::ClientRemoved => "client_removed",
            Self::ClientUpdated => "client_updated",
            Self::ClientSecretRotated => "client_secret_rotated",
            Self::KeyRotated => "key_rotated",
            Self::KeyRetired => "key_retired",
            Self::UserAdded => "user_added",
            Self::PasswordChanged => "password_changed",
            Self::UserRemoved => "user_removed",
            Self::SubjectRevoked => "subject_revoked",
            Self::Logout => "logout",
            Self::SessionsRevoked => "sessions_revoked",
            Self::TokenRevoked => "token_revoked",
            Self::AdminCall => "admin_call",
            Self::IdJagAccepted => "id_jag_accepted",
            Self::TokenExchanged => "token_exchanged",
            Self::UpstreamTokenExchanged => "upstream_token_exchanged",
        }
    }

    /// An entry of this kind, naming nobody yet.
    pub fn entry(self) -> AuditEntry {
        AuditEntry {
            kind: self,
            actor_user: None,
            actor_client: None,
            client: None,
            address: None,
            subject: None,
            details: Map::new(),
        }
    }
}

/// An event being described; [`Auditor::record`] stamps and stores it.
#[derive(Debug, Clone)]
#[must_use = "an entry does nothing until recorded"]
pub struct AuditEntry {
    kind: AuditKind,
    actor_user: Option<String>,
    actor_client: Option<String>,
    client: Option<String>,
    address: Option<String>,
    subject: Option<String>,
    details: Map<String, Value>,
}

impl AuditEntry {
    /// The person who acted.
    pub fn user(mut self, user: &str) -> Self {
        self.actor_user = Some(bounded(user));
        self
    }

    /// The client that acted.
    pub fn client(mut self, client_id: &str) -> Self {
        self.actor_client = Some(bounded(client_id));
        self
    }

    /// The client the event is about, when another one (or nobody) acted.
    pub fn about_client(mut self, client_id: &str) -> Self {
        self.client = Some(bounded(client_id));
        self
    }

    /// The address the request came from.
    pub fn address(mut self, address: &str) -> Self {
        self.address = Some(bounded(address));
        self
    }

    /// Whom or what it was done to.
    pub fn subject(mut self, subject: &str) -> Self {
        self.subject = Some(bounded(subject));
        self
    }

    /// One more detail (never a secret); strings are cut to 256
    /// characters.
    pub fn detail(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        let value = match value.into() {
            Value::String(s) => Value::String(bounded(&s)),
            other => other,
        };
        self.details.insert(key.to_owned(), value);
        self
    }

    fn into_event(self, at: u64) -> AuditEvent {
        let mut event = AuditEvent::new(self.kind.as_str(), at);
        event.actor_user = self.actor_user;
        event.actor_client = self.actor_client;
        event.client = self.client;
        event.address = self.address;
        event.subject = self.subject;
        event.details = if self.details.is_empty() {
            Value::Null
        } else {
            Value::Object(self.details)
        };
        event
    }
}

/// Who asks for a change (recorded in the audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Actor {
    /// The operator, on the command line.
    Operator,
    /// A caller of the admin API: the trusted client it authenticated as,
    /// or `None` for the static bootstrap token; and its address.
    Admin {
        /// The admin client, if one.
        client_id: Option<String>,
        /// Where the call came from.
        address: String,
    },
    /// The person themselves, on their account page.
    Person {
        /// Who.
        subject: String,
        /// Where from.
        address: String,
    },
}

impl AuditEntry {
    /// Names who made the change: `details.by` is `operator`, `admin` or
    /// `self`, with the admin client or the person and their address.
    pub fn by(self, actor: &Actor) -> Self {
        let entry = self;
        match actor {
            Actor::Operator => entry.detail("by", "operator"),
            Actor::Admin { client_id, address } => {
                let entry = entry.detail("by", "admin").address(address);
                match client_id {
                    Some(c) => entry.client(c),
                    None => entry,
                }
            }
            Actor::Person { subject, address } => {
                entry.detail("by", "self").user(subject).address(address)
            }
        }
    }
}

/// Names and details come from requests (a failed login's username is
/// whatever a stranger typed): each is cut to 256 characters, so an event
/// stays small whatever was sent.
fn bounded(s: &str) -> String {
    match s.char_indices().nth(256) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

/// Where JSON lines go.
enum Lines {
    Stdout,
    Stderr,
    File(Mutex<std::fs::File>),
}

/// Writes audit events: to storage, and as JSON lines when configured.
/// A failure to write is logged and counted, never fails the request that
/// caused the event.
#[derive(Clone)]
pub struct Auditor {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    lines: Option<Arc<Lines>>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("lines", &self.lines.is_some())
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// An auditor writing to `storage` (and `log`), stamping events with
    /// `clock`. Opening the log file can fail. A server has one
    /// ([`crate::AuthServer::audit`]); tools that change storage without a
    /// server (the admin subcommands) make their own.
    pub fn new(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        log: Option<&AuditLog>,
    ) -> std::io::Result<Self> {
        let lines = match log {
            None => None,
            Some(AuditLog::Stdout) => Some(Arc::new(Lines::Stdout)),
            Some(AuditLog::Stderr) => Some(Arc::new(Lines::Stderr)),
            Some(AuditLog::File(path)) => {
                Some(Arc::new(Lines::File(Mutex::new(open_private(path)?))))
            }
        };
        Ok(Self {
            storage,
            clock,
            lines,
        })
    }

    /// Stamps `entry` with the time and stores it (and writes its line).
    pub async fn record(&self, entry: AuditEntry) {
        let mut event = entry.into_event(self.clock.now());
        match self.storage.append_audit(event.clone()).await {
            Ok(id) => event.id = id,
            Err(e) => {
                tracing::error!(error = %e, kind = %event.kind, "could not store an audit event");
            }
        }
        if let Some(lines) = &self.lines {
            let Ok(mut line) = serde_json::to_vec(&event) else {
                return;
            };
            line.push(b'\n');
            let written = match lines.as_ref() {
                Lines::Stdout => std::io::stdout().lock().write_all(&line),
                Lines::Stderr => std::io::stderr().lock().write_all(&line),
                Lines::File(file) => file.lock().write_all(&line),
            };
            if let Err(e) = written {
                tracing::error!(error = %e, "could not write an audit line");
            }
        }
    }
}

/// Opens `path` for appending, created with mode 0600; an existing file
/// others could read is tightened to 0600.
fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "the audit log was readable by others; restricting it to its owner (0600)");
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}
