//! The `Mcp-Method` and `Mcp-Name` request headers of MCP 2026-07-28
//! (Streamable HTTP POSTs name their JSON-RPC method and, for
//! `tools/call`, the tool): a fast path for the per-tool scope check, which
//! can refuse before the body is read. The body stays authoritative: a
//! header that disagrees with it is refused (400).

use mcp_oauth_core::scope::ScopeSet;

use crate::claims::Rejection;
use crate::verifier::Verifier;

/// The header naming the JSON-RPC method.
pub const MCP_METHOD: &str = "mcp-method";
/// The header naming the tool (resource, prompt) a request is about.
pub const MCP_NAME: &str = "mcp-name";

impl Verifier {
    /// The extra scopes a request needs according to its `Mcp-Method` and
    /// `Mcp-Name` headers (a `tools/call` of a tool with its own scopes),
    /// before its body is read. The body is checked as well
    /// ([`Verifier::check_mcp_headers`], [`Verifier::tool_call_scopes`]).
    ///
    /// ```
    /// use mcp_oauth_verifier::Verifier;
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .tool_scope("delete_file", "files:write")
    ///     .build()?;
    /// let needs = verifier.header_tool_scopes(Some("tools/call"), Some("delete_file"));
    /// assert_eq!(needs.unwrap().to_string(), "files:write");
    /// assert!(verifier.header_tool_scopes(Some("tools/list"), None).is_none());
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn header_tool_scopes(&self, method: Option<&str>, name: Option<&str>) -> Option<ScopeSet> {
        match (method, name) {
            (Some("tools/call"), Some(tool)) => self.tool_scopes(tool).cloned(),
            _ => None,
        }
    }

    /// Refuses (400 `invalid_request`) a body whose JSON-RPC message
    /// disagrees with the `Mcp-Method` / `Mcp-Name` headers sent with it;
    /// absent headers, or a body that is not one message, agree.
    ///
    /// ```
    /// use mcp_oauth_verifier::{Rejection, Verifier};
    ///
    /// let verifier = Verifier::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://auth.example.com")
    ///     .build()?;
    /// let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file"}}"#;
    /// assert!(verifier.check_mcp_headers(body, Some("tools/call"), Some("delete_file")).is_ok());
    /// assert!(matches!(
    ///     verifier.check_mcp_headers(body, Some("tools/call"), Some("read_file")),
    ///     Err(Rejection::InvalidRequest(_))
    /// ));
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn check_mcp_headers(
        &self,
        body: &[u8],
        method: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), Rejection> {
        if method.is_none() && name.is_none() {
            return Ok(());
        }
        let Ok(serde_json::Value::Object(message)) = serde_json::from_slice(body) else {
            return Ok(());
        };
        let body_method = message.get("method").and_then(|m| m.as_str());
        if let (Some(header), Some(body)) = (method, body_method)
            && header != body
        {
            return Err(mismatch());
        }
        if body_method == Some("tools/call")
            && let Some(header) = name
        {
            let body_name = message
                .get("params")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str());
            if body_name != Some(header) {
                return Err(mismatch());
            }
        }
        Ok(())
    }
}

fn mismatch() -> Rejection {
    Rejection::InvalidRequest(
        "the Mcp-Method or Mcp-Name header disagrees with the request body".into(),
    )
}
