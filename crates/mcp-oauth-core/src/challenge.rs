//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728
//! §5.1).
//!
//! [`BearerChallenge`] builds the header a protected MCP server sends with a
//! 401 or 403, and reads one back. [`parse_challenges`] is a tolerant parser
//! of the general grammar: several challenges in one header, quoted strings
//! with escapes, `token68`, case-insensitive scheme and parameter names. It
//! never fails and never panics; malformed pieces are skipped.
//!
//! ```
//! use mcp_oauth_core::challenge::BearerChallenge;
//! use mcp_oauth_core::error::ErrorCode;
//!
//! let header = BearerChallenge::new()
//!     .error(ErrorCode::InsufficientScope)
//!     .scope("files:read files:write".parse()?)
//!     .resource_metadata("https://mcp.example.com/.well-known/oauth-protected-resource")
//!     .to_header_value();
//! assert_eq!(
//!     header,
//!     r#"Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#
//! );
//!
//! // Parsing finds the Bearer challenge among others, whatever its case.
//! let parsed = BearerChallenge::parse(&format!(r#"Basic realm="x", {}"#, header.replace("Bearer", "bearer")))
//!     .expect("a Bearer challenge");
//! assert_eq!(parsed.error, Some(ErrorCode::InsufficientScope));
//! assert_eq!(parsed.scope.map(|s| s.to_string()).as_deref(), Some("files:read files:write"));
//! # Ok::<(), mcp_oauth_core::scope::ScopeError>(())
//! ```

use crate::error::{ErrorCode, sanitize_description};
use crate::scope::ScopeSet;

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// The auth scheme as sent (compare with [`Challenge::is_scheme`]).
    pub scheme: String,
    /// The `token68` form, when the challenge used it instead of parameters.
    pub token68: Option<String>,
    /// Parameters in order, names lowercased, values unquoted and unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Case-insensitive scheme comparison.
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The first value of a parameter, by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in a `WWW-Authenticate` header value.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.chars().collect(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_while(|c| c == ',' || is_ws(c));
        if p.at_end() {
            break;
        }
        let Some(scheme) = p.token() else {
            p.i += 1; // junk character: skip it
            continue;
        };
        let mut challenge = Challenge {
            scheme,
            ..Challenge::default()
        };
        let had_space = p.peek().is_some_and(is_ws);
        p.skip_ows();
        if !had_space || p.at_end() || p.peek() == Some(',') {
            if !had_space && !p.at_end() && p.peek() != Some(',') {
                p.skip_past_comma_free_run();
            }
            out.push(challenge);
            continue;
        }
        if let Some(first) = p.param() {
            challenge.params.push(first);
            p.params_rest(&mut challenge.params);
        } else if let Some(t) = p.token68() {
            challenge.token68 = Some(t);
        } else {
            p.skip_past_comma_free_run();
        }
        out.push(challenge);
    }
    out
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_token68_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/".contains(c)
}

struct Parser {
    s: Vec<char>,
    i: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }

    fn skip_ows(&mut self) {
        self.skip_while(is_ws);
    }

    /// Skips to the next comma (not consuming it), for junk recovery.
    fn skip_past_comma_free_run(&mut self) {
        self.skip_while(|c| c != ',');
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        self.skip_while(is_tchar);
        (self.i > start).then(|| self.s[start..self.i].iter().collect())
    }

    /// A quoted-string; the cursor is on the opening quote. An unterminated
    /// string runs to the end of the input.
    fn quoted(&mut self) -> String {
        let mut out = String::new();
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                '"' => return out,
                '\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.i += 1;
                    }
                }
                other => out.push(other),
            }
        }
        out
    }

    /// `token BWS "=" BWS ( token / quoted-string )`, or nothing consumed.
    fn param(&mut self) -> Option<(String, String)> {
        let save = self.i;
        let parsed = (|| {
            let name = self.token()?;
            self.skip_ows();
            if self.peek() != Some('=') {
                return None;
            }
            self.i += 1;
            self.skip_ows();
            let value = if self.peek() == Some('"') {
                self.quoted()
            } else {
                self.token()?
            };
            // A param must be followed by the end, a comma or whitespace.
            if self.peek().is_some_and(|c| c != ',' && !is_ws(c)) {
                return None;
            }
            Some((name.to_ascii_lowercase(), value))
        })();
        if parsed.is_none() {
            self.i = save;
        }
        parsed
    }

    /// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`,
    /// followed by the end or a comma.
    fn token68(&mut self) -> Option<String> {
        let save = self.i;
        self.skip_while(is_token68_char);
        if self.i == save {
            return None;
        }
        self.skip_while(|c| c == '=');
        let value: String = self.s[save..self.i].iter().collect();
        self.skip_ows();
        if self.at_end() || self.peek() == Some(',') {
            Some(value)
        } else {
            self.i = save;
            None
        }
    }

    /// Parameters after the first, until the next challenge begins.
    fn params_rest(&mut self, params: &mut Vec<(String, String)>) {
        loop {
            self.skip_ows();
            if self.at_end() {
                return;
            }
            if self.peek() != Some(',') {
                self.skip_past_comma_free_run();
                continue;
            }
            self.skip_while(|c| c == ',' || is_ws(c));
            if self.at_end() {
                return;
            }
            match self.param() {
                Some(p) => params.push(p),
                None => return, // the next challenge starts here
            }
        }
    }
}

