use async_trait::async_trait;
use gptgate_ports::{Housekeeping, PurgeReport, StorageError};
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::error::storage;
use crate::time_codec::to_micros;
use crate::SqliteStore;

#[async_trait]
impl Housekeeping for SqliteStore {
    #[instrument(skip_all)]
    async fn purge(&self, before: OffsetDateTime) -> Result<PurgeReport, StorageError> {
        let before_at = to_micros(before);
        let windows_end = to_micros(before - Duration::hours(1));
        let run = |sql: &'static str, binds: Vec<i64>| async move {
            let mut query = sqlx::query(sql);
            for b in binds {
                query = query.bind(b);
            }
            query
                .execute(&self.pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(storage)
        };
        Ok(PurgeReport {
            verification_codes: run(
                "DELETE FROM verification_codes WHERE expires_at < ? AND last_sent_at < ? \
                 AND attempt_window_started_at < ?",
                vec![before_at, windows_end, windows_end],
            )
            .await?,
            sessions: run(
                "DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?",
                vec![before_at, before_at],
            )
            .await?,
            onboarding_tokens: run(
                "DELETE FROM onboarding_tokens WHERE expires_at < ?",
                vec![before_at],
            )
            .await?,
            management_tokens: run(
                "DELETE FROM management_tokens WHERE expires_at < ?",
                vec![before_at],
            )
            .await?,
            oauth_states: run(
                "DELETE FROM oauth_states WHERE expires_at < ?",
                vec![before_at],
            )
            .await?,
            export_links: run(
                "DELETE FROM export_links WHERE expires_at < ?",
                vec![before_at],
            )
            .await?,
        })
    }
}
