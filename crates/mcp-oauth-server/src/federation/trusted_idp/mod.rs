//! Enterprise identity providers whose Identity Assertion JWT Authorization
//! Grants (ID-JAGs, MCP enterprise-managed authorization) this server
//! accepts at its token endpoint (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`).
//!
//! Each provider is configured by the operator ([`TrustedIdpConfig`], the
//! TOML file's `[[trusted_idps]]`): its exact issuer, where its signing keys
//! are (a `jwks_uri`, or a JWK Set inline), which of our clients may present
//! its grants, for which resources and scopes, and how its people become our
//! subjects. The server keeps their keys, fetched from `jwks_uri` when
//! needed and again for an unknown `kid`.

mod keys;
mod subject;

use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use serde::Deserialize;
use serde_json::Value;

pub(crate) use keys::{IdpKeyError, TrustedIdp, TrustedIdps};
#[cfg(test)]
use subject::SubjectError;
pub(crate) use subject::map_subject;

/// Default longest lifetime (`exp - iat`) of an accepted grant: 5 minutes.
pub const DEFAULT_MAX_LIFETIME: u64 = 300;
/// Default clock skew tolerated on a grant's times: 30 seconds.
pub const DEFAULT_LEEWAY: u64 = 30;
/// Longest `max_lifetime` an operator may configure: one day.
const MAX_MAX_LIFETIME: u64 = 86_400;
/// Largest `leeway` an operator may configure: 5 minutes.
const MAX_LEEWAY: u64 = 300;

/// One enterprise identity provider trusted to issue ID-JAGs for this
/// server (the TOML file's `[[trusted_idps]]`).
///
/// ```
/// use mcp_oauth_server::federation::TrustedIdpConfig;
///
/// let idp = TrustedIdpConfig::with_jwks_uri(
///     "acme",
///     "https://acme.okta.com",
///     "https://acme.okta.com/oauth2/v1/keys",
///     ["agent"],
/// )
/// .email_domains(["acme.example"]);
/// assert_eq!(idp.validate(), Ok(()));
/// assert_eq!(idp.subject_claim, "sub");
/// assert_eq!(idp.max_lifetime, 300);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TrustedIdpConfig {
    /// Short id: 1 to 32 of `a-z`, `0-9`, `-` and `_`. It namespaces the
    /// subjects of this provider's people (`{name}:{value}`), so changing
    /// it changes their identity here.
    pub name: String,
    /// The provider's issuer, compared exactly with the grant's `iss`.
    pub issuer: String,
    /// Where the provider publishes its signing keys (exactly one of
    /// `jwks_uri` and `jwks`).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The provider's signing keys, a JWK Set given inline.
    #[serde(default)]
    pub jwks: Option<Value>,
    /// Which of this server's clients (`client_id`s) may present this
    /// provider's grants; required, never empty.
    pub clients: Vec<String>,
    /// The resources its grants may name (canonical resource URIs); empty:
    /// whatever the server serves (its `allowed_resources`).
    #[serde(default)]
    pub resources: Vec<String>,
    /// The most scope its grants may bring (none: no cap beyond the
    /// client's own).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The claim naming the person (default `sub`; any string claim, such
    /// as `email` or `preferred_username`).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// When not empty, a grant must carry an `email` with
    /// `email_verified: true` in one of these domains (exact, case
    /// insensitive; subdomains are not included), whatever the subject
    /// claim. With `subject_claim = "email"` a verified address is required
    /// in any case.
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// When true, the mapped value must be the name of an existing local
    /// user, who becomes the token's subject; otherwise the subject is
    /// `{name}:{value}`, like a federated person's.
    #[serde(default)]
    pub local_users: bool,
    /// Longest lifetime (`exp - iat`, seconds) of an accepted grant
    /// (default 300).
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: u64,
    /// Clock skew tolerated on the grant's times, in seconds (default 30).
    #[serde(default = "default_leeway")]
    pub leeway: u64,
}

fn default_subject_claim() -> String {
    "sub".into()
}

