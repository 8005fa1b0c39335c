use super::*;

fn builder() -> OAuthClientBuilder {
    OAuthClient::builder("test-agent")
}

#[test]
fn secrets_and_preregistered_clients_need_a_trusted_issuer() {
    // What private_key_jwt(..) sets, without a real key at hand.
    let mut jwt = builder().client_id("id");
    jwt.config.assertion_key = Some(AssertionKey {
        key: jsonwebtoken::EncodingKey::from_secret(b"not used"),
        alg: jsonwebtoken::Algorithm::HS256,
        kid: None,
    });
    for (what, b) in [
        ("password", builder().login(Login::password("alice", "pw"))),
        (
            "client secret",
            builder().client_credentials("id", "secret"),
        ),
        (
            "client secret (machine)",
            builder()
                .client_credentials("id", "secret")
                .login(Login::ClientCredentials),
        ),
        ("private_key_jwt", jwt),
        ("client id", builder().client_id("id")),
    ] {
        let err = b.build().unwrap_err();
        assert!(
            matches!(err, ClientError::TrustedIssuerRequired(_)),
            "{what}: {err}"
        );
    }
    // With the issuer, each builds; without secrets, none is needed.
    let ok = builder()
        .authorization_server("https://as.example")
        .client_credentials("id", "secret")
        .login(Login::password("alice", "pw"))
        .build();
    assert!(ok.is_ok());
    assert!(builder().login(Login::Browser).build().is_ok());
}

#[test]
fn configured_urls_must_be_https_or_loopback() {
    let err = builder()
        .authorization_server("http://as.example.com")
        .client_id("id")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ClientError::InsecureUrl { what, .. } if what.contains("issuer")),
        "{err}"
    );
    let err = builder()
        .authorization_server("https://as.example.com?x=1")
        .client_id("id")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::InvalidUrl {
                source: crate::error::UrlError::Issuer(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        builder()
            .authorization_server("http://127.0.0.1:9000")
            .client_id("id")
            .build()
            .is_ok()
    );
    let err = builder()
        .metadata_document_url("http://127.0.0.1/client.json")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ClientError::InsecureUrl { .. }),
        "CIMD needs https: {err}"
    );
    // The MCP URL: refused before anything is sent.
    let client = builder().build().unwrap();
    for url in ["http://mcp.example.com/mcp", "http://192.168.1.5:8000/mcp"] {
        assert!(matches!(
            client.session(url),
            Err(ClientError::InsecureUrl {
                what: "MCP server URL",
                ..
            })
        ));
    }
    assert!(client.session("http://[::1]:8000/mcp").is_ok());
    assert!(client.session("https://mcp.example.com/mcp").is_ok());
}

#[test]
fn debug_never_shows_the_password() {
    let login = Login::password("alice", "hunter2-pw");
    let text = format!("{login:?}");
    assert!(
        text.contains("alice") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn an_identity_assertion_login_needs_a_trusted_issuer_credentials_and_a_secure_idp() {
    use crate::{FixedIdToken, IdentityAssertion, IdpClient};
    let login = |idp: &str| {
        Login::IdentityAssertion(IdentityAssertion::new(
            idp,
            IdpClient::secret_basic("at-idp", "idp-secret"),
            FixedIdToken::new("id-token"),
        ))
    };
    let err = builder()
        .login(login("https://idp.example"))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ClientError::TrustedIssuerRequired(what) if what.contains("IdentityAssertion")),
        "{err}"
    );
    // A public client id is not enough: the grant is redeemed by an
    // authenticated client.
    let err = builder()
        .authorization_server("https://as.example")
        .client_id("id")
        .login(login("https://idp.example"))
        .build()
        .unwrap_err();
    assert!(matches!(err, ClientError::Config(_)), "{err}");
    for (idp, insecure) in [
        ("http://idp.example", true),
        ("https://idp.example?tenant=1", false),
        ("not a url", false),
    ] {
        let err = builder()
            .authorization_server("https://as.example")
            .client_credentials("id", "secret")
            .login(login(idp))
            .build()
            .unwrap_err();
        if insecure {
            assert!(
                matches!(
                    err,
                    ClientError::InsecureUrl {
                        what: "IdP issuer",
                        ..
                    }
                ),
                "{idp}: {err}"
            );
        } else {
            assert!(
                matches!(
                    err,
                    ClientError::InvalidUrl {
                        what: "IdP issuer",
                        ..
                    }
                ),
                "{idp}: {err}"
            );
        }
    }
    for idp in ["https://idp.example", "http://127.0.0.1:9100"] {
        let client = builder()
            .authorization_server("https://as.example")
            .client_credentials("id", "secret")
            .login(login(idp))
            .build()
            .unwrap();
        assert!(!format!("{client:?}").contains("idp-secret"));
    }
}
