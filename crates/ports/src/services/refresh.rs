//! Keeping connected accounts' access tokens usable: refreshed shortly before they expire, and
//! once after a provider refuses one; one refresh at a time per account, in this process (a
//! queue per account) and across server instances (a lease in the database).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gptgate_domain::{token_expiry, Account, AccountId, AccountStatus, ProviderId, SealedTokens};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;
use tracing::instrument;

use super::connections::context;
use crate::{
    AccountRepository, Clock, InternalError, OAuthProvider, ProviderError, RefreshOutcome,
    SealError, SecretBox, StorageError, Timer,
};

/// How long a refresh may hold an account's lease: longer than a provider call may take (20 s),
/// so a lease outlives its refresh, and short enough that a crashed instance's lease soon
/// frees the account.
pub const REFRESH_LEASE: Duration = Duration::seconds(30);

/// How often a caller waiting for another instance's refresh looks at the account again.
const WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(100);

/// The ports the refresher uses.
#[derive(Clone)]
pub struct RefreshPorts {
    pub accounts: Arc<dyn AccountRepository>,
    pub secrets: Arc<dyn SecretBox>,
    pub clock: Arc<dyn Clock>,
    pub timer: Arc<dyn Timer>,
}

/// An access token to call the provider with, and the account as it was when it was read.
pub struct Access {
    pub account: Account,
    pub token: SecretString,
}

/// Why no usable access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The account is gone (deleted meanwhile).
    #[error("no such account")]
    NotFound,
    /// The provider no longer honours the grant (or there is no way to refresh an expired
    /// token): the user must connect the account again.
    #[error("the account must be connected again")]
    ReauthRequired,
    #[error("{0} is not configured on this server")]
    ProviderNotConfigured(ProviderId),
    /// The provider refused or failed for now; the account is left as it was.
    #[error(transparent)]
    Provider(ProviderError),
    /// Another instance's refresh of this account held its lease for longer than a lease
    /// lasts: it is stuck or slow.
    #[error("the account's tokens are being refreshed elsewhere; try again")]
    Busy,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<SealError> for AccessError {
    fn from(e: SealError) -> Self {
        AccessError::Internal(InternalError::new(e))
    }
}

/// Refreshes connected accounts' tokens.
pub struct Refresher {
    ports: RefreshPorts,
    providers: HashMap<ProviderId, Arc<dyn OAuthProvider>>,
    /// One queue per account with a refresh in progress or awaited in this process.
    queues: Mutex<HashMap<AccountId, Arc<futures::lock::Mutex<()>>>>,
}

/// What makes the stored token unusable, for [`Refresher::refreshed_if`].
enum Stale<'a> {
    /// It expires within the refresh margin.
    Expiring,
    /// The provider refused this very token.
    Refused(&'a SecretString),
    /// The grant has gone unrenewed too long (the background job keeps it alive): unusable
    /// while the account still holds these tokens, the ones it was listed with.
    Idle(&'a SealedTokens),
}

/// How many accounts a keep-alive sweep looked at per provider, at most.
pub const KEEP_ALIVE_BATCH: usize = 200;

/// What a keep-alive sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepAliveReport {
    /// Refreshed, by this sweep or (found fresh) by someone else meanwhile.
    pub refreshed: u64,
    /// Found ended at the provider: marked for connecting again.
    pub reauth_required: u64,
    /// Left for the next sweep (the provider failed, or another instance held the account).
    pub failed: u64,
}

