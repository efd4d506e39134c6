//! The notebook store passes the testkit's contract checks for the ports it implements.

use std::process::ExitCode;
use std::sync::Arc;

use gptgate_example_embed::NotebookStore;
use gptgate_testkit::contracts::{
    code_checks, conversation_checks, session_checks, sign_in_checks, user_checks,
};
use gptgate_testkit::harness::{contract_trials, run_trials};
use gptgate_testkit::TestStore;

fn main() -> ExitCode {
    let mut checks = code_checks::<NotebookStore>();
    checks.extend(user_checks());
    checks.extend(session_checks());
    checks.extend(conversation_checks());
    checks.extend(sign_in_checks());
    run_trials(contract_trials(checks, || async {
        TestStore {
            store: Arc::new(NotebookStore::new()),
            guard: None,
        }
    }))
}
