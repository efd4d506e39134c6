use async_trait::async_trait;
use gptgate_domain::{CodeHash, CodeRecord, Email};
use gptgate_ports::storage::CodeChange;
use gptgate_ports::{StorageError, VerificationCodeRepository};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;

use crate::error::{corrupt, storage};
use crate::PostgresStore;

#[derive(FromRow)]
struct CodeRow {
    code_hash: Option<Vec<u8>>,
    expires_at: OffsetDateTime,
    attempts: i64,
    last_sent_at: OffsetDateTime,
    send_window_started_at: OffsetDateTime,
    sends_in_window: i64,
    attempt_window_started_at: OffsetDateTime,
    attempts_in_window: i64,
}

impl CodeRow {
    fn into_record(self, email: &Email) -> Result<CodeRecord, StorageError> {
        let count = |n: i64| u32::try_from(n).map_err(|_| corrupt("negative counter"));
        Ok(CodeRecord {
            email: email.clone(),
            code_hash: self.code_hash.map(CodeHash::from_bytes),
            expires_at: self.expires_at,
            attempts: count(self.attempts)?,
            last_sent_at: self.last_sent_at,
            send_window_started_at: self.send_window_started_at,
            sends_in_window: count(self.sends_in_window)?,
            attempt_window_started_at: self.attempt_window_started_at,
            attempts_in_window: count(self.attempts_in_window)?,
        })
    }
}

const SELECT: &str =
    "SELECT code_hash, expires_at, attempts, last_sent_at, send_window_started_at, \
     sends_in_window, attempt_window_started_at, attempts_in_window \
     FROM verification_codes WHERE email = $1";

#[async_trait]
impl VerificationCodeRepository for PostgresStore {
    #[instrument(skip_all)]
    async fn update_code(
        &self,
        email: &Email,
        change: &mut CodeChange<'_>,
    ) -> Result<(), StorageError> {
        // A transaction-scoped advisory lock on the email serializes updates of one email,
        // including the first one, when there is no row to lock yet.
        let mut tx = self.pool.begin().await.map_err(storage)?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('verification_codes:' || $1, 0))",
        )
        .bind(email.as_str())
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        let current = sqlx::query_as::<_, CodeRow>(SELECT)
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(storage)?
            .map(|row| row.into_record(email))
            .transpose()?;
        if let Some(next) = change(current.as_ref()) {
            sqlx::query(
                "INSERT INTO verification_codes (email, code_hash, expires_at, attempts, \
                 last_sent_at, send_window_started_at, sends_in_window, \
                 attempt_window_started_at, attempts_in_window) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (email) DO UPDATE SET code_hash = excluded.code_hash, \
                 expires_at = excluded.expires_at, attempts = excluded.attempts, \
                 last_sent_at = excluded.last_sent_at, \
                 send_window_started_at = excluded.send_window_started_at, \
                 sends_in_window = excluded.sends_in_window, \
                 attempt_window_started_at = excluded.attempt_window_started_at, \
                 attempts_in_window = excluded.attempts_in_window",
            )
            .bind(email.as_str())
            .bind(next.code_hash.as_ref().map(|h| h.as_bytes().to_vec()))
            .bind(next.expires_at)
            .bind(i64::from(next.attempts))
            .bind(next.last_sent_at)
            .bind(next.send_window_started_at)
            .bind(i64::from(next.sends_in_window))
            .bind(next.attempt_window_started_at)
            .bind(i64::from(next.attempts_in_window))
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)
    }

    #[instrument(skip_all)]
    async fn find_code(&self, email: &Email) -> Result<Option<CodeRecord>, StorageError> {
        sqlx::query_as::<_, CodeRow>(SELECT)
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?
            .map(|row| row.into_record(email))
            .transpose()
    }
}
