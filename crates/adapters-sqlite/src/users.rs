use async_trait::async_trait;
use gptgate_domain::{Email, Identity, IdentityKind, User, UserId};
use gptgate_ports::{StorageError, UserRepository};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::error::storage;
use crate::time_codec::{from_micros, to_micros};
use crate::SqliteStore;

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    created_at: i64,
}

impl UserRow {
    fn into_user(self) -> Result<User, StorageError> {
        Ok(User {
            id: UserId::from_uuid(self.id),
            created_at: from_micros(self.created_at)?,
        })
    }
}

const FIND: &str = "SELECT u.id, u.created_at FROM user_identities i \
     JOIN users u ON u.id = i.user_id WHERE i.kind = ? AND i.value = ?";

impl SqliteStore {
    async fn find_user<'e, E>(
        &self,
        executor: E,
        identity: &Identity,
    ) -> Result<Option<User>, StorageError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        sqlx::query_as::<_, UserRow>(FIND)
            .bind(identity.kind().as_str())
            .bind(identity.value())
            .fetch_optional(executor)
            .await
            .map_err(storage)?
            .map(UserRow::into_user)
            .transpose()
    }
}

#[async_trait]
impl UserRepository for SqliteStore {
    #[instrument(skip_all, fields(kind = identity.kind().as_str()))]
    async fn find_or_create_user(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
        // The common case, a known identity, is one indexed read without the write lock.
        if let Some(user) = self.find_user(&self.pool, identity).await? {
            return Ok(user);
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(storage)?;
        if let Some(user) = self.find_user(&mut *tx, identity).await? {
            tx.commit().await.map_err(storage)?;
            return Ok(user);
        }
        sqlx::query("INSERT INTO users (id, created_at) VALUES (?, ?)")
            .bind(new_id.as_uuid())
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        sqlx::query(
            "INSERT INTO user_identities (kind, value, user_id, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(identity.kind().as_str())
        .bind(identity.value())
        .bind(new_id.as_uuid())
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(User {
            id: new_id,
            created_at: from_micros(to_micros(now))?,
        })
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn find_user(&self, id: UserId) -> Result<Option<User>, StorageError> {
        sqlx::query_as::<_, UserRow>("SELECT id, created_at FROM users WHERE id = ?")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?
            .map(UserRow::into_user)
            .transpose()
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn identities(&self, id: UserId) -> Result<Vec<Identity>, StorageError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT kind, value FROM user_identities WHERE user_id = ? ORDER BY kind, value",
        )
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.into_iter()
            .map(|(kind, value)| {
                IdentityKind::parse(&kind)
                    .and_then(|k| Identity::from_parts(k, &value).ok())
                    .ok_or_else(|| crate::error::corrupt("identity"))
            })
            .collect()
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn find_email(&self, id: UserId) -> Result<Option<Email>, StorageError> {
        let value: Option<String> = sqlx::query_scalar(
            "SELECT value FROM user_identities WHERE user_id = ? AND kind = 'email' \
             ORDER BY value LIMIT 1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(storage)?;
        value
            .map(|v| Email::parse(&v).map_err(|_| crate::error::corrupt("email identity")))
            .transpose()
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn delete_user(&self, id: UserId) -> Result<bool, StorageError> {
        // Identities, sessions and conversations go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }
}