impl Refresher {
    pub fn new(ports: RefreshPorts, providers: Vec<Arc<dyn OAuthProvider>>) -> Self {
        Self {
            ports,
            providers: providers.into_iter().map(|p| (p.id(), p)).collect(),
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// A usable access token of `account`: the stored one, unless it expires within
    /// [`REFRESH_MARGIN`](gptgate_domain::REFRESH_MARGIN), when it is refreshed first.
    #[instrument(skip_all, fields(account_id = %account.id, provider = %account.provider))]
    pub async fn access(&self, account: &Account) -> Result<Access, AccessError> {
        if account.status == AccountStatus::ReauthRequired {
            return Err(AccessError::ReauthRequired);
        }
        if !account.needs_refresh(self.ports.clock.now()) {
            return Ok(Access {
                token: self.ports.open_access(account)?,
                account: account.clone(),
            });
        }
        self.refreshed_if(account, Stale::Expiring).await
    }

    /// A new access token after the provider refused `refused` (a 401): refreshed, unless
    /// another caller has replaced the stored token since (then that one). Callers retry once
    /// with it, never more.
    #[instrument(skip_all, fields(account_id = %account.id, provider = %account.provider))]
    pub async fn after_refusal(
        &self,
        account: &Account,
        refused: &SecretString,
    ) -> Result<Access, AccessError> {
        self.refreshed_if(account, Stale::Refused(refused)).await
    }

    /// The account's token, refreshed if it is `stale`: in this process one caller at a
    /// time per account; across instances, through the account's lease. Whoever waited
    /// reads the account again first, and uses a token someone else refreshed meanwhile.
    async fn refreshed_if(
        &self,
        account: &Account,
        stale: Stale<'_>,
    ) -> Result<Access, AccessError> {
        let queue = self.queue(account.id);
        let turn = queue.lock().await;
        let result = self.in_turn(account, &stale).await;
        drop(turn);
        self.forget_queue(account.id, queue);
        result
    }

    /// [`refreshed_if`](Self::refreshed_if), this process's turn for the account taken.
    async fn in_turn(&self, account: &Account, stale: &Stale<'_>) -> Result<Access, AccessError> {
        let started = self.ports.clock.now();
        loop {
            if let Ok(access) = self.still_usable(account, stale).await? {
                return Ok(access);
            }
            let now = self.ports.clock.now();
            if self
                .ports
                .accounts
                .take_refresh_lease(account.id, now, now + REFRESH_LEASE)
                .await?
            {
                // Read again under the lease: another instance may have refreshed and
                // released it between the read above and the lease, and its rotated refresh
                // token is the only one the provider still honours.
                return match self.still_usable(account, stale).await {
                    Ok(Err(current)) => self.refresh(current, stale).await,
                    usable_or_gone => {
                        self.ports
                            .accounts
                            .end_refresh(account.id, &RefreshOutcome::Unchanged, now)
                            .await?;
                        usable_or_gone?.map_err(|_| AccessError::NotFound)
                    }
                };
            }
            // Another instance is refreshing this account: wait for it, then look again.
            if now - started > REFRESH_LEASE * 2 {
                return Err(AccessError::Busy);
            }
            self.ports.timer.sleep(WAIT_STEP).await;
        }
    }

    /// The stored account and its token if that token is usable despite `stale`; else the
    /// stored account, to refresh.
    async fn still_usable(
        &self,
        account: &Account,
        stale: &Stale<'_>,
    ) -> Result<Result<Access, Account>, AccessError> {
        let current = self
            .ports
            .accounts
            .find_account(account.user_id, account.id)
            .await?
            .ok_or(AccessError::NotFound)?;
        if current.status == AccountStatus::ReauthRequired {
            return Err(AccessError::ReauthRequired);
        }
        let now = self.ports.clock.now();
        let token = self.ports.open_access(&current).ok();
        let unusable = match (stale, &token) {
            (_, None) => true,
            (Stale::Expiring, Some(_)) => current.needs_refresh(now),
            (Stale::Refused(refused), Some(token)) => {
                token.expose_secret() == refused.expose_secret()
            }
            (Stale::Idle(listed), Some(_)) => current.tokens == **listed,
        };
        Ok(match (unusable, token) {
            (false, Some(token)) => Ok(Access {
                account: current,
                token,
            }),
            _ => Err(current),
        })
    }

    /// Refreshes `account`, holding its lease, and stores what came of it: in a task of its
    /// own (the `Timer` port's `spawn`), so a caller that gives up (a time limit, a client
    /// hanging up) cannot cut it between the provider rotating the pair and the pair being
    /// stored. Only this part outlives its caller; the action around it does not.
    async fn refresh(&self, account: Account, stale: &Stale<'_>) -> Result<Access, AccessError> {
        let job = RefreshJob {
            ports: self.ports.clone(),
            provider: self.providers.get(&account.provider).cloned(),
            account: account.clone(),
            still_valid_will_do: matches!(stale, Stale::Expiring | Stale::Idle(_)),
        };
        let (answer, answered) = futures::channel::oneshot::channel();
        self.ports.timer.spawn(Box::pin(async move {
            let _ = answer.send(job.run().await);
        }));
        let (marked_reauth, result) = answered.await.unwrap_or_else(|_| {
            (
                false,
                Err(AccessError::Internal(InternalError::new(
                    "the refresh task ended without an answer",
                ))),
            )
        });
        if marked_reauth {
            // The mark lands only if the refused refresh token is still the stored one: a
            // refresh elsewhere that stored a new pair meanwhile means the account is fine.
            if let Ok(Ok(access)) = self.still_usable(&account, stale).await {
                return Ok(access);
            }
        }
        result
    }

    /// Refreshes the accounts whose refresh token would otherwise die of disuse (see
    /// [`ProviderId::keep_alive_after`]): every configured provider's active accounts not
    /// renewed for that long, in pages of [`KEEP_ALIVE_BATCH`], one at a time. An account
    /// whose tokens changed since it was listed (refreshed or reconnected meanwhile) is left
    /// alone; a failure leaves the account for the next sweep, and every idle account gets its
    /// try in every sweep.
    #[instrument(skip_all)]
    pub async fn keep_alive(&self) -> Result<KeepAliveReport, StorageError> {
        let mut report = KeepAliveReport::default();
        let mut providers: Vec<ProviderId> = self.providers.keys().copied().collect();
        providers.sort_by_key(ProviderId::as_str);
        for provider in providers {
            let Some(after) = provider.keep_alive_after() else {
                continue;
            };
            let before = self.ports.clock.now() - after;
            let mut cursor = None;
            loop {
                let idle = self
                    .ports
                    .accounts
                    .accounts_idle_since(provider, before, cursor, KEEP_ALIVE_BATCH)
                    .await?;
                let last_page = idle.len() < KEEP_ALIVE_BATCH;
                cursor = idle.last().map(|a| a.id);
                for account in idle {
                    match self
                        .refreshed_if(&account, Stale::Idle(&account.tokens))
                        .await
                    {
                        Ok(_) => report.refreshed += 1,
                        Err(AccessError::ReauthRequired) => report.reauth_required += 1,
                        Err(AccessError::NotFound) => {}
                        Err(AccessError::Storage(e)) => return Err(e),
                        Err(e) => {
                            tracing::warn!(error = %e, account_id = %account.id, %provider, "keeping a grant alive failed; trying again at the next sweep");
                            report.failed += 1;
                        }
                    }
                }
                if last_page {
                    break;
                }
            }
        }
        if report != KeepAliveReport::default() {
            tracing::info!(
                refreshed = report.refreshed,
                reauth_required = report.reauth_required,
                failed = report.failed,
                "kept grants alive"
            );
        }
        Ok(report)
    }

    /// How many accounts have a refresh in progress or awaited in this process (a queue is
    /// dropped with its last caller, so this is 0 when nothing is going on).
    pub fn queued_accounts(&self) -> usize {
        self.queues.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn queue(&self, id: AccountId) -> Arc<futures::lock::Mutex<()>> {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }

    /// Drops the account's queue once nobody else holds or awaits it.
    fn forget_queue(&self, id: AccountId, queue: Arc<futures::lock::Mutex<()>>) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        // Ours and the map's: nobody else is queued.
        if Arc::strong_count(&queue) == 2 {
            queues.remove(&id);
        }
    }
}

/// One refresh, holding the account's lease: asks the provider and stores what came of it.
/// Owns what it needs, so it can run in a task of its own.
struct RefreshJob {
    ports: RefreshPorts,
    provider: Option<Arc<dyn OAuthProvider>>,
    account: Account,
    /// Whether a token still valid for a while may be used when there is nothing to refresh
    /// with (true unless the provider refused that very token).
    still_valid_will_do: bool,
}

impl RefreshJob {
    /// Whether the account was marked for reconnecting, and what to answer.
    async fn run(self) -> (bool, Result<Access, AccessError>) {
        let (outcome, result) = self.ask_provider().await;
        let now = self.ports.clock.now();
        let stored = match self
            .ports
            .accounts
            .end_refresh(self.account.id, &outcome, now)
            .await
        {
            Ok(stored) => stored,
            // Once more: a rotated refresh token that is not stored is lost for good.
            Err(first) => {
                tracing::warn!(error = %first, "storing a refresh failed; trying once more");
                match self
                    .ports
                    .accounts
                    .end_refresh(self.account.id, &outcome, now)
                    .await
                {
                    Ok(stored) => stored,
                    Err(e) => {
                        if matches!(outcome, RefreshOutcome::Refreshed { .. }) {
                            tracing::error!(error = %e, "a refreshed token could not be stored; the account may need connecting again");
                        }
                        return (false, Err(e.into()));
                    }
                }
            }
        };
        if !stored {
            return (false, Err(AccessError::NotFound));
        }
        (
            matches!(outcome, RefreshOutcome::ReauthRequired { .. }),
            result,
        )
    }

    /// Asks the provider for fresh tokens. Returns what to store and what to answer.
    async fn ask_provider(&self) -> (RefreshOutcome, Result<Access, AccessError>) {
        let account = &self.account;
        let now = self.ports.clock.now();
        let Some(provider) = &self.provider else {
            return (
                RefreshOutcome::Unchanged,
                Err(AccessError::ProviderNotConfigured(account.provider)),
            );
        };
        let refresh_token = match self.ports.open_refresh(account) {
            Ok(Some(token)) => token,
            Ok(None) => {
                // Nothing to refresh with: a token still valid is used for the time it has
                // left; an expired or refused one means connecting again.
                let still_valid =
                    self.still_valid_will_do && account.expires_at.is_none_or(|t| t > now);
                return match (still_valid, self.ports.open_access(account)) {
                    (true, Ok(token)) => (
                        RefreshOutcome::Unchanged,
                        Ok(Access {
                            account: account.clone(),
                            token,
                        }),
                    ),
                    _ => (
                        RefreshOutcome::ReauthRequired {
                            refused: account.tokens.refresh_token.clone(),
                        },
                        Err(AccessError::ReauthRequired),
                    ),
                };
            }
            Err(e) => return (RefreshOutcome::Unchanged, Err(e.into())),
        };
        match provider.refresh(&refresh_token, &account.metadata).await {
            Ok(fresh) => {
                let sealed = match self.ports.seal(
                    account,
                    &fresh.access_token,
                    fresh.refresh_token.as_ref(),
                ) {
                    Ok(sealed) => sealed,
                    Err(e) => return (RefreshOutcome::Unchanged, Err(e.into())),
                };
                let mut metadata = account.metadata.clone();
                metadata.extend(fresh.metadata);
                let expires_at = fresh.expires_in.map(|d| token_expiry(now, d));
                let mut refreshed = account.clone();
                refreshed.tokens = sealed.clone();
                refreshed.expires_at = expires_at;
                refreshed.metadata = metadata.clone();
                refreshed.status = AccountStatus::Active;
                refreshed.updated_at = now;
                tracing::info!("access token refreshed");
                (
                    RefreshOutcome::Refreshed {
                        tokens: sealed,
                        expires_at,
                        metadata,
                    },
                    Ok(Access {
                        account: refreshed,
                        token: fresh.access_token,
                    }),
                )
            }
            Err(ProviderError::GrantRevoked { code }) => {
                tracing::info!(%code, "the provider ended the grant; the account needs connecting again");
                (
                    RefreshOutcome::ReauthRequired {
                        refused: account.tokens.refresh_token.clone(),
                    },
                    Err(AccessError::ReauthRequired),
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "refresh failed; the account is left for a later try");
                (RefreshOutcome::Unchanged, Err(AccessError::Provider(e)))
            }
        }
    }
}

impl RefreshPorts {
    /// The new tokens sealed for the account's row; without a new refresh token, the stored
    /// one is kept as it is.
    fn seal(
        &self,
        account: &Account,
        access: &SecretString,
        refresh: Option<&SecretString>,
    ) -> Result<SealedTokens, SealError> {
        let row = account.id.to_string();
        let secrets = &self.secrets;
        let access_token = secrets.seal(access, &context("accounts", &row, "access_token"))?;
        let refresh_token = match refresh {
            Some(token) => Some(secrets.seal(token, &context("accounts", &row, "refresh_token"))?),
            None => account.tokens.refresh_token.clone(),
        };
        Ok(SealedTokens {
            access_token: Some(access_token),
            refresh_token,
            key_id: secrets.current_key_id().to_owned(),
        })
    }

    fn open_access(&self, account: &Account) -> Result<SecretString, AccessError> {
        let sealed = account
            .tokens
            .access_token
            .as_ref()
            .ok_or(AccessError::ReauthRequired)?;
        Ok(self.secrets.open(
            sealed,
            &context("accounts", &account.id.to_string(), "access_token"),
        )?)
    }

    fn open_refresh(&self, account: &Account) -> Result<Option<SecretString>, SealError> {
        account
            .tokens
            .refresh_token
            .as_ref()
            .map(|sealed| {
                self.secrets.open(
                    sealed,
                    &context("accounts", &account.id.to_string(), "refresh_token"),
                )
            })
            .transpose()
    }
}
