use std::str::FromStr;
use std::time::Duration;

use gptgate_ports::StorageError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::storage;

/// Every storage port on one PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

/// Connection pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host/db?sslmode=verify-full&sslrootcert=...`;
    /// TLS is configured by the URL's `sslmode` and `sslrootcert`).
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StorageError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StorageError::Failed(Box::new(e)))?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // sqlx pings every connection before handing it out by default: one extra round
            // trip per query. A broken connection instead fails its query (a 503) and is dropped.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(storage)?;
        Ok(Self { pool })
    }

    /// The pool for statements that only read (the same pool as writes: PostgreSQL's
    /// row locks let writers proceed side by side).
    pub(crate) fn reads(&self) -> &PgPool {
        &self.pool
    }

    /// The pool for statements that write.
    pub(crate) fn writes(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl gptgate_ports::Store for PostgresStore {
    /// Applies the embedded migrations that have not run yet.
    async fn migrate(&self) -> Result<(), StorageError> {
        sqlx::migrate!("./migrations")
            .run(self.writes())
            .await
            .map_err(|e| StorageError::Failed(Box::new(e)))
    }

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1")
            .execute(self.reads())
            .await
            .map(|_| ())
            .map_err(storage)
    }
}
