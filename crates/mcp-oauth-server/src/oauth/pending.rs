//! The pending authorization request: an `/authorize` request that passed
//! every check and waits for the person to sign in and decide. It travels
//! as a short-lived JWT signed by the server (`typ:
//! mcp-oauth-request+jwt`), so any instance can finish what another
//! started and nothing is stored before the person has decided. Approving
//! it stores the authorization code (and, when asked, the consent).

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::secret::{AuthorizationCode, token_hash};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, KeyManager};
use crate::oauth::error::{OAuthError, OAuthResult};
use crate::storage::{CodeRecord, Storage};

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

    /// The person `subject` (of `generation`, signed in at `auth_time`)
    /// approved the request at `now`: stores an authorization code valid for
    /// `code_ttl` seconds and, with `remember`, the consent for this client
    /// and resource. Returns the code for the redirect.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn approve(
        &self,
        storage: &dyn Storage,
        code_ttl: u64,
        subject: &str,
        generation: u64,
        auth_time: u64,
        remember: bool,
        now: u64,
    ) -> OAuthResult<AuthorizationCode> {
        if remember {
            storage
                .save_consent(
                    subject,
                    &self.client_id,
                    self.resource.as_deref().unwrap_or_default(),
                    &self.scope,
                    now,
                )
                .await?;
        }
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
            subject: subject.to_owned(),
            subject_generation: generation,
            auth_time,
            expires_at: now + code_ttl,
        };
        storage.insert_code(record).await?;
        tracing::info!(client_id = ?self.client_id, subject = ?subject, "authorization granted");
        Ok(code)
    }
}
