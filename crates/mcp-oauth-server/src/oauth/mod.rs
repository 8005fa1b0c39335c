//! The OAuth services: what the endpoints do, without HTTP. Nothing here
//! imports actix-web; the `http` layer decodes a request, calls one
//! service, and encodes its answer or its [`OAuthError`](error::OAuthError).
//!
//! - [`clients`]: looking clients up (configuration, storage, metadata
//!   documents) and authenticating them, `private_key_jwt` included;
//! - [`grants`]: the token endpoint's grants, issuing, revoking and
//!   introspecting tokens;
//! - [`device`]: the device authorization grant's start and the person's
//!   decision (the polling is [`grants::device`]);
//! - [`pending`]: the authorization request waiting for a person, and its
//!   approval;
//! - [`login`]: password sign-in with its throttling;
//! - [`oidc`]: OpenID Connect: ID tokens, the person's claims, UserInfo;
//! - [`registration`]: dynamic client registration and its limits;
//!   [`client_config`]: a registered client reading, replacing and
//!   deleting its registration (RFC 7592);
//! - [`access_tokens`]: verifying the access tokens this server issued;
//! - [`accounts`]: grants and sessions listed and revoked, the audit
//!   trail read;
//! - [`audit`]: the audit trail's writer;
//! - [`upstream_tokens`]: people's sealed tokens at upstream providers,
//!   kept at sign-in and refreshed for token exchange;
//! - [`error`]: the one error type the services answer with.

pub(crate) mod access_tokens;
pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod client_config;
pub(crate) mod clients;
pub(crate) mod device;
pub(crate) mod error;
pub(crate) mod grants;
pub(crate) mod login;
pub(crate) mod oidc;
pub(crate) mod pending;
pub(crate) mod registration;
pub(crate) mod upstream_tokens;
