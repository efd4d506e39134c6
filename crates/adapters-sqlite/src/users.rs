//! Users: the shared SQL in `sql/users.rs`, and how SQLite creates a user for an identity seen
//! for the first time (under the write lock, `BEGIN IMMEDIATE`, after looking again).

include!("../../../sql/users.rs");

use crate::dialect::time;

impl Store {
    async fn create_holder(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(storage)?;
        if let Some(user) = self.find_holder(&mut *tx, identity).await? {
            tx.commit().await.map_err(storage)?;
            return Ok(user);
        }
        sqlx::query("INSERT INTO users (id, created_at) VALUES ($1, $2)")
            .bind(new_id.as_uuid())
            .bind(time(now))
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        sqlx::query(
            "INSERT INTO user_identities (kind, value, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(identity.kind().as_str())
        .bind(identity.value())
        .bind(new_id.as_uuid())
        .bind(time(now))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(User {
            id: new_id,
            created_at: from_time(time(now))?,
        })
    }
}
