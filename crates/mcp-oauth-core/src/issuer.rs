//! Issuer identifiers (RFC 8414 §2, RFC 9207).
//!
//! An issuer is compared as an exact string: RFC 8414 §3.3 and RFC 9207 §2.4
//! forbid any normalisation (no case folding, no default-port elision, no
//! trailing-slash games). [`Issuer`] therefore keeps the string exactly as
//! configured and only checks that it is a usable identifier.
//!
//! ```
//! use mcp_oauth_core::issuer::Issuer;
//!
//! let iss = Issuer::parse("http://127.0.0.1:9000")?;
//! assert!(iss.is("http://127.0.0.1:9000"));
//! assert!(!iss.is("http://127.0.0.1:9000/")); // no normalisation
//! assert!(Issuer::parse("https://as.example/?tenant=1").is_err());
//! # Ok::<(), mcp_oauth_core::issuer::IssuerError>(())
//! ```

use std::fmt;

use url::Url;

use crate::secret::constant_time_eq;

/// Why a string is not a valid issuer identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerError {
    /// Not an absolute URL.
    #[error("issuer must be an absolute URL: {0}")]
    NotAbsolute(String),
    /// Neither `https` nor `http`.
    #[error("issuer scheme must be https (or http for local development), got {0:?}")]
    Scheme(String),
    /// RFC 8414 §2: no query component.
    #[error("issuer must not contain a query")]
    Query,
    /// RFC 8414 §2: no fragment component.
    #[error("issuer must not contain a fragment")]
    Fragment,
    /// No host, or a userinfo part.
    #[error("issuer must have a host and no userinfo")]
    Authority,
}

/// An issuer identifier; see the [module documentation](self).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Issuer {
    value: String,
    url: Url,
}

impl Issuer {
    /// Validates an issuer, keeping the string unchanged.
    ///
    /// `http` is accepted so that development servers on loopback work;
    /// callers that face the internet should check [`Issuer::is_https`].
    pub fn parse(value: impl Into<String>) -> Result<Self, IssuerError> {
        let value = value.into();
        let url = Url::parse(&value).map_err(|e| IssuerError::NotAbsolute(e.to_string()))?;
        match url.scheme() {
            "https" | "http" => {}
            other => return Err(IssuerError::Scheme(other.to_owned())),
        }
        if value.contains('?') {
            return Err(IssuerError::Query);
        }
        if value.contains('#') {
            return Err(IssuerError::Fragment);
        }
        if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(IssuerError::Authority);
        }
        Ok(Self { value, url })
    }

    /// The issuer string, exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The issuer as a parsed URL (normalised by the URL parser; use
    /// [`Issuer::as_str`] for comparisons and for what is emitted).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the issuer uses `https`.
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// Exact string comparison, as RFC 8414 §3.3 and RFC 9207 §2.4 require.
    pub fn is(&self, other: &str) -> bool {
        issuer_eq(&self.value, other)
    }

    /// Joins an endpoint path to the issuer (`{issuer}{path}` without a
    /// doubled slash), for building the endpoint URLs an AS advertises.
    pub fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.value.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// Exact comparison of two issuer strings (constant time on content, which
/// costs nothing and removes one thing to think about).
pub fn issuer_eq(a: &str, b: &str) -> bool {
    constant_time_eq(a.as_bytes(), b.as_bytes())
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Issuer").field(&self.value).finish()
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

crate::macros::string_serde!(Issuer, IssuerError, Issuer::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_exactly() {
        for s in [
            "https://as.example",
            "https://as.example/",
            "https://AS.example/Tenant1",
            "http://127.0.0.1:9000",
        ] {
            let iss = Issuer::parse(s).unwrap();
            assert_eq!(iss.as_str(), s);
            assert!(iss.is(s));
        }
    }

    #[test]
    fn no_normalisation_in_comparison() {
        let iss = Issuer::parse("https://as.example").unwrap();
        assert!(!iss.is("https://as.example/"));
        assert!(!iss.is("https://AS.example"));
        assert!(!iss.is("https://as.example:443"));
    }

    #[test]
    fn refused() {
        assert_eq!(
            Issuer::parse("https://a.example?x=1"),
            Err(IssuerError::Query)
        );
        assert_eq!(
            Issuer::parse("https://a.example#f"),
            Err(IssuerError::Fragment)
        );
        assert_eq!(
            Issuer::parse("ftp://a.example"),
            Err(IssuerError::Scheme("ftp".into()))
        );
        assert_eq!(
            Issuer::parse("https://u@a.example"),
            Err(IssuerError::Authority)
        );
        assert!(Issuer::parse("a.example").is_err());
    }

    #[test]
    fn endpoints() {
        let a = Issuer::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(a.endpoint("/token"), "http://127.0.0.1:9000/token");
        let b = Issuer::parse("https://as.example/tenant/").unwrap();
        assert_eq!(b.endpoint("token"), "https://as.example/tenant/token");
    }
}
