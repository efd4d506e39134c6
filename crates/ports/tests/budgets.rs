//! The budget port's default `spend_if_room` (through `update_budget`) on the fakes: the
//! storage contract's budget check, run here so that this crate's own tests pin it.

use std::sync::Arc;

use gptgate_testkit::InMemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_spend_if_room_keeps_the_budget_contract() {
    gptgate_testkit::contracts::budgets_never_overspend_and_keys_are_separate(Arc::new(
        InMemoryStore::new(),
    ))
    .await;
}
