//! The in-memory store passes the same contract suites as the SQL stores (and the budget
//! contract, which it implements too).

use std::process::ExitCode;
use std::sync::Arc;

use gptgate_testkit::contracts::storage_contract_checks;
use gptgate_testkit::harness::{async_trial, contract_trials, run_trials};
use gptgate_testkit::{InMemoryStore, Store, TestStore};

fn main() -> ExitCode {
    let mut trials = contract_trials(storage_contract_checks(), || async {
        TestStore::<dyn Store> {
            store: Arc::new(InMemoryStore::new()),
            guard: None,
        }
    });
    trials.push(async_trial(
        "the_in_memory_store_keeps_budgets_like_any_budget_store",
        || async {
            gptgate_testkit::contracts::budgets_never_overspend_and_keys_are_separate(Arc::new(
                InMemoryStore::new(),
            ))
            .await;
        },
    ));
    run_trials(trials)
}
