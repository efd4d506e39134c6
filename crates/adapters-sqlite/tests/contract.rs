//! The SQLite store passes the shared storage contract, each check on a fresh database file.

use std::process::ExitCode;
use std::sync::Arc;

use gptgate_adapters_sqlite::SqliteStore;
use gptgate_ports::Store as _;
use gptgate_testkit::contracts::storage_contract_checks;
use gptgate_testkit::harness::{contract_trials, run_trials};
use gptgate_testkit::TestStore;

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

fn main() -> ExitCode {
    run_trials(contract_trials(storage_contract_checks(), new_store))
}
