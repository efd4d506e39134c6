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
