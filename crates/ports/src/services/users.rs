//! Users as callers: resolving identities and deleting everything a user owns.

use std::sync::Arc;

use gptgate_domain::{Identity, UserId};
use tracing::instrument;

use crate::{Clock, InternalError, Random, StorageError, UserRepository};

/// The user use cases.
#[derive(Clone)]
pub struct Users {
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
}

/// Why a user could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl Users {
    pub fn new(
        users: Arc<dyn UserRepository>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        Self {
            users,
            clock,
            random,
        }
    }

    /// The user holding `identity`, created on first sight.
    #[instrument(skip_all, fields(kind = identity.kind().as_str()))]
    pub async fn resolve(&self, identity: &Identity) -> Result<UserId, UsersError> {
        let new_id = self.random.user_id().map_err(InternalError::from)?;
        let user = self
            .users
            .find_or_create_user(identity, new_id, self.clock.now())
            .await?;
        Ok(user.id)
    }
}
