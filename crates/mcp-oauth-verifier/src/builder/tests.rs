//! Unit tests of the builder's checks and defaults.

use jsonwebtoken::Algorithm;

use super::*;

fn builder() -> VerifierBuilder<WithIssuer> {
    Verifier::builder("https://mcp.example.com/mcp").authorization_server("https://a.example")
}

#[test]
fn explicit_keys_belong_to_a_single_issuer() {
    let two = || builder().authorization_server("https://b.example");
    for b in [
        two().jwks_uri("https://a.example/jwks"),
        two().shared_secret(
            b"0123456789abcdef0123456789abcdef".to_vec(),
            Algorithm::HS256,
        ),
    ] {
        assert!(matches!(
            b.build(),
            Err(BuildError::ExplicitKeysNeedOneIssuer { issuers: 2 })
        ));
    }
    assert!(builder().jwks_uri("https://a.example/jwks").build().is_ok());
    // Discovery per issuer, and an introspection endpoint, are fine with several.
    assert!(two().build().is_ok());
    assert!(
        two()
            .introspection("rs", "s")
            .introspection_endpoint("https://a.example/introspect")
            .build()
            .is_ok()
    );
}

#[test]
fn allowed_origins_must_be_origins() {
    for bad in [
        "null",
        "https://app.example/",
        "app.example",
        "https://a.example/x",
    ] {
        assert!(
            matches!(builder().allowed_origins([bad]).build(), Err(BuildError::Origin(o)) if o == bad),
            "{bad}"
        );
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    assert_eq!(builder().settings.cache_max_bytes, 16 * 1024 * 1024);
    let jwt = builder().jwks().mode;
    assert_eq!(jwt.max_token_lifetime, Duration::from_secs(86_400));
    assert_eq!(jwt.jwks_refresh_interval, Duration::from_secs(10));
    assert_eq!(jwt.leeway, 60);
    assert!(!jwt.allow_untyped);
    let introspection = builder().introspection("rs", "s").mode;
    assert_eq!(introspection.cache_ttl, Duration::from_secs(30));
    assert!(introspection.validate_resource);
}

#[test]
fn jwt_settings_accumulate_in_any_order() {
    let jwt = builder()
        .shared_secret(
            b"0123456789abcdef0123456789abcdef".to_vec(),
            Algorithm::HS256,
        )
        .jwks_uri("https://a.example/jwks")
        .leeway(5)
        .jwks()
        .mode;
    assert_eq!(jwt.jwks_uri.as_deref(), Some("https://a.example/jwks"));
    assert!(jwt.shared.is_some());
    assert_eq!(jwt.leeway, 5);
}

#[test]
fn errors_keep_the_input_and_its_parse_error() {
    use std::error::Error as _;

    let err = Verifier::builder("ftp://mcp.example.com/mcp")
        .authorization_server("https://a.example")
        .build()
        .unwrap_err();
    assert!(matches!(
        &err,
        BuildError::Resource { input, source: ResourceError::Scheme(_) }
            if input == "ftp://mcp.example.com/mcp"
    ));
    assert!(err.source().is_some());

    let err = builder()
        .authorization_server("https://b.example?x=1")
        .build()
        .unwrap_err();
    assert!(matches!(
        &err,
        BuildError::Issuer { input, source: mcp_oauth_core::issuer::IssuerError::Query }
            if input == "https://b.example?x=1"
    ));

    let err = builder()
        .tool_scope("delete", "admin \"x\"")
        .build()
        .unwrap_err();
    assert!(matches!(&err, BuildError::Scope { input, .. } if input == "admin \"x\""));
    assert!(err.source().is_some());
}

#[test]
fn an_introspection_endpoint_is_https_or_on_this_machine() {
    let with = |endpoint: &str| {
        builder()
            .introspection("rs", "s")
            .introspection_endpoint(endpoint)
            .build()
    };
    for bad in [
        "http://auth.example.com/introspect",
        "http://10.0.0.5/introspect",
        "ftp://auth.example.com/introspect",
        "not a url",
    ] {
        assert!(
            matches!(with(bad), Err(BuildError::InsecureIntrospectionEndpoint(ref e)) if e == bad),
            "{bad}"
        );
    }
    for good in [
        "https://auth.example.com/introspect",
        "http://127.0.0.1:9000/introspect",
        "http://[::1]:9000/introspect",
        "http://localhost:9000/introspect",
    ] {
        assert!(with(good).is_ok(), "{good}");
    }
}