fn default_max_lifetime() -> u64 {
    DEFAULT_MAX_LIFETIME
}

fn default_leeway() -> u64 {
    DEFAULT_LEEWAY
}

impl TrustedIdpConfig {
    fn new(name: &str, issuer: &str, clients: Vec<String>) -> Self {
        Self {
            name: name.to_owned(),
            issuer: issuer.to_owned(),
            jwks_uri: None,
            jwks: None,
            clients,
            resources: Vec::new(),
            scopes: None,
            subject_claim: default_subject_claim(),
            email_domains: Vec::new(),
            local_users: false,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// A provider whose keys are fetched from `jwks_uri`, trusted for
    /// `clients`.
    pub fn with_jwks_uri<I, S>(name: &str, issuer: &str, jwks_uri: &str, clients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            jwks_uri: Some(jwks_uri.to_owned()),
            ..Self::new(name, issuer, clients.into_iter().map(Into::into).collect())
        }
    }

    /// A provider whose keys are the JWK Set `jwks`, trusted for `clients`.
    pub fn with_jwks<I, S>(name: &str, issuer: &str, jwks: Value, clients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            jwks: Some(jwks),
            ..Self::new(name, issuer, clients.into_iter().map(Into::into).collect())
        }
    }

    /// Limits its grants to these resources.
    pub fn resources<I: IntoIterator<Item = S>, S: Into<String>>(mut self, resources: I) -> Self {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Caps the scope its grants may bring.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Names the person by this claim.
    pub fn subject_claim(mut self, claim: impl Into<String>) -> Self {
        self.subject_claim = claim.into();
        self
    }

    /// Requires a verified e-mail address in one of these domains.
    pub fn email_domains<I: IntoIterator<Item = S>, S: Into<String>>(mut self, domains: I) -> Self {
        self.email_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Maps people to existing local users.
    pub fn local_users(mut self) -> Self {
        self.local_users = true;
        self
    }

    /// Sets the longest accepted lifetime, in seconds.
    pub fn max_lifetime(mut self, secs: u64) -> Self {
        self.max_lifetime = secs;
        self
    }

    /// Sets the tolerated clock skew, in seconds.
    pub fn leeway(mut self, secs: u64) -> Self {
        self.leeway = secs;
        self
    }

    /// The resources its grants may name (empty: no limit of its own).
    pub(crate) fn resource_list(&self) -> Vec<ResourceUri> {
        self.resources
            .iter()
            .filter_map(|r| ResourceUri::parse(r).ok())
            .collect()
    }

    /// The scope cap, if any.
    pub(crate) fn scope_cap(&self) -> Option<ScopeSet> {
        self.scopes
            .as_ref()
            .map(|s| ScopeSet::parse_lossy(&s.join(" ")))
    }

    /// Whether a verified e-mail address is required.
    pub(crate) fn needs_verified_email(&self) -> bool {
        !self.email_domains.is_empty() || self.subject_claim == "email"
    }

    /// Checks the configuration; the message names the provider and the
    /// field at fault.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(format!(
                "trusted_idps name {:?}: use 1 to 32 of a-z, 0-9, '-' and '_'",
                self.name
            ));
        }
        let at = |m: &str| format!("trusted_idps {}: {m}", self.name);
        super::check_url(&self.issuer).map_err(|e| at(&format!("issuer: {e}")))?;
        match (&self.jwks_uri, &self.jwks) {
            (Some(uri), None) => {
                super::check_url(uri).map_err(|e| at(&format!("jwks_uri: {e}")))?;
            }
            (None, Some(set)) => {
                if mcp_oauth_core::jose::verification_keys(set).is_empty() {
                    return Err(at("jwks holds no key for verifying signatures"));
                }
            }
            _ => return Err(at("give exactly one of jwks_uri and jwks")),
        }
        if self.clients.is_empty() {
            return Err(at(
                "clients is empty: name the clients that may present its grants",
            ));
        }
        if self.clients.iter().any(|c| c.is_empty()) {
            return Err(at("clients holds an empty client id"));
        }
        for r in &self.resources {
            ResourceUri::parse(r).map_err(|e| at(&format!("resource {r}: {e}")))?;
        }
        if let Some(scopes) = &self.scopes {
            ScopeSet::parse(&scopes.join(" ")).map_err(|e| at(&format!("scopes: {e}")))?;
        }
        if self.subject_claim.is_empty() {
            return Err(at("subject_claim is empty"));
        }
        // A claim the provider's people can edit themselves (a display or
        // user name) must not choose which local account, an
        // administrator's included, they become.
        if self.local_users
            && !matches!(self.subject_claim.as_str(), "sub" | "email")
            && self.email_domains.is_empty()
        {
            return Err(at(&format!(
                "local_users with subject_claim {:?}: the provider's people may be able to \
                 edit that claim and become any local user; use subject_claim \"sub\" or \
                 \"email\", or set email_domains",
                self.subject_claim
            )));
        }
        if let Some(d) = self
            .email_domains
            .iter()
            .find(|d| d.is_empty() || d.contains('@') || d.chars().any(char::is_whitespace))
        {
            return Err(at(&format!("email_domains: {d:?} is not a domain")));
        }
        if self.max_lifetime == 0 || self.max_lifetime > MAX_MAX_LIFETIME {
            return Err(at(&format!(
                "max_lifetime must be 1 to {MAX_MAX_LIFETIME} seconds"
            )));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(at(&format!("leeway must be at most {MAX_LEEWAY} seconds")));
        }
        Ok(())
    }
}

