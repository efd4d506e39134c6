use std::str::FromStr;
use std::time::Duration;

use gptgate_ports::StorageError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::error::storage;

/// Every storage port on one SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://gptgate.db`,
    /// `sqlite::memory:`), in WAL mode with foreign keys enforced.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StorageError::Failed(Box::new(e)))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings every connection before handing it out by default: one extra round
            // trip per query. A broken connection instead fails its query (a 503) and is dropped.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(storage)?;
        Ok(Self { pool })
    }
}

#[async_trait::async_trait]
impl gptgate_ports::Store for SqliteStore {
    /// Applies the embedded migrations that have not run yet.
    async fn migrate(&self) -> Result<(), StorageError> {
        sqlx::migrate!("../../migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(|e| StorageError::Failed(Box::new(e)))
    }

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(storage)
    }
}
