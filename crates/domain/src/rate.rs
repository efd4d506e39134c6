//! Token buckets: at most `burst` calls at once, then one more every `refill_every` (calls to the
//! GPT API per API key and per user, page views per address).
//!
//! A bucket is kept as one instant, the time it is full again (the generic cell rate
//! algorithm's "theoretical arrival time"): no float, nothing that drifts, one value to store
//! and to compare-and-set. A bucket with no instant, or one in the past, is full.

use time::{Duration, OffsetDateTime};

/// At most `burst` calls at once; one token comes back every `refill_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    burst: u32,
    refill_every: Duration,
}

/// Why a bucket's settings were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenBucketError {
    #[error("the rate must be between 1 and 60,000,000 a minute")]
    Rate,
    #[error("the burst must be between 1 and 1,000,000")]
    Burst,
}

/// What a take got: `granted` tokens (at least one), and the bucket's new full instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub granted: u32,
    pub full_at: OffsetDateTime,
}

impl TokenBucket {
    /// The largest burst and rate accepted.
    pub const MAX: u32 = 1_000_000;

    /// `per_minute` tokens a minute (one every 60 s / `per_minute`, to the nanosecond), at most
    /// `burst` held.
    pub fn per_minute(per_minute: u32, burst: u32) -> Result<Self, TokenBucketError> {
        if !(1..=Self::MAX).contains(&burst) {
            return Err(TokenBucketError::Burst);
        }
        if per_minute == 0 || u64::from(per_minute) > 60 * u64::from(Self::MAX) {
            return Err(TokenBucketError::Rate);
        }
        Ok(Self {
            burst,
            refill_every: Duration::nanoseconds(60_000_000_000 / i64::from(per_minute)),
        })
    }

    /// At most this many tokens at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// One token comes back this often.
    pub fn refill_every(&self) -> Duration {
        self.refill_every
    }

