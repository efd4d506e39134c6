//! API keys made in the admin console: created with a name (the key shown once, stored as its
//! SHA-256), listed with when each was last used, revoked at once. The check of a presented key
//! is on every GPT call's path, so it costs no query for a key seen lately: answers are kept in
//! memory for [`KEY_CACHE_TTL`] (a revocation here is immediate; on another instance it takes
//! at most that long), and uses are counted in memory and written in one batch now and then.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gptgate_domain::{
    AdminAction, AdminAuditEntry, ApiKeyId, ApiKeyName, StoredApiKey, TokenHash, API_KEY_PREFIX,
};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use crate::{ApiKeyRepository, Clock, InternalError, OpaqueTokens, Random, StorageError};

/// How long an answer about a presented key is kept in memory.
pub const KEY_CACHE_TTL: Duration = Duration::seconds(5);
/// The most answers kept in memory (unknown keys included); past it, all are forgotten.
const KEY_CACHE_MAX: usize = 10_000;

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

/// The console's API keys.
pub struct ApiKeys {
    ports: ApiKeyPorts,
    /// Presented key's hash -> the active key it is (or none), and when that was looked up.
    cache: Mutex<HashMap<TokenHash, (Option<ApiKeyId>, OffsetDateTime)>>,
    /// Uses not yet written: key -> the latest.
    uses: Mutex<HashMap<ApiKeyId, OffsetDateTime>>,
}

impl ApiKeys {
    pub fn new(ports: ApiKeyPorts) -> Self {
        Self {
            ports,
            cache: Mutex::new(HashMap::new()),
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
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, (key, _)| *key != Some(id));
            tracing::info!(key = %id, "API key revoked");
        }
        Ok(revoked)
    }

    /// The active console key `presented` is, if it is one, its use counted. Answers from the
    /// last [`KEY_CACHE_TTL`] cost no query.
    pub async fn accept(&self, presented: &str) -> Result<Option<ApiKeyId>, StorageError> {
        if !presented.starts_with(API_KEY_PREFIX) {
            return Ok(None);
        }
        let hash = self.ports.tokens.hash(presented);
        let now = self.ports.clock.now();
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .filter(|(_, at)| now < *at + KEY_CACHE_TTL)
            .map(|(key, _)| *key);
        let key = match cached {
            Some(key) => key,
            None => {
                let key = self
                    .ports
                    .store
                    .find_api_key(&hash)
                    .await?
                    .filter(StoredApiKey::is_active)
                    .map(|k| k.id);
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= KEY_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(hash, (key, now));
                key
            }
        };
        if let Some(id) = key {
            self.uses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, now);
        }
        Ok(key)
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
