//! The claims this server knows of a person, by OpenID Connect scope
//! (OIDC Core 1.0 §5.4): `profile` gives `preferred_username` (a local
//! user's login name) and `name` (a federated person's display name, as
//! their provider last gave it); `email` gives a federated person's
//! address, with `email_verified` only when the provider said. Nothing
//! unknown is made up, and nothing ungranted is given.

use std::collections::BTreeMap;

use mcp_oauth_core::scope::ScopeSet;
use serde_json::Value;

use crate::storage::{Storage, StorageError};

/// The claims [`person_claims`] may give, for the discovery document's
/// `claims_supported` (with the ones every ID token carries).
pub(crate) const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "preferred_username",
    "name",
    "email",
    "email_verified",
];

/// The `profile` and `email` claims of `subject` that `scope` grants and
/// storage knows. A local user's subject is their username; a federated
/// person's is `{provider}:{upstream subject}`, described by their
/// identity record.
pub(crate) async fn person_claims(
    storage: &dyn Storage,
    subject: &str,
    scope: &ScopeSet,
) -> Result<BTreeMap<String, Value>, StorageError> {
    let mut out = BTreeMap::new();
    let profile = scope.contains("profile");
    let email = scope.contains("email");
    if !profile && !email {
        return Ok(out);
    }
    if !subject.contains(':') {
        if profile && storage.user(subject).await?.is_some() {
            out.insert("preferred_username".to_owned(), Value::from(subject));
        }
        return Ok(out);
    }
    let Some(who) = storage.identity(subject).await? else {
        return Ok(out);
    };
    if profile && let Some(name) = who.name {
        out.insert("name".to_owned(), Value::from(name));
    }
    if email && let Some(address) = who.email {
        out.insert("email".to_owned(), Value::from(address));
        if let Some(verified) = who.email_verified {
            out.insert("email_verified".to_owned(), Value::from(verified));
        }
    }
    Ok(out)
}
