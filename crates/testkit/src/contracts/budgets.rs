use std::sync::Arc;

use gptgate_domain::{BudgetPolicy, BudgetWindow};
use gptgate_ports::BudgetRepository;

use super::fixtures::T0;

/// 40 concurrent takes from a budget of 25 get 25; another key's budget is untouched; a
/// change that returns nothing leaves the window as it is.
pub async fn budgets_never_overspend_and_keys_are_separate(budgets: Arc<dyn BudgetRepository>) {
    let policy = BudgetPolicy::hourly(25);
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let budgets = budgets.clone();
            tokio::spawn(async move {
                let mut taken = false;
                budgets
                    .update_budget("key-a", &mut |w| {
                        let next = policy.take(w, T0).ok();
                        taken = next.is_some();
                        next
                    })
                    .await
                    .map(|()| taken)
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            granted += 1;
        }
    }
    assert_eq!(granted, 25);

    let mut seen = None;
    budgets
        .update_budget("key-b", &mut |w| {
            seen = Some(w.copied());
            None
        })
        .await
        .unwrap();
    assert_eq!(seen, Some(None), "another key starts empty");
    budgets
        .update_budget("key-a", &mut |w| {
            seen = Some(w.copied());
            None
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        Some(Some(BudgetWindow {
            started_at: T0,
            used: 25
        })),
        "and returning nothing kept key-a's window"
    );
}

/// The same on a whole store: its budgets are kept where every instance on it counts together.
pub async fn a_stores_budgets_never_overspend(store: Arc<dyn crate::Store>) {
    budgets_never_overspend_and_keys_are_separate(store).await;
}
