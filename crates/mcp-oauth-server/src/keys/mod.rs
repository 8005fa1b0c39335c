//! Signing keys: ES256 (P-256, the default) or EdDSA (Ed25519) keys kept
//! in storage, optionally encrypted at rest ([`KeyEncryptionKey`]), and
//! published in the JWKS.
//!
//! Keys rotate on a schedule ([`KeyPolicy::rotation`], 30 days by default)
//! or on demand: the next key is published [`KeyPolicy::publish_ahead`]
//! (a day by default) before it signs, so verifiers that cache the JWKS
//! hold it before they meet a token it signed; a retired key stays
//! published until every token it signed has expired. Which key signs is a
//! function of the stored keys and the time ([`signing_kid`]), so instances
//! sharing storage agree; each reloads the keys every minute, and of
//! instances deciding to rotate at once, one key is stored.

mod material;
mod policy;
mod schedule;
mod seal;

use std::collections::HashMap;

use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcp_oauth_core::token::{ACCESS_TOKEN_JWT_TYPE, AccessTokenClaims};
use parking_lot::RwLock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use material::{SigningAlgorithm, UnknownAlgorithm};
pub use policy::KeyPolicy;
pub use seal::{BadKeyEncryptionKey, KeyEncryptionKey};

use material::KeyPair;
pub(crate) use seal::is_sealed;

use crate::storage::{SigningKeyRecord, Storage, StorageError};

/// What [`KeyManager::withdraw`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Withdrawal {
    /// The key is gone: no longer published, its tokens no longer verify.
    Withdrawn,
    /// The key signs now, or will: rotate first.
    Active,
    /// No such key.
    Unknown,
}

/// A key made by [`KeyManager::rotate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Rotation {
    /// Its `kid`, published at once.
    pub kid: String,
    /// When it starts to sign (seconds since the epoch).
    pub activates_at: u64,
}

/// A key could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Key generation failed.
    #[error("could not generate a signing key")]
    Generate,
    /// A stored key could not be read.
    #[error("stored signing key {0} is invalid")]
    Invalid(String),
    /// A stored key is encrypted and no key-encryption key is configured.
    #[error("signing key {0} is encrypted at rest: set MCP_OAUTH_KEY_ENCRYPTION_KEY")]
    Sealed(String),
    /// A stored key does not open with the configured key-encryption key.
    #[error("signing key {0} does not decrypt with the configured key-encryption key")]
    WrongEncryptionKey(String),
    /// Other instances kept rotating while this one tried.
    #[error("another instance rotated the signing key at the same time; try again")]
    Contended,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

struct Loaded {
    active_kid: String,
    active_alg: SigningAlgorithm,
    /// The signing key, parsed once.
    signing: KeyPair,
    decoding: HashMap<String, (Algorithm, DecodingKey)>,
    jwks: Value,
}

/// The server's signing keys; see the [module documentation](self).
pub struct KeyManager {
    loaded: RwLock<Loaded>,
    issuer: String,
    policy: KeyPolicy,
    max_token_life: u64,
}

fn generate_record(
    policy: &KeyPolicy,
    now: u64,
    activates_at: u64,
) -> Result<SigningKeyRecord, KeyError> {
    let (der, pair) = KeyPair::generate(policy.algorithm).map_err(|_| KeyError::Generate)?;
    let kid = pair.kid();
    let pkcs8 = match &policy.encryption_key {
        Some(kek) => seal::seal(kek, &kid, &der).ok_or(KeyError::Generate)?,
        None => Base64UrlUnpadded::encode_string(&der),
    };
    Ok(SigningKeyRecord {
        kid,
        alg: policy.algorithm.as_str().to_owned(),
        pkcs8,
        created_at: now,
        activates_at,
        retired_at: None,
    })
}

/// The private key of a record, opened if sealed.
fn private_key(r: &SigningKeyRecord, policy: &KeyPolicy) -> Result<Vec<u8>, KeyError> {
    if is_sealed(&r.pkcs8) {
        let kek = policy
            .encryption_key
            .as_ref()
            .ok_or_else(|| KeyError::Sealed(r.kid.clone()))?;
        return seal::open(kek, &r.kid, &r.pkcs8)
            .ok_or_else(|| KeyError::WrongEncryptionKey(r.kid.clone()));
    }
    Base64UrlUnpadded::decode_vec(&r.pkcs8).map_err(|_| KeyError::Invalid(r.kid.clone()))
}

