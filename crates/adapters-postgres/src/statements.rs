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

use std::ops::{Deref, DerefMut};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Describe, Either, Execute, Executor, PgPool, Postgres};

/// The pool, for statements outside a transaction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Statements<'p> {
    pub(crate) pool: &'p PgPool,
    /// Whether prepared statements may be named and cached.
    pub(crate) statement_cache: bool,
}

impl Statements<'_> {
    /// Begins a transaction.
    pub(crate) async fn begin(self) -> Result<Tx<'static>, sqlx::Error> {
        Ok(Tx(InTx {
            tx: self.pool.begin().await?,
            statement_cache: self.statement_cache,
        }))
    }
}

/// A transaction: `&mut *tx` is where its statements go.
#[derive(Debug)]
pub(crate) struct Tx<'c>(InTx<'c>);

impl Tx<'_> {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.0.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.0.tx.rollback().await
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
    tx: sqlx::Transaction<'c, Postgres>,
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
        if self.statement_cache {
            return self.pool.fetch_many(query);
        }
        let pool = self.pool;
        // The whole answer is read inside the statement's transaction, then handed out.
        stream::once(async move {
            let mut tx = pool.begin().await?;
            let steps: Vec<Step> = (&mut *tx)
                .fetch_many(Unnamed {
                    query,
                    statement_cache: false,
                })
                .try_collect()
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(steps)
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
        if self.statement_cache {
            return self.pool.fetch_optional(query);
        }
        let pool = self.pool;
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let row = (&mut *tx)
                .fetch_optional(Unnamed {
                    query,
                    statement_cache: false,
                })
                .await?;
            tx.commit().await?;
            Ok(row)
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
        (&mut *self.tx).fetch_many(Unnamed {
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
        (&mut *self.tx).fetch_optional(Unnamed {
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
        (&mut *self.tx).prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.tx).describe(sql)
    }
}
