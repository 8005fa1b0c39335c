use mcp_oauth_core::exchange::IdJagClaims;
use serde_json::json;

use crate::federation::UpstreamConfig;

use super::*;

fn jwks() -> Value {
    json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI",
        "y": "iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0"}]})
}

fn acme() -> TrustedIdpConfig {
    TrustedIdpConfig::with_jwks("acme", "https://acme.okta.com", jwks(), ["agent"])
}

#[test]
fn the_toml_form_with_its_defaults() {
    let c: TrustedIdpConfig = toml::from_str(
        r#"
        name = "acme"
        issuer = "https://acme.okta.com"
        jwks_uri = "https://acme.okta.com/oauth2/v1/keys"
        clients = ["agent"]
        "#,
    )
    .unwrap();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.subject_claim, "sub");
    assert_eq!((c.max_lifetime, c.leeway), (300, 30));
    assert!(!c.local_users && c.resources.is_empty() && c.scopes.is_none());

    let c: TrustedIdpConfig = toml::from_str(
        r#"
        name = "corp"
        issuer = "https://login.corp.example"
        clients = ["agent", "ide"]
        resources = ["https://mcp.corp.example/mcp"]
        scopes = ["mcp", "files.read"]
        subject_claim = "preferred_username"
        email_domains = ["corp.example"]
        local_users = true
        max_lifetime = 120
        leeway = 10
        [jwks]
        keys = [{ kty = "EC", crv = "P-256", kid = "k1", x = "8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI", y = "iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0" }]
        "#,
    )
    .unwrap();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.jwks, Some(jwks()));
    assert_eq!(c.scope_cap().unwrap().to_sorted_string(), "files.read mcp");
    assert_eq!(c.resource_list().len(), 1);
    assert!(c.local_users && c.needs_verified_email());
    assert_eq!((c.max_lifetime, c.leeway), (120, 10));

    let unknown = toml::from_str::<TrustedIdpConfig>(
        "name = \"a\"\nissuer = \"https://a.example\"\nclients = [\"c\"]\njwks_url = \"x\"\n",
    );
    assert!(unknown.is_err(), "unknown keys are refused");
}

#[test]
fn validation_names_the_field_at_fault() {
    let fails = |c: TrustedIdpConfig, what: &str| {
        let e = c.validate().unwrap_err();
        assert!(e.contains(what), "{e} should name {what}");
    };
    let mut c = acme();
    c.name = "Acme!".into();
    fails(c, "name");
    let mut c = acme();
    c.issuer = "http://acme.example".into();
    fails(c, "issuer");
    let mut c = acme();
    c.jwks_uri = Some("https://acme.example/keys".into());
    fails(c, "exactly one");
    let mut c = acme();
    c.jwks = None;
    fails(c, "exactly one");
    let mut c = acme();
    c.jwks = Some(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}));
    fails(c, "jwks holds no key");
    let mut c = acme();
    c.clients.clear();
    fails(c, "clients");
    fails(acme().resources(["https://mcp.example/mcp#x"]), "resource");
    fails(acme().scopes(["bad\"scope"]), "scopes");
    fails(acme().subject_claim(""), "subject_claim");
    fails(acme().email_domains(["@acme.example"]), "email_domains");
    fails(acme().max_lifetime(0), "max_lifetime");
    fails(acme().max_lifetime(86_401), "max_lifetime");
    fails(acme().leeway(301), "leeway");
    // A claim people may edit must not pick the local account they become.
    for claim in ["preferred_username", "name", "upn"] {
        fails(acme().subject_claim(claim).local_users(), "subject_claim");
        assert_eq!(
            acme()
                .subject_claim(claim)
                .local_users()
                .email_domains(["acme.example"])
                .validate(),
            Ok(()),
            "with verified addresses in the organisation's domains"
        );
        assert_eq!(acme().subject_claim(claim).validate(), Ok(()), "namespaced");
    }
    for claim in ["sub", "email"] {
        assert_eq!(acme().subject_claim(claim).local_users().validate(), Ok(()));
    }
    let loopback = TrustedIdpConfig::with_jwks_uri(
        "lab",
        "http://127.0.0.1:9999",
        "http://127.0.0.1:9999/keys",
        ["agent"],
    );
    assert_eq!(loopback.validate(), Ok(()), "http is fine on loopback");
}

#[test]
fn names_and_issuers_are_distinct_and_do_not_mix_with_upstreams() {
    assert!(validate_all(&[acme()], &[]).is_ok());
    let mut twin = acme();
    twin.issuer = "https://other.example".into();
    assert!(
        validate_all(&[acme(), twin], &[])
            .unwrap_err()
            .contains("twice")
    );
    let mut same_issuer = acme();
    same_issuer.name = "acme2".into();
    assert!(
        validate_all(&[acme(), same_issuer], &[])
            .unwrap_err()
            .contains("issuer")
    );
    let upstream = |issuer: &str| UpstreamConfig::oidc("acme", "Acme", issuer, "ours", None);
    assert!(
        validate_all(&[acme()], &[upstream("https://acme.okta.com")]).is_ok(),
        "the same provider, the same people"
    );
    assert!(validate_all(&[acme()], &[upstream("https://evil.example")]).is_err());
    assert!(
        validate_all(
            &[acme().subject_claim("email")],
            &[upstream("https://acme.okta.com")]
        )
        .is_err()
    );
}

