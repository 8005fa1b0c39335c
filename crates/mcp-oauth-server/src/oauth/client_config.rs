//! The client configuration endpoint (RFC 7592): a client from dynamic
//! registration reads, replaces and deletes its registration with the
//! registration access token it was given. The token is compared in
//! constant time with the stored hash; a wrong or missing token, an
//! unknown client and a client that has no such token (the operator's,
//! one of a metadata document) all get the same 401 `invalid_token`.

use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use mcp_oauth_core::registration::ClientInformation;
use mcp_oauth_core::secret::{constant_time_eq, token_hash};

use super::audit::AuditKind;
use super::error::{OAuthError, OAuthResult};
use super::registration::{Registration, with_defaults};
use crate::admin::clients::{ClientAdminError, remove_client};
use crate::storage::{ClientRecord, GrantFilter};

/// Members of a client information response that a replacement request
/// must not carry (RFC 7592 §2.2); they are ignored, not stored.
const SERVER_MEMBERS: [&str; 6] = [
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
];

fn invalid_token() -> OAuthError {
    ErrorResponse::new(ErrorCode::InvalidToken)
        .with_description("the registration access token is not valid for this client")
        .into()
}

fn invalid_metadata(description: &str) -> OAuthError {
    ErrorResponse::new(ErrorCode::InvalidClientMetadata)
        .with_description(description)
        .into()
}

impl Registration<'_> {
    /// The registered client `client_id` if `token` is its registration
    /// access token; else `invalid_token`, whatever the reason.
    async fn managed(&self, client_id: &str, token: Option<&str>) -> OAuthResult<ClientRecord> {
        let client = self.storage.client(client_id).await?;
        let expected = client
            .as_ref()
            .filter(|c| !c.is_trusted())
            .and_then(|c| c.registration_token_hash.clone());
        // A hash is compared even when there is nothing to compare with, so
        // the answer takes as long for an unknown client.
        let presented = token_hash(token.unwrap_or_default());
        let stored = expected.unwrap_or_else(|| token_hash("\0no registration token"));
        match client {
            Some(c)
                if token.is_some_and(|t| !t.is_empty())
                    && constant_time_eq(presented.as_bytes(), stored.as_bytes()) =>
            {
                Ok(c)
            }
            _ => Err(invalid_token()),
        }
    }

    /// What the client configuration endpoint answers with: the client's
    /// information as registered. The secret and the registration access
    /// token are stored only as hashes, so they are not repeated.
    fn information(&self, client: ClientRecord) -> ClientInformation {
        ClientInformation {
            registration_client_uri: Some(self.client_uri(&client.client_id)),
            client_id: client.client_id,
            client_secret: None,
            client_id_issued_at: Some(client.issued_at),
            client_secret_expires_at: None,
            registration_access_token: None,
            metadata: client.metadata,
        }
    }

    /// `GET /register/{client_id}` (RFC 7592 §2.1).
    pub(crate) async fn read(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> OAuthResult<ClientInformation> {
        let client = self.managed(client_id, token).await?;
        Ok(self.information(client))
    }

    /// `PUT /register/{client_id}` (RFC 7592 §2.2): replaces the metadata
    /// with `body`'s, checked as a registration is. The body names the
    /// client's id and, if it sends one, its current secret; members it
    /// leaves out are removed, but the authentication method, when left
    /// out, stays (changing it would need a new secret: register anew).
    pub(crate) async fn update(
        &self,
        address: &str,
        client_id: &str,
        token: Option<&str>,
        body: &[u8],
        now: u64,
    ) -> OAuthResult<ClientInformation> {
        let mut client = self.managed(client_id, token).await?;
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(body)
                .map_err(|e| invalid_metadata(&format!("invalid JSON object: {e}")))?;
        if object.get("client_id").and_then(|v| v.as_str()) != Some(client_id) {
            return Err(invalid_metadata(
                "the body must carry the client's client_id, unchanged",
            ));
        }
        if let Some(sent) = object.get("client_secret") {
            let matches = match (sent.as_str(), &client.secret_hash) {
                (Some(sent), Some(stored)) => {
                    constant_time_eq(token_hash(sent).as_bytes(), stored.as_bytes())
                }
                _ => false,
            };
            if !matches {
                return Err(invalid_metadata(
                    "client_secret must be the client's current secret",
                ));
            }
        }
        for member in SERVER_MEMBERS {
            object.remove(member);
        }
        let current = client.metadata.effective_auth_method();
        if !object.contains_key("token_endpoint_auth_method") {
            object.insert(
                "token_endpoint_auth_method".into(),
                serde_json::Value::String(current.to_string()),
            );
        }
        let body = serde_json::to_vec(&object)
            .map_err(|e| invalid_metadata(&format!("invalid JSON object: {e}")))?;
        let metadata = self.checked_metadata(&body)?;
        let method = metadata.effective_auth_method();
        if method != current {
            return Err(invalid_metadata(&format!(
                "token_endpoint_auth_method cannot change from {current} to {method}; \
                 register a new client instead"
            )));
        }
        let redirects_changed = metadata.redirect_uris != client.metadata.redirect_uris;
        client.metadata = with_defaults(metadata, method);
        if !self.storage.update_client(client.clone()).await? {
            return Err(invalid_token());
        }
        if redirects_changed {
            // Consent was given to a client that returned to the old
            // addresses: whoever holds the registration token must not
            // redirect people's remembered consent somewhere new.
            self.storage
                .revoke_grants(&GrantFilter::all().client(client_id), now)
                .await?;
        }
        tracing::info!(client_id = ?client_id, "client updated its registration");
        let entry = AuditKind::ClientUpdated.entry().subject(client_id);
        self.audit.record(entry.address(address)).await;
        Ok(self.information(client))
    }

    /// `DELETE /register/{client_id}` (RFC 7592 §2.3): removes the client
    /// and ends, at `now`, every grant people gave it (its refresh tokens
    /// stop; its remembered consents go).
    pub(crate) async fn delete(
        &self,
        address: &str,
        client_id: &str,
        token: Option<&str>,
        now: u64,
    ) -> OAuthResult<()> {
        self.managed(client_id, token).await?;
        match remove_client(self.storage, client_id, now).await {
            Ok(()) => {}
            // Removed meanwhile (by the operator, or another request).
            Err(ClientAdminError::NotFound(_)) => return Err(invalid_token()),
            Err(ClientAdminError::Storage(e)) => return Err(e.into()),
            Err(e) => return Err(ErrorResponse::server_error(e.to_string()).into()),
        }
        tracing::info!(client_id = ?client_id, "client deleted its registration");
        let entry = AuditKind::ClientRemoved.entry().subject(client_id);
        let entry = entry.address(address).detail("by", "client");
        self.audit.record(entry).await;
        Ok(())
    }
}
