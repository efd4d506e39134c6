//! Logging: `tracing` with an env filter (`RUST_LOG`), as text or JSON lines.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber. Later calls do nothing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(filter_fn(allowed));
    let _ = match format {
        LogFormat::Text => registry.with(fmt::layer().with_target(false)).try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().with_target(false).json().flatten_event(true))
            .try_init(),
    };
}

/// Whether an event or span may be logged whatever `RUST_LOG` says: rmcp and its actix bridge
/// log whole MCP requests and results below `info` (conversation text, email bodies, links),
/// so nothing of theirs below `info` is, for any of their modules.
fn allowed(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    let mcp_library = ["rmcp", "rmcp_actix_web"]
        .iter()
        .any(|name| target == *name || target.starts_with(&format!("{name}::")));
    !(mcp_library && *metadata.level() > Level::INFO)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records the target and level of each event it is given.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let m = event.metadata();
            if let Ok(mut seen) = self.0.lock() {
                seen.push(format!("{} {}", m.target(), m.level()));
            }
        }
    }

    /// The targets and levels of the events that got through `RUST_LOG=rust_log` and
    /// [`allowed`].
    fn logged(rust_log: &str) -> Vec<String> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new(rust_log))
            .with(filter_fn(allowed))
            .with(Recorder(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "rmcp::service", "a whole request");
            tracing::trace!(target: "rmcp", "a whole result");
            tracing::debug!(target: "rmcp_actix_web::transport", "a body");
            tracing::info!(target: "rmcp::service", "a server started");
            tracing::debug!(target: "rmcpx", "another crate");
            tracing::debug!(target: "gptgate_http", "ours");
        });
        let seen = seen.lock().unwrap().clone();
        seen
    }

    #[test]
    fn rmcp_logs_nothing_below_info_even_when_asked_for_by_module() {
        for rust_log in ["trace", "debug,rmcp=trace", "rmcp::service=trace,trace"] {
            assert_eq!(
                logged(rust_log),
                ["rmcp::service INFO", "rmcpx DEBUG", "gptgate_http DEBUG"],
                "{rust_log}"
            );
        }
    }
}
