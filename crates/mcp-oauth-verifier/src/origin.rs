//! `Origin` validation for the MCP endpoint. The Streamable HTTP transport
//! says servers must check `Origin` and answer 403 when it is present and
//! not allowed, so that a web page on another site (or one reached through
//! DNS rebinding) cannot drive the endpoint from a user's browser. Requests
//! without `Origin` (agents, command-line clients) are not browsers and pass.

use url::Url;

use crate::claims::Rejection;

/// An origin as RFC 6454 defines it: scheme, host and port, with scheme and
/// host compared in lower case and the scheme's default port made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// Parses the serialisation a browser sends (`scheme://host[:port]`,
    /// nothing else); `null` and anything with a path, query, fragment or
    /// user information are not origins.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let (scheme, rest) = value.split_once("://")?;
        if scheme.is_empty()
            || rest.is_empty()
            || rest.contains(['/', '?', '#', '@', '\\'])
            || value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return None;
        }
        Self::of_url(&Url::parse(value).ok()?)
    }

    /// The origin of a URL (its scheme, host and port).
    pub(crate) fn of_url(url: &Url) -> Option<Self> {
        let host = url.host_str()?;
        if host.is_empty() {
            return None;
        }
        Some(Self {
            scheme: url.scheme().to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }
}

/// The origins whose pages may call the MCP endpoint: the resource's own,
/// plus those configured.
#[derive(Debug, Clone)]
pub(crate) struct AllowedOrigins {
    origins: Vec<Origin>,
}

impl AllowedOrigins {
    pub(crate) fn new(origins: Vec<Origin>) -> Self {
        Self { origins }
    }

    /// `Ok` for a request without `Origin` or with an allowed one;
    /// [`Rejection::ForbiddenOrigin`] otherwise (`null` included).
    pub(crate) fn check(&self, origin: Option<&str>) -> Result<(), Rejection> {
        let Some(value) = origin else {
            return Ok(());
        };
        match Origin::parse(value) {
            Some(o) if self.origins.contains(&o) => Ok(()),
            _ => Err(Rejection::ForbiddenOrigin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(list: &[&str]) -> AllowedOrigins {
        AllowedOrigins::new(list.iter().map(|o| Origin::parse(o).unwrap()).collect())
    }

    #[test]
    fn origins_are_compared_case_insensitively_with_default_ports() {
        let a = allowed(&["https://app.example.com", "http://127.0.0.1:8000"]);
        for ok in [
            "https://app.example.com",
            "HTTPS://App.Example.COM",
            "https://app.example.com:443",
            "http://127.0.0.1:8000",
        ] {
            assert_eq!(a.check(Some(ok)), Ok(()), "{ok}");
        }
        assert_eq!(a.check(None), Ok(()));
        for bad in [
            "null",
            "",
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://evil.example.com",
            "https://app.example.com.evil.example",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "https://app.example.com?x",
            "https://app.example.com#x",
            "http://127.0.0.1:8001",
            "http://localhost:8000",
            " https://app.example.com",
            "https://app.example.com\t",
            "app.example.com",
            "https://",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                a.check(Some(bad)),
                Err(Rejection::ForbiddenOrigin),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_scheme_host_and_port_parse_as_origins() {
        assert!(Origin::parse("http://[::1]:8000").is_some());
        assert!(Origin::parse("chrome-extension://abcdef").is_some());
        assert!(Origin::parse("null").is_none());
        assert_eq!(
            Origin::parse("http://EXAMPLE.com:80"),
            Origin::parse("http://example.com")
        );
    }
}
