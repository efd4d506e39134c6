//! Code records: the shared SQL in `sql/codes.rs`, and PostgreSQL's lock for an update.

include!("../../../sql/codes.rs");

impl Store {
    /// A transaction holding the lock on `email`'s code record.
    async fn lock_code(
        &self,
        email: &Email,
    ) -> Result<sqlx::Transaction<'_, crate::dialect::Db>, StorageError> {
        // A transaction-scoped advisory lock on the email serializes updates of one email,
        // including the first one, when there is no row to lock yet.
        let mut tx = self.pool.begin().await.map_err(storage)?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('verification_codes:' || $1, 0))",
        )
        .bind(email.as_str())
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        Ok(tx)
    }
}
