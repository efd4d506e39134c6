//! Budgets kept in this process's memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use gptgate_domain::BudgetWindow;
use gptgate_ports::limits::BudgetChange;
use gptgate_ports::{BudgetRepository, StorageError};

/// [`BudgetRepository`] in memory: each instance of the server counts on its own, and a restart
/// starts every window afresh. Enough to stop a leaked API key from running up the mail bill
/// by more than one window's budget per instance.
#[derive(Default)]
pub struct InProcessBudgets {
    windows: Mutex<HashMap<String, BudgetWindow>>,
}

impl InProcessBudgets {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl BudgetRepository for InProcessBudgets {
    async fn update_budget(
        &self,
        key: &str,
        change: &mut BudgetChange<'_>,
    ) -> Result<(), StorageError> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(next) = change(windows.get(key)) {
            windows.insert(key.to_owned(), next);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn in_process_budgets_pass_the_budget_contract() {
        gptgate_testkit::contracts::budgets_never_overspend_and_keys_are_separate(Arc::new(
            InProcessBudgets::new(),
        ))
        .await;
    }
}
