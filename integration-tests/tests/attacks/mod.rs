//! The attack suite: one test per attack on the authorization server, the
//! verifier and the client, each asserting the precise refusal. SECURITY.md
//! maps every attack to its test.

mod authorization_server;
mod client;
mod client_bounds;
mod client_callback;
mod client_secrets;
mod fake_as;
mod grants;
pub(crate) mod hostile;
mod inputs;
mod login;
mod trust;
mod verifier;
mod verifier_bounds;
mod verifier_origin;
mod verifier_sources;