/// Checks several providers together, and against the upstreams people
/// sign in with: names and issuers distinct, and a name shared with an
/// upstream only for the same issuer and subject claim (both then name the
/// same people `{name}:{sub}`; any other overlap would let one provider
/// speak for the other's people), and only when the provider admits no one
/// the upstream's allow-lists would keep out: the upstream has no
/// `allowed_groups` (a grant carries no groups to check), and its
/// `allowed_email_domains`, if any, hold all of the provider's
/// `email_domains` (which then must not be empty).
pub(crate) fn validate_all(
    idps: &[TrustedIdpConfig],
    upstreams: &[super::UpstreamConfig],
) -> Result<(), String> {
    for (i, idp) in idps.iter().enumerate() {
        idp.validate()?;
        if idps[..i].iter().any(|o| o.name == idp.name) {
            return Err(format!("trusted_idps {} is configured twice", idp.name));
        }
        if idps[..i].iter().any(|o| o.issuer == idp.issuer) {
            return Err(format!(
                "trusted_idps {}: issuer {} is configured twice",
                idp.name, idp.issuer
            ));
        }
        if let Some(up) = upstreams.iter().find(|u| u.id == idp.name) {
            shares_name_with(idp, up)?;
        }
    }
    Ok(())
}

/// Whether `idp` may share its name with the upstream `up`.
fn shares_name_with(idp: &TrustedIdpConfig, up: &super::UpstreamConfig) -> Result<(), String> {
    let same = up.issuer.as_deref() == Some(idp.issuer.as_str())
        && up.claims.subject == idp.subject_claim
        && !idp.local_users;
    if !same {
        return Err(format!(
            "trusted_idps {}: the name is an upstream's id, but the issuer, the \
             subject claim or local_users differ (their subjects would mix); \
             choose another name",
            idp.name
        ));
    }
    if !up.allowed_groups.is_empty() {
        return Err(format!(
            "trusted_idps {}: the name is an upstream's id, and the upstream's \
             allowed_groups cannot be checked on identity assertion grants; choose \
             another name",
            idp.name
        ));
    }
    let within = |d: &String| {
        up.allowed_email_domains
            .iter()
            .any(|a| a.eq_ignore_ascii_case(d))
    };
    if !up.allowed_email_domains.is_empty()
        && (idp.email_domains.is_empty() || !idp.email_domains.iter().all(within))
    {
        return Err(format!(
            "trusted_idps {}: the name is an upstream's id, so its email_domains must \
             be within the upstream's allowed_email_domains (the same people are \
             admitted either way); set email_domains or choose another name",
            idp.name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