/// An RFC 6750 `Bearer` challenge, with the RFC 9728 `resource_metadata`
/// parameter MCP servers use to point clients at their metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    /// `realm`.
    pub realm: Option<String>,
    /// `error` (`invalid_request`, `invalid_token`, `insufficient_scope`).
    pub error: Option<ErrorCode>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `error_uri`.
    pub error_uri: Option<String>,
    /// `scope`: the scopes needed for this request.
    pub scope: Option<ScopeSet>,
    /// `resource_metadata`: URL of the RFC 9728 document.
    pub resource_metadata: Option<String>,
    /// Other parameters, names lowercased.
    pub extra: Vec<(String, String)>,
}

impl BearerChallenge {
    /// An empty `Bearer` challenge.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `realm`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Sets `error`.
    pub fn error(mut self, error: ErrorCode) -> Self {
        self.error = Some(error);
        self
    }

    /// Sets `error_description` (sanitised to the RFC 6750 character set).
    pub fn error_description(mut self, description: impl AsRef<str>) -> Self {
        self.error_description = Some(sanitize_description(description.as_ref()));
        self
    }

    /// Sets `error_uri`.
    pub fn error_uri(mut self, uri: impl Into<String>) -> Self {
        self.error_uri = Some(uri.into());
        self
    }

    /// Sets `scope`.
    pub fn scope(mut self, scope: ScopeSet) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Sets `resource_metadata`.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Adds another parameter. Names that are not RFC 9110 tokens are
    /// skipped on output.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// The header value. Every value is a quoted-string; `"` and `\` are
    /// escaped, and characters a header cannot carry (controls, non-ASCII)
    /// become `?`, so no input can split or corrupt the header.
    pub fn to_header_value(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |name: &str, value: &str| {
            if !name.is_empty() && name.chars().all(is_tchar) {
                parts.push(format!("{name}=\"{}\"", quote(value)));
            }
        };
        if let Some(v) = &self.realm {
            push("realm", v);
        }
        if let Some(v) = &self.error {
            push("error", v.as_str());
        }
        if let Some(v) = &self.error_description {
            push("error_description", v);
        }
        if let Some(v) = &self.error_uri {
            push("error_uri", v);
        }
        if let Some(v) = &self.scope {
            push("scope", &v.to_string());
        }
        if let Some(v) = &self.resource_metadata {
            push("resource_metadata", v);
        }
        for (n, v) in &self.extra {
            push(n, v);
        }
        if parts.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", parts.join(", "))
        }
    }

    /// Reads the fields of a parsed challenge (of any scheme; check
    /// [`Challenge::is_scheme`] first). Invalid scope tokens are dropped.
    pub fn from_challenge(challenge: &Challenge) -> Self {
        let mut out = Self::new();
        for (name, value) in &challenge.params {
            match name.as_str() {
                "realm" if out.realm.is_none() => out.realm = Some(value.clone()),
                "error" if out.error.is_none() => out.error = Some(ErrorCode::from(value.as_str())),
                "error_description" if out.error_description.is_none() => {
                    out.error_description = Some(value.clone())
                }
                "error_uri" if out.error_uri.is_none() => out.error_uri = Some(value.clone()),
                "scope" if out.scope.is_none() => out.scope = Some(ScopeSet::parse_lossy(value)),
                "resource_metadata" if out.resource_metadata.is_none() => {
                    out.resource_metadata = Some(value.clone())
                }
                _ => out.extra.push((name.clone(), value.clone())),
            }
        }
        out
    }

    /// The first `Bearer` challenge of a header value, if any.
    pub fn parse(header: &str) -> Option<Self> {
        parse_challenges(header)
            .iter()
            .find(|c| c.is_scheme("Bearer"))
            .map(Self::from_challenge)
    }
}

impl std::fmt::Display for BearerChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_header_value())
    }
}

/// Escapes a value for a quoted-string and removes what a header cannot
/// carry.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
