//! Form bodies and query strings (token, revocation, introspection
//! requests, the authorization response a client receives) and the URL
//! rules (redirect URIs, resource indicators, issuers, discovery URLs,
//! scopes, PKCE). Nothing panics; accepted values keep their invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::authorization::AuthorizationResponse;
use mcp_oauth_core::discovery::{
    authorization_server_metadata_urls, protected_resource_metadata_urls,
};
use mcp_oauth_core::introspection::IntrospectionRequest;
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::pkce::{PkceChallenge, validate_verifier};
use mcp_oauth_core::redirect::validate_redirect_uri;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::token::{RevocationRequest, TokenRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_urlencoded::from_bytes::<TokenRequest>(data) {
        let _ = request.grant();
    }
    let _ = serde_urlencoded::from_bytes::<RevocationRequest>(data);
    let _ = serde_urlencoded::from_bytes::<IntrospectionRequest>(data);

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(response) = AuthorizationResponse::from_query(text) {
        let _ = response.validate("state", "https://as.example.com", true);
    }
    if validate_redirect_uri(text).is_ok() {
        assert!(!text.contains('#'), "redirect URI with a fragment accepted");
    }
    if let Ok(resource) = ResourceUri::parse(text) {
        // Canonical form is a fixed point.
        let again = ResourceUri::parse(resource.as_str()).expect("canonical form parses");
        assert_eq!(again.as_str(), resource.as_str());
        let _ = protected_resource_metadata_urls(resource.as_str());
    }
    if Issuer::parse(text).is_ok() {
        let _ = authorization_server_metadata_urls(text);
    }
    if let Ok(scopes) = ScopeSet::parse(text) {
        let again = ScopeSet::parse(&scopes.to_string()).expect("scope string parses");
        assert_eq!(again, scopes);
    }
    let _ = validate_verifier(text);
    if let Some((challenge, verifier)) = text.split_once('\n') {
        if let Ok(c) = PkceChallenge::parse(challenge, Some("S256")) {
            let _ = c.verify(verifier);
        }
    }
});
