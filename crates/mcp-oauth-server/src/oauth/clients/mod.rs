//! The clients the server knows: the ones of the configuration (trusted),
//! registered ones, and those a Client ID Metadata Document describes;
//! looking them up and authenticating them ([`authenticate`],
//! [`assertion`] for `private_key_jwt`).

pub(crate) mod assertion;
pub(crate) mod authenticate;

use std::collections::HashMap;
use std::sync::Arc;

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::issuer::Issuer;

use crate::cimd::CimdResolver;
use crate::clock::Clock;
use crate::oauth::error::OAuthError;
use crate::stamp_cache::StampCache;
use crate::storage::{ClientRecord, Storage, StorageError};
use assertion::ClientKeySets;

/// A client could not be looked up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientLookupError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The client's metadata document could not be used.
    #[error(transparent)]
    Metadata(#[from] crate::cimd::CimdError),
    /// The caller's address has named too many new metadata documents
    /// lately; each costs an outbound fetch.
    #[error("too many new client metadata documents from this address; retry in {retry_after} s")]
    Throttled {
        /// Seconds until the address may name new documents again.
        retry_after: u64,
    },
}

// A client lookup failure as the services answer it: metadata problems
// are the client's (`invalid_client`), throttling is a 429.
impl From<ClientLookupError> for OAuthError {
    fn from(e: ClientLookupError) -> Self {
        match e {
            ClientLookupError::Storage(e) => e.into(),
            ClientLookupError::Metadata(e @ crate::cimd::CimdError::HostNotAllowed(_)) => {
                tracing::info!(error = ?e.to_string(), "client metadata document host refused");
                Self::new(ErrorResponse::invalid_client(
                    "this server does not accept client metadata documents from this host",
                ))
                .with_source(e)
            }
            ClientLookupError::Metadata(e) => {
                tracing::info!(error = ?e.to_string(), "client metadata document refused");
                Self::new(ErrorResponse::invalid_client(
                    "the client's metadata document could not be fetched or is not valid",
                ))
                .with_source(e)
            }
            e @ ClientLookupError::Throttled { .. } => Self::too_many_requests(e.to_string()),
        }
    }
}

/// Client lookup and authentication.
pub(crate) struct Clients {
    /// The clients of the configuration, by id.
    configured: HashMap<String, ClientRecord>,
    cimd: CimdResolver,
    /// The key sets of `private_key_jwt` clients registered by URL.
    key_sets: ClientKeySets,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    /// The audiences a client assertion may name: the token endpoint and
    /// the issuer.
    audiences: [String; 2],
    /// New metadata documents one address may name per minute.
    fetches_per_minute: u32,
    /// Clients read from storage (or found absent), while storage is
    /// unchanged: a resource server introspecting costs no storage round
    /// trip, and a changed secret or a removed client is read afresh at
    /// once (the secret is still compared on every call).
    stored: StampCache<String, Option<ClientRecord>>,
}

impl Clients {
    /// The clients of `configured` (trusted, by id), of `storage`, and of
    /// metadata documents through `cimd`, for the server of `issuer`.
    pub(crate) fn new(
        configured: HashMap<String, ClientRecord>,
        cimd: CimdResolver,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        issuer: &Issuer,
    ) -> Self {
        let key_sets = ClientKeySets::new(cimd.fetcher().clone());
        let fetches_per_minute = cimd.policy().fetches_per_minute;
        Self {
            configured,
            cimd,
            key_sets,
            storage,
            clock,
            audiences: [issuer.endpoint("/token"), issuer.as_str().to_owned()],
            fetches_per_minute,
            stored: StampCache::new(),
        }
    }

    /// A client of storage, from memory while storage is unchanged.
    async fn stored(&self, client_id: &str) -> Result<Option<ClientRecord>, StorageError> {
        let stamp = self.storage.data_version();
        if let Some(known) = self.stored.get(stamp, client_id) {
            return Ok(known);
        }
        let client = self.storage.client(client_id).await?;
        self.stored
            .insert(stamp, client_id.to_owned(), client.clone());
        Ok(client)
    }

    /// The metadata document resolver.
    pub(crate) fn cimd(&self) -> &CimdResolver {
        &self.cimd
    }

    /// The cache of `jwks_uri` key sets.
    pub(crate) fn key_sets(&self) -> &ClientKeySets {
        &self.key_sets
    }

    /// The client a `client_id` names: one of the configuration, a
    /// registered one, or, for an HTTPS URL, the one its metadata document
    /// describes.
    pub(crate) async fn get(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, ClientLookupError> {
        if let Some(c) = self.configured.get(client_id) {
            return Ok(Some(c.clone()));
        }
        if self.cimd.is_document_url(client_id) {
            return Ok(Some(self.resolve(client_id).await?));
        }
        Ok(self.stored(client_id).await?)
    }

    /// The client a metadata document describes ([`CimdResolver::resolve`]),
    /// on the heap: a fetch's state is several KiB, and kept inline it would
    /// make every client lookup's future (and every request's) that large,
    /// copied on each move, though most lookups never fetch.
    async fn resolve(&self, client_id: &str) -> Result<ClientRecord, ClientLookupError> {
        Ok(Box::pin(self.cimd.resolve(client_id, self.clock.now())).await?)
    }

    /// The client a `client_id` names, as far as the server knows it
    /// without fetching anything: the configuration's, a registered one,
    /// or one whose metadata document is cached. For pages that show
    /// names (the account page), which must not set off outbound fetches.
    pub(crate) async fn known(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, ClientLookupError> {
        if let Some(c) = self.configured.get(client_id) {
            return Ok(Some(c.clone()));
        }
        if self.cimd.is_document_url(client_id) {
            if !self.cimd.is_cached(client_id) {
                return Ok(None);
            }
            return Ok(Some(self.resolve(client_id).await?));
        }
        Ok(self.stored(client_id).await?)
    }

    /// A client of the configuration, by id (trusted; never fetched).
    pub(crate) fn configured(&self, client_id: &str) -> Option<ClientRecord> {
        self.configured.get(client_id).cloned()
    }

    /// [`Clients::get`] for a request from `address` that nobody has
    /// vouched for yet: a metadata document not already cached costs the
    /// address one of its new-document fetches
    /// ([`crate::cimd::CimdPolicy::fetches_per_minute`]), so one address
    /// cannot make the server fetch without bound.
    pub(crate) async fn get_for(
        &self,
        address: &str,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, ClientLookupError> {
        if self.cimd.is_document_url(client_id)
            && !self.configured.contains_key(client_id)
            && !self.cimd.is_cached(client_id)
        {
            // A host the operator does not allow costs no fetch and no
            // count: it is refused before either.
            self.cimd.check_host(client_id)?;
            let now = self.clock.now();
            let (count, start) = self
                .storage
                .bump_counter(&format!("fetch:{address}"), now, 60)
                .await?;
            if count > self.fetches_per_minute {
                let retry_after = (start + 60).saturating_sub(now).max(1);
                return Err(ClientLookupError::Throttled { retry_after });
            }
        }
        self.get(client_id).await
    }
}