fn load(
    records: &[SigningKeyRecord],
    policy: &KeyPolicy,
    max_token_life: u64,
    now: u64,
) -> Result<Loaded, KeyError> {
    let live: Vec<SigningKeyRecord> = records
        .iter()
        .filter(|r| {
            schedule::published(r, now, max_token_life) && r.alg.parse::<SigningAlgorithm>().is_ok()
        })
        .cloned()
        .collect();
    let signer = schedule::signing(&live, now)
        .map(|r| r.kid.clone())
        .ok_or_else(|| KeyError::Invalid("no active key".into()))?;
    let mut decoding = HashMap::new();
    let mut keys = Vec::new();
    let mut signing = None;
    for r in &live {
        let parsed = r
            .alg
            .parse::<SigningAlgorithm>()
            .map_err(|_| KeyError::Invalid(r.kid.clone()))
            .and_then(|alg| {
                let pair = KeyPair::from_pkcs8(alg, &private_key(r, policy)?)
                    .map_err(|_| KeyError::Invalid(r.kid.clone()))?;
                let (jwk, dk) = pair
                    .public(&r.kid)
                    .map_err(|_| KeyError::Invalid(r.kid.clone()))?;
                Ok((alg, pair, jwk, dk))
            });
        // One unreadable key other than the signing one (added by an admin
        // command with another key-encryption key, say) must not stop the
        // instance from following the schedule: it is left out, loudly.
        let (alg, pair, jwk, dk) = match parsed {
            Ok(parsed) => parsed,
            Err(e) if r.kid != signer => {
                tracing::error!(kid = %r.kid, error = %e, "signing key left out of the key set");
                continue;
            }
            Err(e) => return Err(e),
        };
        decoding.insert(r.kid.clone(), (alg.jwt(), dk));
        keys.push(jwk);
        if r.kid == signer {
            signing = Some((alg, pair));
        }
    }
    let (active_alg, signing) = signing.ok_or_else(|| KeyError::Invalid(signer.clone()))?;
    Ok(Loaded {
        active_kid: signer,
        active_alg,
        signing,
        decoding,
        jwks: json!({ "keys": keys }),
    })
}

/// The `kid` of the key that signs at `now`, given every stored key (the
/// same answer on every instance).
pub fn signing_kid(records: &[SigningKeyRecord], now: u64) -> Option<String> {
    schedule::signing(records, now).map(|r| r.kid.clone())
}

impl KeyManager {
    /// Loads the keys from storage, generating the first one (of the
    /// policy's algorithm, signing at once) if there is none.
    /// `max_token_life` (seconds) bounds how long a retired key stays
    /// published.
    pub async fn load_or_create(
        storage: &dyn Storage,
        issuer: &str,
        policy: KeyPolicy,
        max_token_life: u64,
        now: u64,
    ) -> Result<Self, KeyError> {
        let mut records = storage.signing_keys().await?;
        if schedule::newest(&records).is_none() {
            // One atomic decision: of instances starting together, one
            // key wins, and each loads whichever did.
            storage
                .add_first_signing_key(generate_record(&policy, now, now)?)
                .await?;
            records = storage.signing_keys().await?;
        }
        Ok(Self {
            loaded: RwLock::new(load(&records, &policy, max_token_life, now)?),
            issuer: issuer.to_owned(),
            policy,
            max_token_life,
        })
    }

    /// Adds the next key, published at once. It signs after
    /// [`KeyPolicy::publish_ahead`], or at once with `immediate` (for a
    /// key no longer trusted: verifiers then meet a `kid` they have not
    /// cached and must fetch the JWKS again). The previous key stops
    /// signing when the new one starts, and stays published until its
    /// tokens have expired.
    pub async fn rotate(
        &self,
        storage: &dyn Storage,
        now: u64,
        immediate: bool,
    ) -> Result<Rotation, KeyError> {
        let activates_at = if immediate {
            now
        } else {
            now.saturating_add(self.policy.publish_ahead.as_secs())
        };
        for _ in 0..3 {
            let records = storage.signing_keys().await?;
            let replaces = schedule::newest(&records)
                .map(|r| r.kid.clone())
                .unwrap_or_default();
            let record = generate_record(&self.policy, now, activates_at)?;
            let kid = record.kid.clone();
            if storage.add_signing_key(record, &replaces).await? {
                self.reload(storage, now).await?;
                return Ok(Rotation { kid, activates_at });
            }
        }
        Err(KeyError::Contended)
    }

    /// One round of key upkeep, run by the maintenance task every minute:
    /// adds the next key if the schedule says it is due (one instance
    /// wins; the others find it stored), then reloads the keys. Returns
    /// the new key if this instance added one.
    pub async fn maintain(
        &self,
        storage: &dyn Storage,
        now: u64,
    ) -> Result<Option<Rotation>, KeyError> {
        let records = storage.signing_keys().await?;
        let mut added = None;
        if let Some((replaces, activates_at)) = schedule::due(&records, &self.policy, now) {
            let record = generate_record(&self.policy, now, activates_at)?;
            let kid = record.kid.clone();
            if storage.add_signing_key(record, &replaces).await? {
                added = Some(Rotation { kid, activates_at });
            }
        }
        self.reload(storage, now).await?;
        Ok(added)
    }

