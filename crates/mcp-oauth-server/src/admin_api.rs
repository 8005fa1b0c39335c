//! Who may call the admin HTTP API (`/admin/v1/…`), and the record of every
//! call in the audit trail. This sits beside [`AuthServer`] (it verifies access tokens and
//! looks clients up through it); the actix handlers in `http/admin` call
//! it, and the operations themselves are in [`crate::admin`].
//!
//! Two kinds of caller are let in, and only when the operator turned the
//! API on ([`crate::AdminApi`]):
//! - the static bootstrap token, compared in constant time;
//! - an access token this server issued by the `client_credentials` grant
//!   to a trusted client (subject = client id, so no person), not revoked,
//!   for the audience [`ServerConfig::admin_audience`](crate::ServerConfig::admin_audience)
//!   and carrying the scope [`ADMIN_SCOPE`].

use std::fmt;

use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::secret::{constant_time_eq, token_hash};
use mcp_oauth_core::token::AccessTokenClaims;

use crate::app::AuthServer;
use crate::config::ADMIN_SCOPE;
use crate::oauth::audit::{Actor, AuditKind};
use crate::storage::{ClientRecord, StorageError};

/// Who called the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminCaller {
    /// The static bootstrap token of the configuration.
    StaticToken,
    /// A trusted client, with an access token holding the `admin` scope.
    Client {
        /// The client id.
        client_id: String,
        /// The token's `jti`, to tie the call to the token.
        jti: String,
    },
}

impl fmt::Display for AdminCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StaticToken => f.write_str("static-token"),
            Self::Client { client_id, .. } => write!(f, "client:{client_id}"),
        }
    }
}

/// A call to the admin API is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminAuthError {
    /// The admin API is off (answer 404, as for any unknown path).
    #[error("the admin API is off")]
    Disabled,
    /// No bearer token was presented (401, RFC 6750 §3.1: no error code).
    #[error("a bearer token is required")]
    MissingToken,
    /// The token is not a valid admin token: unknown, expired, revoked,
    /// for another audience, not from `client_credentials`, or of a client
    /// that is not trusted (401 `invalid_token`).
    #[error("{0}")]
    InvalidToken(&'static str),
    /// A valid admin-audience token without the `admin` scope (403
    /// `insufficient_scope`).
    #[error("the token lacks the {ADMIN_SCOPE} scope")]
    InsufficientScope,
    /// Storage failed while checking the token (500).
    #[error("checking the token failed")]
    Storage(#[from] StorageError),
}

impl AdminAuthError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Disabled => 404,
            Self::MissingToken | Self::InvalidToken(_) => 401,
            Self::InsufficientScope => 403,
            Self::Storage(_) => 500,
        }
    }
}

/// The verdict on the verified claims of an access token and the client it
/// names (`None`: unknown): the caller, or why not.
pub fn admin_token_verdict(
    audience: &str,
    claims: &AccessTokenClaims,
    client: Option<&ClientRecord>,
) -> Result<AdminCaller, AdminAuthError> {
    let for_admin = ResourceUri::parse(audience).is_ok_and(|a| claims.aud.contains_resource(&a));
    if !for_admin {
        return Err(AdminAuthError::InvalidToken(
            "the token is not for the admin API (audience)",
        ));
    }
    if claims.sub != claims.client_id {
        return Err(AdminAuthError::InvalidToken(
            "the token was issued for a person; the admin API takes client_credentials tokens",
        ));
    }
    match client {
        Some(c) if c.is_trusted() && c.client_id == claims.client_id => {}
        _ => {
            return Err(AdminAuthError::InvalidToken(
                "the token's client is not one the operator created",
            ));
        }
    }
    if !claims
        .scope
        .as_ref()
        .is_some_and(|s| s.contains(ADMIN_SCOPE))
    {
        return Err(AdminAuthError::InsufficientScope);
    }
    Ok(AdminCaller::Client {
        client_id: claims.client_id.clone(),
        jti: claims.jti.clone(),
    })
}

