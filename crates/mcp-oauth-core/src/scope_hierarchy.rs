//! Scope hierarchies (MCP 2026-07-28 authorization: servers account for
//! scopes where a broader one implies narrower ones): an explicit
//! implication table (`files:write` ⇒ `files:read`, `admin` ⇒ everything
//! listed), transitive, and optionally a separator rule under which a
//! scope implies every scope below it (`files` ⇒ `files:read`, but never
//! `filesystem`).

use std::collections::{BTreeMap, BTreeSet};

use crate::scope::ScopeSet;

/// Which scopes imply which; see the [module documentation](self).
///
/// ```
/// use mcp_oauth_core::scope::ScopeSet;
/// use mcp_oauth_core::scope_hierarchy::ScopeHierarchy;
///
/// let h = ScopeHierarchy::new()
///     .imply("files:write", ["files:read"])
///     .imply("admin", ["files:write", "users:manage"])
///     .separator(':');
/// let granted = ScopeSet::parse("admin")?;
/// assert!(h.covers(&granted, "files:read")); // admin ⇒ files:write ⇒ files:read
/// assert!(h.covers(&ScopeSet::parse("files")?, "files:read")); // by the separator
/// assert!(!h.covers(&ScopeSet::parse("files:read")?, "files:write"));
/// assert!(!h.covers(&ScopeSet::parse("files")?, "filesystem"));
/// let needed = ScopeSet::parse("files:read users:manage")?;
/// assert!(h.satisfies(&granted, &needed));
/// assert_eq!(h.missing(&ScopeSet::parse("files:write")?, &needed).to_string(), "users:manage");
/// # Ok::<(), mcp_oauth_core::scope::ScopeError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeHierarchy {
    implies: BTreeMap<String, BTreeSet<String>>,
    separator: Option<char>,
}

impl ScopeHierarchy {
    /// No implications: a scope stands only for itself.
    pub fn new() -> Self {
        Self::default()
    }

    /// `broader` implies each of `narrower` (and what they imply).
    pub fn imply<'a>(mut self, broader: &str, narrower: impl IntoIterator<Item = &'a str>) -> Self {
        self.implies
            .entry(broader.to_owned())
            .or_default()
            .extend(narrower.into_iter().map(str::to_owned));
        self
    }

    /// A scope implies every scope that extends it after `separator`
    /// (`files` ⇒ `files:read` and `files:read:all` for `':'`).
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = Some(separator);
        self
    }

    /// Whether the hierarchy adds anything to plain set inclusion.
    pub fn is_flat(&self) -> bool {
        self.implies.is_empty() && self.separator.is_none()
    }

    /// The granted scopes and everything the table makes them imply
    /// (transitively; a cycle in the table is harmless).
    pub fn expand(&self, granted: &ScopeSet) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = granted.iter().map(str::to_owned).collect();
        let mut todo: Vec<String> = all.iter().cloned().collect();
        while let Some(scope) = todo.pop() {
            for narrower in self.implies.get(&scope).into_iter().flatten() {
                if all.insert(narrower.clone()) {
                    todo.push(narrower.clone());
                }
            }
        }
        all
    }

    /// Whether `granted` covers the scope `needed`.
    pub fn covers(&self, granted: &ScopeSet, needed: &str) -> bool {
        self.covered_by(&self.expand(granted), needed)
    }

    fn covered_by(&self, expanded: &BTreeSet<String>, needed: &str) -> bool {
        if expanded.contains(needed) {
            return true;
        }
        let Some(sep) = self.separator else {
            return false;
        };
        // Every prefix of `needed` that ends right before a separator.
        needed
            .char_indices()
            .filter(|(_, c)| *c == sep)
            .any(|(i, _)| expanded.contains(&needed[..i]))
    }

    /// Whether `granted` covers every scope of `required`.
    pub fn satisfies(&self, granted: &ScopeSet, required: &ScopeSet) -> bool {
        let expanded = self.expand(granted);
        required.iter().all(|s| self.covered_by(&expanded, s))
    }

    /// The scopes of `required` that `granted` does not cover: the
    /// narrowest that would make it suffice.
    pub fn missing(&self, granted: &ScopeSet, required: &ScopeSet) -> ScopeSet {
        let expanded = self.expand(granted);
        let mut out = ScopeSet::new();
        for s in required.iter().filter(|s| !self.covered_by(&expanded, s)) {
            out.insert(s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn a_flat_hierarchy_is_set_inclusion() {
        let h = ScopeHierarchy::new();
        assert!(h.is_flat());
        assert!(h.satisfies(&set("a b"), &set("a")));
        assert!(!h.satisfies(&set("a"), &set("a b")));
        assert!(!h.covers(&set("files"), "files:read"));
    }

    #[test]
    fn implications_are_transitive_and_cycles_end() {
        let h = ScopeHierarchy::new()
            .imply("a", ["b"])
            .imply("b", ["c"])
            .imply("c", ["a"]);
        assert!(h.covers(&set("a"), "c"));
        assert!(h.covers(&set("c"), "b"));
        assert!(!h.covers(&set("a"), "d"));
        assert_eq!(h.expand(&set("b")).len(), 3);
    }

    #[test]
    fn the_separator_rule_needs_a_whole_segment() {
        let h = ScopeHierarchy::new().separator(':');
        assert!(h.covers(&set("files"), "files:read"));
        assert!(h.covers(&set("files"), "files:read:all"));
        assert!(h.covers(&set("files:read"), "files:read:all"));
        assert!(!h.covers(&set("files"), "filesystem"));
        assert!(!h.covers(&set("files:read"), "files"));
        assert!(!h.covers(&set("files:"), "files"));
        // Implications and the separator together.
        let h = h.imply("admin", ["files"]);
        assert!(h.covers(&set("admin"), "files:write"));
        assert_eq!(
            h.missing(&set("files:read"), &set("files:read files:write")),
            set("files:write")
        );
    }
}
