//! The records of what people approved (grants), their browser sessions,
//! and the audit trail.

use serde::{Deserialize, Serialize};

/// How a person signed in when they approved something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignInMethod {
    /// A local user's password, on the login page.
    Password,
    /// A trusted first-party agent posted the user's password (headless).
    Headless,
    /// An upstream identity provider (federation).
    Federated,
    /// The operator's development auto-approval.
    AutoApprove,
    /// An enterprise identity provider's identity assertion grant (ID-JAG,
    /// the JWT bearer grant): the provider's policy approved it.
    JwtBearer,
}

impl SignInMethod {
    /// The name stored and shown (`password`, `headless`, `federated`,
    /// `auto_approve`, `jwt_bearer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Headless => "headless",
            Self::Federated => "federated",
            Self::AutoApprove => "auto_approve",
            Self::JwtBearer => "jwt_bearer",
        }
    }

    /// Reads a stored name back (unknown names read as `Password`, the
    /// most common; the column is informational).
    pub fn parse(name: &str) -> Self {
        match name {
            "headless" => Self::Headless,
            "federated" => Self::Federated,
            "auto_approve" => Self::AutoApprove,
            "jwt_bearer" => Self::JwtBearer,
            _ => Self::Password,
        }
    }
}

/// What a person approved: one client acting for them at one resource.
///
/// One record per (subject, client, resource); a later approval replaces
/// the scope, method and time. Revoking it records when, so that access
/// tokens issued up to then read as inactive, ends its remembered consent
/// and revokes its refresh families.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GrantRecord {
    /// The person (a local user, or `provider:subject`).
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// The canonical resource (the empty string when none was named).
    pub resource: String,
    /// The scope approved most recently.
    pub scope: String,
    /// How the person signed in.
    pub method: SignInMethod,
    /// Whether the approval came through the device flow (RFC 8628).
    pub device: bool,
    /// When it was (last) approved.
    pub granted_at: u64,
}

impl GrantRecord {
    /// A grant approved at `granted_at`.
    pub fn new(
        subject: impl Into<String>,
        client_id: impl Into<String>,
        resource: Option<&str>,
        scope: impl Into<String>,
        method: SignInMethod,
        granted_at: u64,
    ) -> Self {
        Self {
            subject: subject.into(),
            client_id: client_id.into(),
            resource: resource.unwrap_or_default().to_owned(),
            scope: scope.into(),
            method,
            device: false,
            granted_at,
        }
    }

    /// The same grant, approved through the device flow.
    pub fn through_device(mut self) -> Self {
        self.device = true;
        self
    }
}

/// A live grant, as listed: the record, whether its consent is remembered
/// (the person is not asked again), and its live refresh families.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Grant {
    /// What was approved.
    #[serde(flatten)]
    pub record: GrantRecord,
    /// Whether the person's consent is remembered.
    pub remembered: bool,
    /// Refresh-token families still able to refresh.
    pub live_refresh_families: u32,
}

/// Which grants a listing or a revocation covers; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrantFilter {
    /// Only this person's.
    pub subject: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
    /// Only this resource's (the empty string: grants that named none).
    pub resource: Option<String>,
}

impl GrantFilter {
    /// Every grant.
    pub fn all() -> Self {
        Self::default()
    }

    /// One person's grants.
    pub fn subject(subject: impl Into<String>) -> Self {
        Self {
            subject: Some(subject.into()),
            ..Self::default()
        }
    }

    /// Narrows to one client.
    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Narrows to one resource.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Whether `(subject, client_id, resource)` is covered.
    pub fn matches(&self, subject: &str, client_id: &str, resource: &str) -> bool {
        self.subject.as_deref().is_none_or(|s| s == subject)
            && self.client_id.as_deref().is_none_or(|c| c == client_id)
            && self.resource.as_deref().is_none_or(|r| r == resource)
    }
}

