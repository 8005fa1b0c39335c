//! The smallest authorization server: in-memory storage, one superuser.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example quick_server -- [PORT] [USER] [PASSWORD]
//! ```
//!
//! Defaults: port 9000, user `admin`, password `admin`. For anything that
//! must survive a restart, run the `mcp-oauth-server` binary instead (SQLite).

use mcp_oauth_server::QuickServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(9000);
    let user = args.next().unwrap_or_else(|| "admin".into());
    let password = args.next().unwrap_or_else(|| "admin".into());

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
