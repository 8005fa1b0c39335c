use super::*;

// RFC 7591 §3.1 example request (the "extra" member is unknown to us).
const RFC7591_REQUEST: &str = r#"{
    "redirect_uris": ["https://client.example.org/callback", "https://client.example.org/callback2"],
    "client_name": "My Example Client",
    "client_name#ja-Jpan-JP": "クライアント名",
    "token_endpoint_auth_method": "client_secret_basic",
    "logo_uri": "https://client.example.org/logo.png",
    "jwks_uri": "https://client.example.org/my_public_keys.jwks",
    "example_extension_parameter": "example_value"
}"#;

// RFC 7591 §3.2.1 example response.
const RFC7591_RESPONSE: &str = r#"{
    "client_id": "s6BhdRkqt3",
    "client_secret": "cf136dc3c1fc93f31185e5885805d",
    "client_id_issued_at": 2893256800,
    "client_secret_expires_at": 2893276800,
    "redirect_uris": ["https://client.example.org/callback", "https://client.example.org/callback2"],
    "grant_types": ["authorization_code", "refresh_token"],
    "client_name": "My Example Client",
    "client_name#ja-Jpan-JP": "クライアント名",
    "token_endpoint_auth_method": "client_secret_basic",
    "logo_uri": "https://client.example.org/logo.png",
    "jwks_uri": "https://client.example.org/my_public_keys.jwks",
    "example_extension_parameter": "example_value"
}"#;

// The MCP spec's example metadata document.
const MCP_CIMD: &str = r#"{
    "client_id": "https://app.example.com/oauth/client-metadata.json",
    "client_name": "Example MCP Client",
    "client_uri": "https://app.example.com",
    "logo_uri": "https://app.example.com/logo.png",
    "redirect_uris": ["http://127.0.0.1:3000/callback", "http://localhost:3000/callback"],
    "grant_types": ["authorization_code"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none"
}"#;

fn json_round_trip<T: Serialize + serde::de::DeserializeOwned>(text: &str) -> T {
    let value: Value = serde_json::from_str(text).unwrap();
    let typed: T = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), value);
    typed
}

#[test]
fn rfc7591_request_round_trips_and_validates() {
    let m: ClientMetadata = json_round_trip(RFC7591_REQUEST);
    assert_eq!(m.extra["example_extension_parameter"], "example_value");
    assert_eq!(m.extra["client_name#ja-Jpan-JP"], "クライアント名");
    m.validate().unwrap();
}

#[test]
fn rfc7591_response_round_trips() {
    let r: ClientInformation = json_round_trip(RFC7591_RESPONSE);
    assert_eq!(r.client_id, "s6BhdRkqt3");
    assert_eq!(
        r.client_secret.as_ref().unwrap().secret(),
        "cf136dc3c1fc93f31185e5885805d"
    );
    assert_eq!(r.metadata.effective_grant_types().len(), 2);
    assert!(!format!("{r:?}").contains("cf136dc3"));
    assert!(!r.metadata.extra.contains_key("client_id"));
}

#[test]
fn registration_refusals() {
    let base = ClientMetadata {
        redirect_uris: Some(vec!["http://127.0.0.1/cb".into()]),
        ..Default::default()
    };
    base.validate().unwrap();
    let err = |m: ClientMetadata| m.validate().unwrap_err().error;
    assert_eq!(
        err(ClientMetadata {
            redirect_uris: None,
            ..base.clone()
        }),
        ErrorCode::InvalidRedirectUri
    );
    assert_eq!(
        err(ClientMetadata {
            redirect_uris: Some(vec!["http://evil.example/cb".into()]),
            ..base.clone()
        }),
        ErrorCode::InvalidRedirectUri
    );
    assert_eq!(
        err(ClientMetadata {
            grant_types: Some(vec![GrantType::Implicit]),
            ..base.clone()
        }),
        ErrorCode::InvalidClientMetadata
    );
    assert_eq!(
        err(ClientMetadata {
            response_types: Some(vec![ResponseType::Token]),
            ..base.clone()
        }),
        ErrorCode::InvalidClientMetadata
    );
    assert_eq!(
        err(ClientMetadata {
            grant_types: Some(vec![GrantType::RefreshToken]),
            ..base.clone()
        }),
        ErrorCode::InvalidClientMetadata
    );
    // client_credentials alone needs no redirect URI.
    ClientMetadata {
        grant_types: Some(vec![GrantType::ClientCredentials]),
        redirect_uris: None,
        ..Default::default()
    }
    .validate()
    .unwrap();
}

#[test]
fn cimd_example_validates() {
    let d: ClientIdMetadataDocument = json_round_trip(MCP_CIMD);
    d.validate("https://app.example.com/oauth/client-metadata.json")
        .unwrap();
    assert_eq!(
        d.validate("https://app.example.com/oauth/other.json"),
        Err(ClientIdMetadataDocumentError::ClientIdMismatch {
            url: "https://app.example.com/oauth/other.json".into(),
            found: d.client_id.clone()
        })
    );
}

#[test]
fn cimd_refusals() {
    let url = "https://app.example.com/oauth/client-metadata.json";
    let good: ClientIdMetadataDocument = serde_json::from_str(MCP_CIMD).unwrap();
    let mut d = good.clone();
    d.metadata.client_name = None;
    assert_eq!(
        d.validate(url),
        Err(ClientIdMetadataDocumentError::MissingField("client_name"))
    );
    let mut d = good.clone();
    d.metadata.token_endpoint_auth_method = Some(ClientAuthMethod::ClientSecretPost);
    assert_eq!(
        d.validate(url),
        Err(ClientIdMetadataDocumentError::SharedSecret)
    );
    let mut d = good.clone();
    d.metadata.redirect_uris = Some(vec!["http://attacker.example/cb".into()]);
    assert!(matches!(
        d.validate(url),
        Err(ClientIdMetadataDocumentError::RedirectUri(_))
    ));
    assert!(!is_client_id_metadata_url("https://app.example.com/"));
    assert!(!is_client_id_metadata_url(
        "http://app.example.com/client.json"
    ));
    assert!(is_client_id_metadata_url(
        "https://app.example.com/client.json"
    ));
    assert!(!is_client_id_metadata_url("my-client-id"));
}