    /// Withdraws the retired key `kid` (one that no longer signs) from
    /// storage and from this instance at once: it is published no more,
    /// and the tokens it signed no longer verify. Other instances drop it
    /// at their next reload (within a minute). A key that signs, or waits
    /// to sign, cannot be withdrawn: rotate first.
    pub async fn withdraw(
        &self,
        storage: &dyn Storage,
        kid: &str,
        now: u64,
    ) -> Result<Withdrawal, KeyError> {
        let records = storage.signing_keys().await?;
        let Some(record) = records.iter().find(|r| r.kid == kid) else {
            return Ok(Withdrawal::Unknown);
        };
        let signs_now = schedule::signing(&records, now).is_some_and(|r| r.kid == kid);
        let waits = record.activates_at > now;
        if record.retired_at.is_none() || signs_now || waits {
            return Ok(Withdrawal::Active);
        }
        if !storage.delete_retired_key(kid).await? {
            return Ok(Withdrawal::Unknown);
        }
        self.reload(storage, now).await?;
        Ok(Withdrawal::Withdrawn)
    }

    /// Reloads the keys from storage (another instance may have rotated
    /// them, or the next key's time to sign may have come).
    pub async fn reload(&self, storage: &dyn Storage, now: u64) -> Result<(), KeyError> {
        let records = storage.signing_keys().await?;
        let loaded = load(&records, &self.policy, self.max_token_life, now)?;
        *self.loaded.write() = loaded;
        Ok(())
    }

    /// Whether a key with this `kid` is loaded.
    pub fn knows(&self, kid: &str) -> bool {
        self.loaded.read().decoding.contains_key(kid)
    }

    /// Signs access-token claims as an RFC 9068 JWT (`typ: at+jwt`).
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String, KeyError> {
        self.sign_typed(claims, ACCESS_TOKEN_JWT_TYPE)
    }

    /// Verifies an access token this server issued: signature by a
    /// published key, `typ: at+jwt`, `iss` and `exp` (no leeway). `None` for
    /// anything else.
    pub fn verify(&self, token: &str) -> Option<AccessTokenClaims> {
        self.verify_typed(
            token,
            ACCESS_TOKEN_JWT_TYPE,
            &["exp", "iss", "sub", "iat", "jti"],
        )
    }

    /// Signs any claims with the active key under an explicit JOSE `typ`,
    /// so that one kind of JWT can never be taken for another (RFC 8725
    /// §3.11).
    pub(crate) fn sign_typed<T: Serialize>(
        &self,
        claims: &T,
        typ: &str,
    ) -> Result<String, KeyError> {
        // JWS compact serialisation (RFC 7515 §7.1).
        let loaded = self.loaded.read();
        let header =
            json!({"typ": typ, "alg": loaded.active_alg.as_str(), "kid": loaded.active_kid});
        let sign_err = |e: serde_json::Error| KeyError::Sign(e.to_string());
        let mut jws =
            Base64UrlUnpadded::encode_string(&serde_json::to_vec(&header).map_err(sign_err)?);
        jws.push('.');
        jws.push_str(&Base64UrlUnpadded::encode_string(
            &serde_json::to_vec(claims).map_err(sign_err)?,
        ));
        let signature = loaded
            .signing
            .sign(jws.as_bytes())
            .map_err(|_| KeyError::Sign("the signing key refused to sign".into()))?;
        jws.push('.');
        jws.push_str(&Base64UrlUnpadded::encode_string(&signature));
        Ok(jws)
    }

    /// Verifies a JWT of the given `typ` signed by one of the published
    /// keys (with that key's algorithm), with this issuer as `iss` and an
    /// unexpired `exp`.
    pub(crate) fn verify_typed<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        required: &[&str],
    ) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some(typ) {
            return None;
        }
        let loaded = self.loaded.read();
        let (alg, key) = loaded.decoding.get(header.kid.as_deref()?)?;
        if header.alg != *alg {
            return None;
        }
        let mut validation = Validation::new(*alg);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(required);
        jsonwebtoken::decode::<T>(token, key, &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// The JWK Set document.
    pub fn jwks(&self) -> Value {
        self.loaded.read().jwks.clone()
    }

    /// The `kid` currently signing.
    pub fn active_kid(&self) -> String {
        self.loaded.read().active_kid.clone()
    }

    /// The algorithm of the key currently signing.
    pub fn signing_alg(&self) -> SigningAlgorithm {
        self.loaded.read().active_alg
    }

    /// The algorithms of the published keys (for
    /// `id_token_signing_alg_values_supported` and the like), the signing
    /// one first.
    pub fn published_algs(&self) -> Vec<SigningAlgorithm> {
        let loaded = self.loaded.read();
        let mut algs = vec![loaded.active_alg];
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let published = loaded.decoding.values().any(|(a, _)| *a == alg.jwt());
            if published && !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        algs
    }
}

#[cfg(test)]
mod tests;
