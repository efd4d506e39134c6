//! Users: the shared SQL in `sql/users.rs`, and how PostgreSQL creates a user for an identity
//! seen for the first time (concurrent first sights resolve through the identity's unique key).

include!("../../../sql/users.rs");

impl Store {
    async fn create_holder(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
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
            return self
                .find_holder(&self.pool, identity)
                .await?
                .ok_or_else(|| {
                    StorageError::Corrupt("identity vanished while being claimed".into())
                });
        }
        tx.commit().await.map_err(storage)?;
        Ok(User {
            id: new_id,
            created_at,
        })
    }
}
