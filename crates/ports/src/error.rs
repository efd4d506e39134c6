//! Errors shared by every port.

/// Any error, boxed, as the source of a port error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage port failed. Adapters map their driver errors here at the boundary; the message
/// never carries stored data.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store cannot be reached or timed out; the request may succeed later (HTTP 503).
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    /// A row could not be turned back into domain values.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// What a write belongs to no longer exists: its user was deleted while the request ran
    /// (a foreign key the write needs is gone). Nothing was written (HTTP 409).
    #[error("what this belongs to was deleted meanwhile")]
    Gone(#[source] BoxError),
    /// Any other failure of the store.
    #[error("the store failed")]
    Failed(#[source] BoxError),
}

/// A failure inside the server that the caller cannot fix (HTTP 500). It keeps its cause, so
/// the one log line of a 500 shows the whole chain.
#[derive(Debug, thiserror::Error)]
#[error("an internal step failed")]
pub struct InternalError(#[source] pub BoxError);

impl InternalError {
    pub fn new(cause: impl Into<BoxError>) -> Self {
        Self(cause.into())
    }
}
