use super::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[test]
fn rfc6749_token_response_example() {
    let text = r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"example","expires_in":3600,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","example_parameter":"example_value"}"#;
    let r: TokenResponse = serde_json::from_str(text).unwrap();
    assert_eq!(r.expires_in, Some(3600));
    assert_eq!(r.extra["example_parameter"], "example_value");
    assert_eq!(serde_json::to_string(&r).unwrap(), text);
    assert!(!format!("{r:?}").contains("2YotnFZFEjr1zCsicMWpAA"));
}

#[test]
fn lenient_token_responses() {
    let r: TokenResponse = serde_json::from_str(
        r#"{"access_token":"a","token_type":"bearer","expires_in":"60","scope":"mcp bad\"tok"}"#,
    )
    .unwrap();
    assert!(r.token_type.is_bearer());
    assert_eq!(r.expires_in, Some(60));
    assert_eq!(r.scope.unwrap().to_string(), "mcp");
}

#[test]
fn authorization_code_request_form_round_trip() {
    let req = TokenRequest::authorization_code(
        AuthorizationCode::new("SplxlOBeZQQYbYS6WxSbIA"),
        "https://client.example.com/cb",
        PkceVerifier::parse(VERIFIER).unwrap(),
    )
    .resource("https://mcp.example.com")
    .client_id("s6BhdRkqt3");
    let form = serde_urlencoded::to_string(&req).unwrap();
    let back: TokenRequest = serde_urlencoded::from_str(&form).unwrap();
    assert_eq!(back, req);
    match back.grant().unwrap() {
        TokenGrant::AuthorizationCode {
            code_verifier,
            resource,
            ..
        } => {
            assert_eq!(code_verifier.secret(), VERIFIER);
            assert_eq!(resource.unwrap().as_str(), "https://mcp.example.com");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn grant_checks() {
    let decode = |s: &str| serde_urlencoded::from_str::<TokenRequest>(s);
    let err = |s: &str| decode(s).unwrap().grant().unwrap_err();
    assert_eq!(
        err("grant_type=password&username=a").error,
        ErrorCode::UnsupportedGrantType
    );
    assert_eq!(
        err("grant_type=implicit").error,
        ErrorCode::UnsupportedGrantType
    );
    let missing = err("grant_type=authorization_code&code=abc");
    assert_eq!(missing.error, ErrorCode::InvalidRequest);
    assert_eq!(
        missing.error_description.as_deref(),
        Some("missing parameter code_verifier")
    );
    assert_eq!(
        err("grant_type=refresh_token").error,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        err("grant_type=refresh_token&refresh_token=x&scope=a%5Cb").error,
        ErrorCode::InvalidScope
    );
    assert_eq!(
        err("grant_type=client_credentials&resource=https%3A%2F%2Fa.example%23f").error,
        ErrorCode::InvalidTarget
    );
    // A malformed verifier fails at decode, with a precise message.
    let e = decode("grant_type=authorization_code&code=a&code_verifier=short").unwrap_err();
    assert!(e.to_string().contains("43 to 128"), "{e}");
    // Repeated parameters are refused (RFC 6749 §3.2).
    assert!(decode("grant_type=refresh_token&refresh_token=a&refresh_token=b").is_err());
    // Unknown parameters are ignored.
    assert!(
        decode("grant_type=client_credentials&foo=bar")
            .unwrap()
            .grant()
            .is_ok()
    );
}

#[test]
fn post_auth_params_in_body() {
    let r: TokenRequest = serde_urlencoded::from_str(
        "grant_type=client_credentials&client_id=c&client_secret=s&scope=mcp",
    )
    .unwrap();
    assert_eq!(r.client.client_id.as_deref(), Some("c"));
    assert_eq!(r.client.client_secret.as_ref().unwrap().secret(), "s");
    assert!(format!("{r:?}").contains("ClientSecret([redacted])"));
}

#[test]
fn rfc9068_claims() {
    // RFC 9068 §2.2 style payload, with an array audience.
    let text = r#"{"iss":"https://authorization-server.example.com/","sub":"5ba552d67",
        "aud":["https://rs.example.com/","https://other.example"],"exp":1639528912,"iat":1618354090,
        "jti":"dbe39bf3a3ba4238a513f51d6e1691c4","client_id":"s6BhdRkqt3","scope":"openid profile reademail"}"#;
    let c: AccessTokenClaims = serde_json::from_str(text).unwrap();
    let rs = ResourceUri::parse("https://rs.example.com").unwrap();
    assert!(c.aud.contains_resource(&rs));
    assert!(
        !c.aud
            .contains_resource(&ResourceUri::parse("https://rs.example.com/x").unwrap())
    );
    assert_eq!(c.scopes().len(), 3);
    let single = AccessTokenClaims {
        aud: Audience::single("https://rs.example.com"),
        ..c.clone()
    };
    assert_eq!(
        serde_json::to_value(&single).unwrap()["aud"],
        "https://rs.example.com"
    );
    let back: AccessTokenClaims =
        serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn time_validation() {
    let c: AccessTokenClaims = serde_json::from_str(
        r#"{"iss":"i","sub":"s","aud":"a","client_id":"c","exp":1000,"iat":900,"jti":"j","nbf":950}"#,
    )
    .unwrap();
    assert_eq!(c.validate_time(999, 0), Ok(()));
    assert_eq!(c.validate_time(1000, 0), Err(TimeValidationError::Expired));
    assert_eq!(c.validate_time(1029, 30), Ok(()));
    assert_eq!(
        c.validate_time(940, 0),
        Err(TimeValidationError::NotYetValid)
    );
    assert_eq!(c.validate_time(940, 10), Ok(()));
}

#[test]
fn revocation_request_rfc7009_example() {
    let r: RevocationRequest =
        serde_urlencoded::from_str("token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token")
            .unwrap();
    assert_eq!(r.token_type_hint, Some(TokenTypeHint::RefreshToken));
    assert_eq!(r.token.secret(), "45ghiukldjahdnhzdauz");
}
