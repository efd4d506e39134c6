// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/users.rs and
// crates/adapters-postgres/src/users.rs, each with its own `crate::dialect`.

use async_trait::async_trait;
use gptgate_domain::{Email, Identity, IdentityKind, User, UserId};
use gptgate_ports::{StorageError, UserRepository};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{corrupt, from_time, storage, time, Db, Store, Time};

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    created_at: Time,
}

impl UserRow {
    fn into_user(self) -> Result<User, StorageError> {
        Ok(User {
            id: UserId::from_uuid(self.id),
            created_at: from_time(self.created_at)?,
        })
    }
}

const FIND: &str = "SELECT u.id, u.created_at FROM user_identities i \
     JOIN users u ON u.id = i.user_id WHERE i.kind = $1 AND i.value = $2";

impl Store {
    /// The user holding `identity`, through `executor` (the pool, or a transaction).
    pub(crate) async fn find_holder<'e, E>(
        &self,
        executor: E,
        identity: &Identity,
    ) -> Result<Option<User>, StorageError>
    where
        E: sqlx::Executor<'e, Database = Db>,
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

    /// The user holding `identity`, read after a first sight lost the race to claim it: the
    /// winner's user. Its absence is a race too (that user deleted since), not bad data.
    pub(crate) async fn race_winner(&self, identity: &Identity) -> Result<User, StorageError> {
        self.find_holder(self.reads(), identity)
            .await?
            .ok_or_else(|| {
                StorageError::Gone("the identity's user was deleted while it was claimed".into())
            })
    }
}

#[async_trait]
impl UserRepository for Store {
    #[instrument(skip_all, fields(kind = identity.kind().as_str()))]
    async fn find_or_create_user(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
        // How many round trips this takes is the dialect's (`find_or_create_holder`).
        self.find_or_create_holder(identity, new_id, now).await
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn find_user(&self, id: UserId) -> Result<Option<User>, StorageError> {
        sqlx::query_as::<_, UserRow>("SELECT id, created_at FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.reads())
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
        .fetch_all(self.reads())
        .await
        .map_err(storage)?;
        rows.into_iter()
            .map(|(kind, value)| {
                IdentityKind::parse(&kind)
                    .and_then(|k| Identity::from_parts(k, &value).ok())
                    .ok_or_else(|| corrupt("identity"))
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
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?;
        value
            .map(|v| Email::parse(&v).map_err(|_| corrupt("email identity")))
            .transpose()
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn delete_user(&self, id: UserId) -> Result<bool, StorageError> {
        // Identities, sessions and conversations go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }
}
