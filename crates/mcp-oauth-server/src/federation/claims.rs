//! From an upstream's claims to our identity: which claim is the subject,
//! the e-mail address, the name and the groups; the allow-lists; and what
//! goes into our access tokens.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{FederationError, UpstreamConfig};
use crate::storage::IdentityRecord;

/// Longest upstream subject accepted (OIDC Core §2 allows 255 ASCII).
const MAX_SUBJECT: usize = 255;
/// Most groups kept from one sign-in.
const MAX_GROUPS: usize = 200;

/// Which upstream claims mean what. Defaults follow OpenID Connect
/// (`sub`, `email`, `name`); groups are off until named (Entra and Okta
/// call them `groups`, Keycloak often `groups` or `roles`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ClaimMapping {
    /// The stable identifier (GitHub: `id`). Strings and integers accepted.
    pub subject: String,
    /// The e-mail address, if any.
    pub email: Option<String>,
    /// The display name, if any (GitHub: `name` or `login`).
    pub name: Option<String>,
    /// A list of group (or role) names, if any.
    pub groups: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            email: Some("email".into()),
            name: Some("name".into()),
            groups: None,
        }
    }
}

impl ClaimMapping {
    /// Sets the groups claim.
    pub fn groups(mut self, claim: impl Into<String>) -> Self {
        self.groups = Some(claim.into());
        self
    }

    /// Whether any mapped claim (other than the subject) is missing from
    /// `claims`, so that the userinfo endpoint is worth asking.
    pub(super) fn misses_some(&self, claims: &Map<String, Value>) -> bool {
        [&self.email, &self.name, &self.groups]
            .into_iter()
            .flatten()
            .any(|c| !claims.contains_key(c))
    }