/// A browser session: a person signed in to the server's pages. The
/// cookie holds a signed handle naming the session; the record here is
/// what makes it valid, so ending a session (logout, `session revoke`)
/// takes effect on every instance at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    /// SHA-256 of the session identifier (never the identifier).
    pub id_hash: String,
    /// The person.
    pub subject: String,
    /// How they signed in.
    pub method: SignInMethod,
    /// When they signed in.
    pub auth_time: u64,
    /// When the session ends.
    pub expires_at: u64,
    /// The address they signed in from, as the server saw it.
    pub address: Option<String>,
}

impl SessionRecord {
    /// A session of `subject`, signed in at `auth_time` until `expires_at`.
    pub fn new(
        id_hash: impl Into<String>,
        subject: impl Into<String>,
        method: SignInMethod,
        auth_time: u64,
        expires_at: u64,
    ) -> Self {
        Self {
            id_hash: id_hash.into(),
            subject: subject.into(),
            method,
            auth_time,
            expires_at,
            address: None,
        }
    }

    /// Records the address the person signed in from.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
}

/// One entry of the audit trail: who did what to whom, when; never a
/// secret (no password, code, token or client secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// Its position in the trail (assigned by storage; 0 before).
    #[serde(default)]
    pub id: i64,
    /// When (seconds since the epoch).
    pub at: u64,
    /// What happened (`login_succeeded`, `grant_revoked`, …; see
    /// `oauth::audit::AuditKind` in the server).
    pub kind: String,
    /// The person who acted, if a person did.
    pub actor_user: Option<String>,
    /// The client that acted (or the operator's admin client).
    pub actor_client: Option<String>,
    /// The client the event is about, when another one acted (the client
    /// of a grant an administrator revoked).
    #[serde(default)]
    pub client: Option<String>,
    /// The address the request came from.
    pub address: Option<String>,
    /// Whom or what it was done to (a user, a client, a key id).
    pub subject: Option<String>,
    /// Anything else worth keeping, as JSON (never a secret).
    #[serde(default)]
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// An event of `kind` at `at`, with nobody named yet.
    pub fn new(kind: impl Into<String>, at: u64) -> Self {
        Self {
            id: 0,
            at,
            kind: kind.into(),
            actor_user: None,
            actor_client: None,
            client: None,
            address: None,
            subject: None,
            details: serde_json::Value::Null,
        }
    }
}

/// Which audit events to read: all filters must match; ordered by
/// position, oldest first, at most `limit`, after `after` (for paging).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// At or after this time.
    pub since: Option<u64>,
    /// Acting as or acted upon: this person (or any name in
    /// [`AuditEvent::actor_user`] or [`AuditEvent::subject`]).
    pub user: Option<String>,
    /// This client, as actor, as the client the event is about, or as
    /// subject.
    pub client: Option<String>,
    /// This kind.
    pub kind: Option<String>,
    /// Only events positioned after this one.
    pub after: i64,
    /// At most this many (capped at [`AuditQuery::MAX_LIMIT`]).
    pub limit: usize,
}

impl AuditQuery {
    /// The most events one query returns.
    pub const MAX_LIMIT: usize = 1_000;

    /// Whether `event` matches every filter except paging.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        let named = |name: &str| {
            event.actor_user.as_deref() == Some(name) || event.subject.as_deref() == Some(name)
        };
        let client = |name: &str| {
            event.actor_client.as_deref() == Some(name)
                || event.client.as_deref() == Some(name)
                || event.subject.as_deref() == Some(name)
        };
        self.since.is_none_or(|t| event.at >= t)
            && self.user.as_deref().is_none_or(named)
            && self.client.as_deref().is_none_or(client)
            && self.kind.as_deref().is_none_or(|k| event.kind == k)
            && event.id > self.after
    }

    /// The effective limit.
    pub fn capped_limit(&self) -> usize {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

impl Default for AuditQuery {
    /// Everything, the first 100.
    fn default() -> Self {
        Self {
            since: None,
            user: None,
            client: None,
            kind: None,
            after: 0,
            limit: 100,
        }
    }
}
