//! One-time sign-in codes and the rules that protect them: expiry, the attempt budget per code
//! and per email, the resend cooldown and the hourly send budget.
//!
//! The rules are pure functions over a [`CodeRecord`]. Storage adapters make each decision
//! atomic with the record it was made on (a lock, or a compare-and-set that decides again after
//! a lost race: see the `VerificationCodeRepository` port), which is why they must stay pure.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::Email;

/// A six-digit one-time code, zero-padded (`"004217"`).
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

/// Why a submitted string is not a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the code must be exactly 6 digits")]
pub struct CodeFormatError;

impl VerificationCode {
    /// How many distinct codes exist.
    pub const SPACE: u32 = 1_000_000;

    /// Parses a code as typed by a person: surrounding white space and inner spaces or dashes
    /// ("123 456", "123-456") are ignored; the rest must be exactly six ASCII digits.
    pub fn parse(raw: &str) -> Result<Self, CodeFormatError> {
        let digits: String = raw
            .trim()
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(CodeFormatError)
        }
    }

    /// Turns 32 random bits into a uniformly distributed code by rejection sampling: values at or
    /// above the largest multiple of 10^6 below 2^32 return `None`, and the caller draws again.
    pub fn from_random(bits: u32) -> Option<Self> {
        const LIMIT: u32 = u32::MAX - (u32::MAX % VerificationCode::SPACE) - 1;
        (bits <= LIMIT).then(|| Self(format!("{:06}", bits % Self::SPACE)))
    }

    /// The six digits. Callers must never log them.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCode(******)")
    }
}

/// The keyed hash under which a code is stored (HMAC-SHA256 in production). The code itself is
/// never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeHash(Vec<u8>);

impl CodeHash {
    /// Wraps hash bytes computed by a `CodeHasher` or read from storage.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The raw hash bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeHash({} bytes)", self.0.len())
    }
}

/// The numbers of the sign-in code rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePolicy {
    /// How long a code stays valid after it was sent.
    pub ttl: Duration,
    /// Submissions allowed against one code; the next one is refused even if it is right.
    pub max_attempts_per_code: u32,
    /// Minimum time between two codes sent to the same email.
    pub resend_cooldown: Duration,
    /// Codes that may be sent to one email within one window.
    pub max_sends_per_window: u32,
    /// Submissions allowed for one email within one window, whatever codes they were for; a
    /// resend does not reset it.
    pub max_attempts_per_window: u32,
    /// Length of the fixed window for the two budgets above.
    pub window: Duration,
}

impl Default for CodePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::minutes(10),
            max_attempts_per_code: 5,
            resend_cooldown: Duration::seconds(60),
            max_sends_per_window: 5,
            max_attempts_per_window: 20,
            window: Duration::hours(1),
        }
    }
}

/// Everything stored about the codes of one email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub email: Email,
    /// The hash of the live code; `None` once it was used.
    pub code_hash: Option<CodeHash>,
    pub expires_at: OffsetDateTime,
    /// Submissions against the live code.
    pub attempts: u32,
    pub last_sent_at: OffsetDateTime,
    pub send_window_started_at: OffsetDateTime,
    pub sends_in_window: u32,
    pub attempt_window_started_at: OffsetDateTime,
    pub attempts_in_window: u32,
}

impl CodeRecord {
    /// The record with its live code used up, if that code is still the one with hash
    /// `matched`; `None` when it is not (used by a concurrent submission, or replaced by a newer
    /// code). Nothing else changes.
    pub fn used_up(&self, matched: &CodeHash) -> Option<CodeRecord> {
        (self.code_hash.as_ref() == Some(matched)).then(|| CodeRecord {
            code_hash: None,
            ..self.clone()
        })
    }
}

/// Why a new code was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefused {
    /// A code was sent less than the cooldown ago.
    CoolingDown { retry_after: Duration },
    /// The hourly budget of codes for this email is spent.
    TooManyCodes { retry_after: Duration },
}

