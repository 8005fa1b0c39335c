//! The device code grant (RFC 8628 §3.4–3.5): a device polls with its
//! device code until the person decides. Each poll is one atomic
//! read-modify-write in storage ([`crate::storage::policy::device_poll`]):
//! the poll that finds the authorization approved spends it, so two
//! pollers (or two instances) never both get tokens.

use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::secret::{DeviceCode, token_hash};
use mcp_oauth_core::token::TokenResponse;

use super::issue::{Approval, person_tokens, random_id};
use super::{GrantContext, federated_claims, grant_live, subject_live};
use crate::oauth::error::{OAuthError, OAuthResult};
use crate::storage::policy::DevicePoll;
use crate::storage::{ClientRecord, DeviceState};

fn refused(code: ErrorCode, description: &str) -> OAuthError {
    OAuthError::token_endpoint(ErrorResponse::new(code).with_description(description))
}

/// One poll of `device_code` by `client`.
pub(crate) async fn poll(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    device_code: &DeviceCode,
) -> OAuthResult<TokenResponse> {
    let t = state.clock.now();
    let hash = token_hash(device_code.secret());
    let verdict = state
        .storage
        .poll_device(&hash, &client.client_id, t)
        .await?;
    let record = match verdict {
        DevicePoll::Approved(record) => record,
        DevicePoll::Pending => {
            return Err(refused(
                ErrorCode::AuthorizationPending,
                "the person has not decided yet",
            ));
        }
        DevicePoll::SlowDown => {
            return Err(refused(
                ErrorCode::SlowDown,
                "polling too fast: wait 5 seconds longer between polls",
            ));
        }
        DevicePoll::Denied => {
            return Err(refused(ErrorCode::AccessDenied, "the person denied access"));
        }
        DevicePoll::Expired => {
            return Err(refused(ErrorCode::ExpiredToken, "the device code expired"));
        }
        DevicePoll::Redeemed => {
            return Err(ErrorResponse::invalid_grant("the device code was already used").into());
        }
        _ => return Err(ErrorResponse::invalid_grant("unknown device code").into()),
    };
    let DeviceState::Approved {
        subject,
        generation,
        auth_time,
        approved_at,
    } = &record.state
    else {
        return Err(ErrorResponse::server_error("approved record without a person").into());
    };
    subject_live(state, subject, *generation).await?;
    grant_live(
        state,
        subject,
        &client.client_id,
        record.resource.as_deref(),
        *approved_at,
    )
    .await?;
    let extra = federated_claims(state, subject).await?;
    let refreshes = client
        .metadata
        .effective_grant_types()
        .contains(&GrantType::RefreshToken);
    let family = if refreshes { Some(random_id()?) } else { None };
    tracing::info!(client_id = ?client.client_id, subject = ?subject, "device authorization redeemed");
    person_tokens(
        state,
        client,
        Approval {
            subject,
            generation: *generation,
            scope: &record.scope,
            resource: record.resource.as_deref(),
            auth_time: *auth_time,
            approved_at: *approved_at,
        },
        extra,
        &random_id()?,
        family,
        t,
    )
    .await
}
