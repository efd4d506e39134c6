//! Connected accounts: links for the GPT to hand out, the OAuth round trip, and managing the
//! accounts. Provider tokens are sealed before they reach storage and never leave this service
//! in plaintext except towards the provider itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gptgate_domain::{
    Account, AccountId, AccountLabel, AccountStatus, LinkPolicy, ManagementToken, OAuthState,
    OnboardingToken, ProviderId, Sealed, SealedTokens, TokenHash, UserId,
};
use secrecy::SecretString;
use tracing::instrument;

use crate::{
    AccountRepository, Clock, InternalError, LinkTokenRepository, OAuthProvider, OpaqueTokens,
    ProviderError, Random, Revocation, SealError, SecretBox, StorageError, TokenSet,
};

/// The ports the connection use cases need.
#[derive(Clone)]
pub struct ConnectionsPorts {
    pub accounts: Arc<dyn AccountRepository>,
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
        ConnectError::Internal(InternalError(e.to_string()))
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
fn context(table: &str, row: &str, column: &str) -> String {
    format!("{table}/{row}/{column}")
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
        use secrecy::ExposeSecret;
        Ok(format!(
            "{}/auth/start?token={}",
            self.public_url,
            token.expose_secret()
        ))
    }

    /// A link (valid 1 hour) to the integrations page.
    #[instrument(skip_all, fields(%user))]
    pub async fn create_management_link(&self, user: UserId) -> Result<String, ConnectError> {
        let now = self.ports.clock.now();
        let (token, hash) = self.mint()?;
        self.ports
            .links
            .create_management_token(&ManagementToken {
                hash,
                user_id: user,
                expires_at: now + self.policy.management_ttl,
                created_at: now,
            })
            .await?;
        use secrecy::ExposeSecret;
        Ok(format!(
            "{}/integrations?token={}",
            self.public_url,
            token.expose_secret()
        ))
    }

    /// The user's accounts (tokens stay sealed; callers show metadata only).
    pub async fn accounts(&self, user: UserId) -> Result<Vec<Account>, ConnectError> {
        Ok(self.ports.accounts.list_accounts(user).await?)
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

    /// Consumes a connect link and returns the provider URL to redirect the browser to. The
    /// state carries the PKCE verifier, sealed.
    #[instrument(skip_all)]
    pub async fn start(&self, link_token: &str) -> Result<String, ConnectError> {
        let now = self.ports.clock.now();
        let hash = self.ports.tokens.hash(link_token);
        let link = self
            .ports
            .links
            .consume_onboarding_token(&hash, now)
            .await?
            .ok_or(ConnectError::InvalidLink)?;
        let provider = self.provider(link.provider)?;
        let (state, state_hash) = self.mint()?;
        let redirect_uri = self.redirect_uri(link.provider);
        use secrecy::ExposeSecret;
        let authorization = provider.authorize(state.expose_secret(), &redirect_uri);
        let pkce_verifier = authorization
            .pkce_verifier
            .as_ref()
            .map(|v| {
                self.ports.secrets.seal(
                    v,
                    &context("oauth_states", &hex(&state_hash), "pkce_verifier"),
                )
            })
            .transpose()?;
        self.ports
            .links
            .create_oauth_state(&OAuthState {
                hash: state_hash,
                user_id: link.user_id,
                provider: link.provider,
                label: link.label,
                pkce_verifier,
                redirect_uri,
                expires_at: now + self.policy.state_ttl,
                created_at: now,
            })
            .await?;
        tracing::info!(provider = %link.provider, "connect flow started");
        Ok(authorization.url)
    }

    /// Completes the OAuth round trip for `provider`: checks the state (single use, unexpired,
    /// same provider) BEFORE any request to the provider, exchanges the code, identifies the
    /// account and stores it with sealed tokens.
    #[instrument(skip_all, fields(%provider))]
    pub async fn complete(
        &self,
        provider: ProviderId,
        callback: Callback,
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
        if callback.error.is_some() {
            tracing::info!("the user declined at the provider");
            return Err(ConnectError::Denied);
        }
        let state = state
            .filter(|s| s.provider == provider)
            .ok_or(ConnectError::InvalidState)?;
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(ConnectError::InvalidState)?;
        let client = self.provider(provider)?;
        let verifier = state
            .pkce_verifier
            .as_ref()
            .map(|v| {
                self.ports.secrets.open(
                    v,
                    &context("oauth_states", &hex(&state.hash), "pkce_verifier"),
                )
            })
            .transpose()?;
        let tokens = client
            .exchange_code(
                code,
                verifier.as_ref(),
                &state.redirect_uri,
                &callback.extra,
            )
            .await?;
        let mut metadata = client.identify(&tokens).await?;
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
        // A provider that sends no new refresh token leaves the stored one valid.
        let kept_refresh = existing.and_then(|a| a.tokens.refresh_token);
        let account = Account {
            id,
            user_id: state.user_id,
            provider,
            label: state.label,
            enabled: true,
            status: AccountStatus::Active,
            tokens: self.seal(id, &tokens, kept_refresh.clone())?,
            expires_at: tokens.expires_in.map(|d| now + d),
            scopes: tokens.scopes.clone(),
            metadata,
            created_at: now,
            updated_at: now,
        };
        let mut stored = self.ports.accounts.upsert_account(&account).await?;
        if stored.id != id {
            // A concurrent connect of the same label created the row first: re-seal for its id.
            stored.tokens = self.seal(stored.id, &tokens, None)?;
            self.ports
                .accounts
                .replace_tokens(stored.id, &stored.tokens, now)
                .await?;
        }
        tracing::info!(account_id = %stored.id, "account connected");
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
        if let Some(provider) = self.providers.get(&account.provider) {
            let row = id.to_string();
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
            if let Err(e) = provider.revoke(&revocation).await {
                tracing::warn!(error = %e, "revocation at the provider failed; deleting anyway");
            }
        }
        if !self.ports.accounts.delete_account(user, id).await? {
            return Err(ConnectError::NotFound);
        }
        tracing::info!("account disconnected");
        Ok(())
    }

    /// Re-seals every account's tokens with the current key, so older keys can be removed
    /// from `TOKEN_ENCRYPTION_KEY`. Accounts that no configured key opens are reported and left
    /// untouched.
    #[instrument(skip_all)]
    pub async fn rotate_key(&self) -> Result<RotationReport, ConnectError> {
        const BATCH: usize = 200;
        let current = self.ports.secrets.current_key_id().to_owned();
        let mut report = RotationReport::default();
        let mut failed = std::collections::HashSet::new();
        loop {
            let batch = self
                .ports
                .accounts
                .accounts_sealed_with_other_key(&current, BATCH + failed.len())
                .await?;
            let todo: Vec<Account> = batch
                .into_iter()
                .filter(|a| !failed.contains(&a.id))
                .collect();
            if todo.is_empty() {
                break;
            }
            for account in todo {
                match self.reseal(&account) {
                    Ok(tokens) => {
                        let now = self.ports.clock.now();
                        self.ports
                            .accounts
                            .replace_tokens(account.id, &tokens, now)
                            .await?;
                        report.resealed += 1;
                    }
                    Err(_) => {
                        tracing::warn!(account_id = %account.id, "tokens open with no configured key");
                        failed.insert(account.id);
                        report.failed += 1;
                    }
                }
            }
        }
        tracing::info!(
            resealed = report.resealed,
            failed = report.failed,
            "key rotation finished"
        );
        Ok(report)
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
