//! Where the shared SQL's statements go: [`Statements`] (the pool) and [`Tx`] (a transaction).
//!
//! Directly on PostgreSQL (or through a pooler that keeps prepared statements, such as PgBouncer
//! 1.21+ with `max_prepared_statements`), they are sqlx's own: each statement is prepared once per
//! connection and cached. Behind a transaction pooler that does not keep them (an older
//! PgBouncer, any pooler in transaction mode with prepared statements off), a connection's next
//! round trip may reach another server session, where a statement prepared on the first does
//! not exist, or one of the same name from another client does. There
//! (`statement_cache: false`), every statement is unnamed and runs inside a transaction, so
//! its parse and its execution reach the same server session: one of its own for a statement
//! outside [`Tx`] (two round trips more, which the pooler's shared connections pay for).
//!
//! Each use takes a connection from [`Kept`] (`connections.rs`), which keeps a connection after
//! a clean end instead of giving it back to sqlx's pool (sqlx checks every connection given
//! back with a round trip of its own).
//!
//! Both go through a [`Breaker`]: once a connection breaks or is refused, the next statement
//! pings the database; if it does not answer, statements fail at once
//! (`503 database_unavailable`) instead of each waiting for the pool's acquire timeout, and one
//! statement at a time pings it again, every [`Breaker::RETRY_EVERY`].

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArguments, PgQueryResult, PgRow, PgStatement, PgTransactionManager, PgTypeInfo,
};
use sqlx::{Describe, Either, Execute, Executor, PgPool, Postgres, TransactionManager};

use crate::connections::{Kept, Lent};

/// The pool, for statements outside a transaction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Statements<'p> {
    pub(crate) pool: &'p PgPool,
    /// Whether prepared statements may be named and cached.
    pub(crate) statement_cache: bool,
    pub(crate) breaker: &'p Breaker,
    /// The connections kept between statements, and the permits to use one.
    pub(crate) kept: &'p Kept<Postgres>,
}

impl<'p> Statements<'p> {
    /// Lets a statement through the breaker, or refuses it at once. A statement that tries
    /// the database again gets a connection first: that alone says whether it is back (a
    /// long statement never holds the others back).
    async fn pass(&self) -> Result<(), sqlx::Error> {
        let passage = self.breaker.enter(Instant::now())?;
        if passage.probe {
            let answer = self.ping().await;
            passage.connected(answer.as_ref().map(|_| ()), Instant::now());
            answer?;
        }
        Ok(())
    }

    /// One round trip to the database on a pooled connection. An idle connection the database
    /// has already dropped is closed and another tried (up to three): a dead connection says
    /// nothing of the database.
    async fn ping(&self) -> Result<(), sqlx::Error> {
        let mut last = None;
        for _ in 0..3 {
            let mut conn = self.kept.lend(self.pool).await?;
            match sqlx::Connection::ping(&mut *conn).await {
                Ok(()) => {
                    conn.keep();
                    return Ok(());
                }
                Err(e @ sqlx::Error::Io(_)) => {
                    conn.discard();
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(sqlx::Error::PoolTimedOut))
    }

    /// Begins a transaction.
    pub(crate) async fn begin(self) -> Result<Tx<'p>, sqlx::Error> {
        self.pass().await?;
        let conn = self.lend_for_transaction().await;
        self.heard(conn.as_ref().map(drop));
        Ok(Tx(InTx {
            conn: conn?,
            statement_cache: self.statement_cache,
        }))
    }

    async fn lend_for_transaction(self) -> Result<Lent<'p, Postgres>, sqlx::Error> {
        let mut conn = self.kept.lend(self.pool).await?;
        conn.begin().await?;
        Ok(conn)
    }

    /// A connection for one statement: behind a pooler without prepared statements, inside
    /// a transaction of its own.
    async fn lend(self) -> Result<Lent<'p, Postgres>, sqlx::Error> {
        if self.statement_cache {
            self.kept.lend(self.pool).await
        } else {
            self.lend_for_transaction().await
        }
    }

    /// The statement on `conn` ended well: its transaction (if any) is committed and the
    /// connection kept for the next.
    async fn done(self, mut conn: Lent<'p, Postgres>) -> Result<(), sqlx::Error> {
        if !self.statement_cache {
            PgTransactionManager::commit(&mut conn).await?;
        }
        conn.keep();
        Ok(())
    }

    /// Tells the breaker how a use of the database went; one that found it unreachable gives
    /// the idle connections back to sqlx too (they are likely broken as well).
    fn heard(self, outcome: Result<(), &sqlx::Error>) {
        if self.breaker.heard(outcome, Instant::now()) == Verdict::Unreachable {
            self.kept.release_idle();
        }
    }
}

/// Remembers that the database was unreachable (a broken or refused connection, a server
/// shutting down), so that statements fail at once until it is tried again.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    state: Mutex<BreakerState>,
    /// Whether `state.open_until` is set: the closed breaker, every statement's case, is read
    /// without the lock.
    open: AtomicBool,
}