/// What a submission of a code may lead to, decided before the code is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// The attempt was counted; compare the submitted code against this hash.
    Compare(CodeHash),
    /// No live code (never sent, used, or expired): the caller answers exactly as for a wrong
    /// code.
    NoLiveCode,
    /// The budget of this code or of this email is spent; even the right code is refused.
    TooManyAttempts { retry_after: Duration },
}

impl CodePolicy {
    /// Decides whether a new code may be sent, and returns the record that replaces `previous`.
    /// The new code replaces any earlier one and starts with a fresh per-code budget; the
    /// per-email attempt budget carries over.
    pub fn issue(
        &self,
        previous: Option<&CodeRecord>,
        email: &Email,
        code_hash: CodeHash,
        now: OffsetDateTime,
    ) -> Result<CodeRecord, SendRefused> {
        let Some(prev) = previous else {
            return Ok(CodeRecord {
                email: email.clone(),
                code_hash: Some(code_hash),
                expires_at: now + self.ttl,
                attempts: 0,
                last_sent_at: now,
                send_window_started_at: now,
                sends_in_window: 1,
                attempt_window_started_at: now,
                attempts_in_window: 0,
            });
        };
        let cooldown_ends = prev.last_sent_at + self.resend_cooldown;
        if now < cooldown_ends {
            return Err(SendRefused::CoolingDown {
                retry_after: cooldown_ends - now,
            });
        }
        let window_ends = prev.send_window_started_at + self.window;
        let window_open = now < window_ends;
        if window_open && prev.sends_in_window >= self.max_sends_per_window {
            return Err(SendRefused::TooManyCodes {
                retry_after: window_ends - now,
            });
        }
        let (send_window_started_at, sends_in_window) = if window_open {
            (prev.send_window_started_at, prev.sends_in_window + 1)
        } else {
            (now, 1)
        };
        Ok(CodeRecord {
            email: email.clone(),
            code_hash: Some(code_hash),
            expires_at: now + self.ttl,
            attempts: 0,
            last_sent_at: now,
            send_window_started_at,
            sends_in_window,
            attempt_window_started_at: prev.attempt_window_started_at,
            attempts_in_window: prev.attempts_in_window,
        })
    }

