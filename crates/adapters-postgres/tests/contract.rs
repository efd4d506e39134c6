//! The PostgreSQL store passes the shared storage contract, each check on a fresh database. A
//! runner of its own: without a reachable server the checks are reported as ignored (with
//! `CI=true`, as failed), never run against another store.

mod support;

use std::process::ExitCode;
use std::sync::Arc;

use gptgate_ports::Store as _;
use gptgate_testkit::contracts::storage_contract_checks;
use gptgate_testkit::harness::{async_trial, run};

fn main() -> ExitCode {
    let trials = storage_contract_checks()
        .into_iter()
        .map(|(name, check)| {
            async_trial(name, move || async move {
                let (store, guard) = support::fresh_database().await;
                check(Arc::new(store)).await;
                drop(guard);
            })
        })
        .chain([async_trial(
            "migrations_apply_to_an_empty_database_and_again_as_a_no_op",
            || async {
                let (store, guard) = support::empty_database().await;
                store.migrate().await.expect("migrations apply");
                store
                    .migrate()
                    .await
                    .expect("applied migrations are skipped");
                store.ping().await.expect("the store answers");
                drop(guard);
            },
        )])
        .collect();
    run(
        support::reachable().and_then(|()| support::prepare_template()),
        trials,
    )
}
