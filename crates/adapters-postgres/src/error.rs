use gptgate_ports::StorageError;

/// Maps a driver error to the port error at the boundary.
pub(crate) fn storage(e: sqlx::Error) -> StorageError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StorageError::Unavailable(Box::new(e))
        }
        // Class 08 (connection exception), 53 (insufficient resources), 57P (operator
        // intervention, e.g. shutdown): the database is down or overloaded, not our request.
        sqlx::Error::Database(ref db)
            if db.code().is_some_and(|c| {
                c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")
            }) =>
        {
            StorageError::Unavailable(Box::new(e))
        }
        // foreign_key_violation: the row a write refers to (its user) is gone.
        sqlx::Error::Database(ref db) if db.code().as_deref() == Some("23503") => {
            StorageError::Gone(Box::new(e))
        }
        other => StorageError::Failed(Box::new(other)),
    }
}

pub(crate) fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(what.to_owned())
}
