//! The in-memory store passes the same contract suites as the SQL stores.

use std::sync::Arc;

use gptgate_testkit::{storage_contract_tests, InMemoryStore, TestStore};

async fn new_store() -> TestStore {
    TestStore {
        store: Arc::new(InMemoryStore::new()),
        guard: None,
    }
}

storage_contract_tests!(new_store);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_in_memory_store_keeps_budgets_like_any_budget_store() {
    gptgate_testkit::contracts::budgets_never_overspend_and_keys_are_separate(Arc::new(
        InMemoryStore::new(),
    ))
    .await;
}
