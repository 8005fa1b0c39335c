use super::*;

fn answer(json: &str) -> TokenResponse {
    serde_json::from_str(json).unwrap()
}

#[test]
fn the_exchange_answer_must_be_an_id_jag_of_type_n_a() {
    let ok = r#"{"access_token":"jag","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A"}"#;
    assert!(check_answer(&answer(ok)).is_ok());
    let lower = ok.replace("N_A", "n_a");
    assert!(check_answer(&answer(&lower)).is_ok());
    let bearer = ok.replace("N_A", "Bearer");
    assert!(matches!(
        check_answer(&answer(&bearer)),
        Err(IdentityAssertionError::WrongTokenType(t)) if t == "Bearer"
    ));
    let access = ok.replace("id-jag", "access_token");
    assert!(matches!(
        check_answer(&answer(&access)),
        Err(IdentityAssertionError::NotAnIdJag { issued_token_type: Some(t) }) if t.ends_with("access_token")
    ));
    let missing = r#"{"access_token":"jag","token_type":"N_A"}"#;
    assert!(matches!(
        check_answer(&answer(missing)),
        Err(IdentityAssertionError::NotAnIdJag {
            issued_token_type: None
        })
    ));
    let empty = ok.replace("\"jag\"", "\"\"");
    assert!(check_answer(&answer(&empty)).is_err());
}

#[test]
fn debug_never_shows_secrets_or_tokens() {
    for client in [
        IdpClient::secret_basic("c", "idp-secret"),
        IdpClient::secret_post("c", "idp-secret"),
    ] {
        let login = IdentityAssertion::new(
            "https://idp.example",
            client,
            FixedIdToken::new("the-id-token"),
        );
        let shown = format!(
            "{login:?} {:?}",
            crate::Login::IdentityAssertion(login.clone())
        );
        assert!(!shown.contains("idp-secret"), "{shown}");
        assert!(!shown.contains("the-id-token"), "{shown}");
        assert!(shown.contains("https://idp.example"), "{shown}");
    }
    assert!(!format!("{:?}", FixedIdToken::new("the-id-token")).contains("the-id-token"));
}

#[tokio::test]
async fn a_fixed_token_and_closures_are_sources() {
    let fixed = FixedIdToken::new("t1");
    assert_eq!(fixed.id_token().await.unwrap().secret(), "t1");
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = counter.clone();
    let closure = move || {
        let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { Ok::<_, CallbackError>(SecurityToken::new(format!("t{n}"))) }
    };
    assert_eq!(closure.id_token().await.unwrap().secret(), "t0");
    assert_eq!(closure.id_token().await.unwrap().secret(), "t1");
    let provider = |r: IdJagRequest| async move {
        Ok::<_, CallbackError>(SecurityToken::new(format!("jag for {}", r.audience)))
    };
    let request = IdJagRequest {
        audience: "https://as.example".into(),
        resource: "https://mcp.example/mcp".into(),
        scope: ScopeSet::default(),
    };
    assert_eq!(
        provider.id_jag(request).await.unwrap().secret(),
        "jag for https://as.example"
    );
}

#[tokio::test]
async fn an_insecure_idp_is_refused_before_anything_is_sent() {
    let login = IdentityAssertion::new(
        "http://idp.example",
        IdpClient::public("c"),
        FixedIdToken::new("the-id-token"),
    );
    let request = IdJagRequest {
        audience: "https://as.example".into(),
        resource: "https://mcp.example/mcp".into(),
        scope: ScopeSet::default(),
    };
    let err = login
        .grant(&reqwest::Client::new(), request)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::InsecureUrl {
                what: "IdP issuer",
                ..
            }
        ),
        "{err}"
    );
}
