use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use gptgate_domain::{
    Account, AccountId, AccountStatus, AuthorizationCode, BudgetWindow, ClientId, CodeRecord,
    Conversation, ConversationCursor, ConversationId, Email, ExportLink, GrantId, GrantSummary,
    Identity, IdentityKind, ManagementToken, OAuthClient, OAuthState, OnboardingToken, ProviderId,
    RefreshToken, Sealed, SealedTokens, Session, SessionGuard, SessionId, TokenHash, User, UserId,
};
use gptgate_ports::limits::{BucketChange, BudgetChange};
use gptgate_ports::storage::CodeChange;
use gptgate_ports::{
    AccountRepository, AuthorizationRepository, BucketRepository, BudgetRepository, CodeTaken,
    ConversationRepository, Housekeeping, LinkTokenRepository, PurgeReport, RefreshOutcome,
    SessionRepository, StorageError, UserRepository, VerificationCodeRepository,
};
use time::OffsetDateTime;

/// Every storage port in memory, with the same semantics as the SQL stores (cascading deletes,
/// foreign keys, atomic updates). Can be switched to fail like an unreachable database.
#[derive(Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
    unavailable: AtomicBool,
    stalled: AtomicBool,
    racing: AtomicBool,
    /// Code updates to let pass before one whose record vanishes mid-race.
    vanish_after: Mutex<Option<usize>>,
    /// Port calls made so far (see [`InMemoryStore::port_calls`]).
    port_calls: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct State {
    codes: HashMap<Email, CodeRecord>,
    users: HashMap<UserId, User>,
    identities: HashMap<(IdentityKind, String), UserId>,
    sessions: HashMap<SessionId, Session>,
    conversations: HashMap<ConversationId, Conversation>,
    accounts: HashMap<AccountId, Account>,
    onboarding: HashMap<TokenHash, OnboardingToken>,
    management: HashMap<TokenHash, ManagementToken>,
    states: HashMap<TokenHash, OAuthState>,
    budgets: HashMap<String, BudgetWindow>,
    /// Rate-limit buckets: key -> the instant it is full again.
    buckets: HashMap<String, OffsetDateTime>,
    /// Account -> end of its refresh lease.
    refresh_leases: HashMap<AccountId, OffsetDateTime>,
    job_leases: HashMap<String, OffsetDateTime>,
    /// When each account's grant was last renewed (connected or refreshed).
    refreshed_at: HashMap<AccountId, OffsetDateTime>,
    exports: HashMap<TokenHash, ExportLink>,
    clients: HashMap<ClientId, OAuthClient>,
    /// Authorization codes, with when each was used.
    oauth_codes: HashMap<TokenHash, (AuthorizationCode, Option<OffsetDateTime>)>,
    refresh_tokens: HashMap<TokenHash, RefreshToken>,
    /// Grant -> (its client, its user, when it started, when it was revoked).
    grants: HashMap<GrantId, (ClientId, UserId, OffsetDateTime, Option<OffsetDateTime>)>,
    /// Grant -> what its tokens are for.
    audiences: HashMap<GrantId, gptgate_domain::Audience>,
    admin_sessions: HashMap<TokenHash, gptgate_domain::AdminSession>,
    admin_password: Option<gptgate_domain::StoredAdminPassword>,
    /// In recording order.
    admin_audit: Vec<gptgate_domain::AdminAuditEntry>,
    privacy: gptgate_domain::PrivacySettings,
    /// Profile versions in order (version n at index n - 1), and the published one.
    profiles: Vec<gptgate_domain::ProfileVersion>,
    published_profile: Option<u32>,
    chat_sessions: HashMap<TokenHash, gptgate_domain::ChatSession>,
    team_password: Option<gptgate_domain::TeamPassword>,
    /// In creation order.
    api_keys: Vec<gptgate_domain::StoredApiKey>,
    /// (issuer, id) -> expiry.
    used_ids: HashMap<(String, String), OffsetDateTime>,
    /// In registration order.
    platforms: Vec<gptgate_domain::LaunchPlatform>,
    /// In registration order.
    lti_platforms: Vec<gptgate_domain::LtiPlatform>,
}

impl State {
    /// The session as stored, a revoked grant's revocation applied (a session of a revoked
    /// grant is revoked, whatever its own record says).
    fn session(&self, id: SessionId) -> Option<Session> {
        self.sessions.get(&id).map(|s| {
            let mut s = s.clone();
            if let Some((_, grant)) = s.grant {
                if let Some((_, _, _, Some(revoked))) = self.grants.get(&grant) {
                    s.revoked_at.get_or_insert(*revoked);
                }
            }
            s
        })
    }

    /// Whether `guard` admits its session, as a guarded read checks it.
    fn admits(&self, guard: &SessionGuard) -> bool {
        self.session(guard.session_id)
            .is_some_and(|s| guard.admits(&s))
    }