impl AuthServer {
    /// Decides who presents `bearer` (the value after `Bearer `, `None` if
    /// no bearer token came) to the admin API.
    pub async fn authenticate_admin(
        &self,
        bearer: Option<&str>,
    ) -> Result<AdminCaller, AdminAuthError> {
        let admin = &self.config.admin;
        if !admin.enabled() {
            return Err(AdminAuthError::Disabled);
        }
        let Some(token) = bearer.filter(|t| !t.is_empty()) else {
            return Err(AdminAuthError::MissingToken);
        };
        if let Some(expected) = &admin.token
            && constant_time_eq(
                token_hash(token).as_bytes(),
                token_hash(expected.secret()).as_bytes(),
            )
        {
            return Ok(AdminCaller::StaticToken);
        }
        let invalid = AdminAuthError::InvalidToken("the token is invalid, expired or revoked");
        if !admin.bearer_tokens {
            return Err(invalid);
        }
        let Some(claims) = self.verify_access_token(token).await else {
            return Err(invalid);
        };
        if self.storage.jti_revoked(&claims.jti).await? {
            return Err(invalid);
        }
        let client = match self.clients().configured(&claims.client_id) {
            Some(c) => Some(c),
            None => self.storage.client(&claims.client_id).await?,
        };
        admin_token_verdict(&self.config.admin_audience(), &claims, client.as_ref())
    }
}

impl AdminCaller {
    /// The caller as the audit trail names it, calling from `address`.
    pub fn actor(&self, address: &str) -> Actor {
        Actor::Admin {
            client_id: match self {
                Self::StaticToken => None,
                Self::Client { client_id, .. } => Some(client_id.clone()),
            },
            address: address.to_owned(),
        }
    }
}

/// Records one admin API call in the audit trail (`admin_call`): who, from
/// where, what (method and path) and the answer's status, never a secret
/// or a request body.
pub async fn record_admin_call(
    server: &AuthServer,
    caller: &AdminCaller,
    address: &str,
    method: &str,
    path: &str,
    status: u16,
) {
    let entry = AuditKind::AdminCall
        .entry()
        .detail("caller", caller.to_string())
        .detail("method", method)
        .detail("path", path)
        .detail("status", status);
    server
        .audit()
        .record(entry.by(&caller.actor(address)))
        .await;
}

/// Records an admin API call that was refused before reaching an
/// operation (no token, a wrong one, too little scope): a warning in the
/// log, not the durable trail, which strangers must not be able to fill.
pub fn record_admin_refusal(server: &AuthServer, method: &str, path: &str, status: u16) {
    tracing::warn!(
        target: "mcp_oauth_server::audit",
        issuer = server.config.issuer.as_str(),
        method,
        path,
        status,
        "admin API call refused"
    );
}

#[cfg(test)]
mod tests {
    use mcp_oauth_core::scope::ScopeSet;
    use mcp_oauth_core::token::Audience;

    use super::*;
    use crate::operator::OperatorClient;

    const AUD: &str = "https://as.example.com/admin/v1";

    fn claims(sub: &str, aud: &str, scope: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://as.example.com".into(),
            sub: sub.into(),
            aud: Audience::single(aud.to_owned()),
            client_id: "ops".into(),
            exp: 2,
            iat: 1,
            jti: "j".into(),
            nbf: None,
            scope: Some(ScopeSet::parse_lossy(scope)),
            auth_time: Some(1),
            extra: Default::default(),
        }
    }

    #[test]
    fn only_a_trusted_clients_own_admin_token_passes() {
        let trusted = OperatorClient::service("ops", "0123456789abcdef").to_record(0);
        let mut registered = trusted.clone();
        registered.policy.trusted = false;
        let ok = admin_token_verdict(AUD, &claims("ops", AUD, "admin"), Some(&trusted));
        assert!(matches!(ok, Ok(AdminCaller::Client { ref client_id, .. }) if client_id == "ops"));
        let refused = [
            (claims("ops", AUD, "admin"), Some(&registered)),
            (claims("ops", AUD, "admin"), None),
            (claims("alice", AUD, "admin"), Some(&trusted)),
            (
                claims("ops", "https://mcp.example.com/mcp", "admin"),
                Some(&trusted),
            ),
        ];
        for (c, client) in refused {
            assert!(matches!(
                admin_token_verdict(AUD, &c, client),
                Err(AdminAuthError::InvalidToken(_))
            ));
        }
        assert!(matches!(
            admin_token_verdict(AUD, &claims("ops", AUD, "mcp"), Some(&trusted)),
            Err(AdminAuthError::InsufficientScope)
        ));
    }
}
