//! Connected accounts: links for the GPT to hand out, the OAuth round trip, and managing the
//! accounts. Provider tokens are sealed before they reach storage and never leave this service
//! in plaintext except towards the provider itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gptgate_domain::{
    token_expiry, Account, AccountId, AccountLabel, AccountStatus, LinkPolicy, ManagementToken,
    OAuthState, OnboardingToken, ProviderId, Sealed, SealedTokens, TokenHash, UserId,
};
use secrecy::SecretString;
use tracing::instrument;

use crate::services::Reader;
use crate::{
    AccountRepository, Clock, InternalError, LinkTokenRepository, OAuthProvider, OpaqueTokens,
    ProviderError, Random, Revocation, Revoked, SealError, SecretBox, StorageError, TokenSet,
    UserRepository,
};

/// The ports the connection use cases need.
#[derive(Clone)]
pub struct ConnectionsPorts {
    pub accounts: Arc<dyn AccountRepository>,
    /// For the owner shown on the confirmation page, and for erasing a user.
    pub users: Arc<dyn UserRepository>,
    pub links: Arc<dyn LinkTokenRepository>,
    pub secrets: Arc<dyn SecretBox>,
    pub tokens: Arc<dyn OpaqueTokens>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
}

/// Why a connection use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0} is not configured on this server")]
    ProviderNotConfigured(ProviderId),
    /// The connect link is unknown, expired or already used.
    #[error("this link is invalid, expired or already used")]
    InvalidLink,
    /// The callback's state is missing, unknown, replayed, expired or for another provider.
    #[error("this sign-in attempt is invalid or expired")]
    InvalidState,
    /// A valid state arrived in a browser other than the one that started the flow (no nonce
    /// cookie, or another one): someone may be trying to file their account under another
    /// user, or the link was forwarded. The state is burnt and the provider never called.
    #[error("this connection was started in another browser")]
    WrongBrowser,
    /// The user declined at the provider.
    #[error("access was not granted")]
    Denied,
    #[error("no such account")]
    NotFound,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<SealError> for ConnectError {
    fn from(e: SealError) -> Self {
        ConnectError::Internal(InternalError::new(e))
    }
}

/// What the provider's redirect back carried.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// Every other query parameter.
    pub extra: BTreeMap<String, String>,
}

/// What a key rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotationReport {
    /// Accounts whose tokens are now sealed with the current key.
    pub resealed: usize,
    /// Accounts whose tokens could not be opened with any configured key (left as they are).
    pub failed: usize,
    /// Connect flows in progress whose PKCE verifier is now sealed with the current key.
    pub flows_resealed: usize,
    /// Connect flows in progress whose verifier no configured key opens (left to expire).
    pub flows_failed: usize,
}

/// What erasing a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    /// Connected accounts deleted with the user.
    pub accounts: usize,
    /// Of those, the ones whose provider confirmed the revocation.
    pub revoked: usize,
}

/// Whose account a connect link will create, as the confirmation page may say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOwner {
    /// A user who signed in by email: the address, masked (`a***@example.com`).
    Email(String),
    /// A user known only by the ChatGPT identity that asked for the link.
    ChatGpt,
}

/// A visit of the integrations page, opened with a management link: whose accounts it
/// shows, and until when (the link's own expiry: a session never outlives its link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementSession {
    pub user: UserId,
    /// Opened by signing in with an emailed code, not by a management link.
    pub signed_in: bool,
    pub expires_at: time::OffsetDateTime,
    /// How long it has left.
    pub remaining: time::Duration,
}

/// What a connect link will do, shown before anything happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectPreview {
    pub provider: ProviderId,
    pub label: AccountLabel,
    pub owner: LinkOwner,
}

