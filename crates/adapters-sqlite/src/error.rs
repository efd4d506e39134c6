use gptgate_ports::StorageError;

/// Maps a driver error to the port error at the boundary.
pub(crate) fn storage(e: sqlx::Error) -> StorageError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StorageError::Unavailable(Box::new(e))
        }
        sqlx::Error::Database(ref db) if db.message().contains("database is locked") => {
            StorageError::Unavailable(Box::new(e))
        }
        // SQLITE_CONSTRAINT_FOREIGNKEY: the row a write refers to (its user) is gone.
        sqlx::Error::Database(ref db) if db.code().as_deref() == Some("787") => {
            StorageError::Gone(Box::new(e))
        }
        other => StorageError::Failed(Box::new(other)),
    }
}

pub(crate) fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(what.to_owned())
}
