//! The clock port: the only source of the current time for business code.

use time::OffsetDateTime;

/// Tells the time.
pub trait Clock: Send + Sync {
    /// The current time in UTC. Successive calls MUST NOT go backwards by more than the
    /// system clock does.
    fn now(&self) -> OffsetDateTime;
}

/// Waits. Business code waits only through this port (never a runtime's timer), so tests can
/// make waits instant and deterministic.
#[async_trait::async_trait]
pub trait Timer: Send + Sync {
    /// Returns after `duration` (or, in a fake, when the fake says it has passed).
    async fn sleep(&self, duration: std::time::Duration);
}