    /// Maps the upstream's claims to our identity record.
    pub(super) fn identity(
        &self,
        upstream: &UpstreamConfig,
        claims: &Map<String, Value>,
        now: u64,
    ) -> Result<IdentityRecord, FederationError> {
        let sub = match claims.get(&self.subject) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
            _ => {
                return Err(FederationError::UserInfo(format!(
                    "no usable subject claim {:?}",
                    self.subject
                )));
            }
        };
        if sub.is_empty() || sub.len() > MAX_SUBJECT || sub.chars().any(char::is_control) {
            return Err(FederationError::UserInfo(
                "the subject is empty, too long or has control characters".into(),
            ));
        }
        let text = |claim: &Option<String>| {
            claim
                .as_ref()
                .and_then(|c| claims.get(c))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let email_verified = match claims.get("email_verified") {
            Some(Value::Bool(b)) => Some(*b),
            // Some providers (Cognito) send the boolean as a string.
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let groups = match self.groups.as_ref().and_then(|c| claims.get(c)) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .take(MAX_GROUPS)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(IdentityRecord {
            subject: format!("{}:{sub}", upstream.id),
            provider: upstream.id.clone(),
            email: text(&self.email),
            email_verified,
            name: text(&self.name),
            groups,
            updated_at: now,
        })
    }
}

/// Whether the provider vouches for the person's e-mail address: it said
/// `email_verified: true`, or the operator configured it as verifying every
/// address. An absent claim is not verification.
fn email_verified(upstream: &UpstreamConfig, who: &IdentityRecord) -> bool {
    who.email.is_some() && (who.email_verified == Some(true) || upstream.assume_email_verified)
}

/// Checks the upstream's allow-lists; each configured list must be met.
pub(crate) fn admit(
    upstream: &UpstreamConfig,
    who: &IdentityRecord,
) -> Result<(), FederationError> {
    if !upstream.allowed_email_domains.is_empty() {
        let email = who
            .email
            .as_deref()
            .ok_or_else(|| FederationError::NotAllowed("no e-mail address".into()))?;
        if !email_verified(upstream, who) {
            return Err(FederationError::NotAllowed(
                "the e-mail address is not verified".into(),
            ));
        }
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !upstream
            .allowed_email_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
        {
            return Err(FederationError::NotAllowed(format!(
                "e-mail domain {domain:?} is not allowed"
            )));
        }
    }
    if !upstream.allowed_groups.is_empty()
        && !who
            .groups
            .iter()
            .any(|g| upstream.allowed_groups.contains(g))
    {
        return Err(FederationError::NotAllowed(
            "not a member of an allowed group".into(),
        ));
    }
    Ok(())
}

/// The claims our access tokens carry for this person. An e-mail address
/// the provider does not vouch for is left out: resource servers trust our
/// tokens' `email`.
pub(crate) fn token_claims(
    upstream: &UpstreamConfig,
    who: &IdentityRecord,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for claim in &upstream.token_claims {
        let value = match claim.as_str() {
            "email" if email_verified(upstream, who) => who.email.clone().map(Value::from),
            "name" => who.name.clone().map(Value::from),
            "groups" if !who.groups.is_empty() => Some(Value::from(who.groups.clone())),
            _ => None,
        };
        if let Some(v) = value {
            out.insert(claim.clone(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upstream() -> UpstreamConfig {
        UpstreamConfig::oidc("corp", "Corp", "https://idp.example", "c", None)
            .claims(ClaimMapping::default().groups("groups"))
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn maps_claims_to_a_prefixed_identity() {
        let u = upstream();
        let who = u
            .claims
            .identity(
                &u,
                &map(
                    json!({"sub": "42", "email": "a@Example.com", "email_verified": true,
                             "name": "A", "groups": ["staff", 7, "ops"]}),
                ),
                9,
            )
            .unwrap();
        assert_eq!(who.subject, "corp:42");
        assert_eq!(who.groups, ["staff", "ops"], "non-strings dropped");
        assert_eq!(who.email_verified, Some(true));
        assert_eq!(
            token_claims(&u, &who),
            BTreeMap::from([
                ("email".to_owned(), json!("a@Example.com")),
                ("groups".to_owned(), json!(["staff", "ops"])),
                ("name".to_owned(), json!("A")),
            ])
        );
        // GitHub-style numeric ids.
        let gh = UpstreamConfig {
            claims: ClaimMapping {
                subject: "id".into(),
                ..ClaimMapping::default()
            },
            ..upstream()
        };
        let who = gh
            .claims
            .identity(&gh, &map(json!({"id": 1234, "login": "x"})), 9)
            .unwrap();
        assert_eq!(who.subject, "corp:1234");
        assert_eq!(who.email, None);
        for bad in [json!({}), json!({"sub": ""}), json!({"sub": {"a": 1}})] {
            assert!(u.claims.identity(&u, &map(bad), 9).is_err());
        }
    }

    #[test]
    fn allow_lists() {
        let who = |email: Option<&str>, verified: Option<bool>, groups: &[&str]| IdentityRecord {
            subject: "corp:1".into(),
            provider: "corp".into(),
            email: email.map(str::to_owned),
            email_verified: verified,
            name: None,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            updated_at: 0,
        };
        let open = upstream();
        assert!(admit(&open, &who(None, None, &[])).is_ok());
        let by_domain = upstream().allowed_email_domains(["example.com"]);
        assert!(admit(&by_domain, &who(Some("a@EXAMPLE.com"), Some(true), &[])).is_ok());
        assert!(
            admit(&by_domain, &who(Some("a@example.com"), None, &[])).is_err(),
            "an absent email_verified is not verification"
        );
        let trusting = upstream()
            .allowed_email_domains(["example.com"])
            .assume_email_verified();
        assert!(admit(&trusting, &who(Some("a@example.com"), None, &[])).is_ok());
        assert!(
            !token_claims(&by_domain, &who(Some("a@example.com"), None, &[])).contains_key("email"),
            "unverified addresses stay out of our tokens"
        );
        assert!(admit(&by_domain, &who(Some("a@example.com"), Some(false), &[])).is_err());
        assert!(
            admit(
                &by_domain,
                &who(Some("a@example.com.evil"), Some(true), &[])
            )
            .is_err()
        );
        assert!(admit(&by_domain, &who(Some("a@sub.example.com"), Some(true), &[])).is_err());
        assert!(admit(&by_domain, &who(None, None, &[])).is_err());
        let both = by_domain.allowed_groups(["staff"]);
        assert!(admit(&both, &who(Some("a@example.com"), Some(true), &["staff"])).is_ok());
        assert!(admit(&both, &who(Some("a@example.com"), Some(true), &["ops"])).is_err());
        assert!(admit(&both, &who(Some("a@other.com"), Some(true), &["staff"])).is_err());
    }
}
