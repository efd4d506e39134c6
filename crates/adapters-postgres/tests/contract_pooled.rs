//! The PostgreSQL store behind PgBouncer in transaction mode (which keeps no prepared statement:
//! Debian's 1.18), with `DATABASE_STATEMENT_CACHE=off`: the whole storage contract, migrations
//! through the pooler, and many connections sharing few server sessions. Without a reachable
//! pooler the checks are reported as ignored (with `CI=true`, as failed).

#[allow(
    dead_code,
    reason = "shared by the direct and the pooled runners, each using its part"
)]
mod support;

use std::process::ExitCode;
use std::sync::Arc;

use gptgate_ports::Store;
use gptgate_testkit::contracts::storage_contract_checks;
use gptgate_testkit::harness::{async_trial, contract_trials, run};
use gptgate_testkit::TestStore;

fn main() -> ExitCode {
    let mut trials = contract_trials(storage_contract_checks(), || async {
        let (store, guard) = support::fresh_pooled_database(false).await;
        TestStore::<dyn Store> {
            store: Arc::new(store),
            guard: Some(Box::new(guard)),
        }
    });
    trials.push(async_trial(
        "migrations_apply_through_the_pooler_and_again_as_a_no_op",
        || async {
            let (store, guard) = support::empty_pooled_database().await;
            store.migrate().await.expect("migrations apply");
            store
                .migrate()
                .await
                .expect("applied migrations are skipped");
            store.ping().await.expect("the store answers");
            drop(guard);
        },
    ));
    trials.push(async_trial(
        "a_failed_migration_through_the_pooler_leaves_no_lock_or_statement_behind",
        || async {
            use sqlx::Connection;
            let (store, guard) = support::empty_pooled_database().await;
            // A table in the way of the first migration.
            let mut direct = sqlx::PgConnection::connect(&guard.url()).await.unwrap();
            sqlx::raw_sql("CREATE TABLE users (in_the_way int)")
                .execute(&mut direct)
                .await
                .unwrap();
            store
                .migrate()
                .await
                .expect_err("the first migration fails");
            sqlx::raw_sql("DROP TABLE users")
                .execute(&mut direct)
                .await
                .unwrap();
            // Again, through the same four server sessions: a lock left behind would make this
            // wait forever, a statement left behind would be "already exists".
            for _ in 0..3 {
                tokio::time::timeout(std::time::Duration::from_secs(30), store.migrate())
                    .await
                    .expect("no lock left behind")
                    .expect("migrations apply");
            }
            store.ping().await.expect("the store answers");
            drop(guard);
        },
    ));
    trials.push(async_trial(
        "forty_callers_on_ten_connections_share_four_server_sessions_without_a_statement_error",
        || async {
            let (store, guard) = support::fresh_pooled_database(false).await;
            assert_eq!(
                concurrent_errors(Arc::new(store)).await,
                Vec::<String>::new()
            );
            drop(guard);
        },
    ));
    trials.push(async_trial(
        "with_the_statement_cache_on_the_same_load_fails_behind_this_pooler",
        || async {
            // What the setting is for: sqlx's named, cached statements meet other clients'
            // (or none) on the server sessions the pooler hands out.
            let (store, guard) = support::fresh_pooled_database(true).await;
            let errors = concurrent_errors(Arc::new(store)).await;
            assert!(
                errors.iter().any(|e| e.contains("prepared statement")),
                "{errors:?}"
            );
            drop(guard);
        },
    ));
    run(
        support::pooler_reachable().and_then(|()| support::prepare_template()),
        trials,
    )
}

/// 40 callers reading a user 25 times each at once; the errors they saw.
async fn concurrent_errors(store: Arc<dyn Store>) -> Vec<String> {
    let tasks: Vec<_> = (0..40u8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut errors = Vec::new();
                for _ in 0..25 {
                    let id = gptgate_domain::UserId::from_random_bytes([n; 16]);
                    if let Err(e) = store.find_user(id).await {
                        errors.push(format!("{e:?}"));
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors = Vec::new();
    for task in tasks {
        errors.extend(task.await.unwrap());
    }
    errors.sort();
    errors.dedup();
    errors
}
