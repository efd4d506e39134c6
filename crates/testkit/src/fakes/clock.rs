use std::sync::{Arc, Mutex};

use gptgate_ports::{Clock, Timer};
use time::{macros::datetime, Duration, OffsetDateTime};

/// A clock that only moves when told. Clones share the same time.
#[derive(Clone)]
pub struct FakeClock(Arc<Mutex<OffsetDateTime>>);

impl FakeClock {
    /// A clock at 2026-01-01 12:00 UTC.
    pub fn new() -> Self {
        Self::at(datetime!(2026-01-01 12:00 UTC))
    }

    pub fn at(now: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    pub fn set(&self, now: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A sleep moves the fake clock on by its duration at once (and lets other tasks run), so
/// waits cost no real time and what they wait for is decided by the test.
#[async_trait::async_trait]
impl Timer for FakeClock {
    async fn sleep(&self, duration: std::time::Duration) {
        self.advance(Duration::try_from(duration).unwrap_or(Duration::MAX));
        tokio::task::yield_now().await;
    }

    /// Spawns on the test's tokio runtime.
    fn spawn(&self, task: gptgate_ports::Task) {
        tokio::spawn(task);
    }
}
