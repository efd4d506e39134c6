// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/buckets.rs and
// crates/adapters-postgres/src/buckets.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_ports::limits::BucketChange;
use gptgate_ports::{BucketRepository, StorageError};
use tracing::instrument;

use crate::dialect::{from_time, storage, time, Store, Time};

#[async_trait]
impl BucketRepository for Store {
    #[instrument(skip_all)]
    async fn update_bucket(
        &self,
        key: &str,
        change: &mut BucketChange<'_>,
    ) -> Result<(), StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        // As for budgets: the key's row, made empty if it is new, locked and read in one
        // statement, so concurrent updates of one key wait for each other here (SQLite has one
        // writer: its transactions never interleave).
        let (full_at,): (Option<Time>,) = sqlx::query_as(
            "INSERT INTO rate_buckets (key, full_at) VALUES ($1, NULL) \
             ON CONFLICT (key) DO UPDATE SET full_at = rate_buckets.full_at \
             RETURNING full_at",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(storage)?;
        let current = full_at.map(from_time).transpose()?;
        if let Some(next) = change(current) {
            sqlx::query("UPDATE rate_buckets SET full_at = $2 WHERE key = $1")
                .bind(key)
                .bind(time(next))
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(())
    }
}