/// A connect flow just started: where to send the browser, and the nonce that browser must
/// hold (in a cookie) for the callback to be accepted.
#[derive(Debug)]
pub struct StartedConnect {
    pub provider_url: String,
    /// Give it to the browser only (an HttpOnly cookie); only its hash is stored.
    pub browser_nonce: SecretString,
    /// A public name for this flow, derived from its state (see [`Connections::flow_id`]), so
    /// several flows in one browser each keep their own nonce.
    pub flow_id: String,
    /// How long the flow may take: the browser need not keep the nonce any longer.
    pub lifetime: time::Duration,
}

/// The connection use cases.
#[derive(Clone)]
pub struct Connections {
    ports: ConnectionsPorts,
    providers: HashMap<ProviderId, Arc<dyn OAuthProvider>>,
    policy: LinkPolicy,
    public_url: String,
}

fn hex(hash: &TokenHash) -> String {
    hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a sealed value lives: the associated data that binds it to its row and column.
pub(crate) fn context(table: &str, row: &str, column: &str) -> String {
    format!("{table}/{row}/{column}")
}

/// The context of a pending flow's PKCE verifier.
fn verifier_context(state: &TokenHash) -> String {
    context("oauth_states", &hex(state), "pkce_verifier")
}

impl Connections {
    pub fn new(
        ports: ConnectionsPorts,
        providers: Vec<Arc<dyn OAuthProvider>>,
        policy: LinkPolicy,
        public_url: &str,
    ) -> Self {
        Self {
            ports,
            providers: providers.into_iter().map(|p| (p.id(), p)).collect(),
            policy,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The providers with client credentials configured.
    pub fn configured(&self) -> Vec<ProviderId> {
        ProviderId::ALL
            .into_iter()
            .filter(|p| self.providers.contains_key(p))
            .collect()
    }

    /// The exact redirect URI to register at `provider`.
    pub fn redirect_uri(&self, provider: ProviderId) -> String {
        format!("{}/auth/callback/{provider}", self.public_url)
    }

    fn provider(&self, id: ProviderId) -> Result<&Arc<dyn OAuthProvider>, ConnectError> {
        self.providers
            .get(&id)
            .ok_or(ConnectError::ProviderNotConfigured(id))
    }

    fn mint(&self) -> Result<(SecretString, TokenHash), ConnectError> {
        self.ports
            .tokens
            .mint()
            .map_err(|e| ConnectError::Internal(e.into()))
    }

    /// A single-use link (valid 10 minutes) that starts connecting `provider` as `label`.
    #[instrument(skip_all, fields(%user, %provider))]
    pub async fn create_auth_link(
        &self,
        user: UserId,
        provider: ProviderId,
        label: AccountLabel,
    ) -> Result<String, ConnectError> {
        let token = self.issue_link(user, provider, label).await?;
        use secrecy::ExposeSecret;
        Ok(format!(
            "{}/auth/start?token={}",
            self.public_url,
            token.expose_secret()
        ))
    }

    /// Starts connecting `provider` as `label` for `user` at once: from the integrations page,
    /// where the user is signed in and asked for it themselves, a link and its use in one step.
    #[instrument(skip_all, fields(%user, %provider))]
    pub async fn start_for(
        &self,
        user: UserId,
        provider: ProviderId,
        label: AccountLabel,
    ) -> Result<StartedConnect, ConnectError> {
        let token = self.issue_link(user, provider, label).await?;
        use secrecy::ExposeSecret;
        self.start(token.expose_secret()).await
    }

    /// A new connect link's token; only its hash is stored.
    async fn issue_link(
        &self,
        user: UserId,
        provider: ProviderId,
        label: AccountLabel,
    ) -> Result<SecretString, ConnectError> {
        self.provider(provider)?;
        let now = self.ports.clock.now();
        let (token, hash) = self.mint()?;
        self.ports
            .links
            .create_onboarding_token(&OnboardingToken {
                hash,
                user_id: user,
                provider,
                label,
                expires_at: now + self.policy.onboarding_ttl,
                used_at: None,
                created_at: now,
            })
            .await?;
        Ok(token)
    }

    /// A link (valid 1 hour) to the integrations page.
    #[instrument(skip_all, fields(%user))]
    pub async fn create_management_link(&self, user: UserId) -> Result<String, ConnectError> {
        // A link travels (chats, screenshots): it opens the integrations page, never grants.
        let (token, _) = self.issue_management_token(user, false).await?;
        use secrecy::ExposeSecret;
        Ok(format!(
            "{}/integrations?token={}",
            self.public_url,
            token.expose_secret()
        ))
    }

    /// The integrations page's session for management token `token`, if the token exists and
    /// has not expired. `InvalidLink` otherwise.
    #[instrument(skip_all)]
    pub async fn management_session(&self, token: &str) -> Result<ManagementSession, ConnectError> {
        let now = self.ports.clock.now();
        let found = self
            .ports
            .links
            .find_management_token(&self.ports.tokens.hash(token), now)
            .await?
            .ok_or(ConnectError::InvalidLink)?;
        Ok(ManagementSession {
            user: found.user_id,
            signed_in: found.signed_in,
            expires_at: found.expires_at,
            remaining: found.expires_at - now,
        })
    }

    /// A browser session for `user`, who just signed in on a page with an emailed code (the
    /// authorization server's sign-in): it opens the integrations page too, and it alone may
    /// grant an app access. Returns the token and how long it lasts.
    #[instrument(skip_all, fields(%user))]
    pub async fn open_browser_session(
        &self,
        user: UserId,
    ) -> Result<(SecretString, time::Duration), ConnectError> {
        self.issue_management_token(user, true).await
    }

    async fn issue_management_token(
        &self,
        user: UserId,
        signed_in: bool,
    ) -> Result<(SecretString, time::Duration), ConnectError> {
        let now = self.ports.clock.now();
        let (token, hash) = self.mint()?;
        self.ports
            .links
            .create_management_token(&ManagementToken {
                hash,
                user_id: user,
                expires_at: now + self.policy.management_ttl,
                created_at: now,
                signed_in,
            })
            .await?;
        Ok((token, self.policy.management_ttl))
    }

    /// Ends the integrations page's session of management token `token`: the link stops
    /// working at once, wherever it was copied to.
    #[instrument(skip_all)]
    pub async fn end_management_session(&self, token: &str) -> Result<(), ConnectError> {
        self.ports
            .links
            .delete_management_token(&self.ports.tokens.hash(token))
            .await?;
        tracing::info!("integrations page signed out");
        Ok(())
    }

    /// Whose gptgate account `user` is, as a page may say it.
    pub async fn owner(&self, user: UserId) -> Result<LinkOwner, ConnectError> {
        Ok(match self.ports.users.find_email(user).await? {
            Some(email) => LinkOwner::Email(email.masked()),
            None => LinkOwner::ChatGpt,
        })
    }

    /// The user's accounts (tokens stay sealed; callers show metadata only).
    pub async fn accounts(&self, user: UserId) -> Result<Vec<Account>, ConnectError> {
        Ok(self.ports.accounts.list_accounts(user).await?)
    }

    /// The reader's accounts, as [`Connections::accounts`]; for a [`Reader::Session`] the
    /// session is checked by the read itself, and `None` means it refused the session (answer
    /// as an invalid token).
    pub async fn read_accounts(
        &self,
        reader: Reader,
    ) -> Result<Option<Vec<Account>>, ConnectError> {
        Ok(match reader {
            Reader::User(user) => Some(self.ports.accounts.list_accounts(user).await?),
            Reader::Session(guard) => self.ports.accounts.list_accounts_in_session(&guard).await?,
        })
    }

    /// Enables or disables an account (`None` flips it). Returns the new state.
    #[instrument(skip_all, fields(%user, account_id = %id))]
    pub async fn set_enabled(
        &self,
        user: UserId,
        id: AccountId,
        enabled: Option<bool>,
    ) -> Result<bool, ConnectError> {
        let enabled = match enabled {
            Some(e) => e,
            None => {
                let account = self
                    .ports
                    .accounts
                    .find_account(user, id)
                    .await?
                    .ok_or(ConnectError::NotFound)?;
                !account.enabled
            }
        };
        let now = self.ports.clock.now();
        if !self
            .ports
            .accounts
            .set_account_enabled(user, id, enabled, now)
            .await?
        {
            return Err(ConnectError::NotFound);
        }
        Ok(enabled)
    }

    /// What the connect link `link_token` will do, if it is still usable. Changes nothing: a
    /// link survives any number of previews (people, link previewers, mail scanners) until it
    /// is used or expires.
    #[instrument(skip_all)]
    pub async fn preview(&self, link_token: &str) -> Result<ConnectPreview, ConnectError> {
        let now = self.ports.clock.now();
        let link = self
            .ports
            .links
            .find_onboarding_token(&self.ports.tokens.hash(link_token), now)
            .await?
            .ok_or(ConnectError::InvalidLink)?;
        self.provider(link.provider)?;
        let owner = self.owner(link.user_id).await?;
        Ok(ConnectPreview {
            provider: link.provider,
            label: link.label,
            owner,
        })
    }

    /// A short public name for the flow whose callback carries `state`: the first 8 bytes of
    /// its hash, in hex. The browser keeps the flow's nonce under this name.
    pub fn flow_id(&self, state: &str) -> String {
        hex(&self.ports.tokens.hash(state))[..16].to_owned()
    }

    /// Consumes a connect link (the user confirmed it) and starts the OAuth round trip: returns
    /// the provider URL to send the browser to and the nonce that binds the flow to that
    /// browser. The state stores the nonce's hash and the PKCE verifier, sealed.
    #[instrument(skip_all)]
    pub async fn start(&self, link_token: &str) -> Result<StartedConnect, ConnectError> {
        let now = self.ports.clock.now();
        let hash = self.ports.tokens.hash(link_token);
        // Check the provider before using the link up: a link for a provider this server no
        // longer offers stays as it is.
        let pending = self
            .ports
            .links
            .find_onboarding_token(&hash, now)
            .await?
            .ok_or(ConnectError::InvalidLink)?;
        let provider = self.provider(pending.provider)?;
        let link = self
            .ports
            .links
            .consume_onboarding_token(&hash, now)
            .await?
            .ok_or(ConnectError::InvalidLink)?;
        let (state, state_hash) = self.mint()?;
        let (browser_nonce, browser) = self.mint()?;
        let redirect_uri = self.redirect_uri(link.provider);
        use secrecy::ExposeSecret;
        let authorization = provider.authorize(state.expose_secret(), &redirect_uri);
        let pkce_verifier = authorization
            .pkce_verifier
            .as_ref()
            .map(|v| self.ports.secrets.seal(v, &verifier_context(&state_hash)))
            .transpose()?;
        self.ports
            .links
            .create_oauth_state(&OAuthState {
                hash: state_hash.clone(),
                user_id: link.user_id,
                provider: link.provider,
                label: link.label,
                pkce_verifier,
                browser,
                redirect_uri,
                expires_at: now + self.policy.state_ttl,
                created_at: now,
            })
            .await?;
        tracing::info!(provider = %link.provider, "connect flow started");
        Ok(StartedConnect {
            provider_url: authorization.url,
            browser_nonce,
            flow_id: hex(&state_hash)[..16].to_owned(),
            lifetime: self.policy.state_ttl,
        })
    }

    /// Completes the OAuth round trip for `provider`: takes the state (single use, unexpired,
    /// same provider) and checks that `browser_nonce` is the nonce of the browser that started
    /// the flow, all BEFORE any request to the provider; then exchanges the code, identifies
    /// the account and stores it with sealed tokens.
    #[instrument(skip_all, fields(%provider))]
    pub async fn complete(
        &self,
        provider: ProviderId,
        callback: Callback,
        browser_nonce: Option<&str>,
    ) -> Result<Account, ConnectError> {
        let now = self.ports.clock.now();
        let state = match callback.state.as_deref().filter(|s| !s.is_empty()) {
            Some(raw) => {
                self.ports
                    .links
                    .take_oauth_state(&self.ports.tokens.hash(raw), now)
                    .await?
            }
            None => None,
        };
        let state = state
            .filter(|s| s.provider == provider)
            .ok_or(ConnectError::InvalidState)?;
        let same_browser = browser_nonce
            .filter(|n| !n.is_empty())
            .is_some_and(|nonce| self.ports.tokens.hash(nonce) == state.browser);
        if !same_browser {
            tracing::warn!("a connect callback arrived in another browser; refused");
            return Err(ConnectError::WrongBrowser);
        }
        if callback.error.is_some() {
            tracing::info!("the user declined at the provider");
            return Err(ConnectError::Denied);
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(ConnectError::InvalidState)?;
        let client = self.provider(provider)?;
        let verifier = state
            .pkce_verifier
            .as_ref()
            .map(|v| self.ports.secrets.open(v, &verifier_context(&state.hash)))
            .transpose()?;
        let tokens = client
            .exchange_code(
                code,
                verifier.as_ref(),
                &state.redirect_uri,
                &callback.extra,
            )
            .await?;
        match self.keep(state, client.as_ref(), &tokens, now).await {
            Ok(account) => {
                tracing::info!(account_id = %account.id, "account connected");
                Ok(account)
            }
            Err(e) => {
                // The grant is NOT revoked here: at Google a revocation ends the app's whole
                // grant for that Google account, and Slack's bot token is shared by everyone
                // in the workspace, so it could end a connection that is stored and working.
                tracing::warn!(
                    "a connect failed after the provider granted access; nothing was stored"
                );
                Err(e)
            }
        }
    }

    /// Identifies the account and stores it, tokens sealed for its row.
    async fn keep(
        &self,
        state: OAuthState,
        client: &dyn OAuthProvider,
        tokens: &TokenSet,
        now: time::OffsetDateTime,
    ) -> Result<Account, ConnectError> {
        let provider = state.provider;
        let mut metadata = client.identify(tokens).await?;
        for (k, v) in tokens.metadata.clone() {
            metadata.entry(k).or_insert(v);
        }

        let existing = self
            .ports
            .accounts
            .list_accounts(state.user_id)
            .await?
            .into_iter()
            .find(|a| a.provider == provider && a.label == state.label);
        let id = match &existing {
            Some(a) => a.id,
            None => AccountId::from_random_bytes(
                self.ports
                    .random
                    .bytes()
                    .map_err(|e| ConnectError::Internal(e.into()))?,
            ),
        };
        // A provider that sends no new refresh token leaves the stored one valid. It is opened
        // and sealed again, so every value of the row is under the current key; one that no
        // configured key opens any more is dropped rather than failing the reconnect.
        let kept_refresh = existing
            .and_then(|a| a.tokens.refresh_token)
            .and_then(|sealed| {
                let ctx = context("accounts", &id.to_string(), "refresh_token");
                self.ports
                    .secrets
                    .open(&sealed, &ctx)
                    .and_then(|plain| self.ports.secrets.seal(&plain, &ctx))
                    .inspect_err(|_| {
                        tracing::warn!(
                            "the stored refresh token opens with no configured key; dropped"
                        )
                    })
                    .ok()
            });
        let account = Account {
            id,
            user_id: state.user_id,
            provider,
            label: state.label,
            enabled: true,
            status: AccountStatus::Active,
            tokens: self.seal(id, tokens, kept_refresh)?,
            expires_at: tokens.expires_in.map(|d| token_expiry(now, d)),
            scopes: tokens.scopes.clone(),
            metadata,
            created_at: now,
            updated_at: now,
        };
        let mut stored = self.ports.accounts.upsert_account(&account).await?;
        if stored.id != id {
            // A concurrent connect of the same label created the row first: re-seal for its id.
            stored.tokens = self.seal(stored.id, tokens, None)?;
            self.ports
                .accounts
                .replace_tokens(stored.id, &stored.tokens, now)
                .await?;
        }
        Ok(stored)
    }

    fn seal(
        &self,
        id: AccountId,
        tokens: &TokenSet,
        kept_refresh: Option<Sealed>,
    ) -> Result<SealedTokens, ConnectError> {
        let row = id.to_string();
        let secrets = &self.ports.secrets;
        let refresh_token = match &tokens.refresh_token {
            Some(t) => Some(secrets.seal(t, &context("accounts", &row, "refresh_token"))?),
            None => kept_refresh,
        };
        Ok(SealedTokens {
            access_token: Some(secrets.seal(
                &tokens.access_token,
                &context("accounts", &row, "access_token"),
            )?),
            refresh_token,
            key_id: secrets.current_key_id().to_owned(),
        })
    }

    /// Deletes an account, revoking its token at the provider first where possible. A failed
    /// revocation is logged and the account is deleted all the same.
    #[instrument(skip_all, fields(%user, account_id = %id))]
    pub async fn disconnect(&self, user: UserId, id: AccountId) -> Result<(), ConnectError> {
        let account = self
            .ports
            .accounts
            .find_account(user, id)
            .await?
            .ok_or(ConnectError::NotFound)?;
        let _ = self.revoke(&account).await;
        if !self.ports.accounts.delete_account(user, id).await? {
            return Err(ConnectError::NotFound);
        }
        tracing::info!("account disconnected");
        Ok(())
    }

    /// Revokes the account's grant at its provider. A failure (no such provider configured any
    /// more, tokens no configured key opens, the provider refusing or not answering within
    /// `REVOKE_TIME_LIMIT`) is logged, never returned: the caller deletes the account all
    /// the same. Returns whether the provider confirmed it.
    async fn revoke(&self, account: &Account) -> bool {
        let Some(provider) = self.providers.get(&account.provider) else {
            tracing::warn!(provider = %account.provider, "no revocation: the provider is no longer configured");
            return false;
        };
        let row = account.id.to_string();
        let open = |sealed: &Option<Sealed>, column: &str| {
            sealed.as_ref().and_then(|t| {
                self.ports
                    .secrets
                    .open(t, &context("accounts", &row, column))
                    .ok()
            })
        };
        let revocation = Revocation {
            access_token: open(&account.tokens.access_token, "access_token"),
            refresh_token: open(&account.tokens.refresh_token, "refresh_token"),
            metadata: account.metadata.clone(),
        };
        if revocation.access_token.is_none() && revocation.refresh_token.is_none() {
            tracing::warn!(provider = %account.provider, "no revocation: no token of the account opens");
            return false;
        }
        match provider.revoke(&revocation).await {
            Ok(Revoked::Confirmed) => true,
            Ok(Revoked::NotAttempted) => {
                tracing::info!(provider = %account.provider, "nothing to revoke at this provider");
                false
            }
            Err(e) => {
                tracing::warn!(provider = %account.provider, error = %e, "revocation at the provider failed; deleting anyway");
                false
            }
        }
    }

    /// Deletes the user and everything they own, revoking each connected account at its
    /// provider first, all at once (so the wait is one provider's time limit, however many
    /// accounts), and deleting whatever the revocations say. `NotFound` if the user does not
    /// exist.
    #[instrument(skip_all, fields(%user))]
    pub async fn erase_user(&self, user: UserId) -> Result<Erased, ConnectError> {
        let accounts = self.ports.accounts.list_accounts(user).await?;
        // All at once, sixteen at a time at most: the wait is about one provider's time limit.
        use futures::StreamExt;
        let revoked = futures::stream::iter(accounts.iter().map(|a| self.revoke(a)))
            .buffer_unordered(16)
            .filter(|done| std::future::ready(*done))
            .count()
            .await;
        if !self.ports.users.delete_user(user).await? {
            return Err(ConnectError::NotFound);
        }
        let erased = Erased {
            accounts: accounts.len(),
            revoked,
        };
        tracing::info!(
            accounts = erased.accounts,
            revoked = erased.revoked,
            "user erased"
        );
        Ok(erased)
    }

    /// Re-seals with the current key every sealed value that names another key: each account's
    /// access and refresh tokens, and the PKCE verifiers of connect flows in progress, so older
    /// keys can be removed from `TOKEN_ENCRYPTION_KEY`. Each value is judged by the key it names
    /// itself, not by the row. What no configured key opens is reported and left untouched.
    #[instrument(skip_all)]
    pub async fn rotate_key(&self) -> Result<RotationReport, ConnectError> {
        const BATCH: usize = 200;
        let mut report = RotationReport::default();
        let mut after = None;
        loop {
            let page = self.ports.accounts.accounts_page(after, BATCH).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for account in page {
                if !self.is_stale(&account.tokens.access_token)
                    && !self.is_stale(&account.tokens.refresh_token)
                {
                    continue;
                }
                match self.reseal(&account) {
                    Ok(tokens) => {
                        let now = self.ports.clock.now();
                        if self
                            .ports
                            .accounts
                            .reseal_tokens(account.id, &account.tokens, &tokens, now)
                            .await?
                        {
                            report.resealed += 1;
                        } else {
                            // Rewritten meanwhile (a reconnect), under the current key.
                            tracing::info!(account_id = %account.id, "tokens changed during the rotation; left as written");
                        }
                    }
                    Err(_) => {
                        tracing::warn!(account_id = %account.id, "tokens open with no configured key");
                        report.failed += 1;
                    }
                }
            }
        }
        let mut after = None;
        loop {
            let page = self.ports.links.oauth_states_page(after, BATCH).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.hash.clone());
            for state in page {
                let Some(sealed) = state
                    .pkce_verifier
                    .as_ref()
                    .filter(|v| self.names_old_key(v))
                else {
                    continue;
                };
                let ctx = verifier_context(&state.hash);
                match self
                    .ports
                    .secrets
                    .open(sealed, &ctx)
                    .and_then(|plain| self.ports.secrets.seal(&plain, &ctx))
                {
                    Ok(again) => {
                        self.ports
                            .links
                            .replace_pkce_verifier(&state.hash, &again)
                            .await?;
                        report.flows_resealed += 1;
                    }
                    Err(_) => report.flows_failed += 1,
                }
            }
        }
        tracing::info!(
            resealed = report.resealed,
            failed = report.failed,
            flows_resealed = report.flows_resealed,
            flows_failed = report.flows_failed,
            "key rotation finished"
        );
        Ok(report)
    }

    /// Whether `sealed` names a key other than the current one.
    fn names_old_key(&self, sealed: &Sealed) -> bool {
        self.ports.secrets.key_id_of(sealed).as_deref() != Some(self.ports.secrets.current_key_id())
    }

    fn is_stale(&self, sealed: &Option<Sealed>) -> bool {
        sealed.as_ref().is_some_and(|s| self.names_old_key(s))
    }

    fn reseal(&self, account: &Account) -> Result<SealedTokens, SealError> {
        let row = account.id.to_string();
        let secrets = &self.ports.secrets;
        let again = |sealed: &Option<Sealed>, column: &str| -> Result<Option<Sealed>, SealError> {
            let ctx = context("accounts", &row, column);
            sealed
                .as_ref()
                .map(|s| {
                    secrets
                        .open(s, &ctx)
                        .and_then(|plain| secrets.seal(&plain, &ctx))
                })
                .transpose()
        };
        Ok(SealedTokens {
            access_token: again(&account.tokens.access_token, "access_token")?,
            refresh_token: again(&account.tokens.refresh_token, "refresh_token")?,
            key_id: secrets.current_key_id().to_owned(),
        })
    }
}
