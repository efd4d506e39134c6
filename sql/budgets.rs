// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/budgets.rs and
// crates/adapters-postgres/src/budgets.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::BudgetWindow;
use gptgate_ports::limits::BudgetChange;
use gptgate_ports::{BudgetRepository, StorageError};
use time::OffsetDateTime;
use tracing::instrument;

use crate::dialect::{corrupt, from_time, storage, time, Store, Time};

#[async_trait]
impl BudgetRepository for Store {
    #[instrument(skip_all)]
    async fn update_budget(
        &self,
        key: &str,
        change: &mut BudgetChange<'_>,
    ) -> Result<(), StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        // The key's row, made empty if it is new, locked and read in one statement (the no-op
        // update locks an existing row on PostgreSQL, so a purge cannot take it away between
        // a read and the write): concurrent updates of one key wait for each other here.
        // SQLite has one writer: its transactions never interleave.
        let (started_at, used): (Option<Time>, i64) = sqlx::query_as(
            "INSERT INTO budget_windows (key, started_at, used) VALUES ($1, NULL, 0) \
             ON CONFLICT (key) DO UPDATE SET used = budget_windows.used \
             RETURNING started_at, used",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(storage)?;
        let current = match started_at {
            Some(started_at) => Some(BudgetWindow {
                started_at: from_time(started_at)?,
                used: u32::try_from(used).map_err(|_| corrupt("a budget window's count"))?,
            }),
            None => None,
        };
        if let Some(next) = change(current.as_ref()) {
            sqlx::query("UPDATE budget_windows SET started_at = $2, used = $3 WHERE key = $1")
                .bind(key)
                .bind(time(next.started_at))
                .bind(i64::from(next.used))
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn spend_if_room(
        &self,
        key: &str,
        started_after: OffsetDateTime,
        limit: u32,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE budget_windows SET used = used + 1 \
             WHERE key = $1 AND started_at > $2 AND used < $3",
        )
        .bind(key)
        .bind(time(started_after))
        .bind(i64::from(limit))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }
}
