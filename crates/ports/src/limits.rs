//! Usage budgets: how much of a fixed-window budget each key has used.

use async_trait::async_trait;
use gptgate_domain::BudgetWindow;

use crate::StorageError;

/// A decision about a budget: given its current window (if any), the window to store instead
/// (`None` leaves it as it is).
pub type BudgetChange<'a> = dyn FnMut(Option<&BudgetWindow>) -> Option<BudgetWindow> + Send + 'a;

/// Keeps the current window of each budget (one per API key for sign-in emails).
#[async_trait]
pub trait BudgetRepository: Send + Sync {
    /// Atomically reads the window of `key`, calls `change` once with it, and stores what
    /// `change` returns. No other update of the same key may interleave between the read and
    /// the write, so concurrent takes never overspend. If this returns an error, nothing was
    /// stored.
    async fn update_budget(
        &self,
        key: &str,
        change: &mut BudgetChange<'_>,
    ) -> Result<(), StorageError>;

    /// Adds one use to the window of `key` if it started after `started_after` and has used
    /// fewer than `limit`; returns whether it did. The common case of a budget spent in one
    /// statement (no row lock held across round trips); anything else (no window, one that
    /// ended, one spent) is for [`BudgetRepository::update_budget`]. Atomic like it.
    async fn spend_if_room(
        &self,
        key: &str,
        started_after: time::OffsetDateTime,
        limit: u32,
    ) -> Result<bool, StorageError> {
        let mut spent = false;
        self.update_budget(key, &mut |window| {
            spent = false;
            window
                .filter(|w| w.started_at > started_after && w.used < limit)
                .map(|w| {
                    spent = true;
                    BudgetWindow {
                        started_at: w.started_at,
                        used: w.used + 1,
                    }
                })
        })
        .await?;
        Ok(spent)
    }
}

/// A decision about a token bucket: given the instant it is full again (if any is kept), the
/// instant to store instead (`None` leaves it as it is).
pub type BucketChange<'a> =
    dyn FnMut(Option<time::OffsetDateTime>) -> Option<time::OffsetDateTime> + Send + 'a;

/// Keeps the token buckets of the rate limits (calls per API key, per user, page views per
/// address), each as the instant it is full again ([`gptgate_domain::TokenBucket`]).
#[async_trait]
pub trait BucketRepository: Send + Sync {
    /// Atomically reads the instant of `key`, calls `change` once with it, and stores what
    /// `change` returns. No other update of the same key may interleave between the read and
    /// the write, so concurrent takes never overspend. If this returns an error, nothing was
    /// stored. An instant in the past may be dropped at any time (the bucket is full then).
    async fn update_bucket(
        &self,
        key: &str,
        change: &mut BucketChange<'_>,
    ) -> Result<(), StorageError>;
}