#[derive(Debug, Default)]
struct BreakerState {
    /// Unreachable: no statement before this instant.
    open_until: Option<Instant>,
    /// One statement is trying the database again.
    probing: bool,
}

/// A statement let through the breaker. A probe (the one statement trying the database again)
/// is decided by [`Passage::connected`]; one dropped before (its request cut) lets the next
/// statement try.
pub(crate) struct Passage<'b> {
    breaker: &'b Breaker,
    probe: bool,
    decided: bool,
}

/// What an outcome says of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It answered.
    Reachable,
    /// A connection broke or was refused, or the server is shutting down.
    Unreachable,
    /// Nothing: a statement's own error, or a wait for a busy pool.
    Unknown,
}

fn verdict(outcome: Result<(), &sqlx::Error>) -> Verdict {
    match outcome {
        Ok(()) => Verdict::Reachable,
        Err(sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)) => {
            Verdict::Unreachable
        }
        Err(sqlx::Error::Database(db))
            if db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
        {
            Verdict::Unreachable
        }
        // A statement that waited its whole acquire timeout behind busy connections says
        // nothing of the database (refused connections end that way too; they are judged by
        // the probe).
        Err(_) => Verdict::Unknown,
    }
}

impl Breaker {
    /// How long statements fail at once after the database was found unreachable.
    pub(crate) const RETRY_EVERY: Duration = Duration::from_millis(500);

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether statements are being refused (or one is trying the database again).
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Sets the instant statements are refused until (`None`: closed).
    fn set(&self, state: &mut BreakerState, open_until: Option<Instant>) {
        state.open_until = open_until;
        self.open.store(open_until.is_some(), Ordering::Release);
    }

    /// Lets a statement through at `now`, or refuses it at once.
    pub(crate) fn enter(&self, now: Instant) -> Result<Passage<'_>, sqlx::Error> {
        if !self.is_open() {
            return Ok(Passage {
                breaker: self,
                probe: false,
                decided: false,
            });
        }
        let mut state = self.state();
        let probe = match state.open_until {
            None => false,
            Some(until) if now < until || state.probing => {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the database was unreachable a moment ago; it is tried again shortly",
                )))
            }
            Some(_) => {
                state.probing = true;
                true
            }
        };
        Ok(Passage {
            breaker: self,
            probe,
            decided: false,
        })
    }

    /// What a statement's outcome at `now` says. A broken or refused connection opens a closed
    /// breaker for a probe at once (the next statement pings the database: one dead connection
    /// costs a round trip, not a pause); only a probe closes it again, since an answer to a
    /// statement sent before the database went away says nothing of now.
    pub(crate) fn heard(&self, outcome: Result<(), &sqlx::Error>, now: Instant) -> Verdict {
        let verdict = verdict(outcome);
        if verdict == Verdict::Unreachable && !self.is_open() {
            let mut state = self.state();
            if state.open_until.is_none() {
                self.set(&mut state, Some(now));
            }
        }
        verdict
    }
}

impl Passage<'_> {
    /// For a probe: whether the database answered a ping at `now`. Yes closes the breaker; any
    /// failure (a wait for the acquire timeout included) keeps it open for another round.
    pub(crate) fn connected(mut self, outcome: Result<(), &sqlx::Error>, now: Instant) {
        self.decided = true;
        let mut state = self.breaker.state();
        state.probing = false;
        let open_until = match outcome {
            Ok(()) => None,
            Err(_) => Some(now + Breaker::RETRY_EVERY),
        };
        self.breaker.set(&mut state, open_until);
    }
}

impl Drop for Passage<'_> {
    fn drop(&mut self) {
        if self.probe && !self.decided {
            self.breaker.state().probing = false;
        }
    }
}

/// A transaction: `&mut *tx` is where its statements go.
#[derive(Debug)]
pub(crate) struct Tx<'c>(InTx<'c>);

impl Tx<'_> {
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        PgTransactionManager::commit(&mut self.0.conn).await?;
        self.0.conn.keep();
        Ok(())
    }

    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        PgTransactionManager::rollback(&mut self.0.conn).await?;
        self.0.conn.keep();
        Ok(())
    }
}

impl<'c> Deref for Tx<'c> {
    type Target = InTx<'c>;

    fn deref(&self) -> &InTx<'c> {
        &self.0
    }
}

impl<'c> DerefMut for Tx<'c> {
    fn deref_mut(&mut self) -> &mut InTx<'c> {
        &mut self.0
    }
}

/// The statements of a transaction.
#[derive(Debug)]
pub(crate) struct InTx<'c> {
    /// In a transaction until committed or rolled back (dropped, it is rolled back).
    conn: Lent<'c, Postgres>,
    statement_cache: bool,
}

/// A statement, unnamed unless the cache may be used.
struct Unnamed<E> {
    query: E,
    statement_cache: bool,
}

