// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/connections.rs and
// crates/adapters-postgres/src/connections.rs. Generic over the sqlx database: it holds no SQL.

// The pool's connections, kept between statements.
//
// sqlx checks every connection given back to its pool with a round trip of its own, after
// every statement (on PostgreSQL a `Sync` and its `ReadyForQuery`; on SQLite a message to the
// connection's thread and its answer): one indexed read cost two round trips of the
// database's time and two wake-ups of each side (`docs/benchmarks.md`, the third run).
// So a connection whose statement or transaction ended cleanly is kept here instead, for the
// next one, and only one that may not be clean goes back through sqlx: a statement cut off
// mid-way (its request dropped), an error, a transaction not ended. sqlx's check is meant for
// those; a clean end needs none.
//
// Every use of the database takes a permit first (at most the pool's size at once, in the
// order they came), so a connection kept idle here is never one a statement is waiting for
// inside sqlx's pool. A connection kept for [`KEPT_AT_MOST`] since it came from sqlx goes back
// to sqlx, whose lifetime rules then apply; one idle here for [`IDLE_AT_MOST`] is closed.
// Nothing is ever closed here for a database that goes with its last connection (SQLite in
// memory, [`Kept::never_closing`]): what would be closed goes back through sqlx instead.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool, TransactionManager};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a connection stays here before it goes back to sqlx (which closes it once past
/// its own lifetime, 30 minutes).
pub(crate) const KEPT_AT_MOST: Duration = Duration::from_secs(10 * 60);

/// How long a connection may sit idle here before it is closed (sqlx closes one idle for 10
/// minutes; a connection idle for long may have been cut by a proxy or a NAT in between).
pub(crate) const IDLE_AT_MOST: Duration = Duration::from_secs(60);

/// The connections between two uses, and the permits to use one.
#[derive(Debug)]
pub(crate) struct Kept<DB: Database> {
    idle: Mutex<Vec<Idle<DB>>>,
    permits: Semaphore,
    /// How long a use waits for a permit (the pool's acquire timeout).
    wait: Duration,
    /// Whether a connection may be closed here (not one an in-memory database lives in).
    closes: bool,
}

#[derive(Debug)]
struct Idle<DB: Database> {
    conn: PoolConnection<DB>,
    /// When it came from sqlx's pool.
    since: Instant,
    /// When its last use ended.
    used: Instant,
}

/// A connection lent to one statement or transaction. [`Lent::keep`] gives it back for the
/// next use; dropped otherwise, it goes back through sqlx (a transaction still open is rolled
/// back first), which checks it or closes it.
#[derive(Debug)]
pub(crate) struct Lent<'k, DB: Database> {
    conn: Option<PoolConnection<DB>>,
    /// Dropped, it is closed rather than given back: it may be in a transaction sqlx does not
    /// know of (see [`Lent::begin`] and [`Lent::close_unless_kept`]).
    unsure: bool,
    since: Instant,
    kept: &'k Kept<DB>,
    _permit: SemaphorePermit<'k>,
}

impl<DB: Database> Kept<DB> {
    /// Room for `max` uses at once, each waiting at most `wait` for its turn.
    pub(crate) fn new(max: u32, wait: Duration) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(usize::try_from(max).unwrap_or(usize::MAX)),
            wait,
            closes: true,
        }
    }

    /// Never closes a connection (an in-memory database goes with its last one): one idle
    /// for long is kept, and one that may be in a transaction sqlx does not know of goes back
    /// through sqlx, rolled back as far as sqlx knows.
    #[allow(dead_code)] // used by the SQLite store only
    pub(crate) fn never_closing(mut self) -> Self {
        self.closes = false;
        self
    }

    /// Ages every idle connection by `by`, as if its last use ended that much earlier.
    #[cfg(test)]
    #[allow(dead_code)] // used by the SQLite store's tests only
    pub(crate) fn age_idle(&self, by: Duration) {
        for idle in self.idle().iter_mut() {
            idle.used -= by;
        }
    }

    /// Ages every idle connection by `by`, as if it came from sqlx that much earlier.
    #[cfg(test)]
    #[allow(dead_code)] // used by the SQLite store's tests only
    pub(crate) fn age_kept(&self, by: Duration) {
        for idle in self.idle().iter_mut() {
            idle.since -= by;
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle<DB>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection for one use: the one idle here the shortest, else one from `pool`.
    pub(crate) async fn lend<'k>(&'k self, pool: &Pool<DB>) -> Result<Lent<'k, DB>, sqlx::Error> {
        let permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let now = Instant::now();
        let (found, stale) = {
            let mut idle = self.idle();
            // Kept in the order their uses ended, the last on top: those idle past their
            // time are at the bottom, and closed (a connection idle that long may have been
            // cut by a proxy or a NAT in between). One kept past its time goes back to sqlx
            // at its next keep.
            let split = if self.closes {
                idle_too_long(idle.iter().map(|c| c.used), now)
            } else {
                0
            };
            let stale: Vec<Idle<DB>> = idle.drain(..split).collect();
            (idle.pop(), stale)
        };
        for mut old in stale {
            old.conn.close_on_drop();
        }
        let (conn, since) = match found {
            Some(idle) => (idle.conn, idle.since),
            None => (pool.acquire().await?, now),
        };
        Ok(Lent {
            conn: Some(conn),
            unsure: false,
            since,
            kept: self,
            _permit: permit,
        })
    }

    /// Gives every idle connection back to sqlx, which checks each and closes the broken:
    /// when the database was found unreachable, those kept are likely broken too.
    #[allow(dead_code)] // used by the PostgreSQL store only (its breaker)
    pub(crate) fn release_idle(&self) {
        let idle = std::mem::take(&mut *self.idle());
        drop(idle);
    }

    /// How many connections are idle here.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle().len()
    }
}