    /// The instant a bucket empty at `now` is full.
    fn empty_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + self.refill_every * self.burst
    }

    /// The instant to keep instead of `full_at` after a refusal at `now`: one later than an
    /// empty bucket's (kept under an older, slower setting) becomes that, so the bucket refills
    /// from now on; otherwise `None` (nothing to change).
    pub fn settle(
        &self,
        full_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        full_at
            .filter(|t| *t > self.empty_at(now))
            .map(|_| self.empty_at(now))
    }

    /// Takes up to `want` tokens (at least one) from the bucket that is full at `full_at`,
    /// at `now`. Either some were granted, or none is there: then how long until one is.
    pub fn take(
        &self,
        full_at: Option<OffsetDateTime>,
        want: u32,
        now: OffsetDateTime,
    ) -> Result<Taken, Duration> {
        // The instant the bucket would be full, counted from now at the earliest, and at the
        // latest as if it were empty now (an instant kept under an older, slower setting).
        let start = full_at.map_or(now, |t| t.clamp(now, self.empty_at(now)));
        // Tokens missing now, rounded up (a token on its way is not there yet).
        let missing = (start - now).whole_nanoseconds();
        let step = self.refill_every.whole_nanoseconds();
        let missing_tokens = (missing + step - 1) / step;
        let available = i128::from(self.burst) - missing_tokens;
        if available < 1 {
            // One token is there once the bucket is at most burst - 1 tokens short of full.
            let wait = missing - (i128::from(self.burst) - 1) * step;
            return Err(Duration::nanoseconds(
                i64::try_from(wait).unwrap_or(i64::MAX),
            ));
        }
        let granted = available.min(i128::from(want.max(1))) as u32;
        Ok(Taken {
            granted,
            full_at: start + self.refill_every * granted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn drain(
        bucket: &TokenBucket,
        mut full_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> (u32, Option<OffsetDateTime>) {
        let mut n = 0;
        while let Ok(t) = bucket.take(full_at, 1, now) {
            n += 1;
            full_at = Some(t.full_at);
        }
        (n, full_at)
    }

    #[test]
    fn a_full_bucket_gives_its_burst_and_then_refuses() {
        let bucket = TokenBucket::per_minute(60, 30).unwrap();
        let (n, full_at) = drain(&bucket, None, T0);
        assert_eq!(n, 30);
        assert_eq!(full_at, Some(T0 + Duration::seconds(30)));
        assert_eq!(bucket.take(full_at, 1, T0), Err(Duration::seconds(1)));
    }

    #[test]
    fn a_token_comes_back_after_its_interval_to_the_nanosecond() {
        let bucket = TokenBucket::per_minute(60, 2).unwrap();
        let (_, full_at) = drain(&bucket, None, T0);
        let almost = T0 + Duration::seconds(1) - Duration::nanoseconds(1);
        assert_eq!(
            bucket.take(full_at, 1, almost),
            Err(Duration::nanoseconds(1))
        );
        let at = T0 + Duration::seconds(1);
        assert_eq!(
            bucket.take(full_at, 5, at),
            Ok(Taken {
                granted: 1,
                full_at: T0 + Duration::seconds(3)
            })
        );
    }

    #[test]
    fn a_take_of_many_gets_what_is_there() {
        let bucket = TokenBucket::per_minute(600, 10).unwrap();
        let first = bucket.take(None, 4, T0).unwrap();
        assert_eq!(first.granted, 4);
        let second = bucket.take(Some(first.full_at), 100, T0).unwrap();
        assert_eq!(second.granted, 6);
        assert_eq!(second.full_at, T0 + Duration::seconds(1));
        assert_eq!(
            bucket.take(Some(second.full_at), 0, T0),
            Err(Duration::milliseconds(100)),
            "asking for none asks for one"
        );
    }

    #[test]
    fn a_bucket_full_in_the_past_is_full() {
        let bucket = TokenBucket::per_minute(60, 3).unwrap();
        let (n, _) = drain(&bucket, Some(T0 - Duration::days(400)), T0);
        assert_eq!(n, 3);
    }

    #[test]
    fn an_instant_kept_under_a_slower_setting_counts_as_an_empty_bucket_and_is_settled() {
        let bucket = TokenBucket::per_minute(1, 5).unwrap();
        let far = Some(T0 + Duration::days(100));
        let empty_now = T0 + Duration::minutes(5);
        assert_eq!(bucket.take(far, 1, T0), Err(Duration::minutes(1)));
        assert_eq!(bucket.take(far, 1, T0), bucket.take(Some(empty_now), 1, T0));
        assert_eq!(bucket.settle(far, T0), Some(empty_now));
        assert_eq!(
            bucket.settle(Some(empty_now), T0),
            None,
            "an empty bucket stays"
        );
        assert_eq!(bucket.settle(None, T0), None);
        // Settled, it refills from then on.
        let later = T0 + Duration::minutes(1);
        assert_eq!(
            bucket.take(Some(empty_now), 1, later).unwrap().full_at,
            empty_now + Duration::minutes(1)
        );
    }

    #[test]
    fn settings_at_their_edges() {
        assert_eq!(TokenBucket::per_minute(1, 0), Err(TokenBucketError::Burst));
        assert_eq!(
            TokenBucket::per_minute(1, 1_000_001),
            Err(TokenBucketError::Burst)
        );
        assert!(TokenBucket::per_minute(1, 1_000_000).is_ok());
        assert_eq!(TokenBucket::per_minute(0, 1), Err(TokenBucketError::Rate));
        assert_eq!(
            TokenBucket::per_minute(60_000_000, 1)
                .unwrap()
                .refill_every(),
            Duration::nanoseconds(1_000)
        );
        assert_eq!(
            TokenBucket::per_minute(60_000_001, 1),
            Err(TokenBucketError::Rate)
        );
        assert_eq!(
            TokenBucket::per_minute(1, 5).unwrap().refill_every(),
            Duration::minutes(1)
        );
        assert_eq!(TokenBucket::per_minute(7, 5).unwrap().burst(), 5);
    }
}
