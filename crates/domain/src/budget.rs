//! Fixed-window budgets: at most so many uses of something per window (sign-in emails per API
//! key per hour, so a leaked key cannot run up the operator's mail bill).

use time::{Duration, OffsetDateTime};

/// At most `limit` uses per `window`, the window starting at its first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetPolicy {
    pub limit: u32,
    pub window: Duration,
}

/// What is used of one budget in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetWindow {
    pub started_at: OffsetDateTime,
    pub used: u32,
}

impl BudgetPolicy {
    /// Sign-in emails per API key: `limit` an hour.
    pub fn hourly(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::hours(1),
        }
    }

    /// The window after one more use at `now`, or, when the budget is spent, how long until
    /// the window ends. A window that ended before `now` starts afresh.
    pub fn take(
        &self,
        current: Option<&BudgetWindow>,
        now: OffsetDateTime,
    ) -> Result<BudgetWindow, Duration> {
        match current.filter(|w| now < w.started_at + self.window) {
            Some(w) if w.used >= self.limit => Err(w.started_at + self.window - now),
            Some(w) => Ok(BudgetWindow {
                started_at: w.started_at,
                used: w.used + 1,
            }),
            None if self.limit == 0 => Err(self.window),
            None => Ok(BudgetWindow {
                started_at: now,
                used: 1,
            }),
        }
    }

    /// The earliest start, exclusive, of a window that is still current at `now`: a window
    /// that started after it has room for one more use at `now` if it has used fewer than
    /// `limit` (what [`BudgetPolicy::take`] would then do is add that one use).
    pub fn current_after(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.window
    }

    /// The window with one use returned (the thing it paid for did not happen at `now`, the
    /// instant the use was taken), if that window is the one the use was taken from: current
    /// at `now` and started no later than it. A window started after `now` is a later one
    /// (the use's window ended meanwhile, and another call started the next): it is left alone,
    /// or a use of the next window would be given back.
    pub fn give_back(
        &self,
        current: Option<&BudgetWindow>,
        now: OffsetDateTime,
    ) -> Option<BudgetWindow> {
        current
            .filter(|w| w.started_at <= now && now < w.started_at + self.window && w.used > 0)
            .map(|w| BudgetWindow {
                started_at: w.started_at,
                used: w.used - 1,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn spend(policy: &BudgetPolicy, times: u32) -> BudgetWindow {
        let mut window = None;
        for _ in 0..times {
            window = Some(policy.take(window.as_ref(), T0).unwrap());
        }
        window.unwrap()
    }

    #[test]
    fn a_window_is_current_if_it_started_after_current_after() {
        let policy = BudgetPolicy::hourly(2);
        let now = T0 + Duration::hours(3);
        let since = policy.current_after(now);
        let window = |started_at| BudgetWindow {
            started_at,
            used: 1,
        };
        // Started just after: current (one more use counted in it); started at it: over.
        let just_after = since + Duration::nanoseconds(1);
        assert_eq!(
            policy.take(Some(&window(just_after)), now),
            Ok(BudgetWindow {
                started_at: just_after,
                used: 2
            })
        );
        assert_eq!(
            policy.take(Some(&window(since)), now),
            Ok(BudgetWindow {
                started_at: now,
                used: 1
            })
        );
    }

    #[test]
    fn the_last_use_of_the_window_is_allowed_and_one_more_is_refused() {
        let policy = BudgetPolicy::hourly(500);
        let full = spend(&policy, 500);
        assert_eq!(
            full,
            BudgetWindow {
                started_at: T0,
                used: 500
            }
        );
        let later = T0 + Duration::minutes(20);
        assert_eq!(policy.take(Some(&full), later), Err(Duration::minutes(40)));
    }

    #[test]
    fn a_new_window_starts_when_the_old_one_ends() {
        let policy = BudgetPolicy::hourly(2);
        let full = spend(&policy, 2);
        let just_before = T0 + Duration::hours(1) - Duration::seconds(1);
        assert_eq!(
            policy.take(Some(&full), just_before),
            Err(Duration::seconds(1))
        );
        let at_end = T0 + Duration::hours(1);
        assert_eq!(
            policy.take(Some(&full), at_end),
            Ok(BudgetWindow {
                started_at: at_end,
                used: 1
            })
        );
    }

    #[test]
    fn a_use_given_back_can_be_taken_again() {
        let policy = BudgetPolicy::hourly(1);
        let full = spend(&policy, 1);
        let back = policy.give_back(Some(&full), T0).unwrap();
        assert_eq!(back.used, 0);
        assert!(policy.take(Some(&back), T0).is_ok());
        assert_eq!(policy.give_back(None, T0), None);
        assert_eq!(
            policy.give_back(Some(&full), T0 + Duration::hours(1)),
            None,
            "a past window is left alone"
        );
        assert_eq!(policy.give_back(Some(&back), T0), None, "never below zero");
    }

    #[test]
    fn a_use_is_given_back_only_to_the_window_it_was_taken_from() {
        let policy = BudgetPolicy::hourly(5);
        // Taken at the window's last nanosecond; meanwhile another call started the next.
        let last = T0 + Duration::hours(1) - Duration::nanoseconds(1);
        let next = policy
            .take(Some(&spend(&policy, 3)), T0 + Duration::hours(1))
            .unwrap();
        assert_eq!(next.started_at, T0 + Duration::hours(1));
        assert_eq!(policy.give_back(Some(&next), last), None, "a later window");
        // Taken at the instant the window started: given back to it.
        assert_eq!(
            policy.give_back(Some(&next), next.started_at),
            Some(BudgetWindow {
                started_at: next.started_at,
                used: 0
            })
        );
    }

    #[test]
    fn a_zero_budget_refuses_everything() {
        let policy = BudgetPolicy::hourly(0);
        assert_eq!(policy.take(None, T0), Err(Duration::hours(1)));
    }
}
