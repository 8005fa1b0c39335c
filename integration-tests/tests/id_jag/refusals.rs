//! Every way an ID-JAG is refused, each with its exact error code and
//! description; a revoked person's earlier grants; rotated provider keys.

use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::EncodingKey;

use super::*;

/// A compact JWS with this header and payload and a made-up signature.
fn unsigned(header: Value, payload: &Value) -> String {
    let enc = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    format!("{}.{}.c2ln", enc(&header), enc(payload))
}

/// `claims` with the changes `f` makes.
fn changed(mut claims: Value, f: impl FnOnce(&mut Value)) -> Value {
    f(&mut claims);
    claims
}

/// Posts the grant and checks the exact answer.
async fn refused(
    s: &TestServer,
    client: &str,
    assertion: &str,
    scope: Option<&str>,
    (status, error, description): (u16, &str, &str),
) {
    let r = redeem(s, client, Some(assertion), scope).await;
    assert_eq!(
        refusal(r, status).await,
        (error.to_owned(), description.to_owned()),
        "for {description}"
    );
}

const INVALID: u16 = 400;

#[tokio::test]
async fn every_refusal_has_its_error_and_description() {
    let setup = Setup::start(Arc::new(MemoryStorage::new())).await;
    let Setup {
        s,
        acme,
        corp,
        staff,
    } = &setup;
    let t = now();
    let base = |jti: &str| acme.claims(s, AGENT, jti);
    let grant = |jti: &str, f: &dyn Fn(&mut Value)| acme.sign(&changed(base(jti), f));
    let bad = |d: &'static str| (INVALID, "invalid_grant", d);

    // An untrusted issuer is refused before any key is fetched.
    let evil = changed(base("u1"), |c| c["iss"] = json!("https://evil.example"));
    refused(
        s,
        AGENT,
        &acme.sign(&evil),
        None,
        bad("the assertion's issuer is not a trusted identity provider"),
    )
    .await;
    assert_eq!(acme.fetches(), 0, "no key set was fetched");

    let r = redeem(s, AGENT, None, None).await;
    assert_eq!(
        refusal(r, 400).await,
        (
            "invalid_request".into(),
            "missing parameter assertion".into()
        )
    );

    // The JOSE header.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    header.typ = Some("JWT".into());
    let typed_jwt = jsonwebtoken::encode(&header, &base("h1"), &acme.key.encoding).unwrap();
    let wrong_type = bad("the assertion's typ is not oauth-id-jag+jwt");
    refused(s, AGENT, &typed_jwt, None, wrong_type).await;
    header.typ = None;
    let untyped = jsonwebtoken::encode(&header, &base("h2"), &acme.key.encoding).unwrap();
    refused(s, AGENT, &untyped, None, wrong_type).await;
    let none = unsigned(
        json!({"alg": "none", "typ": "oauth-id-jag+jwt"}),
        &base("h3"),
    );
    let none = none.trim_end_matches("c2ln").to_owned();
    refused(
        s,
        AGENT,
        &none,
        None,
        bad("the assertion is unsigned (alg none)"),
    )
    .await;
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("oauth-id-jag+jwt".into());
    let hmac = jsonwebtoken::encode(
        &hs,
        &base("h4"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    refused(
        s,
        AGENT,
        &hmac,
        None,
        bad("the assertion's algorithm HS256 is not accepted: asymmetric signatures only"),
    )
    .await;
    let crit = unsigned(
        json!({"alg": "ES256", "typ": "oauth-id-jag+jwt", "kid": "k1", "crit": ["exp"]}),
        &base("h5"),
    );
    refused(
        s,
        AGENT,
        &crit,
        None,
        bad("the assertion declares critical header extensions (crit)"),
    )
    .await;

    // The signature.
    refused(
        s,
        AGENT,
        &sign_with(&new_key("k1"), "k1", &base("k1")),
        None,
        bad("the assertion's signature does not verify with the identity provider's key"),
    )
    .await;
    refused(
        s,
        AGENT,
        &sign_with(&new_key("k9"), "k9", &base("k2")),
        None,
        bad("the assertion is signed with a key the identity provider does not publish (kid)"),
    )
    .await;
    let no_jti = grant("k3", &|c| {
        c.as_object_mut().unwrap().remove("jti");
    });
    refused(
        s,
        AGENT,
        &no_jti,
        None,
        bad("the assertion's claims are invalid: missing field `jti`"),
    )
    .await;

    // The claims.
    for aud in [
        json!("https://other.example"),
        json!(format!("{}/", s.base)),
    ] {
        let g = grant("a1", &|c| c["aud"] = aud.clone());
        let d = bad("the assertion is not for this authorization server (aud)");
        refused(s, AGENT, &g, None, d).await;
    }
    let g = grant("c1", &|c| c["client_id"] = json!(OTHER));
    let d = bad("the assertion was issued to another client (client_id)");
    refused(s, AGENT, &g, None, d).await;
    let d = bad("this client may not present this identity provider's grants");
    refused(s, OTHER, &g, None, d).await;
    let g = grant("r1", &|c| c["resource"] = json!("not a uri"));
    let d = bad("the assertion's resource is not a valid resource identifier");
    refused(s, AGENT, &g, None, d).await;
    let g = grant("r2", &|c| {
        c["resource"] = json!("https://elsewhere.example/mcp")
    });
    let d = bad("the assertion's resource is not served by this server for this client");
    refused(s, AGENT, &g, None, d).await;
    let g = sign_with(
        &corp.key,
        "c1",
        &changed(corp.claims(s, AGENT, "r3"), |c| {
            c["resource"] = json!(RESOURCE2)
        }),
    );
    let d = bad("the assertion's resource is not allowed for this identity provider");
    refused(s, AGENT, &g, None, d).await;
    let g = grant("t1", &|c| {
        c["iat"] = json!(t - 300);
        c["exp"] = json!(t - 100);
    });
    refused(s, AGENT, &g, None, bad("the assertion expired")).await;
    let g = grant("t2", &|c| {
        c["iat"] = json!(t + 300);
        c["exp"] = json!(t + 400);
    });
    refused(s, AGENT, &g, None, bad("the assertion is not valid yet")).await;
    let g = grant("t3", &|c| c["exp"] = json!(t + 3600));
    let d = bad("the assertion lives longer than this server accepts");
    refused(s, AGENT, &g, None, d).await;
    let long = "j".repeat(256);
    let g = grant(&long, &|_| {});
    refused(
        s,
        AGENT,
        &g,
        None,
        bad("the assertion's jti must be 1 to 255 bytes"),
    )
    .await;
    let g = grant("", &|_| {});
    refused(
        s,
        AGENT,
        &g,
        None,
        bad("the assertion's jti must be 1 to 255 bytes"),
    )
    .await;
    let longest = grant(&"j".repeat(255), &|_| {});
    assert_eq!(redeem(s, AGENT, Some(&longest), None).await.status(), 200);

    // The person.
    let corp_grant = |jti: &str, f: &dyn Fn(&mut Value)| {
        sign_with(&corp.key, "c1", &changed(corp.claims(s, AGENT, jti), f))
    };
    let g = corp_grant("e1", &|c| c["email_verified"] = json!(false));
    let d = bad("the assertion's e-mail address is not verified (email_verified is not true)");
    refused(s, AGENT, &g, None, d).await;
    let g = corp_grant("e2", &|c| c["email"] = json!("ann@evil.example"));
    let d = bad("the assertion's e-mail domain is not allowed for this identity provider");
    refused(s, AGENT, &g, None, d).await;
    let g = sign_with(
        &staff.key,
        "c1",
        &changed(staff.claims(s, AGENT, "l1"), |c| {
            c["preferred_username"] = json!("mallory")
        }),
    );
    let d = bad("no local user matches the assertion's preferred_username claim");
    refused(s, AGENT, &g, None, d).await;

    // The scope; a refused request does not spend the grant.
    let g = grant("s1", &|_| {});
    let d = (
        INVALID,
        "invalid_scope",
        "scope beyond what the identity provider granted: files",
    );
    refused(s, AGENT, &g, Some("mcp files"), d).await;
    assert_eq!(redeem(s, AGENT, Some(&g), None).await.status(), 200);
    // A grant whose scope is empty, or holds nothing valid, granted
    // nothing: never the server's default instead.
    for (jti, empty) in [("s2", ""), ("s3", " "), ("s4", "bad\"scope")] {
        let g = grant(jti, &|c| c["scope"] = json!(empty));
        let d = (
            INVALID,
            "invalid_scope",
            "the identity provider granted no scope (the assertion's scope is empty)",
        );
        refused(s, AGENT, &g, None, d).await;
    }

    // The client.
    let g = acme.sign(&acme.claims(s, PUBLIC, "p1"));
    let d = (
        INVALID,
        "unauthorized_client",
        "identity assertion grants need a confidential client (client authentication)",
    );
    refused(s, PUBLIC, &g, None, d).await;
    untrusted_clients_are_refused(s, acme).await;
    setup.stop().await;
}

/// A client of open registration may not use the grant, nor may a stored
/// client the operator did not create, even one listing the grant.
async fn untrusted_clients_are_refused(s: &TestServer, acme: &Idp) {
    let dcr = crate::flow::register(
        s,
        json!({"client_name": "stranger", "redirect_uris": ["http://127.0.0.1/callback"],
               "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    let (id, secret) = (
        dcr["client_id"].as_str().unwrap(),
        dcr["client_secret"].as_str().unwrap(),
    );
    let g = acme.sign(&acme.claims(s, id, "d1"));
    let r = http()
        .post(s.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", JWT_BEARER), ("assertion", g.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        refusal(r, 400).await,
        (
            "unauthorized_client".into(),
            format!("this client may not use the {JWT_BEARER} grant")
        )
    );

    let mut record = OperatorClient::service("stored-stranger", SECRET)
        .grants([GrantType::JwtBearer])
        .to_record(now());
    record.policy.trusted = false;
    s.storage.insert_client(record).await.unwrap();
    let g = acme.sign(&acme.claims(s, "stored-stranger", "d2"));
    let d = (
        INVALID,
        "unauthorized_client",
        "identity assertion grants are only for clients the operator created",
    );
    refused(s, "stored-stranger", &g, None, d).await;
}

#[tokio::test]
async fn revoking_the_person_refuses_the_grants_issued_before() {
    let setup = Setup::start(Arc::new(MemoryStorage::new())).await;
    let Setup { s, acme, .. } = &setup;
    let r = redeem(
        s,
        AGENT,
        Some(&acme.sign(&acme.claims(s, AGENT, "v1"))),
        None,
    )
    .await;
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Issued before the revocation, presented after it.
    let earlier = acme.sign(&changed(acme.claims(s, AGENT, "v2"), |c| {
        c["iat"] = json!(now() - 5)
    }));
    mcp_oauth_server::admin::revoke_subject(s.storage.as_ref(), "acme:00u-ann", s.server.now())
        .await
        .unwrap();
    let rs = crate::flow::introspector(s).await;
    assert_eq!(
        crate::flow::introspect(s, &rs, &token).await["active"],
        false
    );
    refused(
        s,
        AGENT,
        &earlier,
        None,
        (
            INVALID,
            "invalid_grant",
            "the person's grants were revoked after this assertion was issued",
        ),
    )
    .await;
    // A grant the provider issues afterwards works.
    let later = acme.sign(&changed(acme.claims(s, AGENT, "v3"), |c| {
        c["iat"] = json!(now() + 1)
    }));
    assert_eq!(redeem(s, AGENT, Some(&later), None).await.status(), 200);
    setup.stop().await;
}

#[tokio::test]
async fn a_rotated_provider_key_is_fetched_and_unknown_kids_cannot_force_fetches() {
    // The server's clock stands still unless moved: the 10 s between
    // forced fetches is measured on it, not on how fast this test runs.
    let clock = ManualClock::start();
    let storage = Arc::new(MemoryStorage::new());
    let setup = Setup::start_with(storage, Some(clock.clone()), |c| c).await;
    let Setup { s, acme, .. } = &setup;
    let r = redeem(
        s,
        AGENT,
        Some(&acme.sign(&acme.claims(s, AGENT, "o1"))),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(acme.fetches(), 1);
    let next = new_key("k2");
    acme.publish(&next);
    let r = redeem(
        s,
        AGENT,
        Some(&sign_with(&next, "k2", &acme.claims(s, AGENT, "o2"))),
        None,
    )
    .await;
    assert_eq!(r.status(), 200, "the new key was fetched");
    assert_eq!(acme.fetches(), 2);
    let stranger = new_key("k-unknown");
    let unknown = |i: usize| sign_with(&stranger, &format!("k-{i}"), &acme.claims(s, AGENT, "o3"));
    for i in 0..5 {
        let r = redeem(s, AGENT, Some(&unknown(i)), None).await;
        assert_eq!(refusal(r, 400).await.0, "invalid_grant");
    }
    assert_eq!(acme.fetches(), 2, "made-up kids force no fetch within 10 s");
    clock.advance(9);
    let r = redeem(s, AGENT, Some(&unknown(5)), None).await;
    assert_eq!(refusal(r, 400).await.0, "invalid_grant");
    assert_eq!(acme.fetches(), 2);
    clock.advance(1);
    for i in 6..9 {
        let r = redeem(s, AGENT, Some(&unknown(i)), None).await;
        assert_eq!(refusal(r, 400).await.0, "invalid_grant");
    }
    assert_eq!(acme.fetches(), 3, "10 s later, one more fetch for the lot");
    setup.stop().await;
}
