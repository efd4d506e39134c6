//! The clock port: the only source of the current time for business code.

use time::OffsetDateTime;

/// Tells the time.
pub trait Clock: Send + Sync {
    /// The current time in UTC. Successive calls MUST NOT go backwards by more than the
    /// system clock does.
    fn now(&self) -> OffsetDateTime;
}

/// A task to run in the background.
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// Waits, and runs work that must not be cancelled with its caller. Business code reaches the
/// runtime only through this port, so tests can make waits instant and deterministic.
#[async_trait::async_trait]
pub trait Timer: Send + Sync {
    /// Returns after `duration` (or, in a fake, when the fake says it has passed).
    async fn sleep(&self, duration: std::time::Duration);

    /// Runs `task` to its end in the background, whatever becomes of the caller.
    fn spawn(&self, task: Task);
}
