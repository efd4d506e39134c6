//! Provider actions: the GPT acts with a user's connected account (sends an email, posts a
//! Slack message...). The account must be the caller's, of that provider, enabled and
//! connected; its token is refreshed when it is about to expire, and once more if the provider
//! refuses it.

use std::collections::BTreeMap;
use std::sync::Arc;

use gptgate_domain::{Account, AccountId, AccountStatus, ProviderId, UserId};
use serde_json::Value;
use time::Duration;
use tracing::instrument;

use super::refresh::{AccessError, Refresher};
use super::{ConnectError, Connections};
use crate::{
    AccountRepository, ActionCall, ActionError, ActionSpec, InternalError, ProviderActions,
    ProviderError, StorageError,
};

/// Why an action was not done.
#[derive(Debug, thiserror::Error)]
pub enum ActionsError {
    #[error("no provider by that name is configured on this server")]
    UnknownProvider,
    #[error("{provider} has no action by that name")]
    UnknownAction { provider: ProviderId },
    #[error("params.{field}: {message}")]
    InvalidParams { field: String, message: String },
    /// No such account of the caller at this provider (another user's is not found either).
    #[error("no such account")]
    AccountNotFound,
    #[error("this account is disabled; enable it to use it")]
    AccountDisabled,
    /// The account must be connected again: `auth_url` is a fresh link for the user.
    #[error("this account must be connected again")]
    ReauthRequired { auth_url: String },
    #[error("the provider limits the rate of calls")]
    RateLimited { retry_after: Option<Duration> },
    #[error("{message}")]
    Conflict { code: String, message: String },
    #[error("the provider refused: {code}")]
    ProviderRejected {
        code: String,
        message: Option<String>,
    },
    #[error("the provider could not be reached or answered unexpectedly")]
    ProviderUnavailable,
    /// Another server instance's refresh of the account's token is stuck.
    #[error("the account's tokens are being refreshed; try again in a minute")]
    Busy,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// The action use cases (cheap to clone: every part is shared).
#[derive(Clone)]
pub struct Actions {
    accounts: Arc<dyn AccountRepository>,
    refresher: Arc<Refresher>,
    connections: Arc<Connections>,
    providers: BTreeMap<&'static str, Arc<dyn ProviderActions>>,
}

impl Actions {
    pub fn new(
        accounts: Arc<dyn AccountRepository>,
        refresher: Arc<Refresher>,
        connections: Arc<Connections>,
        providers: Vec<Arc<dyn ProviderActions>>,
    ) -> Self {
        Self {
            accounts,
            refresher,
            connections,
            providers: providers
                .into_iter()
                .map(|p| (p.provider().as_str(), p))
                .collect(),
        }
    }

    /// Every configured provider's actions, providers in name order.
    pub fn catalog(&self) -> Vec<(ProviderId, &[ActionSpec])> {
        self.providers
            .values()
            .map(|p| (p.provider(), p.catalog()))
            .collect()
    }

    /// Runs `action` of `provider` with the caller's account `account_id`.
    #[instrument(skip_all, fields(%user, %provider, action, account_id = %account_id))]
    pub async fn run(
        &self,
        user: UserId,
        provider: ProviderId,
        action: &str,
        account_id: AccountId,
        params: &Value,
    ) -> Result<Value, ActionsError> {
        let actions = self
            .providers
            .get(provider.as_str())
            .ok_or(ActionsError::UnknownProvider)?;
        if !actions.catalog().iter().any(|spec| spec.name == action) {
            return Err(ActionsError::UnknownAction { provider });
        }
        actions.check(action, params).map_err(action_error)?;
        let account = self
            .accounts
            .find_account(user, account_id)
            .await?
            .filter(|a| a.provider == provider)
            .ok_or(ActionsError::AccountNotFound)?;
        if !account.enabled {
            return Err(ActionsError::AccountDisabled);
        }
        if account.status != AccountStatus::Active {
            return Err(self.reconnect(&account).await);
        }
        let access = match self.refresher.access(&account).await {
            Ok(access) => access,
            Err(e) => return Err(self.access_error(&account, e).await),
        };
        let first = ActionCall {
            access_token: &access.token,
            metadata: &access.account.metadata,
            params,
        };
        match actions.run(action, first).await {
            Err(ActionError::Unauthorized) => {
                // One refresh and one retry, never more.
                let retry = match self.refresher.after_refusal(&account, &access.token).await {
                    Ok(retry) => retry,
                    Err(e) => return Err(self.access_error(&account, e).await),
                };
                let metadata = &retry.account.metadata;
                match actions
                    .run(
                        action,
                        ActionCall {
                            access_token: &retry.token,
                            metadata,
                            params,
                        },
                    )
                    .await
                {
                    Err(ActionError::Unauthorized) => {
                        tracing::warn!("the provider refused a freshly refreshed token");
                        Err(self.reconnect(&account).await)
                    }
                    other => other.map_err(action_error),
                }
            }
            other => other.map_err(action_error),
        }
        .inspect(|_| tracing::info!("action done"))
    }

    /// A fresh connect link for the account's provider and label, in the error that asks the
    /// user to connect again.
    async fn reconnect(&self, account: &Account) -> ActionsError {
        match self
            .connections
            .create_auth_link(account.user_id, account.provider, account.label.clone())
            .await
        {
            Ok(auth_url) => ActionsError::ReauthRequired { auth_url },
            Err(ConnectError::Storage(e)) => ActionsError::Storage(e),
            Err(ConnectError::ProviderNotConfigured(_)) => ActionsError::UnknownProvider,
            Err(other) => ActionsError::Internal(InternalError::new(other)),
        }
    }

    async fn access_error(&self, account: &Account, e: AccessError) -> ActionsError {
        match e {
            AccessError::NotFound => ActionsError::AccountNotFound,
            AccessError::ReauthRequired => self.reconnect(account).await,
            AccessError::ProviderNotConfigured(_) => ActionsError::UnknownProvider,
            AccessError::Provider(ProviderError::Rejected { code }) => {
                ActionsError::ProviderRejected {
                    code,
                    message: None,
                }
            }
            AccessError::Provider(ProviderError::GrantRevoked { .. }) => {
                self.reconnect(account).await
            }
            AccessError::Provider(ProviderError::Unavailable(_)) => {
                ActionsError::ProviderUnavailable
            }
            AccessError::Busy => ActionsError::Busy,
            AccessError::Storage(e) => ActionsError::Storage(e),
            AccessError::Internal(e) => ActionsError::Internal(e),
        }
    }
}

fn action_error(e: ActionError) -> ActionsError {
    match e {
        ActionError::InvalidParams { field, message } => {
            ActionsError::InvalidParams { field, message }
        }
        // A second refusal is handled by the caller; here it only comes from `check`.
        ActionError::Unauthorized => ActionsError::ProviderRejected {
            code: "unauthorized".into(),
            message: None,
        },
        ActionError::RateLimited { retry_after } => ActionsError::RateLimited { retry_after },
        ActionError::Conflict { code, message } => ActionsError::Conflict { code, message },
        ActionError::Rejected { code, message } => ActionsError::ProviderRejected { code, message },
        ActionError::Unavailable(e) => {
            tracing::warn!(error = %e, "the provider failed an action");
            ActionsError::ProviderUnavailable
        }
    }
}
