use std::str::FromStr;
use std::time::Duration;

use gptgate_ports::StorageError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Acquire, Executor, PgPool};

use crate::error::storage;
use crate::statements::Statements;

/// Every storage port on one PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    /// Whether prepared statements are named and cached (see [`PoolSettings`]).
    statement_cache: bool,
    /// Whether the database was found unreachable a moment ago.
    breaker: std::sync::Arc<crate::statements::Breaker>,
    /// The pool's connections between two statements (see `connections.rs`).
    kept: std::sync::Arc<crate::connections::Kept<sqlx::Postgres>>,
}

/// Connection pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// `false` behind a transaction pooler that does not keep prepared statements (PgBouncer
    /// before 1.21, or with `max_prepared_statements = 0`; Supabase's pooler on port 6543 with
    /// prepared statements off): every statement is then unnamed and runs in a transaction,
    /// so its parse and its execution reach the same server session
    /// (`DATABASE_STATEMENT_CACHE=off`).
    pub statement_cache: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_cache: true,
        }
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host/db?sslmode=verify-full&sslrootcert=...`;
    /// TLS is configured by the URL's `sslmode` and `sslrootcert`).
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StorageError> {
        let mut options =
            PgConnectOptions::from_str(url).map_err(|e| StorageError::Failed(Box::new(e)))?;
        if !settings.statement_cache {
            options = options.statement_cache_capacity(0);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // sqlx pings every connection before handing it out by default: one extra round
            // trip per query. A broken connection instead fails its query (a 503) and is dropped.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(storage)?;
        Ok(Self {
            pool,
            statement_cache: settings.statement_cache,
            breaker: std::sync::Arc::default(),
            kept: std::sync::Arc::new(crate::connections::Kept::new(
                settings.max_connections,
                settings.acquire_timeout,
            )),
        })
    }

    /// The pool for statements that only read (the same pool as writes: PostgreSQL's
    /// row locks let writers proceed side by side).
    pub(crate) fn reads(&self) -> Statements<'_> {
        self.writes()
    }

    /// The pool for statements that write.
    pub(crate) fn writes(&self) -> Statements<'_> {
        Statements {
            pool: &self.pool,
            statement_cache: self.statement_cache,
            breaker: &self.breaker,
            kept: &self.kept,
        }
    }
}

/// The advisory lock migrations take behind a transaction pooler (`gptgate` in ASCII).
const MIGRATION_LOCK: i64 = 0x0067_7074_6761_7465;

impl PostgresStore {
    /// Applies the embedded migrations on one connection (outside `async_trait`, whose `Send`
    /// future sqlx's migrator cannot name the lifetimes of).
    fn run_migrations(&self) -> futures::future::BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(async move {
            let mut migrator = sqlx::migrate!("./migrations");
            let failed = |e: sqlx::migrate::MigrateError| StorageError::Failed(Box::new(e));
            // Lent like any use: taken from sqlx's pool directly, it could wait for one kept.
            let mut conn = self.kept.lend(&self.pool).await.map_err(storage)?;
            if self.statement_cache {
                migrator.run_direct(&mut *conn).await.map_err(failed)?;
                conn.keep();
                return Ok(());
            }
            // Behind a transaction pooler: all of it in one transaction on one server session.
            // sqlx's own lock is a session lock, which would stay with the session if a
            // migration failed (and the pooler hands sessions on): instead a lock that ends
            // with the transaction. The statements sqlx named while migrating are dropped
            // before the session goes back to the pooler, whether the migrations applied or
            // not (after a failure, from the savepoint before them).
            migrator.set_locking(false);
            let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(storage)?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
            let mut savepoint = Acquire::begin(&mut *tx).await.map_err(storage)?;
            let applied = migrator.run_direct(&mut *savepoint).await;
            if applied.is_ok() {
                savepoint.commit().await.map_err(storage)?;
            } else {
                savepoint.rollback().await.map_err(storage)?;
            }
            tx.execute("DEALLOCATE ALL").await.map_err(storage)?;
            let ended = match applied {
                Ok(()) => tx.commit().await.map_err(storage),
                Err(e) => {
                    tx.rollback().await.map_err(storage)?;
                    Err(failed(e))
                }
            };
            if ended.is_ok() {
                conn.keep();
            }
            ended
        })
    }
}

#[async_trait::async_trait]
impl gptgate_ports::Store for PostgresStore {
    /// Applies the embedded migrations that have not run yet.
    async fn migrate(&self) -> Result<(), StorageError> {
        self.run_migrations().await
    }

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1")
            .execute(self.reads())
            .await
            .map(|_| ())
            .map_err(storage)
    }

    fn pool_use(&self) -> Vec<gptgate_ports::PoolUse> {
        vec![gptgate_ports::PoolUse {
            pool: "main",
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle() + self.kept.idle_count()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }]
    }
}
