// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/api_keys.rs and
// crates/adapters-postgres/src/api_keys.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{AdminAuditEntry, ApiKeyId, ApiKeyName, StoredApiKey, TokenHash};
use gptgate_ports::{ApiKeyRepository, StorageError};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{corrupt, from_time, storage, time, Store, Time};

#[derive(FromRow)]
struct ApiKeyRow {
    id: Uuid,
    name: String,
    key_hash: Vec<u8>,
    created_at: Time,
    revoked_at: Option<Time>,
    last_used_at: Option<Time>,
}

impl ApiKeyRow {
    fn into_key(self) -> Result<StoredApiKey, StorageError> {
        let hash: [u8; 32] = self
            .key_hash
            .try_into()
            .map_err(|_| corrupt("API key hash is not 32 bytes"))?;
        Ok(StoredApiKey {
            id: ApiKeyId::from_uuid(self.id),
            name: ApiKeyName::parse(&self.name).map_err(|_| corrupt("unusable API key name"))?,
            hash: TokenHash::from_bytes(hash),
            created_at: from_time(self.created_at)?,
            revoked_at: self.revoked_at.map(from_time).transpose()?,
            last_used_at: self.last_used_at.map(from_time).transpose()?,
        })
    }
}

const COLUMNS: &str = "id, name, key_hash, created_at, revoked_at, last_used_at";

#[async_trait]
impl ApiKeyRepository for Store {
    #[instrument(skip_all)]
    async fn create_api_key(
        &self,
        key: &StoredApiKey,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, created_at, revoked_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id.as_uuid())
        .bind(key.name.as_str())
        .bind(key.hash.as_bytes().as_slice())
        .bind(time(key.created_at))
        .bind(key.revoked_at.map(time))
        .bind(key.last_used_at.map(time))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        crate::admin::record(&mut tx, audit).await?;
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StorageError> {
        sqlx::query_as::<_, ApiKeyRow>(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?
        .into_iter()
        .map(ApiKeyRow::into_key)
        .collect()
    }

    #[instrument(skip_all)]
    async fn find_api_key(&self, hash: &TokenHash) -> Result<Option<StoredApiKey>, StorageError> {
        sqlx::query_as::<_, ApiKeyRow>(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1"
        ))
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(ApiKeyRow::into_key)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn revoke_api_key(
        &self,
        id: ApiKeyId,
        at: OffsetDateTime,
        audit: &AdminAuditEntry,
    ) -> Result<bool, StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        let revoked =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.as_uuid())
                .bind(time(at))
                .execute(&mut *tx)
                .await
                .map_err(storage)?
                .rows_affected()
                > 0;
        if revoked {
            crate::admin::record(&mut tx, audit).await?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(revoked)
    }

    #[instrument(skip_all)]
    async fn record_api_key_uses(
        &self,
        uses: &[(ApiKeyId, OffsetDateTime)],
    ) -> Result<(), StorageError> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.writes().begin().await.map_err(storage)?;
        for (id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
                 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id.as_uuid())
            .bind(time(*at))
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(())
    }
}
