//! The OAuth services: what the endpoints do, without HTTP. Nothing here
//! imports actix-web; the `http` layer decodes a request, calls one
//! service, and encodes its answer or its [`OAuthError`].

pub(crate) mod clients;
pub(crate) mod error;
