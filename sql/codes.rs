// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/codes.rs and
// crates/adapters-postgres/src/codes.rs, each with its own `crate::dialect`.
//
// A code record is updated optimistically: read it, let the caller decide, then write only if
// the row still has the version that was read (compare-and-set), else read again. No lock or
// transaction is held while the decision is made, and the write is one statement: in SQLite
// that keeps the one writer connection busy for one statement per update, in PostgreSQL it
// saves the transaction and its advisory lock (two round trips instead of five).

use async_trait::async_trait;
use gptgate_domain::{CodeHash, CodeRecord, Email};
use gptgate_ports::storage::CodeChange;
use gptgate_ports::{StorageError, VerificationCodeRepository};
use sqlx::FromRow;
use tracing::instrument;

use crate::dialect::{corrupt, from_time, storage, time, Store, Time};

/// Stores a record for an address that had none, unless one appeared since.
const INSERT_IF_ABSENT: &str =
    "INSERT INTO verification_codes (email, code_hash, expires_at, attempts, last_sent_at, \
     send_window_started_at, sends_in_window, attempt_window_started_at, attempts_in_window, \
     version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) ON CONFLICT (email) DO NOTHING";

/// Replaces a record, if it is still the version that was read (`$10`) of the same row: a row
/// the purge deleted and a new send re-created starts again at version 0, so its version alone
/// could match a stale read; its `last_sent_at` (`$11`, the time of that new send) cannot.
const UPDATE_IF_UNCHANGED: &str =
    "UPDATE verification_codes SET code_hash = $2, expires_at = $3, attempts = $4, \
     last_sent_at = $5, send_window_started_at = $6, sends_in_window = $7, \
     attempt_window_started_at = $8, attempts_in_window = $9, version = version + 1 \
     WHERE email = $1 AND version = $10 AND last_sent_at = $11";

/// A record for an address that had none, inserted, or else the record it has, read: one
/// statement (where the dialect allows an `INSERT` in a `WITH`). The inserted row answers as
/// `inserted`; a row a concurrent first send committed after this statement's snapshot is
/// neither inserted nor seen (no answer: read again).
const INSERT_OR_READ: &str = "WITH inserted AS ( \
         INSERT INTO verification_codes (email, code_hash, expires_at, attempts, last_sent_at, \
         send_window_started_at, sends_in_window, attempt_window_started_at, \
         attempts_in_window, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) \
         ON CONFLICT (email) DO NOTHING RETURNING *) \
     SELECT true AS inserted, version, code_hash, expires_at, attempts, last_sent_at, \
         send_window_started_at, sends_in_window, attempt_window_started_at, attempts_in_window \
     FROM inserted \
     UNION ALL \
     SELECT false, version, code_hash, expires_at, attempts, last_sent_at, \
         send_window_started_at, sends_in_window, attempt_window_started_at, attempts_in_window \
     FROM verification_codes WHERE email = $1 AND NOT EXISTS (SELECT 1 FROM inserted)";

/// Binds `$1` (the address) and `$2` to `$9` (a record's fields, in the order of the
/// statements above) to a query.
macro_rules! bind_record {
    ($query:expr, $email:expr, $record:expr) => {
        $query
            .bind($email.as_str())
            .bind($record.code_hash.as_ref().map(|h| h.as_bytes().to_vec()))
            .bind(time($record.expires_at))
            .bind(i64::from($record.attempts))
            .bind(time($record.last_sent_at))
            .bind(time($record.send_window_started_at))
            .bind(i64::from($record.sends_in_window))
            .bind(time($record.attempt_window_started_at))
            .bind(i64::from($record.attempts_in_window))
    };
}

/// How many times one update reads again after losing a race before the store reports itself
/// unavailable. Each lost race means another update of the same address was stored, so this
/// is only reached when far more than this many updates of one address arrive at once.
const CODE_UPDATE_TRIES: usize = 256;

/// An answer of [`INSERT_OR_READ`].
#[derive(FromRow)]
struct InsertedOrRead {
    inserted: bool,
    #[sqlx(flatten)]
    row: CodeRow,
}

#[derive(FromRow)]
struct CodeRow {
    version: i64,
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
    "SELECT version, code_hash, expires_at, attempts, last_sent_at, send_window_started_at, \
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
        // A first send to an address (the common case: records go when they expire) is one
        // statement where the dialect allows: the record it would have without one, inserted
        // unless it has one, which the same statement reads to decide on below instead.
        let mut read_first = None;
        if crate::dialect::DATA_MODIFYING_WITH {
            if let Some(new) = change(None) {
                let query = sqlx::query_as::<_, InsertedOrRead>(INSERT_OR_READ);
                let answer = bind_record!(query, email, new)
                    .fetch_optional(self.writes())
                    .await
                    .map_err(storage)?;
                match answer {
                    Some(answer) if answer.inserted => return Ok(()),
                    Some(answer) => read_first = Some(answer.row),
                    None => {}
                }
            }
        }
        for _ in 0..CODE_UPDATE_TRIES {
            let row = match read_first.take() {
                Some(row) => Some(row),
                None => sqlx::query_as::<_, CodeRow>(SELECT)
                    .bind(email.as_str())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(storage)?,
            };
            let read = row.as_ref().map(|row| (row.version, row.last_sent_at));
            let current = row.map(|row| row.into_record(email)).transpose()?;
            let next = match change(current.as_ref()) {
                // Nothing to store, or what is stored already: nothing to race for.
                None => return Ok(()),
                Some(next) if current.as_ref() == Some(&next) => return Ok(()),
                Some(next) => next,
            };
            let query = sqlx::query(match read {
                None => INSERT_IF_ABSENT,
                Some(_) => UPDATE_IF_UNCHANGED,
            });
            let query = bind_record!(query, email, next);
            let query = match read {
                None => query,
                Some((version, last_sent_at)) => query.bind(version).bind(last_sent_at),
            };
            let stored = query
                .execute(self.writes())
                .await
                .map_err(storage)?
                .rows_affected()
                == 1;
            if stored {
                return Ok(());
            }
        }
        Err(StorageError::Unavailable(
            "too many concurrent updates of one sign-in code record".into(),
        ))
    }

    #[instrument(skip_all)]
    async fn use_code(&self, email: &Email, matched: &CodeHash) -> Result<bool, StorageError> {
        // The version moves on, so a compare-and-set decided on the record before loses.
        let done = sqlx::query(
            "UPDATE verification_codes SET code_hash = NULL, version = version + 1 \
             WHERE email = $1 AND code_hash = $2",
        )
        .bind(email.as_str())
        .bind(matched.as_bytes().to_vec())
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }

    #[instrument(skip_all)]
    async fn find_code(&self, email: &Email) -> Result<Option<CodeRecord>, StorageError> {
        sqlx::query_as::<_, CodeRow>(SELECT)
            .bind(email.as_str())
            .fetch_optional(self.reads())
            .await
            .map_err(storage)?
            .map(|row| row.into_record(email))
            .transpose()
    }
}
