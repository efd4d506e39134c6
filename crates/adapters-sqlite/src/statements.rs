//! Where the shared SQL's statements go on SQLite: [`Statements`] (the readers' pool or the one
//! writer) and [`Tx`] (a transaction on the writer), sqlx executors of their own.
//!
//! Each use takes its connection from [`Kept`] (`connections.rs`), which keeps a connection
//! whose use ended cleanly for the next one instead of giving it back to sqlx's pool: sqlx
//! checks every connection given back with a message to the connection's thread and its
//! answer, a second round trip for each statement and, on the writer, one that every other
//! write waits behind.

use std::ops::{Deref, DerefMut};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::sqlite::{
    SqliteConnection, SqliteQueryResult, SqliteRow, SqliteStatement, SqliteTransactionManager,
    SqliteTypeInfo,
};
use sqlx::{Describe, Either, Execute, Executor, Sqlite, SqlitePool, TransactionManager};

use crate::connections::{Kept, Lent};

/// A pool and the connections kept from it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Statements<'p> {
    pub(crate) pool: &'p SqlitePool,
    pub(crate) kept: &'p Kept<Sqlite>,
    /// Told of each use (the writer's: the background checkpoint wakes only after writes).
    pub(crate) told: Option<&'p tokio::sync::Notify>,
}

impl<'p> Statements<'p> {
    /// A connection for one use, to be kept once it ends cleanly.
    pub(crate) async fn lend(self) -> Result<Lent<'p, Sqlite>, sqlx::Error> {
        if let Some(told) = self.told {
            told.notify_one();
        }
        self.kept.lend(self.pool).await
    }

    /// Begins a transaction.
    pub(crate) async fn begin(self) -> Result<Tx<'p>, sqlx::Error> {
        let mut conn = self.lend().await?;
        conn.begin().await?;
        Ok(Tx(conn))
    }
}

type Step = Either<SqliteQueryResult, SqliteRow>;

impl<'p> Executor<'p> for Statements<'p> {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        // The whole answer is read, then handed out: the connection is kept only once its
        // answer is read to the end, and every caller collects the answer anyway.
        stream::once(async move {
            let mut conn = self.lend().await?;
            let steps = (&mut *conn)
                .fetch_many(query)
                .try_collect::<Vec<Step>>()
                .await?;
            conn.keep();
            Ok(steps)
        })
        .map(|answer: Result<Vec<Step>, sqlx::Error>| match answer {
            Ok(steps) => stream::iter(steps.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::iter([Err(e)]).right_stream(),
        })
        .flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        Box::pin(async move {
            let mut conn = self.lend().await?;
            let row = (&mut *conn).fetch_optional(query).await?;
            conn.keep();
            Ok(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<SqliteStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Sqlite>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}

/// A transaction: `&mut *tx` is where its statements go. Dropped, it is rolled back.
#[derive(Debug)]
pub(crate) struct Tx<'c>(Lent<'c, Sqlite>);

impl Tx<'_> {
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        SqliteTransactionManager::commit(&mut self.0).await?;
        self.0.keep();
        Ok(())
    }

    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        SqliteTransactionManager::rollback(&mut self.0).await?;
        self.0.keep();
        Ok(())
    }
}

impl Deref for Tx<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.0
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.0
    }
}
