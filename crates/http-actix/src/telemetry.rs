//! Logging: `tracing` with an env filter (`RUST_LOG`), as text or JSON lines.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Crates that log whole messages below `info` (rmcp logs each MCP request and result at
/// debug: conversation text, email bodies, links): held at `info` whatever `RUST_LOG` says.
const QUIET: [&str; 2] = ["rmcp=info", "rmcp_actix_web=info"];

/// Installs the global subscriber. Later calls do nothing.
pub fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(EnvFilter::try_from_default_env().ok()))
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// `RUST_LOG`'s filter (else ours), with [`QUIET`] on top.
fn filter(from_env: Option<EnvFilter>) -> EnvFilter {
    let mut filter = from_env.unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    for directive in QUIET {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmcp_stays_at_info_even_when_everything_else_is_traced() {
        for from_env in [
            Some(EnvFilter::new("trace")),
            Some(EnvFilter::new("debug,rmcp=trace")),
            None,
        ] {
            let directives = filter(from_env).to_string();
            assert!(directives.contains("rmcp=info"), "{directives}");
            assert!(!directives.contains("rmcp=trace"), "{directives}");
            assert!(directives.contains("rmcp_actix_web=info"), "{directives}");
        }
    }
}
