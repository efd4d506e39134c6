//! The hosted assistant's profiles: the operator saves versions and publishes one (or an
//! earlier one again); each change is in the admin audit log.

use std::sync::Arc;

use gptgate_domain::{
    AdminAction, AdminAuditEntry, AssistantProfile, ProfileError, ProfileInput, ProfileVersion,
};
use tracing::instrument;

use crate::{AdminRepository, Clock, ProfileRepository, StorageError};

/// Why a profile change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ProfilesError {
    #[error("{0}")]
    Invalid(#[from] ProfileError),
    #[error("there is no version {0}")]
    NoSuchVersion(u32),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The profile use cases.
pub struct Profiles {
    store: Arc<dyn ProfileRepository>,
    audit: Arc<dyn AdminRepository>,
    clock: Arc<dyn Clock>,
}

impl Profiles {
    pub fn new(
        store: Arc<dyn ProfileRepository>,
        audit: Arc<dyn AdminRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            audit,
            clock,
        }
    }

    async fn record(&self, action: AdminAction, address: &str) -> Result<(), StorageError> {
        self.audit
            .record_admin_action(&AdminAuditEntry::new(self.clock.now(), action, address))
            .await
    }

    /// Saves `input` as a new version (not published), for an admin at `address`.
    #[instrument(skip_all)]
    pub async fn save(
        &self,
        input: ProfileInput,
        address: &str,
    ) -> Result<ProfileVersion, ProfilesError> {
        let profile = AssistantProfile::parse(input)?;
        let saved = self
            .store
            .save_profile_version(&profile, self.clock.now())
            .await?;
        self.record(AdminAction::ProfileSaved, address).await?;
        tracing::info!(version = saved.version, "assistant profile saved");
        Ok(saved)
    }

    /// Publishes `version` (a rollback when it is an earlier one).
    #[instrument(skip_all, fields(version))]
    pub async fn publish(&self, version: u32, address: &str) -> Result<(), ProfilesError> {
        if !self
            .store
            .publish_profile_version(version, self.clock.now())
            .await?
        {
            return Err(ProfilesError::NoSuchVersion(version));
        }
        self.record(AdminAction::ProfilePublished, address).await?;
        tracing::info!(version, "assistant profile published");
        Ok(())
    }

    /// The newest `limit` versions, newest first.
    pub async fn versions(&self, limit: usize) -> Result<Vec<ProfileVersion>, StorageError> {
        self.store.profile_versions(limit).await
    }

    /// One version.
    pub async fn version(&self, version: u32) -> Result<Option<ProfileVersion>, StorageError> {
        self.store.profile_version(version).await
    }

    /// The published version, if any.
    pub async fn published(&self) -> Result<Option<ProfileVersion>, StorageError> {
        self.store.published_profile().await
    }
}
