//! Rate limits: token buckets on the GPT API's calls (per API key, per user) and on the
//! human-facing pages (per client address), shared by every instance on one store.
//!
//! A busy bucket must not cost a write to the store per call, so each instance leases tokens:
//! it takes several from the shared bucket at once and spends them from memory for at most
//! [`LEASE_LIFETIME`]. A quiet bucket leases one token at a time (its calls are exact); each
//! lease spent before it expires doubles the next, up to [`RateLimits::lease_size`]. One call
//! of an instance at a time takes a bucket's next lease; its other calls of that moment wait
//! for it and then spend from it (were they to go to the store too, each would queue on the
//! bucket's row, and a busy bucket would cost a write per call again). Tokens leased are gone
//! from the shared bucket, so instances together never spend more than the bucket holds; a
//! lease that expires unused is lost (an instance holds at most one lease per bucket, for a
//! second). A refusal is remembered until a token is due, so a flood of refused calls never
//! reaches the store either.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use gptgate_domain::TokenBucket;
use time::{Duration, OffsetDateTime};

use crate::{BucketRepository, Clock, StorageError};

/// How long leased tokens may be spent.
pub const LEASE_LIFETIME: Duration = Duration::seconds(1);

/// Past this many buckets of one limit held in memory, expired leases and refusals are swept
/// out (at most once a second).
pub const MEMORY_SWEEP_AT: usize = 10_000;

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Calls per API key (or per OAuth client, for calls with an access token).
    ApiKey,
    /// Calls per user.
    User,
    /// Page views per client address.
    Address,
}

impl Limit {
    /// The limit's name in keys, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Limit::ApiKey => "api_key",
            Limit::User => "user",
            Limit::Address => "address",
        }
    }
}

/// The buckets of each limit; `None` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub per_api_key: Option<TokenBucket>,
    pub per_user: Option<TokenBucket>,
    pub per_address: Option<TokenBucket>,
}

impl RateLimitSettings {
    /// The documented defaults: 6,000 calls a minute per API key (burst 600), 120 a minute per
    /// user (burst 60), 120 page views a minute per address (burst 60).
    pub fn defaults() -> Self {
        let bucket = |per_minute, burst| TokenBucket::per_minute(per_minute, burst).ok();
        Self {
            per_api_key: bucket(6_000, 600),
            per_user: bucket(120, 60),
            per_address: bucket(120, 60),
        }
    }

    /// Every limit off.
    pub fn off() -> Self {
        Self {
            per_api_key: None,
            per_user: None,
            per_address: None,
        }
    }

    fn bucket(&self, limit: Limit) -> Option<TokenBucket> {
        match limit {
            Limit::ApiKey => self.per_api_key,
            Limit::User => self.per_user,
            Limit::Address => self.per_address,
        }
    }
}

/// Why a call was not let through.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("rate limit {} reached", limit.name())]
    TooMany { limit: Limit, retry_after: Duration },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A lease being taken: resolved when the call taking it is done (or was dropped).
type InFlight = Shared<oneshot::Receiver<()>>;

/// What this instance holds of one bucket.
enum Held {
    /// Tokens leased (`size` of them) and not spent yet (`left`), spendable until `until`;
    /// `leasing`: the next lease, while a call of this instance takes it (the others wait).
    Tokens {
        left: u32,
        size: u32,
        until: OffsetDateTime,
        leasing: Option<InFlight>,
    },
    /// The bucket was empty: refused until `until`.
    Refused { until: OffsetDateTime },
}

impl Held {
    /// Whether it still says something at `now` (else a sweep may drop it).
    fn live(&self, now: OffsetDateTime) -> bool {
        match self {
            Held::Tokens { until, leasing, .. } => *until > now || leasing.is_some(),
            Held::Refused { until } => *until > now,
        }
    }
}

/// The lease a call is taking. However the call ends (its answer stored, the store failing,
/// the call dropped when its client went away), dropping this clears the bucket's `leasing`
/// if it is still this lease, then wakes the calls waiting for it: one of them takes the next
/// lease, and no entry is left "in flight" for ever (a sweep could not drop it).
struct Leasing<'a> {
    limits: &'a RateLimits,
    limit: Limit,
    subject: &'a str,
    in_flight: InFlight,
    done: Option<oneshot::Sender<()>>,
}

