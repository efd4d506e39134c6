//! Housekeeping: removing rows nobody can use any more, and keeping connected accounts'
//! grants alive, once an hour by one instance at a time.

use std::sync::Arc;

use time::Duration;
use tracing::instrument;

use super::refresh::{KeepAliveReport, Refresher};
use crate::{AdminRepository, Clock, Housekeeping, PurgeReport, StorageError};

/// How long the hourly job's lease lasts: under an hour, so the next hour's run by any
/// instance finds it free, and longer than a run takes.
pub const HOURLY_LEASE: Duration = Duration::minutes(50);

/// The name of the hourly job's lease.
const HOURLY_JOB: &str = "hourly";

/// What one hourly run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourlyReport {
    pub purged: PurgeReport,
    pub kept_alive: KeepAliveReport,
    /// Conversations deleted by the operator's retention.
    pub expired_conversations: u64,
}

/// Purges ended sessions, expired link tokens and OAuth states, and code records whose
/// windows have closed, keeping a day's grace so that nothing recent disappears from view;
/// with a [`Refresher`], also keeps alive the grants that die of disuse.
#[derive(Clone)]
pub struct Maintenance {
    store: Arc<dyn Housekeeping>,
    clock: Arc<dyn Clock>,
    refresher: Option<Arc<Refresher>>,
    /// Where the operator's retention is read from.
    settings: Option<Arc<dyn AdminRepository>>,
}

impl Maintenance {
    /// How long ended rows are kept before they are purged.
    pub const GRACE: Duration = Duration::hours(24);

    pub fn new(store: Arc<dyn Housekeeping>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            refresher: None,
            settings: None,
        }
    }

    /// The same, deleting conversations past the retention in `settings` in each hourly run.
    pub fn with_retention(mut self, settings: Arc<dyn AdminRepository>) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Deletes the conversations last saved longer ago than the operator's retention.
    #[instrument(skip_all)]
    pub async fn expire_conversations(&self) -> Result<u64, StorageError> {
        let Some(settings) = &self.settings else {
            return Ok(0);
        };
        let Some(before) = settings
            .privacy_settings()
            .await?
            .delete_saved_before(self.clock.now())
        else {
            return Ok(0);
        };
        let deleted = self.store.delete_conversations_saved_before(before).await?;
        if deleted > 0 {
            tracing::info!(deleted, "conversations past the retention deleted");
        }
        Ok(deleted)
    }

    /// The same, keeping grants alive with `refresher` in each hourly run.
    pub fn with_refresher(mut self, refresher: Arc<Refresher>) -> Self {
        self.refresher = Some(refresher);
        self
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
            export_links = report.export_links,
            authorization_codes = report.authorization_codes,
            refresh_tokens = report.refresh_tokens,
            grants = report.grants,
            unused_clients = report.unused_clients,
            admin_sessions = report.admin_sessions,
            admin_audit_entries = report.admin_audit_entries,
            "purged ended rows"
        );
        Ok(report)
    }

    /// The hourly run, if no other instance has run it within [`HOURLY_LEASE`]: the purge,
    /// then the keep-alive sweep. `None` when another instance holds the lease.
    #[instrument(skip_all)]
    pub async fn hourly(&self) -> Result<Option<HourlyReport>, StorageError> {
        let now = self.clock.now();
        if !self
            .store
            .take_job_lease(HOURLY_JOB, now, now + HOURLY_LEASE)
            .await?
        {
            tracing::debug!("another instance runs this hour's maintenance");
            return Ok(None);
        }
        let purged = self.purge().await?;
        let expired_conversations = self.expire_conversations().await?;
        let kept_alive = match &self.refresher {
            Some(refresher) => refresher.keep_alive().await?,
            None => KeepAliveReport::default(),
        };
        Ok(Some(HourlyReport {
            purged,
            kept_alive,
            expired_conversations,
        }))
    }
}
