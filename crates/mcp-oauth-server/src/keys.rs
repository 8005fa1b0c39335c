//! Signing keys: ES256 (P-256) keys generated at first start, kept in
//! storage, published in the JWKS, rotated on demand. A retired key stays in
//! the JWKS (and keeps verifying) until every token it signed has expired.

use std::collections::HashMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcp_oauth_core::secret::token_hash;
use mcp_oauth_core::token::{ACCESS_TOKEN_JWT_TYPE, AccessTokenClaims};
use parking_lot::RwLock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::storage::{SigningKeyRecord, Storage, StorageError};

/// What [`KeyManager::withdraw`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Withdrawal {
    /// The key is gone: no longer published, its tokens no longer verify.
    Withdrawn,
    /// The key signs now; rotate first.
    Active,
    /// No such key.
    Unknown,
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
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

struct Loaded {
    active_kid: String,
    /// The active key, parsed once: signing with a parsed key pair costs
    /// one scalar multiplication, where parsing the PKCS#8 document for
    /// every token would add another (and double the cost).
    signing: EcdsaKeyPair,
    decoding: HashMap<String, DecodingKey>,
    jwks: Value,
}

/// The server's signing keys; see the [module documentation](self).
pub struct KeyManager {
    loaded: RwLock<Loaded>,
    issuer: String,
}

const ALG: &str = "ES256";

fn generate_record(now: u64) -> Result<SigningKeyRecord, KeyError> {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| KeyError::Generate)?;
    let pkcs8 = Base64UrlUnpadded::encode_string(doc.as_ref());
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
        .map_err(|_| KeyError::Generate)?;
    // kid: a digest of the public key, short but collision-safe for a JWKS.
    let kid = token_hash(&Base64UrlUnpadded::encode_string(
        pair.public_key().as_ref(),
    ))[..16]
        .to_owned();
    Ok(SigningKeyRecord {
        kid,
        alg: ALG.to_owned(),
        pkcs8,
        created_at: now,
        retired_at: None,
    })
}

fn load(records: &[SigningKeyRecord], max_token_life: u64, now: u64) -> Result<Loaded, KeyError> {
    let mut decoding = HashMap::new();
    let mut keys = Vec::new();
    let mut active: Option<String> = None;
    let mut signing: Option<EcdsaKeyPair> = None;
    for r in records {
        // A retired key is dropped once every token it signed has expired.
        if r.retired_at.is_some_and(|t| t + max_token_life < now) || r.alg != ALG {
            continue;
        }
        let der = Base64UrlUnpadded::decode_vec(&r.pkcs8)
            .map_err(|_| KeyError::Invalid(r.kid.clone()))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| KeyError::Invalid(r.kid.clone()))?;
        let point = pair.public_key().as_ref(); // 0x04 || X (32) || Y (32)
        if point.len() != 65 {
            return Err(KeyError::Invalid(r.kid.clone()));
        }
        let x = Base64UrlUnpadded::encode_string(&point[1..33]);
        let y = Base64UrlUnpadded::encode_string(&point[33..65]);
        let dk = DecodingKey::from_ec_components(&x, &y)
            .map_err(|_| KeyError::Invalid(r.kid.clone()))?;
        decoding.insert(r.kid.clone(), dk);
        keys.push(json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": r.kid, "alg": ALG, "use": "sig"}));
        if r.retired_at.is_none() && active.is_none() {
            active = Some(r.kid.clone());
            signing = Some(pair);
        }
    }
    let (Some(active_kid), Some(signing)) = (active, signing) else {
        return Err(KeyError::Invalid("no active key".into()));
    };
    Ok(Loaded {
        active_kid,
        signing,
        decoding,
        jwks: json!({ "keys": keys }),
    })
}

impl KeyManager {
    /// Loads the keys from storage, generating the first one if there is
    /// none. `max_token_life` (seconds) bounds how long a retired key stays
    /// published.
    pub async fn load_or_create(
        storage: &dyn Storage,
        issuer: &str,
        max_token_life: u64,
        now: u64,
    ) -> Result<Self, KeyError> {
        let mut records = storage.signing_keys().await?;
        if !records
            .iter()
            .any(|r| r.retired_at.is_none() && r.alg == ALG)
        {
            // One atomic decision: of instances starting together, one
            // key wins, and each loads whichever did.
            storage.add_first_signing_key(generate_record(now)?).await?;
            records = storage.signing_keys().await?;
        }
        Ok(Self {
            loaded: RwLock::new(load(&records, max_token_life, now)?),
            issuer: issuer.to_owned(),
        })
    }

    /// Generates a new active key; the previous one is retired but stays
    /// published. Returns the new `kid`.
    pub async fn rotate(
        &self,
        storage: &dyn Storage,
        max_token_life: u64,
        now: u64,
    ) -> Result<String, KeyError> {
        let record = generate_record(now)?;
        let kid = record.kid.clone();
        storage.add_signing_key(record, now).await?;
        let records = storage.signing_keys().await?;
        *self.loaded.write() = load(&records, max_token_life, now)?;
        Ok(kid)
    }

