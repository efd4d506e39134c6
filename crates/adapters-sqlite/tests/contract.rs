//! The SQLite store passes the shared storage contract, each test on a fresh database file.

use std::sync::Arc;

use gptgate_adapters_sqlite::SqliteStore;
use gptgate_ports::Store as _;
use gptgate_testkit::{storage_contract_tests, TestStore};

async fn new_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("contract.db").display());
    let store = SqliteStore::connect(&url).await.expect("database opens");
    store.migrate().await.expect("migrations apply");
    TestStore {
        store: Arc::new(store),
        guard: Some(Box::new(dir)),
    }
}

storage_contract_tests!(new_store);
