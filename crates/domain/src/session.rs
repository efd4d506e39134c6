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

/// What a session token claims, to be checked against its session where the read happens:
/// the session `session_id` of `user_id` must be active at `now` (the instant the token was
/// verified). A read guarded by it checks the session in the statement that reads, so a GPT read
/// costs one round trip to the store instead of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionGuard {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub now: OffsetDateTime,
}

impl SessionGuard {
    /// Whether `session` (as found, its grant's revocation applied) lets the guarded read
    /// through: it is the claimed one, of the claimed user, and active at the guard's instant.
    pub fn admits(&self, session: &Session) -> bool {
        session.id == self.session_id
            && session.user_id == self.user_id
            && session.is_active(self.now)
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
    fn a_guard_admits_only_its_own_active_session_of_its_own_user() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let policy = SessionPolicy::default();
        let mut session = policy.open(
            SessionId::from_random_bytes([1; 16]),
            UserId::from_random_bytes([2; 16]),
            t0,
        );
        let end = session.expires_at;
        let guard = |now| SessionGuard {
            user_id: session.user_id,
            session_id: session.id,
            now,
        };
        assert!(guard(end - Duration::nanoseconds(1)).admits(&session));
        assert!(!guard(end).admits(&session));
        let other_user = SessionGuard {
            user_id: UserId::from_random_bytes([3; 16]),
            ..guard(t0)
        };
        assert!(!other_user.admits(&session));
        let other_session = SessionGuard {
            session_id: SessionId::from_random_bytes([4; 16]),
            ..guard(t0)
        };
        assert!(!other_session.admits(&session));
        let at_t0 = guard(t0);
        session.revoked_at = Some(t0);
        assert!(!at_t0.admits(&session));
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
