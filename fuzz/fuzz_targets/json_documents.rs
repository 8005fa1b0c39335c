//! The JSON documents a peer sends us: AS and protected-resource metadata,
//! client registration metadata, Client ID Metadata Documents, token,
//! introspection and error responses. Parsing and validation never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::introspection::IntrospectionResponse;
use mcp_oauth_core::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use mcp_oauth_core::registration::{
    ClientIdMetadataDocument, ClientInformation, ClientMetadata,
};
use mcp_oauth_core::token::TokenResponse;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<AuthorizationServerMetadata>(data) {
        let _ = m.validate_issuer("https://as.example.com");
        let _ = m.supports_s256();
        let _ = m.supports_client_id_metadata_documents();
        let _ = serde_json::to_vec(&m).expect("serialises");
    }
    if let Ok(m) = serde_json::from_slice::<ProtectedResourceMetadata>(data) {
        let _ = serde_json::to_vec(&m).expect("serialises");
    }
    if let Ok(m) = serde_json::from_slice::<ClientMetadata>(data) {
        let _ = m.validate();
        let _ = m.effective_auth_method();
        let _ = m.effective_grant_types();
    }
    if let Ok(d) = serde_json::from_slice::<ClientIdMetadataDocument>(data) {
        let _ = d.validate("https://app.example.com/oauth/client.json");
    }
    let _ = serde_json::from_slice::<ClientInformation>(data);
    if let Ok(t) = serde_json::from_slice::<TokenResponse>(data) {
        let _ = t.token_type.is_bearer();
    }
    if let Ok(i) = serde_json::from_slice::<IntrospectionResponse>(data) {
        let _ = i.scopes();
    }
    if let Ok(e) = serde_json::from_slice::<ErrorResponse>(data) {
        let _ = e.status();
    }
});
