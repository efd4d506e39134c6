//! The connections kept between statements (`src/connections.rs`): a connection is kept only
//! after a clean end, so a statement or transaction cut off mid-way leaves nothing behind for
//! the next use of the same connection; and the pool's size bounds uses, never starves them.
//! Each store here has one connection (two for the last), so every use reuses it.

use std::sync::Arc;
use std::time::Duration;

use gptgate_adapters_postgres::{PoolSettings, PostgresStore};
use gptgate_domain::{BudgetWindow, SessionId, SessionPolicy, UserId};
use gptgate_ports::{BudgetRepository, SessionRepository, StorageError};
use gptgate_testkit::harness::{async_trial, Trial};
use sqlx::{Connection, PgConnection};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::support;

const T0: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

fn one_connection() -> PoolSettings {
    PoolSettings {
        max_connections: 1,
        ..PoolSettings::default()
    }
}

/// Starts `key`'s window at `T0` with `used` spent.
async fn window(store: &PostgresStore, key: &str, used: u32) {
    store
        .update_budget(key, &mut |_| {
            Some(BudgetWindow {
                started_at: T0,
                used,
            })
        })
        .await
        .unwrap();
}

/// What `key`'s window holds now.
async fn used(store: &PostgresStore, key: &str) -> Option<u32> {
    let mut seen = None;
    store
        .update_budget(key, &mut |current| {
            seen = current.map(|w| w.used);
            None
        })
        .await
        .unwrap();
    seen
}

/// Another session holding `key`'s row locked until it commits.
async fn lock_row(url: &str, key: &str) -> PgConnection {
    let mut other = PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("SELECT used FROM budget_windows WHERE key = $1 FOR UPDATE")
        .bind(key)
        .fetch_one(&mut other)
        .await
        .unwrap();
    other
}