impl<'q, E: Execute<'q, Postgres>> Execute<'q, Postgres> for Unnamed<E> {
    fn sql(&self) -> &'q str {
        self.query.sql()
    }

    fn statement(&self) -> Option<&PgStatement<'q>> {
        self.query.statement()
    }

    fn take_arguments(&mut self) -> Result<Option<PgArguments>, BoxDynError> {
        self.query.take_arguments()
    }

    fn persistent(&self) -> bool {
        self.statement_cache && self.query.persistent()
    }
}

type Step = Either<PgQueryResult, PgRow>;

impl<'p> Executor<'p> for Statements<'p> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        // The whole answer is read on a kept connection, then handed out: the connection is
        // kept only once its answer is read to the end, and every caller (`fetch_all`,
        // `fetch_one`, `execute`) collects the answer anyway.
        stream::once(async move {
            self.pass().await?;
            let answer = async {
                let mut conn = self.lend().await?;
                let steps = (&mut *conn)
                    .fetch_many(Unnamed {
                        query,
                        statement_cache: self.statement_cache,
                    })
                    .try_collect::<Vec<Step>>()
                    .await?;
                self.done(conn).await.map(|()| steps)
            }
            .await;
            self.heard(answer.as_ref().map(drop));
            answer
        })
        .map(|answer| match answer {
            Ok(steps) => stream::iter(steps.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::iter([Err(e)]).right_stream(),
        })
        .flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        Box::pin(async move {
            self.pass().await?;
            let row = async {
                let mut conn = self.lend().await?;
                let row = (&mut *conn)
                    .fetch_optional(Unnamed {
                        query,
                        statement_cache: self.statement_cache,
                    })
                    .await?;
                self.done(conn).await.map(|()| row)
            }
            .await;
            self.heard(row.as_ref().map(drop));
            row
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}

impl<'c, 't> Executor<'c> for &'c mut InTx<'t> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let statement_cache = self.statement_cache;
        (&mut *self.conn).fetch_many(Unnamed {
            query,
            statement_cache,
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let statement_cache = self.statement_cache;
        (&mut *self.conn).fetch_optional(Unnamed {
            query,
            statement_cache,
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.conn).prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.conn).describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> sqlx::Error {
        sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into())
    }

    #[test]
    fn a_broken_connection_makes_the_next_statement_ping_and_others_wait_for_it() {
        let breaker = Breaker::default();
        let t0 = Instant::now();
        assert!(!breaker.enter(t0).unwrap().probe);
        breaker.heard(Err(&refused()), t0);
        let probe = breaker.enter(t0).unwrap();
        assert!(probe.probe, "the next statement pings at once");
        assert!(
            breaker.enter(t0).is_err(),
            "the others are refused meanwhile"
        );
        // One dead connection: the database answers the ping.
        probe.connected(Ok(()), t0);
        assert!(!breaker.enter(t0).unwrap().probe, "closed again");
    }

    #[test]
    fn an_unreachable_database_fails_statements_at_once_until_a_ping_answers() {
        let breaker = Breaker::default();
        let t0 = Instant::now();
        breaker.heard(Err(&refused()), t0);
        breaker.enter(t0).unwrap().connected(Err(&refused()), t0);
        let almost = t0 + Breaker::RETRY_EVERY - Duration::from_nanos(1);
        assert!(breaker.enter(almost).is_err());
        // More broken connections change nothing while it is open.
        breaker.heard(Err(&refused()), almost);
        let at = t0 + Breaker::RETRY_EVERY;
        let probe = breaker.enter(at).unwrap();
        assert!(probe.probe);
        assert!(breaker.enter(at).is_err(), "one statement tries at a time");
        // The probe waited its whole acquire timeout: still unreachable.
        probe.connected(Err(&sqlx::Error::PoolTimedOut), at);
        assert!(breaker.enter(at).is_err());
        let later = at + Breaker::RETRY_EVERY;
        breaker.enter(later).unwrap().connected(Ok(()), later);
        assert!(!breaker.enter(later).unwrap().probe, "closed again");
    }

    #[test]
    fn only_a_probe_closes_it_and_a_wait_or_a_wrong_statement_opens_nothing() {
        let breaker = Breaker::default();
        let t0 = Instant::now();
        breaker.heard(Err(&sqlx::Error::PoolTimedOut), t0);
        breaker.heard(Err(&sqlx::Error::RowNotFound), t0);
        breaker.heard(Ok(()), t0);
        assert!(!breaker.enter(t0).unwrap().probe);
        breaker.heard(Err(&sqlx::Error::PoolClosed), t0);
        breaker.enter(t0).unwrap().connected(Err(&refused()), t0);
        // An answer to a statement sent before does not close it.
        breaker.heard(Ok(()), t0);
        assert!(breaker.enter(t0).is_err());
    }

    #[test]
    fn a_probe_cut_before_its_ping_lets_the_next_statement_try() {
        let breaker = Breaker::default();
        let t0 = Instant::now();
        breaker.heard(Err(&refused()), t0);
        drop(breaker.enter(t0).unwrap());
        assert!(breaker.enter(t0).unwrap().probe, "the next one probes");
    }
}
