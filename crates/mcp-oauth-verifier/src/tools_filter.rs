//! Filtering a `tools/list` answer down to the tools the caller's token may
//! call (opt-in, [`VerifierLayer::filter_tools_list`]): tools with scopes of
//! their own ([`VerifierBuilder::tool_scope`]) that the token does not cover
//! are left out, so an agent is not offered calls that would be refused.
//! Works on a JSON answer and on an SSE stream, event by event.
//!
//! [`VerifierLayer::filter_tools_list`]: crate::tower::VerifierLayer::filter_tools_list
//! [`VerifierBuilder::tool_scope`]: crate::VerifierBuilder::tool_scope

use serde_json::Value;

use crate::claims::Claims;
use crate::verifier::Verifier;

/// Whether a request body is a `tools/list` request, alone or in a
/// JSON-RPC batch.
pub(crate) fn is_tools_list(body: &[u8]) -> bool {
    let lists = |m: &Value| m.get("method").and_then(Value::as_str) == Some("tools/list");
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) => batch.iter().any(lists),
        Ok(message) => lists(&message),
        Err(_) => false,
    }
}

/// Removes from a JSON-RPC message's `result.tools` the tools `claims` may
/// not call; whether it changed anything.
pub(crate) fn filter_message(verifier: &Verifier, claims: &Claims, message: &mut Value) -> bool {
    if let Value::Array(batch) = message {
        let mut changed = false;
        for m in batch {
            changed |= filter_message(verifier, claims, m);
        }
        return changed;
    }
    let Some(tools) = message
        .get_mut("result")
        .and_then(|r| r.get_mut("tools"))
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let before = tools.len();
    tools.retain(|tool| {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            return true;
        };
        verifier
            .tool_scopes(name)
            .is_none_or(|needed| verifier.authorize(claims, Some(needed)).is_ok())
    });
    tools.len() != before
}

/// Filters a whole JSON body; unparseable bodies pass unchanged.
pub(crate) fn filter_json(verifier: &Verifier, claims: &Claims, body: &[u8]) -> Vec<u8> {
    let Ok(mut message) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    if !filter_message(verifier, claims, &mut message) {
        return body.to_vec();
    }
    serde_json::to_vec(&message).unwrap_or_else(|_| body.to_vec())
}

/// An SSE stream filtered event by event: bytes go in as they arrive,
/// complete events (up to a blank line) come out, their `data` rewritten
/// when it is a `tools/list` answer.
pub(crate) struct SseFilter {
    verifier: Verifier,
    claims: std::sync::Arc<Claims>,
    pending: Vec<u8>,
}

impl SseFilter {
    pub(crate) fn new(verifier: Verifier, claims: std::sync::Arc<Claims>) -> Self {
        Self {
            verifier,
            claims,
            pending: Vec::new(),
        }
    }

    /// Takes `chunk`; returns the complete events it finishes.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = event_end(&self.pending) {
            let event: Vec<u8> = self.pending.drain(..end).collect();
            out.extend(self.rewrite(&event));
        }
        out
    }

    /// What is left when the stream ends (an unfinished event, unchanged).
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// One event (its terminating blank line included).
    fn rewrite(&self, event: &[u8]) -> Vec<u8> {
        let Ok(text) = std::str::from_utf8(event) else {
            return event.to_vec();
        };
        let data: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            return event.to_vec();
        }
        let Ok(mut message) = serde_json::from_str::<Value>(&data.join("\n")) else {
            return event.to_vec();
        };
        if !filter_message(&self.verifier, &self.claims, &mut message) {
            return event.to_vec();
        }
        let Ok(json) = serde_json::to_string(&message) else {
            return event.to_vec();
        };
        // The other fields in their order; the data once, where it was.
        let mut out = String::new();
        let mut placed = false;
        for line in text.lines() {
            if line.starts_with("data:") {
                if !placed {
                    out.push_str("data: ");
                    out.push_str(&json);
                    out.push('\n');
                    placed = true;
                }
            } else if !line.is_empty() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('\n');
        out.into_bytes()
    }
}

/// Where the first complete event of `buf` ends (after its blank line).
fn event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_oauth_core::scope::ScopeSet;

    fn verifier() -> Verifier {
        Verifier::builder("https://mcp.example.com/mcp")
            .authorization_server("https://auth.example.com")
            .required_scopes(["mcp"])
            .tool_scope("delete_file", "files:write")
            .build()
            .unwrap()
    }

    fn claims(scope: &str) -> Claims {
        Claims {
            subject: "alice".into(),
            client_id: None,
            scopes: ScopeSet::parse(scope).unwrap(),
            issuer: Some("https://auth.example.com".into()),
            audience: vec!["https://mcp.example.com/mcp".into()],
            expires_at: 0,
            raw: Default::default(),
        }
    }

    const ANSWER: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"read_file"},{"name":"delete_file"}]}}"#;

    #[test]
    fn tools_the_token_may_not_call_are_left_out() {
        let v = verifier();
        let narrow = filter_json(&v, &claims("mcp"), ANSWER.as_bytes());
        let narrow: Value = serde_json::from_slice(&narrow).unwrap();
        assert_eq!(narrow["result"]["tools"].as_array().unwrap().len(), 1);
        assert_eq!(narrow["result"]["tools"][0]["name"], "read_file");
        let wide = filter_json(&v, &claims("mcp files:write"), ANSWER.as_bytes());
        assert_eq!(wide, ANSWER.as_bytes(), "nothing to leave out: unchanged");
        assert!(is_tools_list(
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#
        ));
        assert!(!is_tools_list(
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/call"}"#
        ));
        // In a batch, too: the request is seen and each answer filtered.
        assert!(is_tools_list(
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#
        ));
        let batch = format!("[{ANSWER}]");
        let narrow = filter_json(&v, &claims("mcp"), batch.as_bytes());
        let narrow: Value = serde_json::from_slice(&narrow).unwrap();
        assert_eq!(narrow[0]["result"]["tools"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn sse_events_are_filtered_as_they_complete() {
        let v = verifier();
        let mut f = SseFilter::new(v, std::sync::Arc::new(claims("mcp")));
        let stream = format!("id: 1\nevent: message\ndata: {ANSWER}\n\n: keep-alive\n\n");
        // Split anywhere: nothing comes out before an event is complete.
        let (a, b) = stream.as_bytes().split_at(20);
        assert!(f.push(a).is_empty());
        let out = String::from_utf8(f.push(b)).unwrap();
        assert!(out.starts_with("id: 1\nevent: message\ndata: {"), "{out}");
        assert!(
            out.contains("read_file") && !out.contains("delete_file"),
            "{out}"
        );
        assert!(out.ends_with("\n\n: keep-alive\n\n"), "{out}");
        assert!(f.finish().is_empty());
    }
}
