//! Test support shared by this crate's unit and integration tests. Not part
//! of the supported API.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

/// A fresh database on the server `MCP_OAUTH_TEST_POSTGRES_URL` names,
/// dropped when the guard goes. `None` (skip) when the variable is unset,
/// except under CI, where PostgreSQL tests must run: then it panics.
pub struct TempDatabase {
    admin_url: String,
    name: String,
    /// URL of the fresh database.
    pub url: String,
}

impl TempDatabase {
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("MCP_OAUTH_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but MCP_OAUTH_TEST_POSTGRES_URL is not: PostgreSQL tests must run"
            );
            eprintln!("MCP_OAUTH_TEST_POSTGRES_URL unset: skipping the PostgreSQL backend");
            return None;
        };
        let name = format!(
            "mcp_oauth_t_{}",
            mcp_oauth_core::secret::random_base64url(9)
                .unwrap_or_default()
                .to_ascii_lowercase()
                .replace(['-', '_'], "x")
        );
        let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL reachable");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url).expect("a postgres:// URL");
        url.set_path(&format!("/{name}"));
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    pub async fn drop_now(self) {
        if let Ok((client, conn)) =
            tokio_postgres::connect(&self.admin_url, tokio_postgres::NoTls).await
        {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}
