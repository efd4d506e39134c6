//! Users: the shared SQL in `sql/users.rs`.

include!("../sql/users.rs");

impl Store {
    /// The user holding `identity`, created with `new_id` if there is none. The common case, a
    /// known identity, is one read on a reader connection; creating takes the writer for one
    /// short transaction (round trips cost nothing in-process, the writer's time does).
    pub(crate) async fn find_or_create_holder(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
        if let Some(user) = self.find_holder(self.reads(), identity).await? {
            return Ok(user);
        }
        let mut tx = self.writes().begin().await.map_err(storage)?;
        let created_at = sqlx::query_scalar::<_, Time>(
            "INSERT INTO users (id, created_at) VALUES ($1, $2) RETURNING created_at",
        )
        .bind(new_id.as_uuid())
        .bind(time(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(storage)?;
        // A first sight that got the writer before this one has claimed it: its user stays.
        let claimed = sqlx::query(
            "INSERT INTO user_identities (kind, value, user_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(identity.kind().as_str())
        .bind(identity.value())
        .bind(new_id.as_uuid())
        .bind(time(now))
        .execute(&mut *tx)
        .await
        .map_err(storage)?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await.map_err(storage)?;
            return self.race_winner(identity).await;
        }
        tx.commit().await.map_err(storage)?;
        Ok(User {
            id: new_id,
            created_at: from_time(created_at)?,
        })
    }
}
