//! Enterprise-managed authorization, the authorization server's side: an
//! ID-JAG for this MCP server (from the IdP or the application's
//! provider) redeemed with the JWT bearer grant (RFC 7523 §2.1, the
//! extension §5) by the client pre-registered at the authorization server.
//! A grant refused as `invalid_grant` (by the IdP: an ID token that just
//! expired; by the authorization server: a grant that expired on the way)
//! is made once more, with an ID token asked anew; never more.

use mcp_oauth_core::ErrorCode;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::token::{TokenRequest, TokenResponse};

use super::grant::TokenEndpoint;
use crate::error::{ClientError, IdentityAssertionError};
use crate::login::identity_assertion::{IdJagRequest, IdentityAssertion};

/// Most grants made for one authorization.
const MAX_GRANTS: usize = 2;

/// Gets a grant for `scope` through `login` and redeems it at `at`; the
/// token response of the authorization server.
pub(super) async fn run(
    at: &TokenEndpoint<'_>,
    login: &IdentityAssertion,
    scope: &ScopeSet,
) -> Result<TokenResponse, ClientError> {
    let d = at.discovered;
    let mut made = 0;
    loop {
        made += 1;
        let again = made < MAX_GRANTS;
        let wanted = IdJagRequest {
            audience: d.issuer.clone(),
            resource: d.resource.clone(),
            scope: scope.clone(),
        };
        let jag = match login.grant(at.http, wanted).await {
            Ok(jag) => jag,
            Err(ClientError::IdentityAssertion {
                source: IdentityAssertionError::Refused(ref e),
                ref idp,
            }) if again && e.error == ErrorCode::InvalidGrant => {
                tracing::info!(%idp, "the IdP refused the ID token; asking the source for a fresh one");
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut request = TokenRequest::jwt_bearer(jag)
            .scope(scope)
            .resource(&d.resource);
        let answer = at.send(&mut request).await?;
        match answer {
            Ok(tokens) => return Ok(tokens),
            Err(e) if again && e.error == ErrorCode::InvalidGrant => {
                tracing::info!(issuer = %d.issuer, "the authorization server refused the grant; making a new one");
            }
            Err(e) => return Err(ClientError::Token(e)),
        }
    }
}