    /// Withdraws the retired key `kid` (one that no longer signs) from
    /// storage and from this instance at once: it is published no more,
    /// and the tokens it signed no longer verify. Other instances drop it
    /// at their next reload (within a minute). The active key cannot be
    /// withdrawn: rotate first.
    pub async fn withdraw(
        &self,
        storage: &dyn Storage,
        kid: &str,
        max_token_life: u64,
        now: u64,
    ) -> Result<Withdrawal, KeyError> {
        let records = storage.signing_keys().await?;
        let Some(record) = records.iter().find(|r| r.kid == kid) else {
            return Ok(Withdrawal::Unknown);
        };
        if record.retired_at.is_none() {
            return Ok(Withdrawal::Active);
        }
        if !storage.delete_retired_key(kid).await? {
            return Ok(Withdrawal::Unknown);
        }
        self.reload(storage, max_token_life, now).await?;
        Ok(Withdrawal::Withdrawn)
    }

    /// Reloads the keys from storage (another instance may have rotated
    /// them).
    pub async fn reload(
        &self,
        storage: &dyn Storage,
        max_token_life: u64,
        now: u64,
    ) -> Result<(), KeyError> {
        let records = storage.signing_keys().await?;
        let loaded = load(&records, max_token_life, now)?;
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
        // JWS compact serialisation (RFC 7515 §7.1) of an ES256 signature
        // (RFC 7518 §3.4: the fixed-size R || S form aws-lc produces).
        let loaded = self.loaded.read();
        let header = json!({"typ": typ, "alg": ALG, "kid": loaded.active_kid});
        let sign_err = |e: serde_json::Error| KeyError::Sign(e.to_string());
        let mut jws =
            Base64UrlUnpadded::encode_string(&serde_json::to_vec(&header).map_err(sign_err)?);
        jws.push('.');
        jws.push_str(&Base64UrlUnpadded::encode_string(
            &serde_json::to_vec(claims).map_err(sign_err)?,
        ));
        let signature = loaded
            .signing
            .sign(&SystemRandom::new(), jws.as_bytes())
            .map_err(|_| KeyError::Sign("ECDSA signing failed".into()))?;
        jws.push('.');
        jws.push_str(&Base64UrlUnpadded::encode_string(signature.as_ref()));
        Ok(jws)
    }

    /// Verifies a JWT of the given `typ` signed by one of the published
    /// keys, with this issuer as `iss` and an unexpired `exp`.
    pub(crate) fn verify_typed<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        required: &[&str],
    ) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(typ) {
            return None;
        }
        let loaded = self.loaded.read();
        let key = loaded.decoding.get(header.kid.as_deref()?)?;
        let mut validation = Validation::new(Algorithm::ES256);
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

    pub(crate) fn signing_alg(&self) -> jsonwebtoken::Algorithm {
        jsonwebtoken::Algorithm::ES256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use mcp_oauth_core::token::Audience;
    use std::collections::BTreeMap;

    fn claims(exp: u64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "http://as.test".into(),
            sub: "alice".into(),
            aud: Audience::single("http://rs.test/mcp"),
            client_id: "c".into(),
            exp,
            iat: 1,
            jti: "j1".into(),
            nbf: None,
            scope: None,
            auth_time: None,
            extra: BTreeMap::new(),
        }
    }

    fn now() -> u64 {
        crate::clock::Clock::now(&crate::clock::SystemClock)
    }

    #[tokio::test]
    async fn sign_verify_rotate_persist() {
        let storage = MemoryStorage::new();
        let t = now();
        let km = KeyManager::load_or_create(&storage, "http://as.test", 3600, t)
            .await
            .unwrap();
        let token = km.sign(&claims(t + 60)).unwrap();
        assert_eq!(km.verify(&token).unwrap().sub, "alice");
        // Expired, tampered and foreign-issuer tokens are refused.
        assert!(km.verify(&km.sign(&claims(t - 1)).unwrap()).is_none());
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(km.verify(&tampered).is_none());
        let other = KeyManager::load_or_create(&MemoryStorage::new(), "http://as.test", 3600, t)
            .await
            .unwrap();
        assert!(other.verify(&token).is_none());

        // Rotation: new kid signs, old tokens still verify, JWKS has both.
        let old_kid = km.active_kid();
        let new_kid = km.rotate(&storage, 3600, t).await.unwrap();
        assert_ne!(old_kid, new_kid);
        assert!(km.verify(&token).is_some());
        assert_eq!(km.jwks()["keys"].as_array().unwrap().len(), 2);

        // A second manager over the same storage loads the same keys.
        let again = KeyManager::load_or_create(&storage, "http://as.test", 3600, t)
            .await
            .unwrap();
        assert_eq!(again.active_kid(), new_kid);
        assert!(again.verify(&token).is_some());
        // Long after the retirement the old key is gone.
        let later = KeyManager::load_or_create(&storage, "http://as.test", 3600, t + 7200)
            .await
            .unwrap();
        assert_eq!(later.jwks()["keys"].as_array().unwrap().len(), 1);
    }
}
