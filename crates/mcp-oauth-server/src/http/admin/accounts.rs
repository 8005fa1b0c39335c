//! `/admin/v1/grants`, `/admin/v1/users/{username}/sessions` and
//! `/admin/v1/audit`: who can act for whom (and taking it back), people's
//! browser sessions, and the audit trail, paged.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use crate::app::AuthServer;
use crate::oauth::accounts::AccountError;
use crate::storage::{AuditEvent, AuditQuery, Grant, GrantFilter, GrantRecord, SessionRecord};

/// A live grant: what a person allowed a client to do.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct GrantView {
    /// The person (a local user, or `provider:subject`).
    user: String,
    /// The client.
    client_id: String,
    /// The resource (empty: the request named none).
    resource: String,
    /// The scope approved most recently.
    scope: String,
    /// How the person signed in: `password`, `headless`, `federated`,
    /// `auto_approve`, `jwt_bearer` (an enterprise identity provider's
    /// identity assertion grant).
    method: &'static str,
    /// Approved through the device flow.
    device: bool,
    /// When (seconds since the epoch).
    granted_at: u64,
    /// Whether the consent is remembered (not asked again).
    remembered: bool,
    /// Refresh-token families still able to refresh.
    live_refresh_families: u32,
}

impl From<Grant> for GrantView {
    fn from(g: Grant) -> Self {
        let r = g.record;
        Self {
            user: r.subject,
            client_id: r.client_id,
            resource: r.resource,
            scope: r.scope,
            method: r.method.as_str(),
            device: r.device,
            granted_at: r.granted_at,
            remembered: g.remembered,
            live_refresh_families: g.live_refresh_families,
        }
    }
}

/// A grant that was ended.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RevokedGrant {
    /// The person.
    user: String,
    /// The client.
    client_id: String,
    /// The resource (empty: none).
    resource: String,
}

impl From<GrantRecord> for RevokedGrant {
    fn from(r: GrantRecord) -> Self {
        Self {
            user: r.subject,
            client_id: r.client_id,
            resource: r.resource,
        }
    }
}

/// Grants.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct GrantList {
    /// Oldest first.
    grants: Vec<GrantView>,
}

/// Grants ended.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RevokedGrants {
    /// The grants that were live and now are not.
    revoked: Vec<RevokedGrant>,
}

/// Which grants.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct GrantQuery {
    /// Only this person's.
    user: Option<String>,
    /// Only this client's.
    client: Option<String>,
    /// Only those for this resource (empty: those that named none).
    resource: Option<String>,
}

impl GrantQuery {
    fn filter(self) -> GrantFilter {
        let mut f = GrantFilter::all();
        f.subject = self.user;
        f.client_id = self.client;
        f.resource = self.resource;
        f
    }
}

pub(super) fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))
}

/// Lists live grants.
#[utoipa::path(get, path = "/admin/v1/grants", tag = "grants", params(GrantQuery),
    responses((status = 200, body = GrantList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list_grants(
    state: web::Data<AuthServer>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: GrantQuery = query(&req)?;
    let grants = state.accounts().grants(&q.filter()).await?;
    Ok(HttpResponse::Ok().json(GrantList {
        grants: grants.into_iter().map(GrantView::from).collect(),
    }))
}

/// Ends grants: their remembered consent, every refresh token, and (for
/// introspection) the access tokens issued so far. Name a user, a client,
/// or both.
#[utoipa::path(delete, path = "/admin/v1/grants", tag = "grants", params(GrantQuery),
    responses((status = 200, body = RevokedGrants),
        (status = 400, description = "neither a user nor a client named", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn revoke_grants(
    state: web::Data<AuthServer>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: GrantQuery = query(&req)?;
    let ended = state
        .accounts()
        .revoke_grants(&q.filter(), &super::actor(&req))
        .await
        .map_err(|e| match e {
            AccountError::TooBroad => ApiError::bad_request(e.to_string()),
            AccountError::Storage(e) => e.into(),
        })?;
    Ok(HttpResponse::Ok().json(RevokedGrants {
        revoked: ended.into_iter().map(RevokedGrant::from).collect(),
    }))
}

/// A browser session (its identifier is never shown).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SessionView {
    /// How the person signed in.
    method: &'static str,
    /// When.
    auth_time: u64,
    /// When it ends.
    expires_at: u64,
    /// The address they signed in from.
    address: Option<String>,
}

impl From<SessionRecord> for SessionView {
    fn from(s: SessionRecord) -> Self {
        Self {
            method: s.method.as_str(),
            auth_time: s.auth_time,
            expires_at: s.expires_at,
            address: s.address,
        }
    }
}

/// A person's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SessionList {
    /// Oldest first.
    sessions: Vec<SessionView>,
}

/// Sessions ended.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EndedSessions {
    /// How many.
    ended: usize,
}

/// Lists a person's live browser sessions.
#[utoipa::path(get, path = "/admin/v1/users/{username}/sessions", tag = "sessions",
    params(("username" = String, Path, description = "the user, or a federated `provider:subject`")),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list_sessions(
    state: web::Data<AuthServer>,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sessions = state.accounts().sessions(&username).await?;
    Ok(HttpResponse::Ok().json(SessionList {
        sessions: sessions.into_iter().map(SessionView::from).collect(),
    }))
}

/// Ends all of a person's browser sessions (their grants stay).
#[utoipa::path(delete, path = "/admin/v1/users/{username}/sessions", tag = "sessions",
    params(("username" = String, Path, description = "the user, or a federated `provider:subject`")),
    responses((status = 200, body = EndedSessions), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn revoke_sessions(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ended = state
        .accounts()
        .revoke_sessions(&username, &super::actor(&req))
        .await?;
    Ok(HttpResponse::Ok().json(EndedSessions { ended }))
}

/// Which audit events.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditParams {
    /// At or after this time (seconds since the epoch).
    since: Option<u64>,
    /// By or about this person.
    user: Option<String>,
    /// By or about this client.
    client: Option<String>,
    /// Of this type (`login_failed`, `grant_revoked`, …).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// After this position: the previous page's `next_after`.
    after: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    limit: Option<usize>,
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditPage {
    /// Oldest first.
    #[schema(value_type = Vec<Object>)]
    events: Vec<AuditEvent>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<i64>,
}

/// Reads the audit trail, oldest first, a page at a time.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn audit(
    state: web::Data<AuthServer>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let p: AuditParams = query(&req)?;
    let defaults = AuditQuery::default();
    let q = AuditQuery {
        since: p.since,
        user: p.user,
        client: p.client,
        kind: p.kind,
        after: p.after.unwrap_or(0),
        limit: p.limit.unwrap_or(defaults.limit),
    };
    let events = state.accounts().audit_events(&q).await?;
    let next_after = (events.len() == q.capped_limit())
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(HttpResponse::Ok().json(AuditPage { events, next_after }))
}
