use async_trait::async_trait;
use gptgate_domain::{Email, Identity, IdentityKind, User, UserId};
use gptgate_ports::{StorageError, UserRepository};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::error::storage;
use crate::PostgresStore;

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    created_at: OffsetDateTime,
}

impl UserRow {
    fn into_user(self) -> Result<User, StorageError> {
        Ok(User {
            id: UserId::from_uuid(self.id),
            created_at: self.created_at,
        })
    }
}

const FIND: &str = "SELECT u.id, u.created_at FROM user_identities i \
     JOIN users u ON u.id = i.user_id WHERE i.kind = $1 AND i.value = $2";

impl PostgresStore {
    async fn find_user<'e, E>(
        &self,
        executor: E,
        identity: &Identity,
    ) -> Result<Option<User>, StorageError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Postgres>,
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
impl UserRepository for PostgresStore {
    #[instrument(skip_all, fields(kind = identity.kind().as_str()))]
    async fn find_or_create_user(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
        // The common case, a known identity, is one indexed read.
        if let Some(user) = self.find_user(&self.pool, identity).await? {
            return Ok(user);
        }
        let mut tx = self.pool.begin().await.map_err(storage)?;
        let created_at = sqlx::query_scalar::<_, OffsetDateTime>(
            "INSERT INTO users (id, created_at) VALUES ($1, $2) RETURNING created_at",
        )
        .bind(new_id.as_uuid())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(storage)?;
        // A concurrent first sight waits here for the other transaction, then finds its row.
        let claimed = sqlx::query(
            "INSERT INTO user_identities (kind, value, user_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(identity.kind().as_str())
        .bind(identity.value())
        .bind(new_id.as_uuid())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(storage)?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await.map_err(storage)?;
            return self.find_user(&self.pool, identity).await?.ok_or_else(|| {
                StorageError::Corrupt("identity vanished while being claimed".into())
            });
        }
        tx.commit().await.map_err(storage)?;
        Ok(User {
            id: new_id,
            created_at,
        })
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn find_user(&self, id: UserId) -> Result<Option<User>, StorageError> {
        sqlx::query_as::<_, UserRow>("SELECT id, created_at FROM users WHERE id = $1")
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
            "SELECT kind, value FROM user_identities WHERE user_id = $1 ORDER BY kind, value",
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
            "SELECT value FROM user_identities WHERE user_id = $1 AND kind = 'email' \
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
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }
}
