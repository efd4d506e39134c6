use gptgate_ports::{Clock, Timer};
use time::OffsetDateTime;

/// The system clock, truncated to microseconds: the precision every store keeps, so a value
/// read back equals the value written.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        #[allow(
            clippy::disallowed_methods,
            reason = "this is the Clock port's one adapter"
        )]
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}

/// Waits on the tokio runtime's timer and spawns on the tokio runtime.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioTimer;

#[async_trait::async_trait]
impl Timer for TokioTimer {
    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }

    fn spawn(&self, task: gptgate_ports::Task) {
        tokio::spawn(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_keeps_whole_microseconds() {
        assert_eq!(SystemClock.now().nanosecond() % 1_000, 0);
    }
}
