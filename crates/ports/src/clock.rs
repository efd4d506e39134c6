//! The clock port: the only source of the current time for business code.

use time::OffsetDateTime;

/// Tells the time.
pub trait Clock: Send + Sync {
    /// The current time in UTC. Successive calls MUST NOT go backwards by more than the
    /// system clock does.
    fn now(&self) -> OffsetDateTime;
}
