//! JWS checks shared with the verifier and the client; they live in
//! [`mcp_oauth_core::jose`], and are re-exported here for the server's
//! modules that name them through `crate::jose`.

pub(crate) use mcp_oauth_core::jose::has_critical_extensions;
