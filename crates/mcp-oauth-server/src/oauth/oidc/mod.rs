//! OpenID Connect on top of the authorization code grant, when the
//! operator leaves it on ([`ServerConfig::oidc`](crate::ServerConfig::oidc)):
//! the claims this server knows of a person ([`claims`]), the ID token
//! beside the access token ([`id_token`]) and the UserInfo answer
//! ([`userinfo`]).

pub(crate) mod claims;
pub(crate) mod id_token;
pub(crate) mod userinfo;

/// The scope that asks for an ID token and opens `/userinfo`.
pub(crate) const OPENID_SCOPE: &str = "openid";
