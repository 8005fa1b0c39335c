//! The smallest authorization server: in-memory storage, one superuser.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example quick_server -- [PORT] [USER] [PASSWORD]
//! ```
//!
//! Defaults: port 9000, user `admin`, password `admin`. For anything that
//! must survive a restart, run the `mcp-oauth-server` binary instead (SQLite).

use mcp_oauth_server::QuickServer;

/// The smallest authorization server: in-memory storage, one superuser.
#[derive(clap::Parser)]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(default_value_t = 9000)]
    port: u16,
    /// The superuser's name.
    #[arg(default_value = "admin")]
    user: String,
    /// The superuser's password.
    #[arg(default_value = "admin")]
    password: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        port,
        user,
        password,
    } = clap::Parser::parse();

    let server = QuickServer::new("127.0.0.1", port)
        .superuser(&user, &password)
        .start()
        .await?;
    eprintln!(
        "authorization server at {} (user {user}); Ctrl-C stops it",
        server.issuer
    );
    server.wait().await?;
    Ok(())
}
