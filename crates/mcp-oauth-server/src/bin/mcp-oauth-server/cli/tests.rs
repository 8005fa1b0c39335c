//! Layering, defaults and refusals of the binary's settings.

use std::time::Duration;

use clap::Parser;
use mcp_oauth_server::RegistrationPolicy;

use super::settings::with_secrets;
use super::{Cli, LogFormat};

/// A configuration file private to its owner, as the binary demands.
fn write_private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("mcp-oauth-server").chain(args.iter().copied())).unwrap()
}

#[test]
fn defaults() {
    let s = parse(&[]).settings().unwrap();
    assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 9000));
    assert_eq!(s.storage, "sqlite:./mcp-oauth.db");
    let c = s.config_template.build("http://127.0.0.1:9000").unwrap();
    assert_eq!(c.issuer.as_str(), "http://127.0.0.1:9000");
    assert_eq!(c.access_token_ttl, Duration::from_secs(900));
    assert_eq!(c.registration, RegistrationPolicy::Open);
}

#[test]
fn flags_override_the_file() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    write_private(
        &file,
        "port = 9100\nissuer = \"https://as.example\"\naccess_token_ttl = 60\nscopes = [\"mcp\", \"files:read\"]\nregistration = \"closed\"\n",
    );
    let s = parse(&["--config", file.to_str().unwrap(), "--port", "9200"])
        .settings()
        .unwrap();
    assert_eq!(s.port, 9200, "flag wins");
    assert_eq!(
        s.explicit_issuer.as_deref(),
        Some("https://as.example"),
        "file fills the rest"
    );
    let c = s.config_template.build("https://as.example").unwrap();
    assert_eq!(c.access_token_ttl, Duration::from_secs(60));
    assert_eq!(c.scopes_supported, ["mcp", "files:read"]);
    assert_eq!(c.registration, RegistrationPolicy::Closed);
    write_private(&file, "prot = 1\n");
    assert!(
        parse(&["--config", file.to_str().unwrap()])
            .settings()
            .is_err(),
        "unknown keys are refused"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn upstreams_come_from_the_file_with_secrets_from_the_environment() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    write_private(
        &file,
        "disable_local_login = true\ndisable_oidc = true\n\
         [[upstreams]]\nid = \"corp-sso\"\nname = \"Corp\"\nissuer = \"https://login.example\"\nclient_id = \"mcp\"\n\
         allowed_email_domains = [\"example.com\"]\n\
         store_tokens = true\nexchange_clients = [\"tools-rs\"]\napi_urls = [\"https://api.login.example\"]\n",
    );
    let s = parse(&["--config", file.to_str().unwrap()])
        .settings()
        .unwrap();
    let c = s.config_template.build("https://as.example").unwrap();
    assert!(!c.local_login);
    assert!(!c.oidc);
    assert_eq!(c.upstreams.len(), 1);
    let up = &c.upstreams[0];
    let filled = with_secrets(c.upstreams.clone(), |k| {
        (k == "MCP_OAUTH_UPSTREAM_CORP_SSO_CLIENT_SECRET").then(|| "from-env".to_owned())
    });
    assert_eq!(
        filled[0].client_secret.as_ref().map(|s| s.secret()),
        Some("from-env")
    );
    assert_eq!(up.allowed_email_domains, ["example.com"]);
    assert!(up.store_tokens);
    assert_eq!(up.exchange_clients, ["tools-rs"]);
    assert_eq!(up.api_urls, ["https://api.login.example"]);
    write_private(
        &file,
        "[[upstreams]]\nid = \"Bad Id\"\nname = \"X\"\nissuer = \"https://login.example\"\nclient_id = \"mcp\"\n",
    );
    let s = parse(&["--config", file.to_str().unwrap()])
        .settings()
        .unwrap();
    assert!(s.config_template.build("https://as.example").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn trusted_idps_come_from_the_file() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-idjag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    write_private(
        &file,
        "[[trusted_idps]]\nname = \"acme\"\nissuer = \"https://acme.okta.com\"\n\
         jwks_uri = \"https://acme.okta.com/oauth2/v1/keys\"\nclients = [\"agent\"]\n\
         email_domains = [\"acme.example\"]\nmax_lifetime = 120\n\
         [[clients]]\nclient_id = \"agent\"\nsecret = \"0123456789abcdef\"\n\
         grant_types = [\"urn:ietf:params:oauth:grant-type:jwt-bearer\"]\n",
    );
    let s = parse(&["--config", file.to_str().unwrap()])
        .settings()
        .unwrap();
    let c = s.config_template.build("https://as.example").unwrap();
    assert_eq!(c.trusted_idps.len(), 1);
    let idp = &c.trusted_idps[0];
    assert_eq!(idp.issuer, "https://acme.okta.com");
    assert_eq!(idp.clients, ["agent"]);
    assert_eq!(idp.email_domains, ["acme.example"]);
    assert_eq!((idp.max_lifetime, idp.leeway), (120, 30));
    let agent = c.clients.iter().find(|c| c.client_id == "agent").unwrap();
    assert_eq!(
        agent.effective_grants(),
        [mcp_oauth_server::core::registration::GrantType::JwtBearer],
        "an operator client may be given the jwt-bearer grant in the file"
    );
    write_private(
        &file,
        "[[trusted_idps]]\nname = \"acme\"\nissuer = \"https://acme.okta.com\"\n\
         jwks_uri = \"https://acme.okta.com/oauth2/v1/keys\"\nclients = []\n",
    );
    let s = parse(&["--config", file.to_str().unwrap()])
        .settings()
        .unwrap();
    let e = s.config_template.build("https://as.example").unwrap_err();
    assert!(e.to_string().contains("clients"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn switches_and_file_only_settings() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-sw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    write_private(
        &file,
        "disable_cimd = true\nlog_format = \"json\"\nintrospection_credentials = [\"rs:0123456789abcdef:http://127.0.0.1:8000/mcp\"]\n",
    );
    let config = file.to_str().unwrap();
    let s = parse(&["--config", config]).settings().unwrap();
    assert_eq!(s.log_format, LogFormat::Json);
    let c = s.config_template.build("http://127.0.0.1:9000").unwrap();
    assert!(!c.cimd.enabled, "a switch left off keeps the file's value");
    assert_eq!(c.clients.len(), 1);
    let s = parse(&[
        "--config",
        config,
        "--log-format",
        "text",
        "--cimd-allow-private",
    ])
    .settings()
    .unwrap();
    assert_eq!(s.log_format, LogFormat::Text, "flag wins");
    let c = s.config_template.build("http://127.0.0.1:9000").unwrap();
    assert!(c.cimd.fetch.allow_private_addresses);
    for flag_only in [
        "dev_auto_approve = \"admin\"\n",
        "superuser_password_file = \"/tmp/x\"\n",
        "config = \"/tmp/x\"\n",
    ] {
        write_private(&file, flag_only);
        assert!(
            parse(&["--config", config]).settings().is_err(),
            "{flag_only}"
        );
    }
    write_private(&file, "port = \"high\"\n");
    let err = parse(&["--config", config])
        .settings()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("port"), "the error names the setting: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_configuration_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-perm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(&file, "superuser_password = \"s3cret\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = parse(&["--config", file.to_str().unwrap()])
        .settings()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_values_are_refused() {
    assert!(parse(&["--superuser", "a"]).settings().is_err());
    let s = parse(&["--scopes", "ok,bad\"one"]).settings().unwrap();
    assert!(s.config_template.build("http://127.0.0.1:9000").is_err());
    for bad in [
        "nocolon",
        "rs:0123456789abcdef",
        "rs:0123456789abcdef:not a url",
        "rs:short:http://127.0.0.1:8000/mcp",
    ] {
        let s = parse(&["--introspection-credential", bad])
            .settings()
            .unwrap();
        assert!(
            s.config_template.build("http://127.0.0.1:9000").is_err(),
            "{bad}"
        );
    }
    let s = parse(&[
        "--introspection-credential",
        "rs:0123456789abcdef:http://127.0.0.1:8000/mcp,rs:0123456789abcdef:http://127.0.0.1:8001/mcp",
    ])
    .settings()
    .unwrap();
    let c = s.config_template.build("http://127.0.0.1:9000").unwrap();
    assert_eq!(c.clients.len(), 1);
    assert_eq!(c.clients[0].resources.len(), 2);
    assert!(c.clients[0].resource_server);
    assert!(
        parse(&[])
            .settings()
            .unwrap()
            .config_template
            .build("not a url")
            .is_err()
    );
}

#[test]
fn idle_registration_days_layer_like_the_rest() {
    let c = parse(&[])
        .settings()
        .unwrap()
        .config_template
        .build("http://127.0.0.1:9000")
        .unwrap();
    assert_eq!(c.dcr_idle_days, 90, "default");
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    write_private(&file, "dcr_idle_days = 7\n");
    let from_file = parse(&["--config", file.to_str().unwrap()])
        .settings()
        .unwrap()
        .config_template
        .build("http://127.0.0.1:9000")
        .unwrap();
    assert_eq!(from_file.dcr_idle_days, 7);
    let flag = parse(&["--config", file.to_str().unwrap(), "--dcr-idle-days", "0"])
        .settings()
        .unwrap()
        .config_template
        .build("http://127.0.0.1:9000")
        .unwrap();
    assert_eq!(flag.dcr_idle_days, 0, "flag wins; 0 keeps them for good");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metadata_document_hosts_are_hosts_or_suffix_patterns() {
    let build = |args: &[&str]| {
        parse(args)
            .settings()
            .unwrap()
            .config_template
            .build("http://127.0.0.1:9000")
    };
    assert!(
        build(&[]).unwrap().cimd.allowed_hosts.is_empty(),
        "any host"
    );
    let c = build(&["--cimd-allowed-hosts", "app.example.com,*.tools.example"]).unwrap();
    assert_eq!(c.cimd.allowed_hosts, ["app.example.com", "*.tools.example"]);
    assert!(c.cimd.host_allowed("x.tools.example"));
    for bad in [
        "",
        "*",
        "*.",
        "a.*.example",
        "https://app.example",
        "app.example/x",
    ] {
        assert!(
            build(&["--cimd-allowed-hosts", bad]).is_err(),
            "{bad:?} is refused"
        );
    }
}

#[test]
fn tls_files_come_in_pairs_from_flags_or_the_file() {
    use mcp_oauth_server::tls::TlsFiles;
    let s = parse(&[
        "--tls-cert",
        "/etc/as/cert.pem",
        "--tls-key",
        "/etc/as/key.pem",
    ])
    .settings()
    .unwrap();
    assert_eq!(
        s.tls,
        Some(TlsFiles::new("/etc/as/cert.pem", "/etc/as/key.pem"))
    );
    assert_eq!(parse(&[]).settings().unwrap().tls, None);
    for alone in [["--tls-cert", "/c.pem"], ["--tls-key", "/k.pem"]] {
        let err = parse(&alone).settings().err().unwrap();
        assert!(
            matches!(err, super::settings::SettingsError::TlsAlone),
            "{err}"
        );
    }
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    write_private(
        &file,
        "tls_cert = \"/file/cert.pem\"\ntls_key = \"/file/key.pem\"\n",
    );
    let config = file.to_str().unwrap();
    let s = parse(&["--config", config]).settings().unwrap();
    assert_eq!(
        s.tls,
        Some(TlsFiles::new("/file/cert.pem", "/file/key.pem"))
    );
    let s = parse(&["--config", config, "--tls-cert", "/flag/cert.pem"])
        .settings()
        .unwrap();
    assert_eq!(
        s.tls,
        Some(TlsFiles::new("/flag/cert.pem", "/file/key.pem")),
        "the flag wins, the file fills the rest"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn token_exchange_policies_and_clients_come_from_the_file() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-exch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    write_private(
        &file,
        "[[clients]]\nclient_id = \"agent\"\nsecret = \"0123456789abcdef\"\n\
         redirect_uris = [\"http://127.0.0.1/callback\"]\n\
         grant_types = [\"authorization_code\", \"urn:ietf:params:oauth:grant-type:token-exchange\"]\n\
         [[id_jag_audiences]]\naudience = \"https://auth.chat.example\"\n\
         resources = [\"https://mcp.chat.example/mcp\"]\nclients = { agent = \"agent-at-chat\" }\n\
         scopes = [\"chat.read\"]\nlifetime = 120\n\
         [[token_exchange]]\nclient = \"mcp-a\"\nfrom = [\"https://a.example/mcp\"]\n\
         to = [\"https://b.example/mcp\"]\nrequire_grant = false\n",
    );
    let config = file.to_str().unwrap();
    let c = parse(&["--config", config])
        .settings()
        .unwrap()
        .config_template
        .build("https://as.example")
        .unwrap();
    let jag = &c.exchange.id_jag_audiences[0];
    assert_eq!(jag.audience, "https://auth.chat.example");
    assert_eq!(jag.clients["agent"], "agent-at-chat");
    assert_eq!(
        (jag.lifetime, jag.scopes.as_slice()),
        (120, &["chat.read".to_owned()][..])
    );
    let down = &c.exchange.token_exchange[0];
    assert_eq!((down.client.as_str(), down.require_grant), ("mcp-a", false));
    assert!(
        c.clients[0]
            .effective_grants()
            .contains(&mcp_oauth_server::core::registration::GrantType::TokenExchange)
    );
    // A policy the server cannot work with stops the start.
    write_private(
        &file,
        "[[id_jag_audiences]]\naudience = \"https://a.example\"\nresources = [\"nope\"]\n\
         clients = { agent = \"x\" }\n",
    );
    let s = parse(&["--config", config]).settings().unwrap();
    assert!(s.config_template.build("https://as.example").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
