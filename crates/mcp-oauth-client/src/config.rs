//! What an agent is configured with, shared by every MCP server it talks
//! to, and the rules a configuration must pass before [`build`] accepts it:
//! a password or a pre-registered client identity belongs to one trusted
//! authorization server, and every configured URL is https (or http on
//! loopback).
//!
//! [`build`]: crate::OAuthClientBuilder::build

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::scope::ScopeSet;

use crate::error::ClientError;
use crate::fetch::require_secure;
use crate::login::Login;
use crate::login::identity_assertion::IdentityAssertion;
use crate::store::{Registration, TokenStore};

pub(crate) struct Config {
    pub(crate) client_name: String,
    pub(crate) login: Login,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) preregistered: Option<Registration>,
    pub(crate) metadata_document_url: Option<String>,
    /// The only authorization server this agent uses, when set.
    pub(crate) trusted_issuer: Option<String>,
    pub(crate) scope: Option<ScopeSet>,
    pub(crate) login_timeout: Duration,
    pub(crate) assertion_key: Option<AssertionKey>,
    /// The redirect URI the agent registers and asks for, when it chose
    /// one (else a loopback one on an ephemeral port).
    pub(crate) redirect_uri: Option<String>,
}

/// A private key the pre-registered client signs `private_key_jwt`
/// assertions with.
pub(crate) struct AssertionKey {
    pub(crate) key: jsonwebtoken::EncodingKey,
    pub(crate) alg: jsonwebtoken::Algorithm,
    pub(crate) kid: Option<String>,
}

impl Config {
    /// Refuses configurations that could send a secret to a server the
    /// agent did not choose, or talk in clear off loopback.
    pub(crate) fn check(&self) -> Result<(), ClientError> {
        if let Some(issuer) = &self.trusted_issuer {
            Issuer::parse(issuer.clone()).map_err(|e| {
                ClientError::invalid_url("trusted authorization server issuer", issuer, e)
            })?;
            require_secure("trusted authorization server issuer", issuer)?;
        } else {
            let needs_trust = if matches!(self.login, Login::Password(_)) {
                Some("a password login (Login::password)")
            } else if matches!(self.login, Login::IdentityAssertion(_)) {
                Some("an identity assertion login (Login::IdentityAssertion)")
            } else if self
                .preregistered
                .as_ref()
                .is_some_and(|r| r.client_secret.is_some())
            {
                Some("a client secret (client_credentials)")
            } else if self.assertion_key.is_some() {
                Some("a private_key_jwt client")
            } else if self.preregistered.is_some() {
                Some("a pre-registered client id")
            } else {
                None
            };
            if let Some(what) = needs_trust {
                return Err(ClientError::TrustedIssuerRequired(what));
            }
        }
        if let Some(url) = &self.metadata_document_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| ClientError::invalid_url("client metadata document URL", url, e))?;
            if parsed.scheme() != "https" {
                return Err(ClientError::InsecureUrl {
                    what: "client metadata document URL",
                    url: url.clone(),
                });
            }
        }
        if let Some(uri) = &self.redirect_uri {
            check_redirect(&self.login, uri)?;
        }
        if matches!(self.login, Login::ClientCredentials)
            && self.assertion_key.is_none()
            && self
                .preregistered
                .as_ref()
                .is_none_or(|r| r.client_secret.is_none())
        {
            return Err(ClientError::Config(
                "Login::ClientCredentials needs client_credentials(id, secret) or private_key_jwt(...)".into(),
            ));
        }
        if let Login::IdentityAssertion(login) = &self.login {
            check_identity_assertion(self, login)?;
        }
        Ok(())
    }
}

/// Enterprise-managed authorization needs a client pre-registered at the
/// trusted authorization server with credentials (the extension §5: the
/// grant is redeemed by an authenticated client), and an IdP issuer that is
/// a valid issuer identifier on https (or loopback http).
fn check_identity_assertion(config: &Config, login: &IdentityAssertion) -> Result<(), ClientError> {
    let authenticated = config.assertion_key.is_some()
        || config
            .preregistered
            .as_ref()
            .is_some_and(|r| r.client_secret.is_some());
    if !authenticated {
        return Err(ClientError::Config(
            "Login::IdentityAssertion needs the client pre-registered at the authorization server: \
             client_credentials(id, secret) or private_key_jwt(...)"
                .into(),
        ));
    }
    if let Some(idp) = login.idp_issuer() {
        Issuer::parse(idp.to_owned())
            .map_err(|e| ClientError::invalid_url("IdP issuer", idp, e))?;
        require_secure("IdP issuer", idp)?;
    }
    Ok(())
}

/// A redirect URI the agent chose must be one an authorization server
/// accepts (https, a private-use scheme, or http on loopback); a browser
/// login listens on it, so it must be `http` on a loopback address literal
/// with its port (RFC 8252 §7.3, §8.3).
fn check_redirect(login: &Login, uri: &str) -> Result<(), ClientError> {
    use mcp_oauth_core::redirect::{RedirectUriKind, validate_redirect_uri};
    let refuse = |why: &str| ClientError::Config(format!("redirect URI {uri:?}: {why}"));
    let kind = validate_redirect_uri(uri).map_err(|e| refuse(&e.to_string()))?;
    if matches!(login, Login::Browser | Login::BrowserWith(_)) {
        let url = url::Url::parse(uri).map_err(|e| refuse(&e.to_string()))?;
        let literal = matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
        if kind != RedirectUriKind::Loopback || !literal || url.port().is_none_or(|p| p == 0) {
            return Err(refuse(
                "a browser login listens on it: use http://127.0.0.1:PORT/… (or [::1])",
            ));
        }
    }
    Ok(())
}
