//! API keys made in the admin console: created with a name (the key shown once, stored as its
//! SHA-256), listed with when each was last used, revoked at once. The check of a presented key
//! is on every GPT call's path, so it costs no query: the hashes of the active keys are held in
//! memory and read again (one query) when older than [`KEY_CACHE_TTL`], so a key made or
//! revoked on another instance counts here within that time, and one made or revoked here at
//! once; a made-up key never reaches the database. Uses are counted in memory and written in
//! one batch now and then.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use gptgate_domain::{
    AdminAction, AdminAuditEntry, ApiKeyId, ApiKeyName, StoredApiKey, TokenHash, API_KEY_PREFIX,
};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use crate::{ApiKeyRepository, Clock, InternalError, OpaqueTokens, Random, StorageError};

/// How long the active keys read from the store are trusted before they are read again.
pub const KEY_CACHE_TTL: Duration = Duration::seconds(5);

/// What the console's keys need.
pub struct ApiKeyPorts {
    pub store: Arc<dyn ApiKeyRepository>,
    pub tokens: Arc<dyn OpaqueTokens>,
    pub random: Arc<dyn Random>,
    pub clock: Arc<dyn Clock>,
}

/// A key just made: the key itself (shown once, never stored) and what is stored of it.
pub struct CreatedApiKey {
    pub key: SecretString,
    pub stored: StoredApiKey,
}

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// The active keys as last read from the store.
#[derive(Default)]
struct Active {
    by_hash: HashMap<TokenHash, ApiKeyId>,
    /// When they were read; `None`: never.
    read_at: Option<OffsetDateTime>,
}

/// The console's API keys.
pub struct ApiKeys {
    ports: ApiKeyPorts,
    active: Mutex<Active>,
    /// One reading of the store at a time: the others wait for it and use what it read.
    reading: futures::lock::Mutex<()>,
    /// Keys revoked by this instance: never taken back from a reading that began before the
    /// revocation was stored.
    revoked_here: Mutex<HashSet<ApiKeyId>>,
    /// Uses not yet written: key -> the latest.
    uses: Mutex<HashMap<ApiKeyId, OffsetDateTime>>,
}

impl ApiKeys {
    pub fn new(ports: ApiKeyPorts) -> Self {
        Self {
            ports,
            active: Mutex::new(Active::default()),
            reading: futures::lock::Mutex::new(()),
            revoked_here: Mutex::new(HashSet::new()),
            uses: Mutex::new(HashMap::new()),
        }
    }

    /// Makes a key named `name`, from `address` (the audit log says so).
    pub async fn create(
        &self,
        name: ApiKeyName,
        address: &str,
    ) -> Result<CreatedApiKey, ApiKeyError> {
        let (token, _) = self.ports.tokens.mint().map_err(InternalError::new)?;
        let key = SecretString::from(format!("{API_KEY_PREFIX}{}", token.expose_secret()));
        let id = ApiKeyId::from_random_bytes(
            self.ports
                .random
                .bytes::<16>()
                .map_err(InternalError::new)?,
        );
        let now = self.ports.clock.now();
        let stored = StoredApiKey {
            id,
            name,
            hash: self.ports.tokens.hash(key.expose_secret()),
            created_at: now,
            revoked_at: None,
            last_used_at: None,
        };
        self.ports
            .store
            .create_api_key(
                &stored,
                &AdminAuditEntry::new(now, AdminAction::ApiKeyCreated, address),
            )
            .await?;
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_hash
            .insert(stored.hash.clone(), stored.id);
        tracing::info!(key = %stored.id, "API key created");
        Ok(CreatedApiKey { key, stored })
    }

    /// Every key, newest first, with the uses not yet written counted in.
    pub async fn list(&self) -> Result<Vec<StoredApiKey>, StorageError> {
        let mut keys = self.ports.store.api_keys().await?;
        let uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
        for key in &mut keys {
            if let Some(at) = uses.get(&key.id) {
                key.last_used_at = key.last_used_at.max(Some(*at));
            }
        }
        Ok(keys)
    }

    /// Revokes key `id`, from `address`: refused from now on here (at most
    /// [`KEY_CACHE_TTL`] later on other instances). `false` if it was not an active key.
    pub async fn revoke(&self, id: ApiKeyId, address: &str) -> Result<bool, StorageError> {
        let now = self.ports.clock.now();
        let revoked = self
            .ports
            .store
            .revoke_api_key(
                id,
                now,
                &AdminAuditEntry::new(now, AdminAction::ApiKeyRevoked, address),
            )
            .await?;
        if revoked {
            self.revoked_here
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id);
            self.active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .by_hash
                .retain(|_, key| *key != id);
            tracing::info!(key = %id, "API key revoked");
        }
        Ok(revoked)
    }

    /// The active console key `presented` is, if it is one, its use counted. No query, but
    /// one reading of every active key when the last is older than [`KEY_CACHE_TTL`].
    pub async fn accept(&self, presented: &str) -> Result<Option<ApiKeyId>, StorageError> {
        if !presented.starts_with(API_KEY_PREFIX) {
            return Ok(None);
        }
        let hash = self.ports.tokens.hash(presented);
        let now = self.ports.clock.now();
        if self.stale(now) {
            let _reading = self.reading.lock().await;
            // Another request may have read them while this one waited.
            if self.stale(now) {
                self.read_active(now).await?;
            }
        }
        let key = self
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_hash
            .get(&hash)
            .copied();
        if let Some(id) = key {
            self.uses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, now);
        }
        Ok(key)
    }

    /// Whether the active keys in memory are older than the cache's time at `now`.
    fn stale(&self, now: OffsetDateTime) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read_at
            .is_none_or(|at| now >= at + KEY_CACHE_TTL || now < at)
    }

    /// Reads every active key from the store.
    async fn read_active(&self, now: OffsetDateTime) -> Result<(), StorageError> {
        let keys = self.ports.store.api_keys().await?;
        let revoked_here = self
            .revoked_here
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let by_hash = keys
            .into_iter()
            .filter(|k| k.is_active() && !revoked_here.contains(&k.id))
            .map(|k| (k.hash, k.id))
            .collect();
        *self.active.lock().unwrap_or_else(|e| e.into_inner()) = Active {
            by_hash,
            read_at: Some(now),
        };
        Ok(())
    }

    /// Writes the uses counted since the last time, in one batch; how many keys. Uses that
    /// could not be written are kept for the next time.
    pub async fn flush_uses(&self) -> Result<usize, StorageError> {
        let batch: Vec<(ApiKeyId, OffsetDateTime)> = self
            .uses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        if let Err(e) = self.ports.store.record_api_key_uses(&batch).await {
            let mut uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
            for (id, at) in batch {
                let kept = uses.entry(id).or_insert(at);
                *kept = (*kept).max(at);
            }
            return Err(e);
        }
        Ok(batch.len())
    }
}