/// How many of the connections whose uses ended at `ended` (in that order) have been idle
/// longer than [`IDLE_AT_MOST`] at `now`: they are the first ones.
fn idle_too_long(ended: impl ExactSizeIterator<Item = Instant>, now: Instant) -> usize {
    let all = ended.len();
    ended
        .into_iter()
        .position(|used| now.saturating_duration_since(used) <= IDLE_AT_MOST)
        .unwrap_or(all)
}

impl<DB: Database> Lent<'_, DB> {
    /// Begins a transaction. sqlx counts it open only once the `BEGIN`'s answer is read, so a
    /// use cut off (or failed) in between leaves a connection that may be in a transaction
    /// sqlx does not know of: it is closed, never given back.
    pub(crate) async fn begin(&mut self) -> Result<(), sqlx::Error> {
        self.unsure = true;
        DB::TransactionManager::begin(self, None).await?;
        self.unsure = false;
        Ok(())
    }

    /// For a use that ends a transaction sqlx does not know of (a script with its own `BEGIN`
    /// and `COMMIT`): from now on, dropped instead of kept, the connection is closed, which
    /// rolls such a transaction back.
    #[allow(dead_code)] // used by the SQLite store only
    pub(crate) fn close_unless_kept(&mut self) {
        self.unsure = true;
    }

    /// Gives the connection back for the next use: only once its use ended cleanly (its
    /// statement's answer read to the end, its transaction committed or rolled back).
    pub(crate) fn keep(mut self) {
        // Ended cleanly: nothing is left open that sqlx does not know of.
        self.unsure = false;
        let Some(conn) = self.conn.take() else { return };
        let now = Instant::now();
        if DB::TransactionManager::get_transaction_depth(&conn) > 0
            || now.duration_since(self.since) > KEPT_AT_MOST
        {
            self.conn = Some(conn);
            return; // dropped: back through sqlx
        }
        self.kept.idle().push(Idle {
            conn,
            since: self.since,
            used: now,
        });
    }

    /// Closes the connection instead of giving it back (it is known to be broken).
    #[allow(dead_code)] // used by the PostgreSQL store only (its breaker's ping)
    pub(crate) fn discard(mut self) {
        if let Some(mut conn) = self.conn.take() {
            if self.kept.closes {
                conn.close_on_drop();
            }
        }
    }
}

impl<DB: Database> Drop for Lent<'_, DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            if self.unsure && self.kept.closes {
                conn.close_on_drop();
            } else {
                // sqlx's own transactions do the same when dropped open: the rollback is
                // sent with sqlx's check of the connection.
                DB::TransactionManager::start_rollback(conn);
            }
        }
    }
}

impl<DB: Database> Deref for Lent<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.conn.as_ref().expect("a lent connection until kept")
    }
}

impl<DB: Database> DerefMut for Lent<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn.as_mut().expect("a lent connection until kept")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_idle_longer_than_the_limit_is_too_long_idle_and_one_exactly_at_it_is_not() {
        let now = Instant::now() + IDLE_AT_MOST + Duration::from_secs(5);
        let at_limit = now - IDLE_AT_MOST;
        let past = at_limit - Duration::from_nanos(1);
        assert_eq!(idle_too_long([past, at_limit, now].into_iter(), now), 1);
        assert_eq!(idle_too_long([at_limit, now].into_iter(), now), 0);
        assert_eq!(idle_too_long([past, past].into_iter(), now), 2);
        assert_eq!(idle_too_long(std::iter::empty(), now), 0);
    }
}
