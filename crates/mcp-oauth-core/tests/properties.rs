//! Properties of the parsers that read what peers send, mirroring the fuzz
//! targets in `fuzz/` so that every `cargo test` exercises them: arbitrary
//! JSON documents, form bodies, query strings and URLs never panic, and
//! accepted values keep their invariants.

use mcp_oauth_core::authorization::AuthorizationResponse;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::introspection::{IntrospectionRequest, IntrospectionResponse};
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use mcp_oauth_core::pkce::{PkceChallenge, validate_verifier};
use mcp_oauth_core::redirect::validate_redirect_uri;
use mcp_oauth_core::registration::{ClientIdMetadataDocument, ClientMetadata};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::token::{RevocationRequest, TokenRequest, TokenResponse};
use proptest::prelude::*;
use serde_json::Value;

/// JSON values built from the field names and shapes the documents use, so
/// that generated values reach the typed fields and not only the catch-all.
fn json_value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "issuer",
        "resource",
        "authorization_servers",
        "redirect_uris",
        "client_id",
        "client_secret",
        "grant_types",
        "token_endpoint_auth_method",
        "code_challenge_methods_supported",
        "scope",
        "active",
        "exp",
        "aud",
        "access_token",
        "token_type",
        "expires_in",
        "error",
        "jwks",
        "application_type",
        "x",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[ -~]{0,24}".prop_map(Value::String),
        "https?://[a-z0-9.:\\[\\]@%/#?=-]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..8).prop_map(|fields| {
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn form_body() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "grant_type",
        "code",
        "code_verifier",
        "redirect_uri",
        "refresh_token",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "scope",
        "resource",
        "token",
        "token_type_hint",
        "state",
        "iss",
        "error",
    ]);
    let value = prop_oneof![
        Just("authorization_code".to_owned()),
        Just("refresh_token".to_owned()),
        Just("client_credentials".to_owned()),
        "[ -~]{0,16}",
        "%[0-9A-Fa-f]{0,2}[a-z]{0,4}",
    ];
    prop::collection::vec((key, value), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_documents_never_panic(v in json_value()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(m) = serde_json::from_slice::<AuthorizationServerMetadata>(&bytes) {
            let _ = m.validate_issuer("https://as.example.com");
            let _ = m.supports_s256();
            serde_json::to_vec(&m).unwrap();
        }
        if let Ok(m) = serde_json::from_slice::<ProtectedResourceMetadata>(&bytes) {
            serde_json::to_vec(&m).unwrap();
        }
        if let Ok(m) = serde_json::from_slice::<ClientMetadata>(&bytes) {
            let _ = m.validate();
            let _ = m.effective_auth_method();
        }
        if let Ok(d) = serde_json::from_slice::<ClientIdMetadataDocument>(&bytes) {
            let _ = d.validate("https://app.example.com/client.json");
        }
        if let Ok(t) = serde_json::from_slice::<TokenResponse>(&bytes) {
            let _ = t.token_type.is_bearer();
        }
        if let Ok(i) = serde_json::from_slice::<IntrospectionResponse>(&bytes) {
            let _ = i.scopes();
        }
        if let Ok(e) = serde_json::from_slice::<ErrorResponse>(&bytes) {
            let _ = e.status();
        }
    }

    #[test]
    fn form_bodies_never_panic(body in form_body()) {
        if let Ok(request) = serde_urlencoded::from_str::<TokenRequest>(&body) {
            let _ = request.grant();
        }
        let _ = serde_urlencoded::from_str::<RevocationRequest>(&body);
        let _ = serde_urlencoded::from_str::<IntrospectionRequest>(&body);
        if let Ok(response) = AuthorizationResponse::from_query(&body) {
            let _ = response.validate("state", "https://as.example.com", true);
        }
    }

    #[test]
    fn url_rules_keep_their_invariants(s in "(https?|HTTP|javascript|data)://[a-zA-Z0-9.:\\[\\]@%/#?=~_-]{0,40}") {
        if validate_redirect_uri(&s).is_ok() {
            prop_assert!(!s.contains('#'), "a redirect URI with a fragment was accepted");
        }
        if let Ok(r) = ResourceUri::parse(&s) {
            let again = ResourceUri::parse(r.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), r.as_str(), "canonical form is a fixed point");
        }
        let _ = Issuer::parse(s.clone());
    }

    #[test]
    fn pkce_checks_never_panic(challenge in "[ -~]{0,80}", verifier in "[ -~]{0,140}") {
        let _ = validate_verifier(&verifier);
        if let Ok(c) = PkceChallenge::parse(&challenge, Some("S256")) {
            let _ = c.verify(&verifier);
        }
    }
}
