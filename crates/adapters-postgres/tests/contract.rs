//! The PostgreSQL store passes the shared storage contract, each check on a fresh database. A
//! runner of its own: without a reachable server the checks are reported as ignored (with
//! `CI=true`, as failed), never run against another store.

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
        let (store, guard) = support::fresh_database().await;
        TestStore::<dyn Store> {
            store: Arc::new(store),
            guard: Some(Box::new(guard)),
        }
    });
    trials.push(async_trial(
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
    ));
    run(
        support::reachable().and_then(|()| support::prepare_template()),
        trials,
    )
}
