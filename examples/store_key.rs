//! Prints a new key for the agent's encrypted token store (32 random bytes,
//! base64), for `FileStore::encrypted_from_env`:
//!
//! ```sh
//! export MCP_OAUTH_TOKEN_KEY=$(cargo run -q -p mcp-oauth-examples --example store_key)
//! ```
//!
//! Keep it as you would a password: whoever holds it and the file holds
//! the agent's tokens.

fn main() {
    println!("{}", mcp_oauth_client::store::generate_key_base64());
}
