// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/codes.rs and
// crates/adapters-postgres/src/codes.rs, each with its own `crate::dialect`. Locking a code
// record for its read-decide-write (`lock_code`) is each store's own: see README.md.

use async_trait::async_trait;
use gptgate_domain::{CodeHash, CodeRecord, Email};
use gptgate_ports::storage::CodeChange;
use gptgate_ports::{StorageError, VerificationCodeRepository};
use sqlx::FromRow;
use tracing::instrument;

use crate::dialect::{corrupt, from_time, storage, time, Store, Time};

#[derive(FromRow)]
struct CodeRow {
    code_hash: Option<Vec<u8>>,
    expires_at: Time,
    attempts: i64,
    last_sent_at: Time,
    send_window_started_at: Time,
    sends_in_window: i64,
    attempt_window_started_at: Time,
    attempts_in_window: i64,
}

impl CodeRow {
    fn into_record(self, email: &Email) -> Result<CodeRecord, StorageError> {
        let count = |n: i64| u32::try_from(n).map_err(|_| corrupt("negative counter"));
        Ok(CodeRecord {
            email: email.clone(),
            code_hash: self.code_hash.map(CodeHash::from_bytes),
            expires_at: from_time(self.expires_at)?,
            attempts: count(self.attempts)?,
            last_sent_at: from_time(self.last_sent_at)?,
            send_window_started_at: from_time(self.send_window_started_at)?,
            sends_in_window: count(self.sends_in_window)?,
            attempt_window_started_at: from_time(self.attempt_window_started_at)?,
            attempts_in_window: count(self.attempts_in_window)?,
        })
    }
}

const SELECT: &str =
    "SELECT code_hash, expires_at, attempts, last_sent_at, send_window_started_at, \
     sends_in_window, attempt_window_started_at, attempts_in_window \
     FROM verification_codes WHERE email = $1";

#[async_trait]
impl VerificationCodeRepository for Store {
    #[instrument(skip_all)]
    async fn update_code(
        &self,
        email: &Email,
        change: &mut CodeChange<'_>,
    ) -> Result<(), StorageError> {
        // The dialect's lock: no other update of this email interleaves until commit.
        let mut tx = self.lock_code(email).await?;
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
            .bind(time(next.expires_at))
            .bind(i64::from(next.attempts))
            .bind(time(next.last_sent_at))
            .bind(time(next.send_window_started_at))
            .bind(i64::from(next.sends_in_window))
            .bind(time(next.attempt_window_started_at))
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
