use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use gptgate_ports::StorageError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, Sqlite, SqliteConnection, SqlitePool};

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
    /// Checkpoints the WAL off the writer (a file database only); stopped with the last clone.
    _checkpoints: Option<Arc<Checkpoints>>,
    /// Told of every use of the writer, for the checkpoint.
    wrote: Arc<tokio::sync::Notify>,
}

/// Connections that read at the same time.
const READERS: u32 = 8;

/// How long a query waits for its connection (the writer's queue included) before the store
/// reports itself unavailable, and how long the writer waits for another process's lock.
const WAIT: Duration = Duration::from_secs(5);

/// How soon after a write the WAL's new pages are copied into the database file, on a
/// connection of its own (the writes of that time at once). SQLite's default is for the
/// connection that commits to do it once the WAL holds 1,000 pages: the writer, which then
/// copies them and waits for two `fsync`s while every other write waits for it (about 40 times
/// a second under sign-ins, `docs/benchmarks.md`). Short, so that each copy is short: at
/// 250 ms the sign-ins' p99 was 38 ms, at 50 ms 21 ms.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// The writer still checkpoints once the WAL holds this many pages (about 40 MiB): a backstop
/// should the background checkpoint fall behind or fail, so the WAL never grows unbounded.
const WRITER_CHECKPOINT_PAGES: &str = "10000";

/// The size the WAL file is cut back to once it starts over (64 MiB, bytes): past the
/// backstop, so it does not keep the largest size it ever reached.
const WAL_SIZE_LIMIT: &str = "67108864";

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
                _checkpoints: None,
                wrote: Arc::default(),
            });
        }
        let writer = pool(1)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
                    .pragma("journal_size_limit", WAL_SIZE_LIMIT),
            )
            .await
            .map_err(storage)?;
        let wrote = Arc::new(tokio::sync::Notify::new());
        let checkpoints = Checkpoints::start(
            SqliteConnection::connect_with(&options)
                .await
                .map_err(storage)?,
            wrote.clone(),
        );
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
            _checkpoints: Some(Arc::new(checkpoints)),
            wrote,
        })
    }

    /// The pool for statements that only read.
    pub(crate) fn reads(&self) -> Statements<'_> {
        Statements {
            pool: &self.readers,
            kept: &self.kept_readers,
            told: None,
        }
    }

    /// The one writer connection, for every statement that writes (and its transaction).
    pub(crate) fn writes(&self) -> Statements<'_> {
        Statements {
            pool: &self.writer,
            kept: &self.kept_writer,
            told: Some(&self.wrote),
        }
    }
}

/// The background checkpoint: a task on a connection of its own that copies what the WAL
/// holds into the database file [`CHECKPOINT_EVERY`] after a write, without waiting for
/// readers or the writer (`PASSIVE`); idle, it sleeps. Dropped, it stops.
#[derive(Debug)]
struct Checkpoints(tokio::task::JoinHandle<()>);

impl Checkpoints {
    fn start(mut conn: SqliteConnection, wrote: Arc<tokio::sync::Notify>) -> Self {
        Self(tokio::spawn(async move {
            let mut failing = false;
            loop {
                wrote.notified().await;
                tokio::time::sleep(CHECKPOINT_EVERY).await;
                match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&mut conn)
                    .await
                {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("the WAL checkpoint works again");
                    }
                    Ok(_) => {}
                    // Said once, not every quarter second; the writer's backstop takes over.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "the WAL checkpoint failed");
                    }
                    Err(_) => {}
                }
            }
        }))
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
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

impl SqliteStore {
    /// The migrations, on the writer lent like any use (taken from sqlx's pool directly, they
    /// would wait for the one kept here); outside `async_trait`, whose `Send` future sqlx's
    /// migrator cannot name the lifetimes of.
    fn run_migrations(&self) -> futures::future::BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(async move {
            let mut conn = self.writes().lend().await.map_err(storage)?;
            sqlx::migrate!("./migrations")
                .run_direct(&mut *conn)
                .await
                .map_err(|e| StorageError::Failed(Box::new(e)))?;
            conn.keep();
            Ok(())
        })
    }
}

#[async_trait::async_trait]
impl gptgate_ports::Store for SqliteStore {
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

    /// Writes user `n` on the writer.
    async fn written(store: &SqliteStore, n: u8) {
        sqlx::query(&write(n))
            .execute(store.writes())
            .await
            .unwrap();
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
        written(&store, 2).await;
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
            written(&store, n).await;
            assert_eq!(users_seen(&store).await, before + 1, "cut {n}: committed");
        }
    }

    #[tokio::test]
    async fn the_pool_use_counts_a_connection_kept_between_uses_as_idle() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        users_seen(&store).await;
        written(&store, 1).await;
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
        written(&store, 1).await;
        store
            .kept_writer
            .age_idle(crate::connections::IDLE_AT_MOST * 2);
        assert_eq!(
            users_seen(&store).await,
            1,
            "the same database, not a new one"
        );
    }

    #[tokio::test]
    async fn the_wal_is_copied_into_the_database_file_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        let file = dir.path().join("kept.db");
        sqlx::query("CREATE TABLE scratch (b BLOB)")
            .execute(store.writes())
            .await
            .unwrap();
        let size = || std::fs::metadata(&file).unwrap().len();
        // Settled: what the migrations wrote is in the file (or will never be, by itself).
        tokio::time::sleep(CHECKPOINT_EVERY * 2).await;
        let before = size();
        // About 150 pages: far below the writer's own threshold.
        for _ in 0..150 {
            sqlx::query("INSERT INTO scratch VALUES (randomblob(3000))")
                .execute(store.writes())
                .await
                .unwrap();
        }
        let mut waited = Duration::ZERO;
        while size() < before + 150 * 3000 && waited < Duration::from_secs(10) {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            waited += CHECKPOINT_EVERY;
        }
        assert!(
            size() >= before + 150 * 3000,
            "the database file grew by what was written: {before} -> {}",
            size()
        );
    }

    #[tokio::test]
    async fn migrations_run_again_after_the_writer_was_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        written(&store, 1).await;
        store.migrate().await.unwrap();
        assert_eq!(users_seen(&store).await, 1);
    }

    #[tokio::test]
    async fn a_connection_kept_past_its_time_goes_back_to_sqlx_after_its_next_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        written(&store, 1).await;
        assert_eq!(store.kept_writer.idle_count(), 1, "kept after a clean use");
        let second = Duration::from_secs(1);
        store
            .kept_writer
            .age_kept(crate::connections::KEPT_AT_MOST - second);
        written(&store, 2).await;
        assert_eq!(
            store.kept_writer.idle_count(),
            1,
            "a second short of it: kept"
        );
        store.kept_writer.age_kept(second * 2);
        written(&store, 3).await;
        assert_eq!(
            store.kept_writer.idle_count(),
            0,
            "past its time: back to sqlx"
        );
        written(&store, 4).await;
        assert_eq!(users_seen(&store).await, 4, "and sqlx lends it again");
    }
}