    /// Counts one submission against `record` BEFORE anything is compared, and says what may
    /// happen next. The returned record must be stored whatever the verdict. Counters saturate
    /// one past their limit, so they cannot grow without bound.
    pub fn register_attempt(
        &self,
        record: &CodeRecord,
        now: OffsetDateTime,
    ) -> (CodeRecord, AttemptVerdict) {
        let mut next = record.clone();
        if now >= record.attempt_window_started_at + self.window {
            next.attempt_window_started_at = now;
            next.attempts_in_window = 0;
        }
        next.attempts_in_window =
            (next.attempts_in_window + 1).min(self.max_attempts_per_window + 1);
        if next.code_hash.is_some() {
            next.attempts = (next.attempts + 1).min(self.max_attempts_per_code + 1);
        }

        if next.attempts_in_window > self.max_attempts_per_window {
            let retry_after = next.attempt_window_started_at + self.window - now;
            return (next, AttemptVerdict::TooManyAttempts { retry_after });
        }
        let verdict = match &next.code_hash {
            None => AttemptVerdict::NoLiveCode,
            Some(_) if now >= next.expires_at => AttemptVerdict::NoLiveCode,
            Some(_) if next.attempts > self.max_attempts_per_code => {
                // This code is dead; a new one can be asked for once the cooldown is over.
                let retry_after =
                    (next.last_sent_at + self.resend_cooldown - now).max(Duration::ZERO);
                AttemptVerdict::TooManyAttempts { retry_after }
            }
            Some(hash) => AttemptVerdict::Compare(hash.clone()),
        };
        (next, verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

    fn email() -> Email {
        Email::parse("ann@example.com").unwrap()
    }

    fn hash(n: u8) -> CodeHash {
        CodeHash::from_bytes(vec![n; 32])
    }

    fn issued_at(now: OffsetDateTime) -> CodeRecord {
        CodePolicy::default()
            .issue(None, &email(), hash(1), now)
            .unwrap()
    }

    #[test]
    fn codes_are_six_digits_zero_padded() {
        assert_eq!(
            VerificationCode::from_random(42).unwrap().digits(),
            "000042"
        );
        assert_eq!(
            VerificationCode::from_random(1_999_999).unwrap().digits(),
            "999999"
        );
    }

    #[test]
    fn random_values_that_would_bias_the_code_are_rejected() {
        let limit = u32::MAX - (u32::MAX % 1_000_000) - 1;
        assert!(VerificationCode::from_random(limit).is_some());
        assert!(VerificationCode::from_random(limit + 1).is_none());
        assert!(VerificationCode::from_random(u32::MAX).is_none());
        // Every accepted value maps onto the full range an equal number of times.
        assert_eq!((u64::from(limit) + 1) % 1_000_000, 0);
    }

    #[test]
    fn codes_are_parsed_as_typed_by_people() {
        for raw in ["123456", " 123456 ", "123 456", "123-456"] {
            assert_eq!(
                VerificationCode::parse(raw).unwrap().digits(),
                "123456",
                "{raw:?}"
            );
        }
        for raw in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "12 34 5"] {
            assert!(
                VerificationCode::parse(raw).is_err(),
                "{raw:?} must be rejected"
            );
        }
    }

    #[test]
    fn a_code_is_never_shown_by_debug() {
        let code = VerificationCode::parse("123456").unwrap();
        assert!(!format!("{code:?}").contains("123456"));
    }

    #[test]
    fn a_first_code_is_valid_for_ten_minutes() {
        let record = issued_at(T0);
        assert_eq!(record.expires_at, T0 + Duration::minutes(10));
        assert_eq!(record.sends_in_window, 1);
        assert_eq!(record.attempts, 0);
    }

    #[test]
    fn a_resend_within_the_cooldown_is_refused_with_the_time_left() {
        let policy = CodePolicy::default();
        let record = issued_at(T0);
        let refused = policy.issue(Some(&record), &email(), hash(2), T0 + Duration::seconds(59));
        assert_eq!(
            refused,
            Err(SendRefused::CoolingDown {
                retry_after: Duration::seconds(1)
            })
        );
        let resent = policy
            .issue(Some(&record), &email(), hash(2), T0 + Duration::seconds(60))
            .unwrap();
        assert_eq!(
            resent.code_hash,
            Some(hash(2)),
            "the new code replaces the old one"
        );
        assert_eq!(resent.sends_in_window, 2);
    }

    #[test]
    fn at_most_five_codes_are_sent_per_hour() {
        let policy = CodePolicy::default();
        let mut record = issued_at(T0);
        for i in 1..5 {
            record = policy
                .issue(
                    Some(&record),
                    &email(),
                    hash(i),
                    T0 + Duration::minutes(i64::from(i)),
                )
                .unwrap();
        }
        let sixth_at = T0 + Duration::minutes(5);
        assert_eq!(
            policy.issue(Some(&record), &email(), hash(9), sixth_at),
            Err(SendRefused::TooManyCodes {
                retry_after: Duration::minutes(55)
            })
        );
        let next_hour = policy
            .issue(Some(&record), &email(), hash(9), T0 + Duration::hours(1))
            .unwrap();
        assert_eq!(next_hour.sends_in_window, 1);
        assert_eq!(next_hour.send_window_started_at, T0 + Duration::hours(1));
    }

    #[test]
    fn an_attempt_is_counted_before_the_code_is_compared() {
        let policy = CodePolicy::default();
        let (next, verdict) = policy.register_attempt(&issued_at(T0), T0);
        assert_eq!(verdict, AttemptVerdict::Compare(hash(1)));
        assert_eq!(next.attempts, 1);
        assert_eq!(next.attempts_in_window, 1);
    }

    #[test]
    fn the_sixth_submission_of_a_code_is_refused_even_if_right() {
        let policy = CodePolicy::default();
        let mut record = issued_at(T0);
        for _ in 0..5 {
            let (next, verdict) = policy.register_attempt(&record, T0);
            assert!(matches!(verdict, AttemptVerdict::Compare(_)));
            record = next;
        }
        let (next, verdict) = policy.register_attempt(&record, T0 + Duration::seconds(10));
        assert_eq!(
            verdict,
            AttemptVerdict::TooManyAttempts {
                retry_after: Duration::seconds(50)
            }
        );
        let (_, again) = policy.register_attempt(&next, T0 + Duration::minutes(2));
        assert_eq!(
            again,
            AttemptVerdict::TooManyAttempts {
                retry_after: Duration::ZERO
            }
        );
    }

    #[test]
    fn a_code_expires_after_ten_minutes() {
        let policy = CodePolicy::default();
        let record = issued_at(T0);
        let just_before = T0 + Duration::minutes(10) - Duration::seconds(1);
        assert!(matches!(
            policy.register_attempt(&record, just_before).1,
            AttemptVerdict::Compare(_)
        ));
        let at_expiry = T0 + Duration::minutes(10);
        assert_eq!(
            policy.register_attempt(&record, at_expiry).1,
            AttemptVerdict::NoLiveCode
        );
    }

    #[test]
    fn a_resend_does_not_reset_the_hourly_attempt_budget() {
        let policy = CodePolicy::default();
        let mut record = issued_at(T0);
        let mut now = T0;
        for round in 0..4u8 {
            for _ in 0..5 {
                let (next, verdict) = policy.register_attempt(&record, now);
                assert!(
                    matches!(verdict, AttemptVerdict::Compare(_)),
                    "round {round}"
                );
                record = next;
            }
            now += Duration::minutes(2);
            record = policy
                .issue(Some(&record), &email(), hash(round + 2), now)
                .unwrap();
        }
        assert_eq!(record.attempts, 0, "a new code has a fresh per-code budget");
        let (_, verdict) = policy.register_attempt(&record, now);
        assert_eq!(
            verdict,
            AttemptVerdict::TooManyAttempts {
                retry_after: T0 + Duration::hours(1) - now
            }
        );
    }

    #[test]
    fn the_hourly_attempt_budget_renews_after_the_window() {
        let policy = CodePolicy::default();
        let mut record = issued_at(T0);
        record.attempts_in_window = 21;
        let later = T0 + Duration::hours(1);
        record.expires_at = later + Duration::minutes(5);
        let (next, verdict) = policy.register_attempt(&record, later);
        assert!(matches!(verdict, AttemptVerdict::Compare(_)));
        assert_eq!(next.attempts_in_window, 1);
    }

    #[test]
    fn submissions_after_use_find_no_live_code() {
        let policy = CodePolicy::default();
        let record = issued_at(T0);
        let used = record.used_up(&hash(1)).unwrap();
        assert_eq!(
            policy.register_attempt(&used, T0).1,
            AttemptVerdict::NoLiveCode
        );
    }

    #[test]
    fn only_the_live_code_can_be_used_up() {
        let record = issued_at(T0);
        assert!(record.used_up(&hash(7)).is_none());
        let used = record.used_up(&hash(1)).unwrap();
        assert_eq!(used.code_hash, None);
        assert_eq!(
            CodeRecord {
                code_hash: Some(hash(1)),
                ..used.clone()
            },
            record,
            "nothing else changes"
        );
        assert!(
            used.used_up(&hash(1)).is_none(),
            "a used code cannot be used again"
        );
    }
}
