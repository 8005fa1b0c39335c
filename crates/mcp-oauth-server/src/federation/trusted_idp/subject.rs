//! From a trusted provider's grant to our subject: the configured claim
//! names the person, the e-mail allow-list must be met, and the person is
//! either `{name}:{value}` or, with `local_users`, the local user of that
//! name (whose existence the grant checks in storage).

use mcp_oauth_core::exchange::IdJagClaims;
use serde_json::Value;

use super::TrustedIdpConfig;

/// Longest mapped value accepted (OIDC Core §2 allows 255 ASCII for `sub`).
const MAX_VALUE: usize = 255;

/// Who a grant names, once mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MappedSubject {
    /// The value of the subject claim.
    pub(crate) value: String,
    /// Our subject: `{name}:{value}`, or `value` for a local user.
    pub(crate) subject: String,
    /// The e-mail address, when the provider verified it.
    pub(crate) verified_email: Option<String>,
}

/// Why a grant's person cannot be mapped; each message is the
/// `invalid_grant` description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SubjectError {
    /// The subject claim is missing, not a string, empty, too long or has
    /// control characters.
    #[error("the assertion has no usable {0} claim (a non-empty string of at most 255 characters)")]
    NoSubject(String),
    /// A verified address is required and there is no `email`.
    #[error("the assertion carries no e-mail address, and this identity provider requires one")]
    NoEmail,
    /// `email_verified` is not `true` (the boolean, or the string
    /// `"true"` some providers send).
    #[error("the assertion's e-mail address is not verified (email_verified is not true)")]
    EmailUnverified,
    /// The address is outside the allowed domains.
    #[error("the assertion's e-mail domain is not allowed for this identity provider")]
    EmailDomain,
}

/// Maps the verified claims of a grant from `idp` to our subject.
pub(crate) fn map_subject(
    idp: &TrustedIdpConfig,
    claims: &IdJagClaims,
) -> Result<MappedSubject, SubjectError> {
    let value = string_claim(claims, &idp.subject_claim)
        .filter(|v| !v.is_empty() && v.len() <= MAX_VALUE && !v.chars().any(char::is_control))
        .ok_or_else(|| SubjectError::NoSubject(idp.subject_claim.clone()))?;
    let email = claims.email.as_deref();
    let verified = claims.email_verified == Some(true);
    if idp.needs_verified_email() {
        let address = email.ok_or(SubjectError::NoEmail)?;
        if !verified {
            return Err(SubjectError::EmailUnverified);
        }
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let allowed = idp.email_domains.is_empty()
            || idp
                .email_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain));
        if !allowed {
            return Err(SubjectError::EmailDomain);
        }
    }
    let subject = if idp.local_users {
        value.to_owned()
    } else {
        format!("{}:{value}", idp.name)
    };
    Ok(MappedSubject {
        value: value.to_owned(),
        subject,
        verified_email: email.filter(|_| verified).map(str::to_owned),
    })
}

/// The string claim `name` of `claims`, whether the grant's own (`sub`,
/// `email`, …) or another.
fn string_claim<'a>(claims: &'a IdJagClaims, name: &str) -> Option<&'a str> {
    match name {
        "sub" => Some(&claims.sub),
        "email" => claims.email.as_deref(),
        "iss" => Some(&claims.iss),
        "client_id" => Some(&claims.client_id),
        "jti" => Some(&claims.jti),
        "resource" => Some(&claims.resource),
        other => claims.extra.get(other).and_then(Value::as_str),
    }
}