#[test]
fn a_name_shared_with_an_upstream_keeps_its_allow_lists() {
    let upstream = || UpstreamConfig::oidc("acme", "Acme", "https://acme.okta.com", "ours", None);
    let refused = |idp: TrustedIdpConfig, up: UpstreamConfig, what: &str| {
        let e = validate_all(&[idp], &[up]).unwrap_err();
        assert!(e.contains(what), "{e} should name {what}");
    };
    refused(
        acme(),
        upstream().allowed_groups(["staff"]),
        "allowed_groups",
    );
    let domains = || upstream().allowed_email_domains(["acme.example", "acme.test"]);
    refused(acme(), domains(), "email_domains");
    refused(
        acme().email_domains(["evil.example"]),
        domains(),
        "email_domains",
    );
    refused(
        acme().email_domains(["acme.example", "evil.example"]),
        domains(),
        "email_domains",
    );
    assert!(validate_all(&[acme().email_domains(["ACME.example"])], &[domains()]).is_ok());
    assert!(validate_all(&[acme().email_domains(["x.example"])], &[upstream()]).is_ok());
}

/// The claims of a grant: the required ones, then `v`'s.
fn claims(v: Value) -> IdJagClaims {
    let mut c = json!({"iss": "https://acme.okta.com", "sub": "00u1", "aud": "https://as.example",
        "resource": "https://mcp.example/mcp", "client_id": "agent", "jti": "j", "iat": 1, "exp": 2});
    for (k, v) in v.as_object().unwrap() {
        c[k] = v.clone();
    }
    serde_json::from_value(c).unwrap()
}

#[test]
fn subjects_are_namespaced_or_local() {
    let c = claims(json!({"sub": "00u1", "email": "Ann@Acme.example", "email_verified": true}));
    let m = map_subject(&acme(), &c).unwrap();
    assert_eq!(m.subject, "acme:00u1");
    assert_eq!(m.value, "00u1");
    assert_eq!(m.verified_email.as_deref(), Some("Ann@Acme.example"));

    let by_email = acme().subject_claim("email");
    assert_eq!(
        map_subject(&by_email, &c).unwrap().subject,
        "acme:Ann@Acme.example"
    );
    let local = acme()
        .subject_claim("preferred_username")
        .email_domains(["acme.example"])
        .local_users();
    let c = claims(
        json!({"preferred_username": "ann", "email": "ann@acme.example",
        "email_verified": true}),
    );
    let m = map_subject(&local, &c).unwrap();
    assert_eq!(m.subject, "ann");

    for bad in [json!(""), json!("a\nb"), json!("x".repeat(256))] {
        assert_eq!(
            map_subject(&acme(), &claims(json!({"sub": bad}))),
            Err(SubjectError::NoSubject("sub".into()))
        );
    }
    let by_name = acme().subject_claim("preferred_username");
    for bad in [json!({}), json!({"preferred_username": 42})] {
        assert_eq!(
            map_subject(&by_name, &claims(bad)),
            Err(SubjectError::NoSubject("preferred_username".into()))
        );
    }
}

#[test]
fn email_rules() {
    let domains = acme().email_domains(["acme.example"]);
    let with = |email: Value, verified: Value| {
        claims(json!({"sub": "u", "email": email, "email_verified": verified}))
    };
    assert!(map_subject(&domains, &with(json!("a@ACME.example"), json!(true))).is_ok());
    assert_eq!(
        map_subject(&domains, &with(json!("a@acme.example"), json!(false))),
        Err(SubjectError::EmailUnverified)
    );
    let m = map_subject(&domains, &with(json!("a@acme.example"), json!("true")));
    assert_eq!(
        m.unwrap().verified_email.as_deref(),
        Some("a@acme.example"),
        "the string \"true\" verifies, as core reads it"
    );
    assert_eq!(
        map_subject(&domains, &with(json!("a@acme.example"), json!("false"))),
        Err(SubjectError::EmailUnverified)
    );
    assert_eq!(
        map_subject(&domains, &with(json!("a@evil.example"), json!(true))),
        Err(SubjectError::EmailDomain)
    );
    assert_eq!(
        map_subject(&domains, &with(json!("a@sub.acme.example"), json!(true))),
        Err(SubjectError::EmailDomain),
        "subdomains are other domains"
    );
    assert_eq!(
        map_subject(&domains, &claims(json!({"sub": "u"}))),
        Err(SubjectError::NoEmail)
    );
    // The e-mail as subject is always verified, with or without domains.
    let by_email = acme().subject_claim("email");
    assert_eq!(
        map_subject(&by_email, &with(json!("a@any.example"), json!(false))),
        Err(SubjectError::EmailUnverified)
    );
    assert!(map_subject(&by_email, &with(json!("a@any.example"), json!(true))).is_ok());
    // Without a requirement an unverified address is not passed on.
    let m = map_subject(&acme(), &with(json!("a@any.example"), json!(false))).unwrap();
    assert_eq!(m.verified_email, None);
}
