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
    a_window_with_room_is_spent_in_one_statement_and_no_further(budgets).await;
}

/// What [`BudgetRepository::spend_if_room`] does at its edges, and under 40 concurrent calls.
async fn a_window_with_room_is_spent_in_one_statement_and_no_further(
    budgets: Arc<dyn BudgetRepository>,
) {
    let peek = |key: &'static str| {
        let budgets = budgets.clone();
        async move {
            let mut seen = None;
            budgets
                .update_budget(key, &mut |w| {
                    seen = w.copied();
                    None
                })
                .await
                .unwrap();
            seen
        }
    };
    let hour_before = T0 - time::Duration::hours(1);
    let just_before = T0 - time::Duration::microseconds(1);
    // No window: nothing spent, nothing made.
    assert!(!budgets
        .spend_if_room("key-c", hour_before, 3)
        .await
        .unwrap());
    assert_eq!(peek("key-c").await, None);
    let policy = BudgetPolicy::hourly(3);
    budgets
        .update_budget("key-c", &mut |w| policy.take(w, T0).ok())
        .await
        .unwrap();
    // A window that started after the given instant, with room; at it, not current.
    assert!(budgets
        .spend_if_room("key-c", just_before, 3)
        .await
        .unwrap());
    assert!(!budgets.spend_if_room("key-c", T0, 3).await.unwrap());
    // The last use below the limit, then none.
    assert!(budgets
        .spend_if_room("key-c", just_before, 3)
        .await
        .unwrap());
    assert!(!budgets
        .spend_if_room("key-c", just_before, 3)
        .await
        .unwrap());
    assert_eq!(
        peek("key-c").await,
        Some(BudgetWindow {
            started_at: T0,
            used: 3
        })
    );
    // 40 at once with 10 uses left: 10 spent.
    budgets
        .update_budget("key-d", &mut |w| policy.take(w, T0).ok())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let budgets = budgets.clone();
            tokio::spawn(async move { budgets.spend_if_room("key-d", hour_before, 11).await })
        })
        .collect();
    let mut spent = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            spent += 1;
        }
    }
    assert_eq!(spent, 10);
    assert_eq!(peek("key-d").await.map(|w| w.used), Some(11));
}

/// The same on a whole store: its budgets are kept where every instance on it counts together.
pub async fn a_stores_budgets_never_overspend(store: Arc<dyn crate::Store>) {
    budgets_never_overspend_and_keys_are_separate(store).await;
}
