// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/chat.rs and
// crates/adapters-postgres/src/chat.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{
    AdminAuditEntry, ChatSession, ChatVisitor, PasswordHash, PlatformId, TeamPassword, TokenHash,
};
use gptgate_ports::{ChatAccessRepository, StorageError};
use sqlx::FromRow;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{corrupt, from_time, storage, time, Store, Time};

#[derive(FromRow)]
struct ChatSessionRow {
    token_hash: Vec<u8>,
    kind: String,
    team_password_set_at: Option<Time>,
    platform_id: Option<Uuid>,
    subject: Option<String>,
    created_at: Time,
    expires_at: Time,
}

impl ChatSessionRow {
    fn into_session(self) -> Result<ChatSession, StorageError> {
        let hash: [u8; 32] = self
            .token_hash
            .try_into()
            .map_err(|_| corrupt("chat session token hash is not 32 bytes"))?;
        let visitor = match (
            self.kind.as_str(),
            self.team_password_set_at,
            self.platform_id,
            self.subject,
        ) {
            ("admin", None, None, None) => ChatVisitor::Admin,
            ("team", Some(set_at), None, None) => ChatVisitor::Team {
                password_set_at: from_time(set_at)?,
            },
            ("launch", None, Some(platform), Some(subject)) => ChatVisitor::Launched {
                platform: PlatformId::from_uuid(platform),
                subject,
            },
            _ => return Err(corrupt("unknown chat session kind")),
        };
        Ok(ChatSession {
            token_hash: TokenHash::from_bytes(hash),
            visitor,
            created_at: from_time(self.created_at)?,
            expires_at: from_time(self.expires_at)?,
        })
    }
}

#[async_trait]
impl ChatAccessRepository for Store {
    #[instrument(skip_all)]
    async fn create_chat_session(&self, session: &ChatSession) -> Result<(), StorageError> {
        let (team_password_set_at, platform, subject) = match &session.visitor {
            ChatVisitor::Team { password_set_at } => (Some(time(*password_set_at)), None, None),
            ChatVisitor::Admin => (None, None, None),
            ChatVisitor::Launched { platform, subject } => {
                (None, Some(platform.as_uuid()), Some(subject.as_str()))
            }
        };
        sqlx::query(
            "INSERT INTO chat_sessions (token_hash, kind, team_password_set_at, platform_id, \
             subject, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.token_hash.as_bytes().as_slice())
        .bind(session.visitor.kind())
        .bind(team_password_set_at)
        .bind(platform)
        .bind(subject)
        .bind(time(session.created_at))
        .bind(time(session.expires_at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn find_chat_session(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<ChatSession>, StorageError> {
        // A team session counts only while the password that admitted it is in force, a
        // launched one only while its platform (of either kind) is registered (however either
        // races).
        sqlx::query_as::<_, ChatSessionRow>(
            "SELECT s.token_hash, s.kind, s.team_password_set_at, s.platform_id, s.subject, \
             s.created_at, s.expires_at FROM chat_sessions s WHERE s.token_hash = $1 \
             AND (s.kind <> 'team' OR EXISTS \
             (SELECT 1 FROM team_password p WHERE p.set_at = s.team_password_set_at)) \
             AND (s.kind <> 'launch' \
             OR EXISTS (SELECT 1 FROM launch_platforms l WHERE l.id = s.platform_id) \
             OR EXISTS (SELECT 1 FROM lti_platforms t WHERE t.id = s.platform_id))",
        )
        .bind(token_hash.as_bytes().as_slice())
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(ChatSessionRow::into_session)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn end_chat_session(&self, token_hash: &TokenHash) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM chat_sessions WHERE token_hash = $1")
            .bind(token_hash.as_bytes().as_slice())
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn team_password(&self) -> Result<Option<TeamPassword>, StorageError> {
        let row: Option<(String, Time)> =
            sqlx::query_as("SELECT hash, set_at FROM team_password WHERE id = 1")
                .fetch_optional(self.reads())
                .await
                .map_err(storage)?;
        row.map(|(hash, set_at)| {
            Ok(TeamPassword {
                hash: PasswordHash::parse(&hash)
                    .map_err(|_| corrupt("the stored team password hash is unusable"))?,
                set_at: from_time(set_at)?,
            })
        })
        .transpose()
    }

    #[instrument(skip_all)]
    async fn set_team_password(
        &self,
        password: Option<&TeamPassword>,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        match password {
            Some(password) => sqlx::query(
                "INSERT INTO team_password (id, hash, set_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
            )
            .bind(password.hash.as_str())
            .bind(time(password.set_at))
            .execute(&mut *tx)
            .await
            .map_err(storage)?,
            None => sqlx::query("DELETE FROM team_password")
                .execute(&mut *tx)
                .await
                .map_err(storage)?,
        };
        sqlx::query("DELETE FROM chat_sessions WHERE kind = 'team'")
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        crate::admin::record(&mut tx, audit).await?;
        tx.commit().await.map_err(storage)?;
        Ok(())
    }
}
