//! The scope of a token issued for an ID-JAG: what the client asked (if
//! anything) within what the provider granted (when it said), within what
//! the client may have and the provider's cap. A grant whose `scope` is
//! empty (or holds only malformed values) granted nothing and is refused,
//! and so is any request that would leave an empty scope: no token is
//! issued without one.

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::scope::ScopeSet;

/// What bounds the scope.
pub(super) struct ScopeLimits<'a> {
    /// The `scope` parameter, when sent and not empty.
    pub(super) requested: Option<&'a ScopeSet>,
    /// The grant's `scope`, when the provider asserted one (possibly
    /// empty once parsed).
    pub(super) asserted: Option<&'a ScopeSet>,
    /// What the client may have.
    pub(super) allowed: &'a ScopeSet,
    /// The provider's cap, if configured.
    pub(super) cap: Option<&'a ScopeSet>,
    /// The server's default scope, used when neither the client nor the
    /// provider named one.
    pub(super) default: &'a ScopeSet,
}

/// The scope to issue, or the `invalid_scope` refusal naming what is not
/// allowed.
pub(super) fn decide(l: &ScopeLimits<'_>) -> Result<ScopeSet, ErrorResponse> {
    let limit = match l.cap {
        Some(cap) => l.allowed.intersection(cap),
        None => l.allowed.clone(),
    };
    if let Some(requested) = l.requested {
        if let Some(asserted) = l.asserted
            && !requested.is_subset(asserted)
        {
            return Err(ErrorResponse::invalid_scope(format!(
                "scope beyond what the identity provider granted: {}",
                requested.difference(asserted)
            )));
        }
        if !requested.is_subset(&limit) {
            return Err(ErrorResponse::invalid_scope(format!(
                "scope not allowed for this client with this identity provider: {}",
                requested.difference(&limit)
            )));
        }
        return Ok(requested.clone());
    }
    match l.asserted {
        Some(asserted) if asserted.is_empty() => Err(ErrorResponse::invalid_scope(
            "the identity provider granted no scope (the assertion's scope is empty)",
        )),
        Some(asserted) => {
            let scope = asserted.intersection(&limit);
            if scope.is_empty() {
                return Err(ErrorResponse::invalid_scope(format!(
                    "none of the scopes the identity provider granted is allowed \
                     for this client: {asserted}"
                )));
            }
            Ok(scope)
        }
        None => {
            let scope = l.default.intersection(&limit);
            if scope.is_empty() {
                return Err(ErrorResponse::invalid_scope(
                    "no scope was asked or granted, and none of the server's default scope \
                     is allowed for this client",
                ));
            }
            Ok(scope)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ScopeSet {
        ScopeSet::parse_lossy(v)
    }

    fn decide_with(
        requested: Option<&str>,
        asserted: Option<&str>,
        cap: Option<&str>,
    ) -> Result<String, String> {
        let (requested, asserted, cap) = (requested.map(s), asserted.map(s), cap.map(s));
        decide(&ScopeLimits {
            requested: requested.as_ref(),
            asserted: asserted.as_ref(),
            allowed: &s("mcp files.read files.write"),
            cap: cap.as_ref(),
            default: &s("mcp"),
        })
        .map(|s| s.to_sorted_string())
        .map_err(|e| e.error_description.unwrap_or_default())
    }

    #[test]
    fn requested_within_asserted_within_allowed_and_cap() {
        assert_eq!(decide_with(None, None, None), Ok("mcp".into()));
        assert_eq!(
            decide_with(None, Some("files.read admin"), None),
            Ok("files.read".into()),
            "the asserted scope, cut to what the client may have"
        );
        assert_eq!(
            decide_with(None, Some("mcp files.write"), Some("mcp")),
            Ok("mcp".into())
        );
        assert!(
            decide_with(None, Some("admin"), None)
                .unwrap_err()
                .contains("none of the scopes")
        );
        assert_eq!(
            decide_with(Some("files.read"), Some("mcp files.read"), None),
            Ok("files.read".into())
        );
        assert!(
            decide_with(Some("files.write"), Some("mcp files.read"), None)
                .unwrap_err()
                .contains("beyond what the identity provider granted: files.write")
        );
        assert!(
            decide_with(Some("files.write"), None, Some("mcp"))
                .unwrap_err()
                .contains("not allowed for this client with this identity provider: files.write")
        );
        assert_eq!(
            decide_with(Some("files.write"), None, None),
            Ok("files.write".into())
        );
    }

    #[test]
    fn an_empty_grant_or_an_empty_result_is_refused() {
        for empty in ["", "   ", "bad\"scope"] {
            let e = decide_with(None, Some(empty), None).unwrap_err();
            assert!(e.contains("granted no scope"), "{empty:?}: {e}");
            assert!(decide_with(Some("mcp"), Some(empty), None).is_err());
        }
        let e = decide_with(None, None, Some("files.read")).unwrap_err();
        assert!(e.contains("default scope"), "{e}");
    }
}
