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
}
