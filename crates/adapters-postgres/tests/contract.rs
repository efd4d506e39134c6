//! The PostgreSQL store passes the shared storage contract, each test on a fresh database.

mod support;

use gptgate_testkit::storage_contract_tests;

storage_contract_tests!(support::new_store);
