//! Exporting one's own data: when it is too large to hand over in one answer, a download link
//! that works once, for a short time.

use time::{Duration, OffsetDateTime};

use crate::{TokenHash, UserId};

/// A download link for a user's data export, stored only as the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLink {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl ExportLink {
    /// How long a download link works.
    pub const TTL: Duration = Duration::minutes(10);

    /// Usable at `now`: not used and not expired (dead from `expires_at` on).
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once_and_for_ten_minutes() {
        let t0 = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut link = ExportLink {
            hash: TokenHash::from_bytes([1; 32]),
            user_id: UserId::from_random_bytes([2; 16]),
            expires_at: t0 + ExportLink::TTL,
            used_at: None,
            created_at: t0,
        };
        assert_eq!(ExportLink::TTL, Duration::minutes(10));
        assert!(link.is_usable(t0 + ExportLink::TTL - Duration::seconds(1)));
        assert!(!link.is_usable(t0 + ExportLink::TTL));
        link.used_at = Some(t0);
        assert!(!link.is_usable(t0));
    }
}
