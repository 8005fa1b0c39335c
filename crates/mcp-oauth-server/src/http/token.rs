//! `POST /token`: decodes the request, authenticates the client, checks it
//! may use the grant, and hands over to the grant's service in
//! [`crate::oauth::grants`].

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::token::{TokenGrant, TokenRequest};

use super::{authenticate_client, decode_form};
use crate::app::AuthServer;
use crate::oauth::error::OAuthResult;
use crate::oauth::grants;

pub(super) async fn token(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let request: TokenRequest = decode_form(&body, "token")?;
    let client = authenticate_client(&state, &req, &request.client).await?;
    if request.grant_type == GrantType::JwtBearer {
        // Not offered without a trusted provider, whatever the parameters.
        grants::jwt_bearer::offered(&state.grants())?;
    }
    let grant = request.grant()?;
    let allowed = client.metadata.effective_grant_types();
    let needs = |g: GrantType| -> OAuthResult<()> {
        if allowed.contains(&g) {
            Ok(())
        } else {
            Err(
                ErrorResponse::new(mcp_oauth_core::ErrorCode::UnauthorizedClient)
                    .with_description(format!("this client may not use the {g} grant"))
                    .into(),
            )
        }
    };
    let response = match grant {
        TokenGrant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resource,
        } => {
            needs(GrantType::AuthorizationCode)?;
            grants::code::redeem(
                &state.grants(),
                &client,
                code,
                redirect_uri,
                code_verifier,
                resource.as_ref(),
            )
            .await?
        }
        TokenGrant::RefreshToken {
            refresh_token,
            scope,
            resource,
        } => {
            needs(GrantType::RefreshToken)?;
            grants::refresh::refresh(
                &state.grants(),
                &client,
                refresh_token,
                scope,
                resource.as_ref(),
            )
            .await?
        }
        TokenGrant::DeviceCode { device_code } if state.config.device_flow => {
            needs(GrantType::DeviceCode)?;
            grants::device::poll(&state.grants(), &client, device_code).await?
        }
        TokenGrant::ClientCredentials { scope, resource } => {
            needs(GrantType::ClientCredentials)?;
            grants::client_credentials::issue(&state.grants(), &client, scope, resource.as_ref())
                .await?
        }
        TokenGrant::JwtBearer { assertion, scope } => {
            needs(GrantType::JwtBearer)?;
            grants::jwt_bearer::issue(&state.grants(), &client, assertion, scope).await?
        }
        TokenGrant::TokenExchange {
            subject_token,
            subject_token_type,
            requested_token_type,
            audience,
            resource,
            scope,
            actor,
        } => {
            needs(GrantType::TokenExchange)?;
            let request = grants::exchange::ExchangeRequest {
                subject_token,
                subject_token_type,
                requested_token_type,
                audience,
                resource,
                scope,
                actor,
            };
            grants::exchange::exchange(&state.grants(), &client, request).await?
        }
        _ => {
            return Err(ErrorResponse::new(mcp_oauth_core::ErrorCode::UnsupportedGrantType).into());
        }
    };
    grants::record_use(&state.grants(), &client).await;
    state.metrics.issued(request.grant_type.as_str());
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(response))
}
