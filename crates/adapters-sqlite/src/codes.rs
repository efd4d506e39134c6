//! Code records: the shared SQL in `sql/codes.rs`, and SQLite's lock for an update.

include!("../../../sql/codes.rs");

impl Store {
    /// A transaction holding the lock on `email`'s code record.
    async fn lock_code(
        &self,
        _email: &Email,
    ) -> Result<sqlx::Transaction<'_, crate::dialect::Db>, StorageError> {
        // IMMEDIATE takes the write lock before the read, so no other update interleaves.
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(storage)
    }
}
