//! Sign-in sessions. A session token (JWT) names a session; the session row decides whether
//! the token is still good, so logging out or deleting the user ends it at once.

use time::{Duration, OffsetDateTime};

use crate::{ClientId, GrantId, SessionId, UserId};

/// A session, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// The OAuth grant the session was issued from (an access token of gptgate's
    /// authorization server, to `client`), or `None` for an email sign-in.
    pub grant: Option<(ClientId, GrantId)>,
}

impl Session {
    /// Whether the session may authenticate a request at `now`: not revoked and not expired
    /// (a session is dead from `expires_at` on).
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Absolute lifetime of a session from sign-in (ASVS 3.3.2 level 2: at most 12 hours).
    pub ttl: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::hours(12),
        }
    }
}

impl SessionPolicy {
    /// Opens a new session for `user_id` at `now`.
    pub fn open(&self, id: SessionId, user_id: UserId, now: OffsetDateTime) -> Session {
        Session {
            id,
            user_id,
            created_at: now,
            expires_at: now + self.ttl,
            revoked_at: None,
            grant: None,
        }
    }

    /// Opens a session issued as an access token of grant `grant` to client `client`.
    pub fn open_for_grant(
        &self,
        id: SessionId,
        user_id: UserId,
        client: ClientId,
        grant: GrantId,
        now: OffsetDateTime,
    ) -> Session {
        Session {
            grant: Some((client, grant)),
            ..self.open(id, user_id, now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_session_ends_at_its_expiry_or_when_revoked() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let policy = SessionPolicy::default();
        let mut session = policy.open(
            SessionId::from_random_bytes([1; 16]),
            UserId::from_random_bytes([2; 16]),
            t0,
        );
        assert!(session.is_active(t0 + Duration::hours(12) - Duration::seconds(1)));
        assert!(!session.is_active(t0 + Duration::hours(12)));
        session.revoked_at = Some(t0);
        assert!(!session.is_active(t0 + Duration::seconds(1)));
    }

    #[test]
    fn a_session_of_a_grant_names_its_client_and_grant() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let client = ClientId::from_random_bytes([1; 16]);
        let grant = GrantId::from_random_bytes([2; 16]);
        let policy = SessionPolicy::default();
        let s = policy.open_for_grant(
            SessionId::from_random_bytes([3; 16]),
            UserId::from_random_bytes([4; 16]),
            client,
            grant,
            now,
        );
        assert_eq!(s.grant, Some((client, grant)));
        assert_eq!(s.expires_at, now + policy.ttl);
        assert_eq!(
            policy
                .open(SessionId::from_random_bytes([3; 16]), s.user_id, now)
                .grant,
            None
        );
    }
}
