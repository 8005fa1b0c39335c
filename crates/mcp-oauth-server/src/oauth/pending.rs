//! The pending authorization request: an `/authorize` request that passed
//! every check and waits for the person to sign in and decide. It travels
//! as a short-lived JWT signed by the server (`typ:
//! mcp-oauth-request+jwt`), so any instance can finish what another
//! started and nothing is stored before the person has decided. Approving
//! it records the grant and stores the authorization code (and, when
//! asked, the consent).

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::secret::{AuthorizationCode, token_hash};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, KeyManager};
use crate::oauth::audit::{AuditKind, Auditor};
use crate::oauth::error::{OAuthError, OAuthResult};
use crate::oauth::login::SignedIn;
use crate::storage::{CodeRecord, GrantRecord, Storage};

/// The JWT `typ` of a pending request handle.
const REQUEST_TYP: &str = "mcp-oauth-request+jwt";
/// How long a person has to sign in and decide, in seconds.
pub(crate) const PENDING_TTL: u64 = 600;

/// A validated authorization request waiting for the person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The issuer that validated it.
    pub(crate) iss: String,
    /// When the handle expires.
    pub(crate) exp: u64,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// Whether the request named the redirect URI (the token request must
    /// then repeat it).
    #[serde(default)]
    pub(crate) redirect_uri_sent: bool,
    /// The client's `state`, returned as sent.
    pub(crate) state: Option<String>,
    pub(crate) code_challenge: String,
    pub(crate) scope: String,
    pub(crate) resource: Option<String>,
    /// The OpenID Connect `nonce`, for the ID token (bounded by
    /// [`MAX_NONCE_LEN`](mcp_oauth_core::authorization::MAX_NONCE_LEN)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<String>,
}

impl Pending {
    /// The signed handle a login or consent form (or a headless agent)
    /// posts back.
    pub(crate) fn seal(&self, keys: &KeyManager) -> Result<String, KeyError> {
        keys.sign_typed(self, REQUEST_TYP)
    }

    /// Reads and checks a handle posted back: signed by this server's keys,
    /// of the pending-request type, not expired.
    pub(crate) fn open(keys: &KeyManager, handle: &str) -> Option<Self> {
        keys.verify_typed(handle, REQUEST_TYP, &["exp", "iss"])
    }

    /// The person `who` approved the request at `now`: records the grant
    /// (and, with `remember`, the consent) for this client and resource,
    /// stores an authorization code valid for `code_ttl` seconds, and
    /// writes both to the audit trail. Returns the code for the redirect.
    pub(crate) async fn approve(
        &self,
        storage: &dyn Storage,
        audit: &Auditor,
        code_ttl: u64,
        who: &SignedIn,
        remember: bool,
        now: u64,
    ) -> OAuthResult<AuthorizationCode> {
        let resource = self.resource.as_deref().unwrap_or_default();
        if remember {
            storage
                .save_consent(&who.subject, &self.client_id, resource, &self.scope, now)
                .await?;
        }
        storage
            .record_grant(GrantRecord::new(
                &who.subject,
                &self.client_id,
                self.resource.as_deref(),
                &self.scope,
                who.method,
                now,
            ))
            .await?;
        let code = AuthorizationCode::generate()
            .map_err(|e| OAuthError::from(ErrorResponse::server_error(e.to_string())))?;
        let record = CodeRecord {
            code_hash: token_hash(code.secret()),
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            redirect_uri_sent: self.redirect_uri_sent,
            code_challenge: self.code_challenge.clone(),
            resource: self.resource.clone(),
            scope: self.scope.clone(),
            subject: who.subject.clone(),
            subject_generation: who.generation,
            auth_time: who.auth_time,
            expires_at: now + code_ttl,
            nonce: self.nonce.clone(),
        };
        storage.insert_code(record).await?;
        tracing::info!(client_id = ?self.client_id, subject = ?who.subject, "authorization granted");
        let consent = AuditKind::ConsentGranted
            .entry()
            .user(&who.subject)
            .client(&self.client_id)
            .detail("resource", resource)
            .detail("scope", self.scope.as_str())
            .detail("method", who.method.as_str())
            .detail("remembered", remember);
        audit.record(consent).await;
        let issued = AuditKind::CodeIssued.entry().user(&who.subject);
        audit.record(issued.client(&self.client_id)).await;
        Ok(code)
    }
}
