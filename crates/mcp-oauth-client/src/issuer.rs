//! Issuer identifiers compared as the client compares them.

/// Whether two issuer identifiers name the same server: equal once parsed
/// as URLs, so `http://h` and `http://h/`, or a differently cased host,
/// are one, while another scheme, host, port or path is not.
pub(crate) fn same_issuer(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_compare_as_urls() {
        assert!(same_issuer(
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000/"
        ));
        assert!(same_issuer("https://AS.example", "https://as.example:443/"));
        assert!(same_issuer(
            "https://as.example/t1",
            "https://as.example/t1"
        ));
        for other in [
            "http://as.example",
            "https://as.example:8443",
            "https://as.example/t1",
            "https://evil.example",
            "https://as.example.evil.example",
            "https://as.example@evil.example",
            "not a url",
        ] {
            assert!(!same_issuer("https://as.example", other), "{other}");
        }
    }
}
