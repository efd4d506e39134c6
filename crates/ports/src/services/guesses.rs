//! Limits on guessing a password (the admin console's, the chat's team password): each try
//! spends a guess from everywhere first, then from the client's address (an IPv6 /64 counts as
//! one); a right password gives both back, so only wrong ones count.

use std::sync::Arc;

use gptgate_domain::BudgetPolicy;
use time::{Duration, OffsetDateTime};

use crate::{BudgetRepository, StorageError};

/// The budgets of one sign-in's guesses.
pub(crate) struct Guesses {
    budgets: Arc<dyn BudgetRepository>,
    /// `admin-login`, `chat-login`...: the budgets' key prefix.
    name: &'static str,
    per_address: BudgetPolicy,
    overall: BudgetPolicy,
}

/// Guesses spent by one try, to give back when it was right.
pub(crate) struct Spent {
    keys: [(String, BudgetPolicy); 2],
}

impl Guesses {
    pub(crate) fn new(
        budgets: Arc<dyn BudgetRepository>,
        name: &'static str,
        per_address: BudgetPolicy,
        overall: BudgetPolicy,
    ) -> Self {
        Self {
            budgets,
            name,
            per_address,
            overall,
        }
    }

    /// Spends a guess from everywhere and then from `address` at `now`; how long to wait when
    /// either is spent (nothing is kept spent then). Everywhere first: once it is spent, no
    /// address's budget is even looked at (no new key per address an attacker makes up).
    pub(crate) async fn spend(
        &self,
        address: &str,
        now: OffsetDateTime,
    ) -> Result<Result<Spent, Duration>, StorageError> {
        let keys = [
            (format!("{}:all", self.name), self.overall),
            (
                format!(
                    "{}:address:{}",
                    self.name,
                    gptgate_domain::guess_bucket(address)
                ),
                self.per_address,
            ),
        ];
        for (i, (key, policy)) in keys.iter().enumerate() {
            if let Err(retry_after) = take(self.budgets.as_ref(), key, *policy, now).await? {
                for (taken, policy) in &keys[..i] {
                    give_back(self.budgets.as_ref(), taken, *policy, now).await?;
                }
                tracing::warn!(
                    limit = self.name,
                    everywhere = i == 0,
                    "sign-in refused: too many wrong passwords"
                );
                return Ok(Err(retry_after));
            }
        }
        Ok(Ok(Spent { keys }))
    }

    /// Gives back what a right password spent.
    pub(crate) async fn give_back(
        &self,
        spent: Spent,
        now: OffsetDateTime,
    ) -> Result<(), StorageError> {
        for (key, policy) in &spent.keys {
            give_back(self.budgets.as_ref(), key, *policy, now).await?;
        }
        Ok(())
    }
}

/// One use of budget `key` at `now`, or how long until it has room again.
pub(crate) async fn take(
    budgets: &dyn BudgetRepository,
    key: &str,
    policy: BudgetPolicy,
    now: OffsetDateTime,
) -> Result<Result<(), Duration>, StorageError> {
    let mut outcome = Ok(());
    budgets
        .update_budget(key, &mut |window| match policy.take(window, now) {
            Ok(next) => {
                outcome = Ok(());
                Some(next)
            }
            Err(retry_after) => {
                outcome = Err(retry_after);
                None
            }
        })
        .await?;
    Ok(outcome)
}

/// Returns one use of budget `key`.
pub(crate) async fn give_back(
    budgets: &dyn BudgetRepository,
    key: &str,
    policy: BudgetPolicy,
    now: OffsetDateTime,
) -> Result<(), StorageError> {
    budgets
        .update_budget(key, &mut |window| policy.give_back(window, now))
        .await
}