pub fn trials() -> Vec<Trial> {
    vec![
        async_trial(
            "a_statement_cut_off_midway_leaves_nothing_on_its_connection",
            || async {
                let (store, guard) = support::fresh_database_with(one_connection()).await;
                window(&store, "k", 1).await;
                let mut other = lock_row(&guard.url(), "k").await;
                // The spend waits for the row; its caller gives up (a request dropped).
                let cut = tokio::time::timeout(
                    Duration::from_millis(300),
                    store.spend_if_room("k", T0 - time::Duration::hours(1), 100),
                );
                let url = guard.url();
                let waiting = support::until_one_waits(&url);
                let (cut, ()) = tokio::join!(cut, waiting);
                assert!(cut.is_err(), "the spend was cut off while it waited");
                sqlx::query("COMMIT").execute(&mut other).await.unwrap();
                // The same connection answers the next statements with their own answers:
                // the cut statement's answer (it ran once the row was free) was read off it.
                assert_eq!(used(&store, "k").await, Some(2));
                assert!(store
                    .spend_if_room("k", T0 - time::Duration::hours(1), 100)
                    .await
                    .unwrap());
                assert_eq!(used(&store, "k").await, Some(3));
                drop(store);
                drop(guard);
            },
        ),
        async_trial(
            "a_transaction_cut_off_midway_is_rolled_back_before_its_connection_is_reused",
            || async {
                let (store, guard) = support::fresh_database_with(one_connection()).await;
                window(&store, "k", 1).await;
                let mut other = lock_row(&guard.url(), "k").await;
                let mut to_99 = |_: Option<&BudgetWindow>| {
                    Some(BudgetWindow {
                        started_at: T0,
                        used: 99,
                    })
                };
                let cut = tokio::time::timeout(
                    Duration::from_millis(300),
                    store.update_budget("k", &mut to_99),
                );
                let url = guard.url();
                let waiting = support::until_one_waits(&url);
                let (cut, ()) = tokio::join!(cut, waiting);
                assert!(
                    cut.is_err(),
                    "the update was cut off inside its transaction"
                );
                sqlx::query("COMMIT").execute(&mut other).await.unwrap();
                // Nothing of it stayed, and the next transaction is a transaction again (not
                // a savepoint inside the cut one).
                assert_eq!(used(&store, "k").await, Some(1));
                window(&store, "k", 5).await;
                assert_eq!(used(&store, "k").await, Some(5));
                let mut check = PgConnection::connect(&guard.url()).await.unwrap();
                let stored: i64 =
                    sqlx::query_scalar("SELECT used FROM budget_windows WHERE key = 'k'")
                        .fetch_one(&mut check)
                        .await
                        .unwrap();
                assert_eq!(stored, 5, "committed for everyone to see");
                drop(store);
                drop(guard);
            },
        ),
        async_trial(
            "a_transaction_cut_off_in_its_begin_leaves_no_transaction_open",
            || async {
                let (store, guard) = support::fresh_database_with(one_connection()).await;
                window(&store, "k", 0).await;
                let mut check = PgConnection::connect(&guard.url()).await.unwrap();
                let mut cut_off = 0;
                for spent in 1..=50 {
                    // Cut at its first wait, wherever that falls: often the BEGIN sent and
                    // its answer not yet read (sqlx counts the transaction open only once it
                    // is), sometimes later, sometimes never (an answer already there).
                    if tokio::time::timeout(Duration::ZERO, used(&store, "k"))
                        .await
                        .is_err()
                    {
                        cut_off += 1;
                    }
                    // The next statement commits on its own, for everyone to see.
                    assert!(store
                        .spend_if_room("k", T0 - time::Duration::hours(1), 100)
                        .await
                        .unwrap());
                    let stored: i64 =
                        sqlx::query_scalar("SELECT used FROM budget_windows WHERE key = 'k'")
                            .fetch_one(&mut check)
                            .await
                            .unwrap();
                    assert_eq!(stored, spent, "after {cut_off} cut off");
                }
                assert!(cut_off > 0, "no use was cut off");
                drop(store);
                drop(guard);
            },
        ),
        async_trial(
            "a_failed_statement_does_not_spoil_the_next_on_its_connection",
            || async {
                // Each statement in a transaction of its own (as behind a transaction pooler):
                // the failed one's transaction must be rolled back before the connection is
                // used again, or every later statement fails in the aborted transaction.
                let (store, guard) = support::fresh_database_with(PoolSettings {
                    statement_cache: false,
                    ..one_connection()
                })
                .await;
                // A session for a user who does not exist: the database refuses it (its
                // foreign key), and the connection goes on.
                let nobody = UserId::from_uuid(uuid::Uuid::from_u128(7));
                let session = SessionPolicy::default().open(
                    SessionId::from_random_bytes([6; 16]),
                    nobody,
                    T0,
                );
                assert!(matches!(
                    store.create_session(&session).await,
                    Err(StorageError::Gone(_))
                ));
                window(&store, "k", 3).await;
                assert_eq!(used(&store, "k").await, Some(3));
                drop(store);
                drop(guard);
            },
        ),
        async_trial(
            "connections_cut_by_the_server_are_all_let_go_when_one_is_found_cut",
            || async {
                // Five connections kept; the server ends all of them (a restart, a failover).
                // The first statement to meet one finds the database unreachable; the other
                // four are let go with it, so once the breaker tries again, service is back
                // (a probe tries three connections at most: kept, they would fail it).
                let (store, guard) = support::fresh_database_with(PoolSettings {
                    max_connections: 5,
                    ..PoolSettings::default()
                })
                .await;
                let store = Arc::new(store);
                let spends: Vec<_> = (0..5)
                    .map(|n| {
                        let store = store.clone();
                        tokio::spawn(async move { window(&store, &format!("k{n}"), 1).await })
                    })
                    .collect();
                for spend in spends {
                    spend.await.unwrap();
                }
                let uses = gptgate_ports::Store::pool_use(store.as_ref());
                let mut admin = PgConnection::connect(&guard.url()).await.unwrap();
                let ended: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .fetch_all(&mut admin)
                .await
                .unwrap();
                assert_eq!(ended.len() as u32, uses[0].open, "every connection ended");
                assert!(uses[0].idle >= 4, "kept: {uses:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                assert!(
                    store
                        .spend_if_room("k0", T0 - time::Duration::hours(1), 100)
                        .await
                        .is_err(),
                    "the first statement meets a cut connection"
                );
                tokio::time::sleep(Duration::from_millis(700)).await;
                assert!(store
                    .spend_if_room("k0", T0 - time::Duration::hours(1), 100)
                    .await
                    .unwrap());
                drop(store);
                drop(guard);
            },
        ),
        async_trial("more_uses_than_connections_wait_their_turn", || async {
            // Statements and transactions together, twenty times the pool's size: each
            // gets a connection in turn (a kept idle one is never out of reach).
            let (store, guard) = support::fresh_database_with(PoolSettings {
                max_connections: 2,
                ..PoolSettings::default()
            })
            .await;
            let store = Arc::new(store);
            let tasks: Vec<_> = (0..40)
                .map(|n| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let key = format!("k{}", n % 4);
                        if n % 2 == 0 {
                            window(&store, &key, 1).await;
                        } else {
                            store
                                .spend_if_room(&key, T0 - time::Duration::hours(1), 1000)
                                .await
                                .unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                tokio::time::timeout(Duration::from_secs(4), task)
                    .await
                    .expect("every use got a connection before the acquire timeout")
                    .unwrap();
            }
            let uses = gptgate_ports::Store::pool_use(store.as_ref());
            assert!(uses[0].open <= 2, "{uses:?}");
            drop(store);
            drop(guard);
        }),
    ]
}
