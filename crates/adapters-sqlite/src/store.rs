use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use gptgate_ports::StorageError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::connections::Kept;
use crate::error::storage;
use crate::statements::Statements;

/// Every storage port on one SQLite database.
///
/// SQLite lets one connection write at a time. Several pooled connections that each try to
/// write wait for one another in SQLite's busy handler, which sleeps and retries (that is what
/// made p99 latencies of hundreds of milliseconds under 32 concurrent sign-ins). So writes go
/// through one writer connection, queued in-process by its pool in arrival order, and reads go
/// through a pool of read-only connections that, in WAL mode, never wait for the writer.
/// Each pool's connections are kept between statements (`connections.rs`).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    readers: SqlitePool,
    writer: SqlitePool,
    kept_readers: Arc<Kept<Sqlite>>,
    kept_writer: Arc<Kept<Sqlite>>,
}

/// Connections that read at the same time.
const READERS: u32 = 8;

/// How long a query waits for its connection (the writer's queue included) before the store
/// reports itself unavailable, and how long the writer waits for another process's lock.
const WAIT: Duration = Duration::from_secs(5);

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
            .busy_timeout(WAIT);
        if in_memory(url, &options) {
            // Each connection to a private in-memory database sees a database of its own, and
            // a shared-cache one has no WAL: the one connection serves reads as well. It is
            // never closed, since the database goes with its last connection.
            let only = pool(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(storage)?;
            // One permit for both: a connection kept for reads is the writer's too. Never
            // closed: the database goes with it.
            let kept = Arc::new(Kept::new(1, WAIT).never_closing());
            return Ok(Self {
                readers: only.clone(),
                writer: only,
                kept_readers: kept.clone(),
                kept_writer: kept,
            });
        }
        let writer = pool(1)
            .connect_with(options.clone())
            .await
            .map_err(storage)?;
        // `query_only` makes a write sent to a reader fail loudly instead of contending for
        // the lock: the contract suite runs every write, so a misrouted one cannot pass it.
        let readers = pool(READERS)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(storage)?;
        Ok(Self {
            readers,
            writer,
            kept_readers: Arc::new(Kept::new(READERS, WAIT)),
            kept_writer: Arc::new(Kept::new(1, WAIT)),
        })
    }

    /// The pool for statements that only read.
    pub(crate) fn reads(&self) -> Statements<'_> {
        Statements {
            pool: &self.readers,
            kept: &self.kept_readers,
        }
    }

    /// The one writer connection, for every statement that writes (and its transaction).
    pub(crate) fn writes(&self) -> Statements<'_> {
        Statements {
            pool: &self.writer,
            kept: &self.kept_writer,
        }
    }
}

fn pool(connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(WAIT)
        // sqlx pings every connection before handing it out by default: one extra round
        // trip per query. A broken connection instead fails its query (a 503) and is dropped.
        .test_before_acquire(false)
}

/// Whether `url` names an in-memory database (`sqlite::memory:`, `?mode=memory`).
fn in_memory(url: &str, options: &SqliteConnectOptions) -> bool {
    url.contains("mode=memory")
        || options
            .get_filename()
            .to_string_lossy()
            .starts_with("file:sqlx-in-memory")
}

#[async_trait::async_trait]
impl gptgate_ports::Store for SqliteStore {
    /// Applies the embedded migrations that have not run yet.
    async fn migrate(&self) -> Result<(), StorageError> {
        sqlx::migrate!("./migrations")
            .run(&self.writer)
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

    fn pool_use(&self) -> Vec<gptgate_ports::PoolUse> {
        let pools = [
            ("readers", &self.readers, &self.kept_readers),
            ("writer", &self.writer, &self.kept_writer),
        ];
        pools
            .into_iter()
            .map(|(name, pool, kept)| gptgate_ports::PoolUse {
                pool: name,
                open: pool.size(),
                // Idle in sqlx's pool or kept here between two uses.
                idle: u32::try_from(pool.num_idle() + kept.idle_count()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use gptgate_ports::Store as _;

    use super::*;

    const WRITE: &str =
        "INSERT INTO users (id, created_at) VALUES (x'00000000000000000000000000000001', 0)";

    #[tokio::test]
    async fn a_file_database_refuses_writes_on_its_readers_and_takes_them_on_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("routing.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();

        let refused = sqlx::query(WRITE).execute(store.reads()).await.unwrap_err();
        assert!(refused.to_string().contains("readonly"), "{refused}");
        sqlx::query(WRITE).execute(store.writes()).await.unwrap();
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(store.reads())
            .await
            .unwrap();
        assert_eq!(
            seen, 1,
            "a committed write is visible to the readers at once"
        );
    }

    #[tokio::test]
    async fn an_in_memory_database_is_one_database_for_reads_and_writes() {
        for url in ["sqlite::memory:", "sqlite://?mode=memory"] {
            let store = SqliteStore::connect(url).await.unwrap();
            store.migrate().await.unwrap();
            sqlx::query(WRITE).execute(store.writes()).await.unwrap();
            let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(store.reads())
                .await
                .unwrap();
            assert_eq!(seen, 1, "{url}");
        }
    }

    async fn file_store(dir: &tempfile::TempDir) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("kept.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    fn write(n: u8) -> String {
        format!(
            "INSERT INTO users (id, created_at) VALUES (x'{:032x}', 0)",
            n
        )
    }

    async fn users_seen(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(store.reads())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_transaction_dropped_open_is_rolled_back_before_the_writer_is_used_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        let mut tx = store.writes().begin().await.unwrap();
        sqlx::query(&write(1)).execute(&mut *tx).await.unwrap();
        drop(tx);
        sqlx::query(&write(2))
            .execute(store.writes())
            .await
            .unwrap();
        assert_eq!(
            users_seen(&store).await,
            1,
            "the next write committed on its own, the dropped one's not at all"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_and_transactions_cut_off_at_any_point_leave_the_writer_committing() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        for n in 0..40u8 {
            let cut_after = std::time::Duration::from_micros(20 * u64::from(n));
            let cut = async {
                let mut tx = store.writes().begin().await?;
                sqlx::query(&write(n + 100)).execute(&mut *tx).await?;
                tx.commit().await
            };
            let _ = tokio::time::timeout(cut_after, cut).await;
            let _ = tokio::time::timeout(
                cut_after,
                sqlx::query(&write(n + 150)).execute(store.writes()),
            )
            .await;
            let before = users_seen(&store).await;
            sqlx::query(&write(n))
                .execute(store.writes())
                .await
                .unwrap();
            assert_eq!(users_seen(&store).await, before + 1, "cut {n}: committed");
        }
    }

    #[tokio::test]
    async fn the_pool_use_counts_a_connection_kept_between_uses_as_idle() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        users_seen(&store).await;
        sqlx::query(&write(1))
            .execute(store.writes())
            .await
            .unwrap();
        let uses = store.pool_use();
        let readers = uses.iter().find(|p| p.pool == "readers").unwrap();
        let writer = uses.iter().find(|p| p.pool == "writer").unwrap();
        assert_eq!((readers.open, readers.idle, readers.max), (1, 1, READERS));
        assert_eq!((writer.open, writer.idle, writer.max), (1, 1, 1));
    }

    #[tokio::test]
    async fn an_in_memory_database_outlives_its_connection_s_idle_limit() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        sqlx::query(&write(1))
            .execute(store.writes())
            .await
            .unwrap();
        store
            .kept_writer
            .age_idle(crate::connections::IDLE_AT_MOST * 2);
        assert_eq!(
            users_seen(&store).await,
            1,
            "the same database, not a new one"
        );
    }
}
