//! Which members of a JWK Set may verify signatures, and with which
//! algorithms.

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::is_asymmetric;

/// The signature algorithms `jwk` may verify: the one its `alg` names, else
/// those its key type (and curve) allow. Only members of
/// [`ASYMMETRIC_ALGS`](super::ASYMMETRIC_ALGS) are ever returned, so a
/// symmetric (`oct`) key, an encryption algorithm or an unsupported curve
/// gives an empty list.
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use jsonwebtoken::jwk::Jwk;
/// use mcp_oauth_core::jose::algorithms_for;
/// use serde_json::json;
///
/// let ec: Jwk = serde_json::from_value(json!({
///     "kty": "EC", "crv": "P-256",
///     "x": "8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI",
///     "y": "iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0",
/// }))?;
/// assert_eq!(algorithms_for(&ec), [Algorithm::ES256]);
///
/// let hmac: Jwk = serde_json::from_value(json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}))?;
/// assert!(algorithms_for(&hmac).is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn algorithms_for(jwk: &Jwk) -> Vec<Algorithm> {
    if let Some(declared) = jwk.common.key_algorithm {
        return declared_algorithm(declared)
            .filter(|a| is_asymmetric(*a))
            .into_iter()
            .collect();
    }
    match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => Vec::new(),
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        _ => Vec::new(),
    }
}

/// The JWS algorithm a JWK `alg` names, if it names a signature algorithm.
fn declared_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        _ => return None,
    })
}

/// Whether `jwk` is meant for verifying signatures: its `use`, when
/// present, is `sig`, and its `key_ops`, when present, include `verify`
/// (RFC 7517 §4.2, §4.3). A key with neither may verify.
///
/// ```
/// use jsonwebtoken::jwk::Jwk;
/// use mcp_oauth_core::jose::is_for_verification;
/// use serde_json::json;
///
/// let key = |extra: serde_json::Value| -> Jwk {
///     let mut k = json!({"kty": "OKP", "crv": "Ed25519",
///                        "x": "9Pkx1BWOyxR_GC5E9plmGFC1iDe7RAoNSI6DeoAfhkU"});
///     k.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
///     serde_json::from_value(k).unwrap()
/// };
/// assert!(is_for_verification(&key(json!({}))));
/// assert!(is_for_verification(&key(json!({"use": "sig", "key_ops": ["verify"]}))));
/// assert!(!is_for_verification(&key(json!({"use": "enc"}))));
/// assert!(!is_for_verification(&key(json!({"key_ops": ["sign"]}))));
/// ```
pub fn is_for_verification(jwk: &Jwk) -> bool {
    let use_ok = matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    );
    let ops_ok = jwk
        .common
        .key_operations
        .as_ref()
        .is_none_or(|ops| ops.iter().any(|o| matches!(o, KeyOperations::Verify)));
    use_ok && ops_ok
}

/// A JWK Set member that may verify signatures: its `kid`, the key, and
/// the algorithms it may verify (never empty, all asymmetric).
#[derive(Debug, Clone)]
pub struct VerificationKey {
    /// The member's `kid`, if it has one.
    pub kid: Option<String>,
    /// The public key.
    pub key: DecodingKey,
    /// What [`algorithms_for`] allows for this key.
    pub algs: Vec<Algorithm>,
}

impl VerificationKey {
    /// The verification key of `jwk`; `None` when [`is_for_verification`]
    /// says no, [`algorithms_for`] finds no algorithm, or the key material
    /// cannot be read.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use jsonwebtoken::jwk::Jwk;
    /// use mcp_oauth_core::jose::VerificationKey;
    /// use serde_json::json;
    ///
    /// let jwk: Jwk = serde_json::from_value(json!({
    ///     "kty": "OKP", "crv": "Ed25519", "kid": "ed",
    ///     "x": "9Pkx1BWOyxR_GC5E9plmGFC1iDe7RAoNSI6DeoAfhkU",
    /// }))?;
    /// let key = VerificationKey::from_jwk(&jwk).expect("an Ed25519 signing key");
    /// assert_eq!(key.kid.as_deref(), Some("ed"));
    /// assert_eq!(key.algs, [Algorithm::EdDSA]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if !is_for_verification(jwk) {
            return None;
        }
        let algs = algorithms_for(jwk);
        if algs.is_empty() {
            return None;
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self {
            kid: jwk.common.key_id.clone(),
            key,
            algs,
        })
    }

    /// Whether this key may verify a signature made with `alg`.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use mcp_oauth_core::jose::verification_keys;
    /// use serde_json::json;
    ///
    /// let set = json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
    ///     "x": "9Pkx1BWOyxR_GC5E9plmGFC1iDe7RAoNSI6DeoAfhkU"}]});
    /// let key = &verification_keys(&set)[0];
    /// assert!(key.verifies(Algorithm::EdDSA));
    /// assert!(!key.verifies(Algorithm::ES256));
    /// ```
    pub fn verifies(&self, alg: Algorithm) -> bool {
        self.algs.contains(&alg)
    }
}

/// The keys of a JWK Set document (`{"keys": [...]}`) that may verify
/// signatures, in document order. Each member is read on its own, so one
/// this library cannot read (another key type, a malformed member, a
/// string) is skipped without spoiling the others; so are members that
/// [`VerificationKey::from_jwk`] refuses. A document without a `keys` array
/// has no keys. Members without a `kid` are kept (with `kid: None`); a
/// caller that needs one filters them out.
///
/// ```
/// use mcp_oauth_core::jose::verification_keys;
/// use serde_json::json;
///
/// let ed = |kid: &str, usage: &str| json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
///     "use": usage, "x": "9Pkx1BWOyxR_GC5E9plmGFC1iDe7RAoNSI6DeoAfhkU"});
/// let set = json!({"keys": [
///     ed("signing", "sig"),
///     ed("encryption", "enc"),
///     {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
///     {"kty": "not-a-type"},
/// ]});
/// let kids: Vec<_> = verification_keys(&set).into_iter().map(|k| k.kid).collect();
/// assert_eq!(kids, [Some("signing".to_owned())]);
/// assert!(verification_keys(&json!({"keys": 3})).is_empty());
/// ```
pub fn verification_keys(document: &Value) -> Vec<VerificationKey> {
    document
        .get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|member| serde_json::from_value::<Jwk>(member.clone()).ok())
        .filter_map(|jwk| VerificationKey::from_jwk(&jwk))
        .collect()
}
