// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/sessions.rs and
// crates/adapters-postgres/src/sessions.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{ClientId, GrantId, Session, SessionGuard, SessionId, UserId};
use gptgate_ports::{SessionRepository, StorageError};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{from_time, storage, time, Store, Time};

/// The condition of a read guarded by a [`SessionGuard`]: its session (`$1`) is the user's
/// (`$2`), it and its grant are not revoked, and it has not expired at the guard's instant
/// (`$3`) — what `SessionGuard::admits` says of a session found. A guarded statement binds
/// these three first and adds this to its `WHERE`.
pub(crate) const SESSION_ADMITS: &str = "EXISTS (SELECT 1 FROM sessions s \
     LEFT JOIN oauth_grants g ON g.id = s.grant_id \
     WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL \
     AND g.revoked_at IS NULL AND s.expires_at > $3)";

impl Store {
    /// Whether `guard` admits its session, for a guarded read that found nothing: nothing to
    /// read, or the session refused (then the read answers `None`). A session never becomes
    /// active again, so a "yes" here means the empty read was the session's too.
    pub(crate) async fn session_admits(&self, guard: &SessionGuard) -> Result<bool, StorageError> {
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| format!("SELECT {SESSION_ADMITS}"));
        sqlx::query_scalar::<_, bool>(SQL.as_str())
            .bind(guard.session_id.as_uuid())
            .bind(guard.user_id.as_uuid())
            .bind(time(guard.now))
            .fetch_one(self.reads())
            .await
            .map_err(storage)
    }
}

#[derive(FromRow)]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: Time,
    expires_at: Time,
    revoked_at: Option<Time>,
    client_id: Option<Uuid>,
    grant_id: Option<Uuid>,
}

impl SessionRow {
    fn into_session(self) -> Result<Session, StorageError> {
        Ok(Session {
            id: SessionId::from_uuid(self.id),
            user_id: UserId::from_uuid(self.user_id),
            created_at: from_time(self.created_at)?,
            expires_at: from_time(self.expires_at)?,
            revoked_at: self.revoked_at.map(from_time).transpose()?,
            grant: self
                .client_id
                .zip(self.grant_id)
                .map(|(c, g)| (ClientId::from_uuid(c), GrantId::from_uuid(g))),
        })
    }
}

#[async_trait]
impl SessionRepository for Store {
    #[instrument(skip_all)]
    async fn create_session(&self, session: &Session) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, client_id, grant_id) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE $7 IS NULL OR EXISTS \
                 (SELECT 1 FROM oauth_grants WHERE id = $7 AND revoked_at IS NULL)",
        )
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(time(session.created_at))
        .bind(time(session.expires_at))
        .bind(session.revoked_at.map(time))
        .bind(session.grant.map(|(c, _)| c.as_uuid()))
        .bind(session.grant.map(|(_, g)| g.as_uuid()))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StorageError> {
        sqlx::query_as::<_, SessionRow>(
            // A session of a revoked grant is revoked, whatever its own row says (a session
            // inserted while the revocation was committing is caught here).
            "SELECT s.id, s.user_id, s.created_at, s.expires_at, \
             COALESCE(s.revoked_at, g.revoked_at) AS revoked_at, s.client_id, s.grant_id \
             FROM sessions s LEFT JOIN oauth_grants g ON g.id = s.grant_id WHERE s.id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(SessionRow::into_session)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StorageError> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at, s.client_id, \
             s.grant_id FROM sessions s LEFT JOIN oauth_grants g ON g.id = s.grant_id \
             WHERE s.user_id = $1 AND s.revoked_at IS NULL AND g.revoked_at IS NULL \
             AND s.expires_at > $2 ORDER BY s.created_at, s.id",
        )
        .bind(user.as_uuid())
        .bind(time(now))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?
        .into_iter()
        .map(SessionRow::into_session)
        .collect()
    }

    #[instrument(skip_all)]
    async fn revoke_session(
        &self,
        id: SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(time(now))
                .bind(id.as_uuid())
                .execute(self.writes())
                .await
                .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }
}
