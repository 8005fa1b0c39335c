//! Pure OAuth 2.1 types for the Model Context Protocol: everything the
//! authorization server, the resource-server verifier and the client agree
//! on, with no I/O and no async.
//!
//! | module | what |
//! |---|---|
//! | [`metadata`] | RFC 8414 authorization server metadata, RFC 9728 protected resource metadata |
//! | [`registration`] | RFC 7591 client metadata / registration, Client ID Metadata Documents |
//! | [`authorization`] | authorization request and response, `state` and RFC 9207 `iss` checks |
//! | [`token`] | token request / response, RFC 9068 access-token claims, RFC 7009 revocation |
//! | [`introspection`] | RFC 7662 request and response |
//! | [`exchange`] | RFC 8693 token exchange, ID-JAG claims and checks (enterprise-managed authorization), `act` chains |
//! | [`error`] | RFC 6749 / RFC 6750 / RFC 7591 error responses with typed codes |
//! | [`pkce`] | RFC 7636 S256 verifier and challenge |
//! | [`challenge`] | `WWW-Authenticate` builder and tolerant parser |
//! | [`discovery`] | well-known URL derivation (RFC 8414, OIDC, RFC 9728) |
//! | [`resource`] | RFC 8707 canonical resource URIs |
//! | [`issuer`] | issuer identifiers, compared exactly |
//! | [`redirect`] | redirect URI validation and matching (RFC 8252) |
//! | [`scope`] | scope sets |
//! | [`secret`] | redacted, constant-time secret newtypes |
//! | [`client_limits`] | bounds on what a registration or metadata document may make a server keep |
//! | `jose` (feature `jose`) | the JOSE rules the parties share: allowed algorithms, usable JWKs, `crit`, PEM keys, the key-set refetch gate |
//!
//! Every wire type round-trips through serde, and keeps fields it does not
//! model in an `extra` map instead of rejecting them.
//!
//! # Example: the data of one MCP authorization, end to end
//!
//! ```
//! use mcp_oauth_core::{
//!     authorization::{AuthorizationRequest, AuthorizationResponse},
//!     challenge::BearerChallenge,
//!     discovery::{authorization_server_metadata_urls, protected_resource_metadata_url},
//!     error::ErrorCode,
//!     metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata},
//!     pkce::{PkceChallenge, PkceVerifier},
//!     resource::ResourceUri,
//!     scope::ScopeSet,
//!     token::{TokenGrant, TokenRequest},
//! };
//!
//! // 1. The MCP server refuses an anonymous call and says where to look.
//! let resource = ResourceUri::parse("http://127.0.0.1:8000/mcp")?;
//! let prm_url = protected_resource_metadata_url(resource.as_str())?;
//! let header = BearerChallenge::new()
//!     .error(ErrorCode::InvalidToken)
//!     .scope(ScopeSet::parse("mcp")?)
//!     .resource_metadata(prm_url.as_str())
//!     .to_header_value();
//!
//! // 2. The client reads the challenge and the resource metadata...
//! let challenge = BearerChallenge::parse(&header).expect("a Bearer challenge");
//! let prm = ProtectedResourceMetadata::new(resource.as_str(), ["http://127.0.0.1:9000"]);
//! let issuer = &prm.authorization_servers()[0];
//! // ...then the authorization server metadata, and checks it.
//! let as_url = &authorization_server_metadata_urls(issuer)?[0];
//! assert_eq!(as_url.as_str(), "http://127.0.0.1:9000/.well-known/oauth-authorization-server");
//! let asm = AuthorizationServerMetadata {
//!     issuer: issuer.clone(),
//!     authorization_endpoint: Some(format!("{issuer}/authorize")),
//!     code_challenge_methods_supported: Some(vec!["S256".into()]),
//!     authorization_response_iss_parameter_supported: Some(true),
//!     ..Default::default()
//! };
//! asm.validate_issuer(issuer)?;
//! assert!(asm.supports_s256());
//!
//! // 3. Authorization request with PKCE, state and resource.
//! let verifier = PkceVerifier::generate()?;
//! let scope = challenge.scope.unwrap_or_default();
//! let url = AuthorizationRequest::new("agent", "http://127.0.0.1:4711/cb", &PkceChallenge::s256(&verifier))
//!     .state("s-1")
//!     .scope(scope.to_string())
//!     .resource(resource.as_str())
//!     .to_url(asm.authorization_endpoint.as_deref().unwrap_or_default())?;
//! assert!(url.query().unwrap_or_default().contains("resource=http%3A%2F%2F127.0.0.1%3A8000%2Fmcp"));
//!
//! // 4. The redirect comes back; check state and iss before using the code.
//! let response = AuthorizationResponse::from_query("code=c-1&state=s-1&iss=http%3A%2F%2F127.0.0.1%3A9000")?;
//! let code = response.validate("s-1", issuer, asm.supports_iss_parameter())?.clone();
//!
//! // 5. Token request; the server checks it into a typed grant.
//! let request = TokenRequest::authorization_code(code, "http://127.0.0.1:4711/cb", verifier)
//!     .resource(resource.as_str())
//!     .client_id("agent");
//! match request.grant()? {
//!     TokenGrant::AuthorizationCode { resource: Some(r), .. } => assert_eq!(r, resource),
//!     other => unreachable!("{other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod macros;
mod serde_util;

pub mod authorization;
pub mod challenge;
pub mod client_limits;
pub mod device;
pub mod discovery;
pub mod error;
pub mod exchange;
pub mod html;
pub mod introspection;
pub mod issuer;
#[cfg(feature = "jose")]
#[cfg_attr(docsrs, doc(cfg(feature = "jose")))]
pub mod jose;
pub mod metadata;
pub mod pkce;
pub mod redirect;
pub mod registration;
pub mod resource;
pub mod scope;
pub mod scope_hierarchy;
pub mod secret;
pub mod token;

pub use error::{ErrorCode, ErrorResponse};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctest;

/// This crate's README (published with it), compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctest;
pub use issuer::Issuer;
pub use resource::ResourceUri;
pub use scope::ScopeSet;
