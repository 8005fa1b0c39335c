//! The core wire types against documents shaped like real servers' output.

use mcp_oauth_core::metadata::AuthorizationServerMetadata;

#[test]
fn oidc_discovery_document_is_read_as_authorization_server_metadata() {
    // An OpenID Connect discovery document carries fields RFC 8414 does not
    // define: the provider's are read, the rest survive, and the OAuth ones
    // are read.
    let doc = serde_json::json!({
        "issuer": "https://accounts.example.com",
        "authorization_endpoint": "https://accounts.example.com/o/oauth2/v2/auth",
        "token_endpoint": "https://oauth2.example.com/token",
        "userinfo_endpoint": "https://openidconnect.example.com/v1/userinfo",
        "jwks_uri": "https://www.example.com/oauth2/v3/certs",
        "response_types_supported": ["code", "token", "id_token", "code token", "none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "claims_parameter_supported": true,
        "grant_types_supported": ["authorization_code", "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"]
    });
    let m: AuthorizationServerMetadata = serde_json::from_value(doc.clone()).unwrap();
    assert!(m.supports_s256());
    assert_eq!(m.subject_types_supported, Some(vec!["public".to_owned()]));
    assert!(!m.is_openid_provider(), "openid is not among its scopes");
    assert_eq!(m.extra["claims_parameter_supported"], true);
    assert_eq!(serde_json::to_value(&m).unwrap(), doc);
}
