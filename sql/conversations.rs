// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/conversations.rs and
// crates/adapters-postgres/src/conversations.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{
    Conversation, ConversationCursor, ConversationId, Exercise, ExternalId, Message, SessionGuard,
    UserId,
};
use gptgate_ports::{ConversationRepository, StorageError};
use sqlx::types::Json;
use sqlx::FromRow;
use std::sync::LazyLock;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{corrupt, from_time, storage, time, Store, Time};
use crate::sessions::SESSION_ADMITS;

#[derive(FromRow)]
struct ConversationRow {
    id: Uuid,
    user_id: Uuid,
    external_id: Option<String>,
    title: Option<String>,
    summary: String,
    messages: Json<Vec<Message>>,
    raw_text: Json<Vec<String>>,
    exercises: Json<Vec<Exercise>>,
    created_at: Time,
    updated_at: Time,
}

impl ConversationRow {
    fn into_conversation(self) -> Result<Conversation, StorageError> {
        Ok(Conversation {
            id: ConversationId::from_uuid(self.id),
            user_id: UserId::from_uuid(self.user_id),
            external_id: self
                .external_id
                .map(|e| ExternalId::parse(&e).map_err(|_| corrupt("external id")))
                .transpose()?,
            title: self.title,
            summary: self.summary,
            messages: self.messages.0,
            raw_text: self.raw_text.0,
            exercises: self.exercises.0,
            created_at: from_time(self.created_at)?,
            updated_at: from_time(self.updated_at)?,
        })
    }
}

const COLUMNS: &str = "id, user_id, external_id, title, summary, messages, raw_text, exercises, \
     created_at, updated_at";

#[async_trait]
impl ConversationRepository for Store {
    #[instrument(skip_all)]
    async fn save_conversation(&self, c: &Conversation) -> Result<Conversation, StorageError> {
        // One statement: an insert, or the update of the same chat's earlier save.
        let sql = format!(
            "INSERT INTO conversations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (user_id, external_id) DO UPDATE SET title = excluded.title, \
             summary = excluded.summary, messages = excluded.messages, \
             raw_text = excluded.raw_text, exercises = excluded.exercises, \
             updated_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        );
        sqlx::query_as::<_, ConversationRow>(&sql)
            .bind(c.id.as_uuid())
            .bind(c.user_id.as_uuid())
            .bind(c.external_id.as_ref().map(ExternalId::as_str))
            .bind(c.title.as_deref())
            .bind(&c.summary)
            .bind(Json(&c.messages))
            .bind(Json(&c.raw_text))
            .bind(Json(&c.exercises))
            .bind(time(c.created_at))
            .bind(time(c.updated_at))
            .fetch_one(self.writes())
            .await
            .map_err(storage)?
            .into_conversation()
    }

    #[instrument(skip_all)]
    async fn list_conversations(
        &self,
        user: UserId,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Result<Vec<Conversation>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match after {
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM conversations WHERE user_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                );
                sqlx::query_as::<_, ConversationRow>(&sql)
                    .bind(user.as_uuid())
                    .bind(limit)
                    .fetch_all(self.reads())
                    .await
            }
            Some(cursor) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM conversations \
                     WHERE user_id = $1 AND (created_at, id) < ($2, $3) \
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                );
                sqlx::query_as::<_, ConversationRow>(&sql)
                    .bind(user.as_uuid())
                    .bind(time(cursor.created_at))
                    .bind(cursor.id.as_uuid())
                    .bind(limit)
                    .fetch_all(self.reads())
                    .await
            }
        }
        .map_err(storage)?;
        rows.into_iter()
            .map(ConversationRow::into_conversation)
            .collect()
    }

    #[instrument(skip_all)]
    async fn list_conversations_in_session(
        &self,
        guard: &SessionGuard,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Result<Option<Vec<Conversation>>, StorageError> {
        static FIRST: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {COLUMNS} FROM conversations WHERE user_id = $2 AND {SESSION_ADMITS} \
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            )
        });
        static AFTER: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {COLUMNS} FROM conversations \
                 WHERE user_id = $2 AND (created_at, id) < ($5, $6) AND {SESSION_ADMITS} \
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            )
        });
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let query = sqlx::query_as::<_, ConversationRow>(match after {
            None => FIRST.as_str(),
            Some(_) => AFTER.as_str(),
        })
        .bind(guard.session_id.as_uuid())
        .bind(guard.user_id.as_uuid())
        .bind(time(guard.now))
        .bind(limit);
        let query = match after {
            None => query,
            Some(cursor) => query
                .bind(time(cursor.created_at))
                .bind(cursor.id.as_uuid()),
        };
        let rows = query.fetch_all(self.reads()).await.map_err(storage)?;
        if rows.is_empty() && !self.session_admits(guard).await? {
            return Ok(None);
        }
        rows.into_iter()
            .map(ConversationRow::into_conversation)
            .collect::<Result<_, _>>()
            .map(Some)
    }

    #[instrument(skip_all)]
    async fn delete_conversation(
        &self,
        user: UserId,
        id: ConversationId,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM conversations WHERE id = $1 AND user_id = $2")
            .bind(id.as_uuid())
            .bind(user.as_uuid())
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }
}
