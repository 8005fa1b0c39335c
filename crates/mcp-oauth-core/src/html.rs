//! HTML escaping for the pages the server and the agent render (login,
//! consent, error and callback pages): every character that could end a
//! text node or an attribute value is written as an entity.
//!
//! ```
//! use mcp_oauth_core::html::escape;
//!
//! assert_eq!(
//!     escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
//!     "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
//! );
//! ```

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by their entities, safe in
/// element text and in quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
