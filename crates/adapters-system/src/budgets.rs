//! Budgets kept in this process's memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use gptgate_domain::BudgetWindow;
use gptgate_ports::limits::{BucketChange, BudgetChange};
use gptgate_ports::{BucketRepository, BudgetRepository, StorageError};
use time::OffsetDateTime;

/// [`BudgetRepository`] in memory: each instance of the server counts on its own, and a restart
/// starts every window afresh. Enough to stop a leaked API key from running up the mail bill
/// by more than one window's budget per instance. Bounded: past [`Self::SWEEP_AT`] keys, windows
/// that started more than a day before the newest are dropped (every budget's window is an
/// hour or less).
#[derive(Default)]
pub struct InProcessBudgets {
    windows: Mutex<HashMap<String, BudgetWindow>>,
}

impl InProcessBudgets {
    /// How many keys are kept before old windows are swept out.
    pub const SWEEP_AT: usize = 10_000;

    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys are held now.
    pub fn len(&self) -> usize {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
            if windows.len() >= Self::SWEEP_AT && !windows.contains_key(key) {
                let horizon = next.started_at - time::Duration::days(1);
                windows.retain(|_, w| w.started_at >= horizon);
            }
            windows.insert(key.to_owned(), next);
        }
        Ok(())
    }
}

/// [`BucketRepository`] in memory, for one instance (SQLite): a restart fills every bucket.
/// Bounded: past [`InProcessBudgets::SWEEP_AT`] keys, buckets full by `clock`'s now are dropped
/// (a bucket without an instant is full), at most once a second.
pub struct InProcessBuckets {
    full_at: Mutex<HashMap<String, OffsetDateTime>>,
    clock: std::sync::Arc<dyn gptgate_ports::Clock>,
    /// The second (Unix time) of the last sweep.
    swept_at: std::sync::atomic::AtomicI64,
}

impl InProcessBuckets {
    pub fn new(clock: std::sync::Arc<dyn gptgate_ports::Clock>) -> Self {
        Self {
            full_at: Mutex::default(),
            clock,
            swept_at: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// How many buckets are held now.
    pub fn len(&self) -> usize {
        self.full_at.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl BucketRepository for InProcessBuckets {
    async fn update_bucket(
        &self,
        key: &str,
        change: &mut BucketChange<'_>,
    ) -> Result<(), StorageError> {
        let mut buckets = self.full_at.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(next) = change(buckets.get(key).copied()) {
            let now = self.clock.now();
            let second = now.unix_timestamp();
            // At most once a second: a sweep walks every bucket under the lock.
            if buckets.len() >= InProcessBudgets::SWEEP_AT
                && !buckets.contains_key(key)
                && self
                    .swept_at
                    .swap(second, std::sync::atomic::Ordering::Relaxed)
                    != second
            {
                buckets.retain(|_, full_at| *full_at > now);
            }
            buckets.insert(key.to_owned(), next);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn old_windows_are_swept_out_once_there_are_many_keys() {
        use time::macros::datetime;
        let budgets = InProcessBudgets::new();
        let put = |key: String, at: time::OffsetDateTime| {
            let budgets = &budgets;
            async move {
                budgets
                    .update_budget(&key, &mut |_| {
                        Some(BudgetWindow {
                            started_at: at,
                            used: 1,
                        })
                    })
                    .await
                    .unwrap()
            }
        };
        let old = datetime!(2026-11-25 09:00 UTC);
        let recent = datetime!(2026-11-26 10:00 UTC);
        let now = datetime!(2026-11-27 09:00 UTC);
        for i in 0..InProcessBudgets::SWEEP_AT / 2 {
            put(format!("old-{i}"), old).await;
        }
        for i in 0..InProcessBudgets::SWEEP_AT / 2 {
            put(format!("recent-{i}"), recent).await;
        }
        assert_eq!(budgets.len(), InProcessBudgets::SWEEP_AT);
        put("new".to_owned(), now).await;
        assert_eq!(
            budgets.len(),
            InProcessBudgets::SWEEP_AT / 2 + 1,
            "windows older than a day before the newest are gone, recent ones kept"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn in_process_buckets_pass_the_bucket_contract() {
        gptgate_testkit::contracts::buckets_never_overspend_and_keys_are_separate(Arc::new(
            InProcessBuckets::new(Arc::new(gptgate_testkit::FakeClock::new())),
        ))
        .await;
    }

    #[tokio::test]
    async fn full_buckets_are_swept_out_once_there_are_many_keys() {
        let clock = gptgate_testkit::FakeClock::new();
        let buckets = InProcessBuckets::new(Arc::new(clock.clone()));
        let now = gptgate_ports::Clock::now(&clock);
        for i in 0..InProcessBudgets::SWEEP_AT {
            let full_at = if i % 2 == 0 {
                now - time::Duration::hours(1)
            } else {
                now + time::Duration::hours(1)
            };
            buckets
                .update_bucket(&format!("k{i}"), &mut |_| Some(full_at))
                .await
                .unwrap();
        }
        assert_eq!(buckets.len(), InProcessBudgets::SWEEP_AT);
        buckets
            .update_bucket("new", &mut |_| Some(now))
            .await
            .unwrap();
        assert_eq!(
            buckets.len(),
            InProcessBudgets::SWEEP_AT / 2 + 1,
            "full buckets are gone, filling ones kept"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn in_process_budgets_pass_the_budget_contract() {
        gptgate_testkit::contracts::budgets_never_overspend_and_keys_are_separate(Arc::new(
            InProcessBudgets::new(),
        ))
        .await;
    }
}
