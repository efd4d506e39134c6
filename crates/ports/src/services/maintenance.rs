//! Housekeeping: removing rows nobody can use any more.

use std::sync::Arc;

use time::Duration;
use tracing::instrument;

use crate::{Clock, Housekeeping, PurgeReport, StorageError};

/// Purges ended sessions, expired link tokens and OAuth states, and code records whose
/// windows have closed, keeping a day's grace so that nothing recent disappears from view.
#[derive(Clone)]
pub struct Maintenance {
    store: Arc<dyn Housekeeping>,
    clock: Arc<dyn Clock>,
}

impl Maintenance {
    /// How long ended rows are kept before they are purged.
    pub const GRACE: Duration = Duration::hours(24);

    pub fn new(store: Arc<dyn Housekeeping>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// One purge of everything that ended more than [`GRACE`](Self::GRACE) ago.
    #[instrument(skip_all)]
    pub async fn purge(&self) -> Result<PurgeReport, StorageError> {
        let report = self.store.purge(self.clock.now() - Self::GRACE).await?;
        tracing::info!(
            verification_codes = report.verification_codes,
            sessions = report.sessions,
            onboarding_tokens = report.onboarding_tokens,
            management_tokens = report.management_tokens,
            oauth_states = report.oauth_states,
            "purged ended rows"
        );
        Ok(report)
    }
}
