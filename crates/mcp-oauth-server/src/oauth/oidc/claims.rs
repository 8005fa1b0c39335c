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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{IdentityRecord, MemoryStorage, UserRecord, UserStore};

    fn scope(s: &str) -> ScopeSet {
        ScopeSet::parse_lossy(s)
    }

    #[tokio::test]
    async fn a_local_user_has_a_username_and_no_address() {
        let storage = MemoryStorage::new();
        let user = UserRecord {
            username: "alice".into(),
            password_hash: "$argon2id$x".into(),
        };
        storage.insert_user(user).await.unwrap();
        let all = person_claims(&storage, "alice", &scope("openid profile email"))
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all["preferred_username"], "alice");
        // Nothing without profile; nothing for a user who is gone.
        let none = person_claims(&storage, "alice", &scope("openid email")).await;
        assert!(none.unwrap().is_empty());
        let gone = person_claims(&storage, "bob", &scope("openid profile")).await;
        assert!(gone.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_federated_person_has_what_the_provider_gave_and_was_granted() {
        let storage = MemoryStorage::new();
        let mut who = IdentityRecord {
            subject: "corp:42".into(),
            provider: "corp".into(),
            email: Some("ann@example.com".into()),
            email_verified: Some(true),
            name: Some("Ann".into()),
            groups: Vec::new(),
            updated_at: 1,
        };
        storage.save_identity(who.clone()).await.unwrap();
        let all = person_claims(&storage, "corp:42", &scope("openid profile email"))
            .await
            .unwrap();
        assert_eq!(all["name"], "Ann");
        assert_eq!(all["email"], "ann@example.com");
        assert_eq!(all["email_verified"], true);
        assert!(!all.contains_key("preferred_username"));
        let profile = person_claims(&storage, "corp:42", &scope("openid profile"))
            .await
            .unwrap();
        assert_eq!(profile.keys().collect::<Vec<_>>(), ["name"]);
        // Whether the address was verified is left out when not known.
        who.email_verified = None;
        storage.save_identity(who).await.unwrap();
        let email = person_claims(&storage, "corp:42", &scope("openid email"))
            .await
            .unwrap();
        assert_eq!(email.keys().collect::<Vec<_>>(), ["email"]);
    }
}
