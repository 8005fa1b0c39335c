//! The client identity at the discovered authorization server, in the
//! spec's order: pre-registered, Client ID Metadata Document, dynamic
//! registration (kept per issuer), and what to do when the server no
//! longer knows it ([`Kind`], [`forget_dynamic`]).

use mcp_oauth_core::registration::{
    ApplicationType, ClientAuthMethod, ClientInformation, ClientMetadata, GrantType, ResponseType,
};

use crate::config::Config;
use crate::discovery::Discovered;
use crate::error::ClientError;
use crate::fetch::{self, require_secure};
use crate::login;
use crate::store::{Registration, RegistrationKey};

/// The identity to use at `d`'s authorization server. A pre-registered
/// identity is only ever used at the trusted issuer: discovery has refused
/// any other before this point.
pub(super) async fn identity(
    config: &Config,
    http: &reqwest::Client,
    d: &Discovered,
) -> Result<Registration, ClientError> {
    if let Some(r) = &config.preregistered {
        return Ok(r.clone());
    }
    if let Some(url) = &config.metadata_document_url
        && d.metadata.supports_client_id_metadata_documents()
    {
        return Ok(Registration {
            client_id: url.clone(),
            client_secret: None,
            redirect_uris: vec![redirect_uri(config)],
        });
    }
    let store = config.store.as_ref();
    let key = RegistrationKey::new(config.client_name.clone(), d.issuer.clone());
    // A registration made for another redirect URI (the agent chose a
    // new one since) is replaced by a new one.
    if let Some(r) = store.load_registration(&key)?
        && r.redirect_uris.contains(&redirect_uri(config))
    {
        return Ok(r);
    }
    let endpoint = d.metadata.registration_endpoint.as_deref().ok_or_else(|| {
        ClientError::Registration(format!(
            "{} offers no dynamic registration and no client id was configured",
            d.issuer
        ))
    })?;
    let target = require_secure("registration endpoint", endpoint)?;
    let request = ClientMetadata {
        client_name: Some(config.client_name.clone()),
        redirect_uris: Some(vec![redirect_uri(config)]),
        grant_types: Some(if matches!(config.login, crate::Login::Device(_)) {
            vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
            ]
        } else {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        }),
        response_types: Some(vec![ResponseType::Code]),
        token_endpoint_auth_method: Some(ClientAuthMethod::None),
        application_type: Some(ApplicationType::Native),
        ..Default::default()
    };
    let reply = fetch::exchange(http.post(target).json(&request), endpoint).await?;
    if !reply.status.is_success() {
        return Err(ClientError::Registration(format!(
            "HTTP {}: {}",
            reply.status,
            reply.excerpt()
        )));
    }
    let info: ClientInformation =
        reply
            .json()
            .map_err(|source| ClientError::UnreadableResponse {
                what: "registration response",
                url: endpoint.to_owned(),
                source,
            })?;
    let reg = Registration {
        client_id: info.client_id,
        client_secret: info.client_secret,
        redirect_uris: info.metadata.redirect_uris().to_vec(),
    };
    store.save_registration(&key, &reg)?;
    Ok(reg)
}

/// Where a client identity comes from, as far as the answer to an
/// `invalid_client` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Configured by the agent's author (`client_id`): never replaced.
    Preregistered,
    /// The agent's Client ID Metadata Document URL: nothing to drop.
    MetadataDocument,
    /// Made by dynamic registration: dropped and made again when the
    /// server no longer knows it.
    Dynamic,
}

/// What kind of identity `client_id` is for this agent.
pub(super) fn kind(config: &Config, client_id: &str) -> Kind {
    if config
        .preregistered
        .as_ref()
        .is_some_and(|p| p.client_id == client_id)
    {
        Kind::Preregistered
    } else if config.metadata_document_url.as_deref() == Some(client_id) {
        Kind::MetadataDocument
    } else {
        Kind::Dynamic
    }
}

/// The authorization server of `issuer` answered `invalid_client` for the
/// dynamic registration `client_id` (an operator removed it, or it was
/// reaped as idle): the stored registration is dropped, unless it is
/// another one already (another agent sharing the store registered anew),
/// so the next login registers again. Returns whether one was dropped.
pub(super) fn forget_dynamic(
    config: &Config,
    issuer: &str,
    client_id: &str,
) -> Result<bool, ClientError> {
    let store = config.store.as_ref();
    let key = RegistrationKey::new(config.client_name.clone(), issuer.to_owned());
    match store.load_registration(&key)? {
        Some(r) if r.client_id == client_id => {
            tracing::info!(
                issuer,
                client_id,
                "the authorization server no longer knows this registration; registering again"
            );
            store.remove_registration(&key)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The redirect URI the agent registers: its chosen one, else the loopback
/// one (any port at run time, RFC 8252 §7.3).
fn redirect_uri(config: &Config) -> String {
    config
        .redirect_uri
        .clone()
        .unwrap_or_else(|| login::LOOPBACK_REDIRECT.to_owned())
}
