//! What people approved and their sessions, for the operator (command
//! line, admin API) and for the person themselves (the account page):
//! listing and revoking grants, listing and ending sessions, reading the
//! audit trail. Every change is audited with who made it.

use crate::clock::Clock;
use crate::oauth::audit::{Actor, AuditKind, Auditor};
use crate::storage::{
    AuditEvent, AuditQuery, Grant, GrantFilter, GrantRecord, SessionRecord, Storage, StorageError,
};

/// A revocation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The filter names neither a person nor a client: it would revoke
    /// every grant of everyone.
    #[error("name a user or a client: revoking every grant of everyone is refused")]
    TooBroad,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Grants, sessions and the audit trail, over the server's storage.
///
/// ```
/// use std::sync::Arc;
/// use mcp_oauth_server::{Actor, AuthServer, ServerConfig};
/// use mcp_oauth_server::core::issuer::Issuer;
/// use mcp_oauth_server::storage::{GrantFilter, MemoryStorage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ServerConfig::new(Issuer::parse("http://127.0.0.1:9000")?);
/// let server = AuthServer::new(config, Arc::new(MemoryStorage::new())).await?;
/// let accounts = server.accounts();
/// assert!(accounts.grants(&GrantFilter::subject("alice")).await?.is_empty());
/// accounts.revoke_grants(&GrantFilter::subject("alice"), &Actor::Operator).await?;
/// // Refused: it would end everyone's grants.
/// assert!(accounts.revoke_grants(&GrantFilter::all(), &Actor::Operator).await.is_err());
/// # Ok(()) }
/// ```
pub struct Accounts<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) audit: &'a Auditor,
    pub(crate) clock: &'a dyn Clock,
}

impl std::fmt::Debug for Accounts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

impl Accounts<'_> {
    /// The live grants `filter` covers, with their remembered consent and
    /// live refresh families.
    pub async fn grants(&self, filter: &GrantFilter) -> Result<Vec<Grant>, StorageError> {
        self.storage.grants(filter, self.clock.now()).await
    }

    /// Ends the grants `filter` covers (it must name a person or a
    /// client): their remembered consent, their refresh families, and, for
    /// introspection, the access tokens issued so far. Each ended grant is
    /// audited. Returns them.
    pub async fn revoke_grants(
        &self,
        filter: &GrantFilter,
        actor: &Actor,
    ) -> Result<Vec<GrantRecord>, AccountError> {
        if filter.subject.is_none() && filter.client_id.is_none() {
            return Err(AccountError::TooBroad);
        }
        let ended = self.storage.revoke_grants(filter, self.clock.now()).await?;
        for g in &ended {
            let entry = AuditKind::GrantRevoked
                .entry()
                .subject(&g.subject)
                .about_client(&g.client_id)
                .detail("client_id", g.client_id.as_str())
                .detail("resource", g.resource.as_str())
                .detail("scope", g.scope.as_str());
            self.audit.record(entry.by(actor)).await;
        }
        Ok(ended)
    }

    /// A person's live sessions.
    pub async fn sessions(&self, subject: &str) -> Result<Vec<SessionRecord>, StorageError> {
        self.storage.sessions(subject, self.clock.now()).await
    }

    /// Ends all of a person's sessions (they sign in again on their next
    /// visit; their grants stay). Returns how many there were.
    pub async fn revoke_sessions(
        &self,
        subject: &str,
        actor: &Actor,
    ) -> Result<usize, StorageError> {
        let n = self.storage.delete_sessions(subject).await?;
        let entry = AuditKind::SessionsRevoked.entry().subject(subject);
        self.audit
            .record(entry.detail("sessions", n).by(actor))
            .await;
        Ok(n)
    }

    /// The audit events `query` selects, oldest first.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StorageError> {
        self.storage.audit_events(query).await
    }
}