    fn conversations_of(
        &self,
        user: UserId,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Vec<Conversation> {
        let mut mine: Vec<Conversation> = self
            .conversations
            .values()
            .filter(|c| c.user_id == user)
            .filter(|c| after.is_none_or(|a| (c.created_at, c.id) < (a.created_at, a.id)))
            .cloned()
            .collect();
        mine.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
        mine.truncate(limit);
        mine
    }

    fn accounts_of(&self, user: UserId) -> Vec<Account> {
        let mut mine: Vec<Account> = self
            .accounts
            .values()
            .filter(|a| a.user_id == user)
            .cloned()
            .collect();
        mine.sort_by(|a, b| {
            (a.provider.as_str(), a.label.as_str()).cmp(&(b.provider.as_str(), b.label.as_str()))
        });
        mine
    }

    /// Whether `grant` exists and is not revoked.
    fn grant_alive(&self, grant: GrantId) -> bool {
        self.grants
            .get(&grant)
            .is_some_and(|(_, _, _, revoked)| revoked.is_none())
    }
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later call fail with [`StorageError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Makes `ping` never answer, like a database that hangs (or answer again).
    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }

    /// Makes every code update decide three times, like an optimistic store that first guessed
    /// there was no record, then lost a race: the first two answers of `change` are thrown
    /// away and it is asked again (or once, again).
    pub fn set_racing(&self, racing: bool) {
        self.racing.store(racing, Ordering::SeqCst);
    }

    /// Lets `updates` code updates pass, then makes the next one lose a race to a deletion: its
    /// `change` is asked with the record, the answer is thrown away, the record is deleted
    /// (as the purge deletes rows) and `change` is asked again, with no record.
    pub fn vanish_code_record_after(&self, updates: usize) {
        *self.vanish_after.lock().unwrap_or_else(|e| e.into_inner()) = Some(updates);
    }

    /// Every stored account, as stored (for tests that inspect the raw sealed tokens).
    pub fn all_accounts_for_tests(&self) -> Vec<Account> {
        self.lock_unchecked().accounts.values().cloned().collect()
    }

    /// How many users exist.
    pub fn user_count(&self) -> usize {
        self.lock_unchecked().users.len()
    }

    fn lock_unchecked(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many port calls have reached the store (each at least one round trip to a SQL
    /// store): what a request costs, for tests that pin it.
    pub fn port_calls(&self) -> usize {
        self.port_calls.load(Ordering::SeqCst)
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StorageError> {
        self.port_calls.fetch_add(1, Ordering::SeqCst);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable(
                "the in-memory store is switched off".into(),
            ));
        }
        Ok(self.lock_unchecked())
    }
}

#[async_trait]
impl VerificationCodeRepository for InMemoryStore {
    async fn update_code(
        &self,
        email: &Email,
        change: &mut CodeChange<'_>,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if self.racing.load(Ordering::SeqCst) {
            // A guess that there is no record (a first send in one statement), then a race
            // lost to another update: both answers are thrown away.
            let _guessed = change(None);
            let _lost = change(state.codes.get(email));
        }
        let vanish = {
            let mut armed = self.vanish_after.lock().unwrap_or_else(|e| e.into_inner());
            match *armed {
                Some(0) => {
                    *armed = None;
                    true
                }
                Some(n) => {
                    *armed = Some(n - 1);
                    false
                }
                None => false,
            }
        };
        if vanish {
            let _lost = change(state.codes.get(email));
            state.codes.remove(email);
        }
        if let Some(next) = change(state.codes.get(email)) {
            state.codes.insert(email.clone(), next);
        }
        Ok(())
    }

    async fn find_code(&self, email: &Email) -> Result<Option<CodeRecord>, StorageError> {
        Ok(self.lock()?.codes.get(email).cloned())
    }
}

#[async_trait]
impl UserRepository for InMemoryStore {
    async fn find_or_create_user(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
        let mut state = self.lock()?;
        let key = (identity.kind(), identity.value().to_owned());
        if let Some(id) = state.identities.get(&key) {
            let user = state.users.get(id).cloned();
            return user.ok_or_else(|| StorageError::Corrupt("identity without user".into()));
        }
        let user = User {
            id: new_id,
            created_at: now,
        };
        state.users.insert(new_id, user.clone());
        state.identities.insert(key, new_id);
        Ok(user)
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StorageError> {
        Ok(self.lock()?.users.get(&id).cloned())
    }

    async fn identities(&self, id: UserId) -> Result<Vec<Identity>, StorageError> {
        let state = self.lock()?;
        let mut found: Vec<(IdentityKind, String)> = state
            .identities
            .iter()
            .filter(|(_, owner)| **owner == id)
            .map(|(key, _)| key.clone())
            .collect();
        found.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
        found
            .into_iter()
            .map(|(kind, value)| {
                Identity::from_parts(kind, &value).map_err(|e| StorageError::Corrupt(e.to_string()))
            })
            .collect()
    }

    async fn find_email(&self, id: UserId) -> Result<Option<Email>, StorageError> {
        let state = self.lock()?;
        let mut emails: Vec<&str> = state
            .identities
            .iter()
            .filter(|((kind, _), owner)| *kind == IdentityKind::Email && **owner == id)
            .map(|((_, value), _)| value.as_str())
            .collect();
        emails.sort_unstable();
        emails
            .first()
            .map(|e| Email::parse(e).map_err(|e| StorageError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        let existed = state.users.remove(&id).is_some();
        state.identities.retain(|_, owner| *owner != id);
        state.sessions.retain(|_, s| s.user_id != id);
        state.conversations.retain(|_, c| c.user_id != id);
        state.accounts.retain(|_, a| a.user_id != id);
        state.onboarding.retain(|_, t| t.user_id != id);
        state.management.retain(|_, t| t.user_id != id);
        state.states.retain(|_, t| t.user_id != id);
        state.exports.retain(|_, t| t.user_id != id);
        state.oauth_codes.retain(|_, (c, _)| c.user_id != id);
        state.refresh_tokens.retain(|_, t| t.user_id != id);
        state.grants.retain(|_, (_, user, _, _)| *user != id);
        Ok(existed)
    }
}

/// The code's use, the user and the session one after the other (the port's default): the
/// store is locked for each, which is as atomic as each of them is.
impl gptgate_ports::SignInRepository for InMemoryStore {}

#[async_trait]
impl SessionRepository for InMemoryStore {
    async fn create_session(&self, session: &Session) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&session.user_id) {
            return Err(StorageError::Gone(
                "session for a user that does not exist".into(),
            ));
        }
        if state.sessions.contains_key(&session.id) {
            return Err(StorageError::Failed("duplicate session id".into()));
        }
        if session
            .grant
            .is_some_and(|(_, grant)| !state.grant_alive(grant))
        {
            return Ok(()); // a session of a revoked grant is not stored
        }
        state.sessions.insert(session.id, session.clone());
        Ok(())
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StorageError> {
        Ok(self.lock()?.session(id))
    }

    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StorageError> {
        let state = self.lock()?;
        let mut active: Vec<Session> = state
            .sessions
            .values()
            .filter(|s| {
                s.user_id == user
                    && s.is_active(now)
                    && s.grant.is_none_or(|(_, g)| state.grant_alive(g))
            })
            .cloned()
            .collect();
        active.sort_by_key(|s| (s.created_at, s.id));
        Ok(active)
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        Ok(match state.sessions.get_mut(&id) {
            Some(session) => {
                session.revoked_at.get_or_insert(now);
                true
            }
            None => false,
        })
    }
}

#[async_trait]
impl ConversationRepository for InMemoryStore {
    async fn save_conversation(
        &self,
        conversation: &Conversation,
    ) -> Result<Conversation, StorageError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&conversation.user_id) {
            return Err(StorageError::Gone(
                "conversation for a user that does not exist".into(),
            ));
        }
        let earlier = conversation.external_id.as_ref().and_then(|ext| {
            state
                .conversations
                .values()
                .find(|c| c.user_id == conversation.user_id && c.external_id.as_ref() == Some(ext))
                .map(|c| (c.id, c.created_at))
        });
        let mut stored = conversation.clone();
        if let Some((id, created_at)) = earlier {
            stored.id = id;
            stored.created_at = created_at;
        } else if state.conversations.contains_key(&stored.id) {
            return Err(StorageError::Failed("duplicate conversation id".into()));
        }
        state.conversations.insert(stored.id, stored.clone());
        Ok(stored)
    }

    async fn list_conversations(
        &self,
        user: UserId,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Result<Vec<Conversation>, StorageError> {
        Ok(self.lock()?.conversations_of(user, after, limit))
    }

    async fn list_conversations_in_session(
        &self,
        guard: &SessionGuard,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Result<Option<Vec<Conversation>>, StorageError> {
        let state = self.lock()?;
        Ok(state
            .admits(guard)
            .then(|| state.conversations_of(guard.user_id, after, limit)))
    }

    async fn delete_conversation(
        &self,
        user: UserId,
        id: ConversationId,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        match state.conversations.get(&id) {
            Some(c) if c.user_id == user => {
                state.conversations.remove(&id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl AccountRepository for InMemoryStore {
    async fn upsert_account(&self, account: &Account) -> Result<Account, StorageError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&account.user_id) {
            return Err(StorageError::Gone(
                "account for a user that does not exist".into(),
            ));
        }
        let earlier = state
            .accounts
            .values()
            .find(|a| {
                a.user_id == account.user_id
                    && a.provider == account.provider
                    && a.label == account.label
            })
            .map(|a| (a.id, a.created_at));
        let mut stored = account.clone();
        if let Some((id, created_at)) = earlier {
            stored.id = id;
            stored.created_at = created_at;
            stored.enabled = true;
            stored.status = gptgate_domain::AccountStatus::Active;
        } else if state.accounts.contains_key(&stored.id) {
            return Err(StorageError::Failed("duplicate account id".into()));
        }
        state.accounts.insert(stored.id, stored.clone());
        state.refreshed_at.insert(stored.id, stored.updated_at);
        Ok(stored)
    }

    async fn list_accounts(&self, user: UserId) -> Result<Vec<Account>, StorageError> {
        Ok(self.lock()?.accounts_of(user))
    }

    async fn list_accounts_in_session(
        &self,
        guard: &SessionGuard,
    ) -> Result<Option<Vec<Account>>, StorageError> {
        let state = self.lock()?;
        Ok(state
            .admits(guard)
            .then(|| state.accounts_of(guard.user_id)))
    }

    async fn find_account(
        &self,
        user: UserId,
        id: AccountId,
    ) -> Result<Option<Account>, StorageError> {
        Ok(self
            .lock()?
            .accounts
            .get(&id)
            .filter(|a| a.user_id == user)
            .cloned())
    }

    async fn set_account_enabled(
        &self,
        user: UserId,
        id: AccountId,
        enabled: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        Ok(match state.accounts.get_mut(&id) {
            Some(a) if a.user_id == user => {
                a.enabled = enabled;
                a.updated_at = now;
                true
            }
            _ => false,
        })
    }

    async fn replace_tokens(
        &self,
        id: AccountId,
        tokens: &SealedTokens,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        Ok(match state.accounts.get_mut(&id) {
            Some(a) => {
                a.tokens = tokens.clone();
                a.updated_at = now;
                true
            }
            None => false,
        })
    }

    async fn reseal_tokens(
        &self,
        id: AccountId,
        old: &SealedTokens,
        new: &SealedTokens,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        Ok(match state.accounts.get_mut(&id) {
            Some(a)
                if a.tokens.access_token == old.access_token
                    && a.tokens.refresh_token == old.refresh_token =>
            {
                a.tokens = new.clone();
                a.updated_at = now;
                true
            }
            _ => false,
        })
    }

    async fn accounts_idle_since(
        &self,
        provider: ProviderId,
        before: OffsetDateTime,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StorageError> {
        let state = self.lock()?;
        let mut idle: Vec<Account> = state
            .accounts
            .values()
            .filter(|a| {
                a.provider == provider
                    && a.status == AccountStatus::Active
                    && a.tokens.refresh_token.is_some()
                    && state.refreshed_at.get(&a.id).is_some_and(|t| *t < before)
                    && after.is_none_or(|after| a.id > after)
            })
            .cloned()
            .collect();
        idle.sort_by_key(|a| a.id);
        idle.truncate(limit);
        Ok(idle)
    }

    async fn take_refresh_lease(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        if !state.accounts.contains_key(&id)
            || state.refresh_leases.get(&id).is_some_and(|end| *end > now)
        {
            return Ok(false);
        }
        state.refresh_leases.insert(id, until);
        Ok(true)
    }

    async fn end_refresh(
        &self,
        id: AccountId,
        outcome: &RefreshOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        state.refresh_leases.remove(&id);
        let Some(account) = state.accounts.get_mut(&id) else {
            return Ok(false);
        };
        match outcome {
            RefreshOutcome::Refreshed {
                tokens,
                expires_at,
                metadata,
            } => {
                account.tokens = tokens.clone();
                account.expires_at = *expires_at;
                account.metadata = metadata.clone();
                account.status = gptgate_domain::AccountStatus::Active;
                account.updated_at = now;
                state.refreshed_at.insert(id, now);
            }
            RefreshOutcome::ReauthRequired { refused } => {
                if account.tokens.refresh_token == *refused {
                    account.status = gptgate_domain::AccountStatus::ReauthRequired;
                    account.updated_at = now;
                }
            }
            RefreshOutcome::Unchanged => {}
        }
        Ok(true)
    }

    async fn accounts_page(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StorageError> {
        let state = self.lock()?;
        let mut page: Vec<Account> = state
            .accounts
            .values()
            .filter(|a| after.is_none_or(|after| a.id > after))
            .cloned()
            .collect();
        page.sort_by_key(|a| a.id);
        page.truncate(limit);
        Ok(page)
    }

    async fn delete_account(&self, user: UserId, id: AccountId) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        match state.accounts.get(&id) {
            Some(a) if a.user_id == user => {
                state.accounts.remove(&id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl LinkTokenRepository for InMemoryStore {
    async fn create_onboarding_token(&self, token: &OnboardingToken) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&token.user_id) || state.onboarding.contains_key(&token.hash) {
            return Err(StorageError::Failed("onboarding token rejected".into()));
        }
        state.onboarding.insert(token.hash.clone(), token.clone());
        Ok(())
    }

    async fn find_onboarding_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OnboardingToken>, StorageError> {
        Ok(self
            .lock()?
            .onboarding
            .get(hash)
            .filter(|t| t.is_usable(now))
            .cloned())
    }

    async fn consume_onboarding_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OnboardingToken>, StorageError> {
        let mut state = self.lock()?;
        Ok(match state.onboarding.get_mut(hash) {
            Some(token) if token.is_usable(now) => {
                token.used_at = Some(now);
                Some(token.clone())
            }
            _ => None,
        })
    }

    async fn create_management_token(&self, token: &ManagementToken) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&token.user_id) || state.management.contains_key(&token.hash) {
            return Err(StorageError::Failed("management token rejected".into()));
        }
        state.management.insert(token.hash.clone(), token.clone());
        Ok(())
    }

    async fn create_export_link(&self, link: &ExportLink) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&link.user_id) || state.exports.contains_key(&link.hash) {
            return Err(StorageError::Failed("export link rejected".into()));
        }
        state.exports.insert(link.hash.clone(), link.clone());
        Ok(())
    }

    async fn consume_export_link(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ExportLink>, StorageError> {
        let mut state = self.lock()?;
        Ok(match state.exports.get_mut(hash) {
            Some(link) if link.is_usable(now) => {
                link.used_at = Some(now);
                Some(link.clone())
            }
            _ => None,
        })
    }

    async fn delete_management_token(&self, hash: &TokenHash) -> Result<bool, StorageError> {
        Ok(self.lock()?.management.remove(hash).is_some())
    }

    async fn find_management_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ManagementToken>, StorageError> {
        Ok(self
            .lock()?
            .management
            .get(hash)
            .filter(|t| now < t.expires_at)
            .cloned())
    }

    async fn create_oauth_state(&self, oauth_state: &OAuthState) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&oauth_state.user_id)
            || state.states.contains_key(&oauth_state.hash)
        {
            return Err(StorageError::Failed("oauth state rejected".into()));
        }
        state
            .states
            .insert(oauth_state.hash.clone(), oauth_state.clone());
        Ok(())
    }

    async fn take_oauth_state(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OAuthState>, StorageError> {
        Ok(self
            .lock()?
            .states
            .remove(hash)
            .filter(|s| now < s.expires_at))
    }

    async fn oauth_states_page(
        &self,
        after: Option<TokenHash>,
        limit: usize,
    ) -> Result<Vec<OAuthState>, StorageError> {
        let state = self.lock()?;
        let mut page: Vec<OAuthState> = state
            .states
            .values()
            .filter(|s| after.as_ref().is_none_or(|after| s.hash > *after))
            .cloned()
            .collect();
        page.sort_by(|a, b| a.hash.cmp(&b.hash));
        page.truncate(limit);
        Ok(page)
    }

    async fn replace_pkce_verifier(
        &self,
        hash: &TokenHash,
        verifier: &Sealed,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        Ok(match state.states.get_mut(hash) {
            Some(s) => {
                s.pkce_verifier = Some(verifier.clone());
                true
            }
            None => false,
        })
    }
}

#[async_trait]
impl AuthorizationRepository for InMemoryStore {
    async fn create_client(&self, client: &OAuthClient) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if state.clients.contains_key(&client.id) {
            return Err(StorageError::Failed("duplicate client id".into()));
        }
        state.clients.insert(client.id, client.clone());
        Ok(())
    }

    async fn find_client(&self, id: ClientId) -> Result<Option<OAuthClient>, StorageError> {
        Ok(self.lock()?.clients.get(&id).cloned())
    }

    async fn list_clients(&self) -> Result<Vec<OAuthClient>, StorageError> {
        let mut all: Vec<OAuthClient> = self.lock()?.clients.values().cloned().collect();
        all.sort_by_key(|c| (c.created_at, c.id));
        Ok(all)
    }

    async fn delete_client(&self, id: ClientId) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        let existed = state.clients.remove(&id).is_some();
        state.oauth_codes.retain(|_, (c, _)| c.client_id != id);
        state.refresh_tokens.retain(|_, t| t.client_id != id);
        state.grants.retain(|_, (client, _, _, _)| *client != id);
        state
            .sessions
            .retain(|_, s| s.grant.is_none_or(|(client, _)| client != id));
        Ok(existed)
    }

    async fn start_grant(
        &self,
        grant: GrantId,
        client: ClientId,
        user: UserId,
        audience: gptgate_domain::Audience,
        at: OffsetDateTime,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if !state.clients.contains_key(&client)
            || !state.users.contains_key(&user)
            || state.grants.contains_key(&grant)
        {
            return Err(StorageError::Failed("grant rejected".into()));
        }
        state.grants.insert(grant, (client, user, at, None));
        state.audiences.insert(grant, audience);
        Ok(())
    }

    async fn create_code(&self, code: &AuthorizationCode) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if !state.clients.contains_key(&code.client_id)
            || !state.users.contains_key(&code.user_id)
            || state.oauth_codes.contains_key(&code.hash)
        {
            return Err(StorageError::Failed("authorization code rejected".into()));
        }
        state
            .oauth_codes
            .insert(code.hash.clone(), (code.clone(), None));
        Ok(())
    }

    async fn take_code(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<CodeTaken, StorageError> {
        let mut state = self.lock()?;
        Ok(match state.oauth_codes.get_mut(hash) {
            Some((code, used @ None)) if now < code.expires_at => {
                *used = Some(now);
                CodeTaken::Taken(code.clone())
            }
            Some((code, Some(_))) => CodeTaken::Replayed {
                grant_id: code.grant_id,
            },
            _ => CodeTaken::NotFound,
        })
    }

    async fn create_refresh_token(&self, token: &RefreshToken) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        if !state.clients.contains_key(&token.client_id)
            || !state.users.contains_key(&token.user_id)
            || state.refresh_tokens.contains_key(&token.hash)
        {
            return Err(StorageError::Failed("refresh token rejected".into()));
        }
        if !state.grant_alive(token.grant_id) {
            return Ok(false);
        }
        state
            .refresh_tokens
            .insert(token.hash.clone(), token.clone());
        Ok(true)
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, StorageError> {
        let state = self.lock()?;
        Ok(state.refresh_tokens.get(hash).and_then(|t| {
            let (_, _, started, _) = state.grants.get(&t.grant_id)?;
            Some(RefreshToken {
                grant_started_at: *started,
                audience: *state.audiences.get(&t.grant_id)?,
                ..t.clone()
            })
        }))
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        match state.refresh_tokens.get(old) {
            Some(t)
                if t.rotated_at.is_none()
                    && t.revoked_at.is_none()
                    && state.grant_alive(t.grant_id) => {}
            _ => return Ok(false),
        }
        if state.refresh_tokens.contains_key(&new.hash) {
            return Err(StorageError::Failed("refresh token rejected".into()));
        }
        if let Some(t) = state.refresh_tokens.get_mut(old) {
            t.rotated_at = Some(now);
        }
        state.refresh_tokens.insert(new.hash.clone(), new.clone());
        Ok(true)
    }

    async fn grants_of(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<GrantSummary>, StorageError> {
        let state = self.lock()?;
        let mut grants: Vec<GrantSummary> = state
            .refresh_tokens
            .values()
            .filter(|t| {
                t.user_id == user
                    && t.rotated_at.is_none()
                    && t.revoked_at.is_none()
                    && now < t.expires_at
                    && state.grant_alive(t.grant_id)
            })
            .filter_map(|t| {
                Some(GrantSummary {
                    id: t.grant_id,
                    client_id: t.client_id,
                    client_name: state.clients.get(&t.client_id)?.name.clone(),
                    renewed_at: t.created_at,
                    started_at: state.grants.get(&t.grant_id)?.2,
                })
            })
            .collect();
        grants.sort_by_key(|g| (g.renewed_at, g.id));
        Ok(grants)
    }

    async fn revoke_grant(&self, grant: GrantId, now: OffsetDateTime) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if let Some((_, _, _, revoked)) = state.grants.get_mut(&grant) {
            revoked.get_or_insert(now);
        }
        for t in state
            .refresh_tokens
            .values_mut()
            .filter(|t| t.grant_id == grant)
        {
            t.revoked_at.get_or_insert(now);
        }
        for s in state
            .sessions
            .values_mut()
            .filter(|s| s.grant.is_some_and(|(_, g)| g == grant))
        {
            s.revoked_at.get_or_insert(now);
        }
        Ok(())
    }
}

#[async_trait]
impl gptgate_ports::PlatformRepository for InMemoryStore {
    async fn create_platform(
        &self,
        platform: &gptgate_domain::LaunchPlatform,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if state
            .platforms
            .iter()
            .any(|p| p.id == platform.id || p.issuer == platform.issuer)
        {
            return Err(StorageError::Failed("duplicate launch platform".into()));
        }
        state.platforms.push(platform.clone());
        state.admin_audit.push(audit.clone());
        Ok(())
    }

    async fn platforms(&self) -> Result<Vec<gptgate_domain::LaunchPlatform>, StorageError> {
        let mut platforms = self.lock()?.platforms.clone();
        platforms.sort_by_key(|p| (p.created_at, p.id));
        Ok(platforms)
    }

    async fn platform_by_issuer(
        &self,
        issuer: &gptgate_domain::Issuer,
    ) -> Result<Option<gptgate_domain::LaunchPlatform>, StorageError> {
        Ok(self
            .lock()?
            .platforms
            .iter()
            .find(|p| p.issuer == *issuer)
            .cloned())
    }

    async fn create_lti_platform(
        &self,
        platform: &gptgate_domain::LtiPlatform,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        let taken = state.platforms.iter().any(|p| p.id == platform.id)
            || state.lti_platforms.iter().any(|p| {
                p.id == platform.id
                    || (p.issuer == platform.issuer && p.client_id == platform.client_id)
            });
        if taken {
            return Err(StorageError::Failed("duplicate LTI platform".into()));
        }
        state.lti_platforms.push(platform.clone());
        state.admin_audit.push(audit.clone());
        Ok(())
    }

    async fn lti_platforms(&self) -> Result<Vec<gptgate_domain::LtiPlatform>, StorageError> {
        let mut platforms = self.lock()?.lti_platforms.clone();
        platforms.sort_by_key(|p| (p.created_at, p.id));
        Ok(platforms)
    }

    async fn lti_platforms_of(
        &self,
        issuer: &gptgate_domain::Issuer,
    ) -> Result<Vec<gptgate_domain::LtiPlatform>, StorageError> {
        let mut platforms: Vec<_> = self
            .lock()?
            .lti_platforms
            .iter()
            .filter(|p| p.issuer == *issuer)
            .cloned()
            .collect();
        platforms.sort_by_key(|p| (p.created_at, p.id));
        Ok(platforms)
    }

    async fn embedding_origins(
        &self,
        id: gptgate_domain::PlatformId,
    ) -> Result<Vec<gptgate_domain::EmbeddingOrigin>, StorageError> {
        let state = self.lock()?;
        let signed = state
            .platforms
            .iter()
            .find(|p| p.id == id)
            .map(|p| &p.origins);
        let lti = state
            .lti_platforms
            .iter()
            .find(|p| p.id == id)
            .map(|p| &p.origins);
        Ok(signed.or(lti).cloned().unwrap_or_default())
    }

    async fn delete_platform(
        &self,
        id: gptgate_domain::PlatformId,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        let before = state.platforms.len() + state.lti_platforms.len();
        state.platforms.retain(|p| p.id != id);
        state.lti_platforms.retain(|p| p.id != id);
        let deleted = state.platforms.len() + state.lti_platforms.len() < before;
        if deleted {
            state.chat_sessions.retain(|_, s| {
                !matches!(&s.visitor, gptgate_domain::ChatVisitor::Launched { platform, .. } if *platform == id)
            });
            state.admin_audit.push(audit.clone());
        }
        Ok(deleted)
    }
}

#[async_trait]
impl gptgate_ports::UsedIdRepository for InMemoryStore {
    async fn use_once(
        &self,
        issuer: &str,
        id: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        let key = (issuer.to_owned(), id.to_owned());
        if state.used_ids.contains_key(&key) {
            return Ok(false);
        }
        state.used_ids.insert(key, expires_at);
        Ok(true)
    }
}

#[async_trait]
impl gptgate_ports::ApiKeyRepository for InMemoryStore {
    async fn create_api_key(
        &self,
        key: &gptgate_domain::StoredApiKey,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if state
            .api_keys
            .iter()
            .any(|k| k.id == key.id || k.hash == key.hash)
        {
            return Err(StorageError::Failed("duplicate API key".into()));
        }
        state.api_keys.push(key.clone());
        state.admin_audit.push(audit.clone());
        Ok(())
    }

    async fn api_keys(&self) -> Result<Vec<gptgate_domain::StoredApiKey>, StorageError> {
        let mut keys = self.lock()?.api_keys.clone();
        keys.sort_by_key(|k| std::cmp::Reverse((k.created_at, k.id)));
        Ok(keys)
    }

    async fn find_api_key(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<gptgate_domain::StoredApiKey>, StorageError> {
        Ok(self
            .lock()?
            .api_keys
            .iter()
            .find(|k| k.hash == *hash)
            .cloned())
    }

    async fn revoke_api_key(
        &self,
        id: gptgate_domain::ApiKeyId,
        at: OffsetDateTime,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        let Some(key) = state
            .api_keys
            .iter_mut()
            .find(|k| k.id == id && k.revoked_at.is_none())
        else {
            return Ok(false);
        };
        key.revoked_at = Some(at);
        state.admin_audit.push(audit.clone());
        Ok(true)
    }

    async fn record_api_key_uses(
        &self,
        uses: &[(gptgate_domain::ApiKeyId, OffsetDateTime)],
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        for (id, at) in uses {
            if let Some(key) = state.api_keys.iter_mut().find(|k| k.id == *id) {
                if key.last_used_at.is_none_or(|last| last < *at) {
                    key.last_used_at = Some(*at);
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl gptgate_ports::ChatAccessRepository for InMemoryStore {
    async fn create_chat_session(
        &self,
        session: &gptgate_domain::ChatSession,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if state.chat_sessions.contains_key(&session.token_hash) {
            return Err(StorageError::Failed("duplicate chat session".into()));
        }
        state
            .chat_sessions
            .insert(session.token_hash.clone(), session.clone());
        Ok(())
    }

    async fn find_chat_session(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<gptgate_domain::ChatSession>, StorageError> {
        let state = self.lock()?;
        Ok(state
            .chat_sessions
            .get(token_hash)
            .cloned()
            .filter(|s| match &s.visitor {
                gptgate_domain::ChatVisitor::Admin => true,
                gptgate_domain::ChatVisitor::Launched { platform, .. } => {
                    state.platforms.iter().any(|p| p.id == *platform)
                        || state.lti_platforms.iter().any(|p| p.id == *platform)
                }
                gptgate_domain::ChatVisitor::Team { password_set_at } => state
                    .team_password
                    .as_ref()
                    .is_some_and(|p| p.set_at == *password_set_at),
            }))
    }

    async fn end_chat_session(&self, token_hash: &TokenHash) -> Result<bool, StorageError> {
        Ok(self.lock()?.chat_sessions.remove(token_hash).is_some())
    }

    async fn team_password(&self) -> Result<Option<gptgate_domain::TeamPassword>, StorageError> {
        Ok(self.lock()?.team_password.clone())
    }

    async fn set_team_password(
        &self,
        password: Option<&gptgate_domain::TeamPassword>,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        state.team_password = password.cloned();
        state
            .chat_sessions
            .retain(|_, s| !matches!(s.visitor, gptgate_domain::ChatVisitor::Team { .. }));
        state.admin_audit.push(audit.clone());
        Ok(())
    }
}

#[async_trait]
impl gptgate_ports::AdminRepository for InMemoryStore {
    async fn create_admin_session(
        &self,
        session: &gptgate_domain::AdminSession,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if state.admin_sessions.contains_key(&session.token_hash) {
            return Err(StorageError::Failed("duplicate admin session".into()));
        }
        state
            .admin_sessions
            .insert(session.token_hash.clone(), session.clone());
        Ok(())
    }

    async fn find_admin_session(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<gptgate_domain::AdminSession>, StorageError> {
        Ok(self.lock()?.admin_sessions.get(token_hash).cloned())
    }

    async fn end_admin_session(&self, token_hash: &TokenHash) -> Result<bool, StorageError> {
        Ok(self.lock()?.admin_sessions.remove(token_hash).is_some())
    }

    async fn admin_password(
        &self,
    ) -> Result<Option<gptgate_domain::StoredAdminPassword>, StorageError> {
        Ok(self.lock()?.admin_password.clone())
    }

    async fn replace_admin_password(
        &self,
        password: &gptgate_domain::StoredAdminPassword,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        state.admin_password = Some(password.clone());
        state.admin_sessions.clear();
        state
            .chat_sessions
            .retain(|_, s| s.visitor != gptgate_domain::ChatVisitor::Admin);
        state.admin_audit.push(audit.clone());
        Ok(())
    }

    async fn forget_admin_password(&self) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        state.admin_sessions.clear();
        state
            .chat_sessions
            .retain(|_, s| s.visitor != gptgate_domain::ChatVisitor::Admin);
        Ok(state.admin_password.take().is_some())
    }

    async fn record_admin_action(
        &self,
        entry: &gptgate_domain::AdminAuditEntry,
    ) -> Result<(), StorageError> {
        self.lock()?.admin_audit.push(entry.clone());
        Ok(())
    }

    async fn admin_actions(
        &self,
        limit: usize,
    ) -> Result<Vec<gptgate_domain::AdminAuditEntry>, StorageError> {
        let state = self.lock()?;
        let mut entries: Vec<_> = state.admin_audit.iter().rev().cloned().collect();
        // Newest first; of one instant, the later recorded first (a stable sort keeps that).
        entries.sort_by_key(|e| std::cmp::Reverse(e.at));
        entries.truncate(limit);
        Ok(entries)
    }

    async fn privacy_settings(&self) -> Result<gptgate_domain::PrivacySettings, StorageError> {
        Ok(self.lock()?.privacy)
    }

    async fn set_privacy_settings(
        &self,
        settings: &gptgate_domain::PrivacySettings,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        state.privacy = *settings;
        state.admin_audit.push(audit.clone());
        Ok(())
    }

    async fn admin_overview(
        &self,
        since: OffsetDateTime,
    ) -> Result<gptgate_domain::AdminOverview, StorageError> {
        let state = self.lock()?;
        let mut groups: std::collections::BTreeMap<(&str, &str, bool), u64> = Default::default();
        for a in state.accounts.values() {
            *groups
                .entry((a.provider.as_str(), a.status.as_str(), !a.enabled))
                .or_default() += 1;
        }
        let accounts = groups
            .into_iter()
            .filter_map(|((provider, status, disabled), count)| {
                Some(gptgate_domain::AccountCount {
                    provider: ProviderId::parse(provider).ok()?,
                    status: gptgate_domain::AccountStatus::parse(status)?,
                    enabled: !disabled,
                    count,
                })
            })
            .collect();
        Ok(gptgate_domain::AdminOverview {
            users: state.users.len() as u64,
            conversations: state.conversations.len() as u64,
            accounts,
            code_addresses: state
                .codes
                .values()
                .filter(|c| c.last_sent_at >= since)
                .count() as u64,
        })
    }
}

#[async_trait]
impl gptgate_ports::ProfileRepository for InMemoryStore {
    async fn save_profile_version(
        &self,
        profile: &gptgate_domain::AssistantProfile,
        at: OffsetDateTime,
    ) -> Result<gptgate_domain::ProfileVersion, StorageError> {
        let mut state = self.lock()?;
        let saved = gptgate_domain::ProfileVersion {
            version: state.profiles.len() as u32 + 1,
            profile: profile.clone(),
            saved_at: at,
        };
        state.profiles.push(saved.clone());
        Ok(saved)
    }

    async fn profile_versions(
        &self,
        limit: usize,
    ) -> Result<Vec<gptgate_domain::ProfileVersion>, StorageError> {
        Ok(self
            .lock()?
            .profiles
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn profile_version(
        &self,
        version: u32,
    ) -> Result<Option<gptgate_domain::ProfileVersion>, StorageError> {
        Ok(self
            .lock()?
            .profiles
            .iter()
            .find(|p| p.version == version)
            .cloned())
    }

    async fn publish_profile_version(
        &self,
        version: u32,
        _at: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        if !state.profiles.iter().any(|p| p.version == version) {
            return Ok(false);
        }
        state.published_profile = Some(version);
        Ok(true)
    }

    async fn published_profile(
        &self,
    ) -> Result<Option<gptgate_domain::ProfileVersion>, StorageError> {
        let state = self.lock()?;
        Ok(state
            .published_profile
            .and_then(|v| state.profiles.iter().find(|p| p.version == v).cloned()))
    }
}

#[async_trait]
impl gptgate_ports::Store for InMemoryStore {
    async fn ping(&self) -> Result<(), StorageError> {
        if self.stalled.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.lock().map(drop)
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[async_trait]
impl BucketRepository for InMemoryStore {
    async fn update_bucket(
        &self,
        key: &str,
        change: &mut BucketChange<'_>,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if let Some(next) = change(state.buckets.get(key).copied()) {
            state.buckets.insert(key.to_owned(), next);
        }
        Ok(())
    }
}

#[async_trait]
impl BudgetRepository for InMemoryStore {
    async fn update_budget(
        &self,
        key: &str,
        change: &mut BudgetChange<'_>,
    ) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        if let Some(next) = change(state.budgets.get(key)) {
            state.budgets.insert(key.to_owned(), next);
        }
        Ok(())
    }
}

#[async_trait]
impl Housekeeping for InMemoryStore {
    async fn purge(&self, before: OffsetDateTime) -> Result<PurgeReport, StorageError> {
        let mut state = self.lock()?;
        let windows_end = before - time::Duration::hours(1);
        fn count<K, V>(map: &mut HashMap<K, V>, keep: impl Fn(&V) -> bool) -> u64 {
            let len = map.len();
            map.retain(|_, v| keep(v));
            (len - map.len()) as u64
        }
        Ok(PurgeReport {
            verification_codes: count(&mut state.codes, |r| {
                !(r.expires_at < before
                    && r.last_sent_at < windows_end
                    && r.attempt_window_started_at < windows_end)
            }),
            sessions: count(&mut state.sessions, |s| {
                !(s.expires_at < before || s.revoked_at.is_some_and(|r| r < before))
            }),
            onboarding_tokens: count(&mut state.onboarding, |t| t.expires_at >= before),
            management_tokens: count(&mut state.management, |t| t.expires_at >= before),
            oauth_states: count(&mut state.states, |t| t.expires_at >= before),
            export_links: count(&mut state.exports, |t| t.expires_at >= before),
            authorization_codes: count(&mut state.oauth_codes, |(c, _)| c.expires_at >= before),
            refresh_tokens: count(&mut state.refresh_tokens, |t| {
                t.expires_at >= before && t.revoked_at.is_none_or(|r| r >= before)
            }),
            grants: {
                let referred: std::collections::HashSet<GrantId> = state
                    .oauth_codes
                    .values()
                    .map(|(c, _)| c.grant_id)
                    .chain(state.refresh_tokens.values().map(|t| t.grant_id))
                    .chain(
                        state
                            .sessions
                            .values()
                            .filter_map(|s| s.grant.map(|(_, g)| g)),
                    )
                    .collect();
                let len = state.grants.len();
                state
                    .grants
                    .retain(|id, (_, _, started, _)| *started >= before || referred.contains(id));
                (len - state.grants.len()) as u64
            },
            unused_clients: {
                let used: std::collections::HashSet<ClientId> =
                    state.grants.values().map(|(c, _, _, _)| *c).collect();
                let len = state.clients.len();
                state.clients.retain(|id, c| {
                    c.kind != gptgate_domain::ClientKind::Public
                        || c.created_at >= before
                        || used.contains(id)
                });
                (len - state.clients.len()) as u64
            },
            admin_sessions: count(&mut state.admin_sessions, |s| s.expires_at >= before),
            admin_audit_entries: {
                let kept_from = before - gptgate_domain::ADMIN_AUDIT_RETENTION;
                let len = state.admin_audit.len();
                state.admin_audit.retain(|e| e.at >= kept_from);
                (len - state.admin_audit.len()) as u64
            },
            chat_sessions: count(&mut state.chat_sessions, |s| s.expires_at >= before),
            used_ids: count(&mut state.used_ids, |at| *at >= before),
            budget_windows: count(&mut state.budgets, |w| w.started_at >= windows_end),
            rate_buckets: count(&mut state.buckets, |full_at| *full_at >= before),
        })
    }

    async fn take_job_lease(
        &self,
        job: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock()?;
        if state.job_leases.get(job).is_some_and(|end| *end > now) {
            return Ok(false);
        }
        state.job_leases.insert(job.to_owned(), until);
        Ok(true)
    }

    async fn delete_conversations_saved_before(
        &self,
        before: OffsetDateTime,
    ) -> Result<u64, StorageError> {
        let mut state = self.lock()?;
        let len = state.conversations.len();
        state.conversations.retain(|_, c| c.updated_at >= before);
        Ok((len - state.conversations.len()) as u64)
    }
}
