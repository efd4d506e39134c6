// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/used_ids.rs and
// crates/adapters-postgres/src/used_ids.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_ports::{StorageError, UsedIdRepository};
use time::OffsetDateTime;
use tracing::instrument;

use crate::dialect::{storage, time, Store};

#[async_trait]
impl UsedIdRepository for Store {
    #[instrument(skip_all)]
    async fn use_once(
        &self,
        issuer: &str,
        id: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        // One statement: the primary key decides which of concurrent uses is the first.
        let done = sqlx::query(
            "INSERT INTO used_ids (issuer, id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (issuer, id) DO NOTHING",
        )
        .bind(issuer)
        .bind(id)
        .bind(time(expires_at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }
}