impl Drop for Leasing<'_> {
    fn drop(&mut self) {
        let mut held = self.limits.held(self.limit);
        if let Some(Held::Tokens { leasing, .. }) = held.get_mut(self.subject) {
            if leasing.as_ref().is_some_and(|l| l.ptr_eq(&self.in_flight)) {
                *leasing = None;
            }
        }
        drop(held);
        drop(self.done.take());
    }
}

/// The rate limits.
pub struct RateLimits {
    buckets: Arc<dyn BucketRepository>,
    clock: Arc<dyn Clock>,
    settings: RateLimitSettings,
    /// What this instance holds of each limit's buckets, by subject (one map per limit).
    held: [Mutex<HashMap<String, Held>>; 3],
    /// The second (Unix time) of the last sweep of each of `held`.
    swept_at: [AtomicI64; 3],
}

impl RateLimits {
    pub fn new(
        buckets: Arc<dyn BucketRepository>,
        clock: Arc<dyn Clock>,
        settings: RateLimitSettings,
    ) -> Self {
        Self {
            buckets,
            clock,
            settings,
            held: Default::default(),
            swept_at: [const { AtomicI64::new(i64::MIN) }; 3],
        }
    }

    /// What this instance holds of `limit`'s buckets.
    fn held(&self, limit: Limit) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held[limit as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// How many buckets of `limit` this instance holds in memory now.
    pub fn remembered(&self, limit: Limit) -> usize {
        self.held(limit).len()
    }

    /// How many calls of this instance wait for the lease another of its calls is taking from
    /// `subject`'s bucket of `limit` (each spends from it, or leases after it).
    pub fn waiting_for_lease(&self, limit: Limit, subject: &str) -> usize {
        match self.held(limit).get(subject) {
            // Besides the waiters, the bucket's entry and the call taking it hold the lease.
            Some(Held::Tokens {
                leasing: Some(in_flight),
                ..
            }) => in_flight.strong_count().unwrap_or(0).saturating_sub(2),
            _ => 0,
        }
    }

    /// The most tokens an instance leases at once from a bucket: a tenth of its burst, between
    /// 1 and 100.
    pub fn lease_size(bucket: &TokenBucket) -> u32 {
        (bucket.burst() / 10).clamp(1, 100)
    }

    /// Spends one token of `limit`'s bucket for `subject` (an API key's public id, a user id,
    /// a client address: an IPv6 address counts as its /64, an IPv4-mapped one as the IPv4
    /// address, so a client holding a /64 gets one bucket, not one per address), or says how
    /// long to wait. A limit that is off lets everything through.
    pub async fn admit(&self, limit: Limit, subject: &str) -> Result<(), RateLimitError> {
        let Some(bucket) = self.settings.bucket(limit) else {
            return Ok(());
        };
        let grouped = group(limit, subject);
        let subject = grouped.as_deref().unwrap_or(subject);
        loop {
            let now = self.clock.now();
            // Memory first, by the subject alone (no key to build on the common path).
            match self.recall(limit, subject, now) {
                Memory::Answer(answer) => {
                    return answer
                        .map_err(|retry_after| RateLimitError::TooMany { limit, retry_after })
                }
                // Another call is taking the next lease: spend from it, or lease after it.
                Memory::Wait(lease) => {
                    let _ = lease.await;
                }
                Memory::Lease(size, done, in_flight) => {
                    let leasing = Leasing {
                        limits: self,
                        limit,
                        subject,
                        in_flight,
                        done: Some(done),
                    };
                    let size = size.min(Self::lease_size(&bucket));
                    return self.lease(leasing, bucket, size, now).await;
                }
            }
        }
    }

    /// Takes a lease of `size` tokens from the store and spends one of them; the calls waiting
    /// for it are told when `leasing` is dropped (here, or with this call if it is dropped).
    async fn lease(
        &self,
        leasing: Leasing<'_>,
        bucket: TokenBucket,
        size: u32,
        now: OffsetDateTime,
    ) -> Result<(), RateLimitError> {
        let (limit, subject) = (leasing.limit, leasing.subject);
        let key = format!("{}:{subject}", limit.name());
        let mut outcome = Err(Duration::ZERO);
        self.buckets
            .update_bucket(&key, &mut |full_at| match bucket.take(full_at, size, now) {
                Ok(taken) => {
                    outcome = Ok(taken.granted);
                    Some(taken.full_at)
                }
                Err(wait) => {
                    outcome = Err(wait);
                    bucket.settle(full_at, now)
                }
            })
            .await?;
        let mut held = self.held(limit);
        // At most once a second: a sweep walks every entry under the lock.
        let second = now.unix_timestamp();
        if held.len() > MEMORY_SWEEP_AT
            && self.swept_at[limit as usize].swap(second, Ordering::Relaxed) != second
        {
            held.retain(|_, h| h.live(now));
        }
        let answer = match outcome {
            Ok(granted) => {
                held.insert(
                    subject.to_owned(),
                    Held::Tokens {
                        left: granted - 1,
                        size: granted,
                        until: now + LEASE_LIFETIME,
                        leasing: None,
                    },
                );
                Ok(())
            }
            Err(retry_after) => {
                held.insert(
                    subject.to_owned(),
                    Held::Refused {
                        until: now + retry_after,
                    },
                );
                tracing::warn!(
                    limit = limit.name(),
                    subject,
                    retry_after_ms = retry_after.whole_milliseconds() as i64,
                    "rate limit reached: calls refused"
                );
                Err(RateLimitError::TooMany { limit, retry_after })
            }
        };
        drop(held);
        drop(leasing);
        answer
    }

    /// A refusal of `limit`'s bucket for `subject` still in force in this instance's memory,
    /// said without spending anything or asking the store: a caller may skip work whose
    /// answer would be refused anyway, then [`RateLimits::admit`] after it.
    pub fn refused(&self, limit: Limit, subject: &str) -> Result<(), RateLimitError> {
        if self.settings.bucket(limit).is_none() {
            return Ok(());
        }
        let grouped = group(limit, subject);
        let subject = grouped.as_deref().unwrap_or(subject);
        let now = self.clock.now();
        match self.held(limit).get(subject) {
            Some(Held::Refused { until }) if *until > now => Err(RateLimitError::TooMany {
                limit,
                retry_after: *until - now,
            }),
            _ => Ok(()),
        }
    }

    /// The answer this instance can give without the store (a leased token spent, or a
    /// refusal still in force), a lease another call is taking, or how many tokens to lease:
    /// twice the last lease when it was all spent in time, else one.
    fn recall(&self, limit: Limit, subject: &str, now: OffsetDateTime) -> Memory {
        let mut held = self.held(limit);
        match held.get_mut(subject) {
            Some(Held::Refused { until }) if *until > now => Memory::Answer(Err(*until - now)),
            Some(Held::Tokens {
                left,
                size,
                until,
                leasing,
            }) => {
                if *until > now && *left > 0 {
                    *left -= 1;
                    return Memory::Answer(Ok(()));
                }
                if let Some(lease) = leasing {
                    return Memory::Wait(lease.clone());
                }
                let (done, in_flight) = oneshot::channel();
                let in_flight = in_flight.shared();
                *leasing = Some(in_flight.clone());
                let next = if *until > now {
                    size.saturating_mul(2)
                } else {
                    1
                };
                Memory::Lease(next, done, in_flight)
            }
            // Nothing held, or a refusal that has ended.
            _ => {
                let (done, in_flight) = oneshot::channel();
                let in_flight = in_flight.shared();
                held.insert(
                    subject.to_owned(),
                    Held::Tokens {
                        left: 0,
                        size: 1,
                        until: now,
                        leasing: Some(in_flight.clone()),
                    },
                );
                Memory::Lease(1, done, in_flight)
            }
        }
    }
}

/// The bucket an address counts in (its network's: see [`RateLimits::admit`]); `None` for the
/// other limits, whose bucket is their subject's.
fn group(limit: Limit, subject: &str) -> Option<String> {
    match limit {
        Limit::Address => Some(gptgate_domain::guess_bucket(subject)),
        _ => None,
    }
}

/// What memory says of a call.
enum Memory {
    Answer(Result<(), Duration>),
    Wait(InFlight),
    /// Lease this many tokens: the lease's sender (dropped when done) and its waiters' side.
    Lease(u32, oneshot::Sender<()>, InFlight),
}
