//! Storage ports, one per aggregate. Every implementation (the in-memory fakes, SQLite,
//! PostgreSQL) must pass the contract suites in `gptgate-testkit`.

use async_trait::async_trait;
use gptgate_domain::{
    Account, AccountId, AdminAuditEntry, AdminSession, Audience, AuthorizationCode, ClientId,
    CodeHash, CodeRecord, Conversation, ConversationCursor, ConversationId, Email, ExportLink,
    GrantId, GrantSummary, Identity, ManagementToken, OAuthClient, OAuthState, OnboardingToken,
    ProviderId, RefreshToken, Sealed, SealedTokens, Session, SessionGuard, SessionId,
    SessionPolicy, StoredAdminPassword, TokenHash, User, UserId,
};
use time::OffsetDateTime;

use crate::StorageError;

/// A decision about a code record: given the current record (if any), the record to store
/// instead (`None` leaves the store as it is).
pub type CodeChange<'a> = dyn FnMut(Option<&CodeRecord>) -> Option<CodeRecord> + Send + 'a;

/// Stores the sign-in code record of each email address.
#[async_trait]
pub trait VerificationCodeRepository: Send + Sync {
    /// Reads the record of `email`, calls `change` with it, and stores what `change` returns,
    /// as one atomic step: no other `update` of the same email may be stored between the read
    /// and the write. This is what makes attempt counting and single use hold under
    /// concurrency. A store may call `change` more than once (an optimistic store that lost a
    /// race calls it again with the record that won): `change` must be a decision about its
    /// argument, and only the conclusion of its last call holds. In particular a store may
    /// first call it with `None` before reading anything, a guess that `email` has no record
    /// (the common case of a first send): what it returns is stored only if there is indeed
    /// none, else `change` is called again with the record there is. If this returns an
    /// error, nothing was stored, and whatever `change` concluded must be discarded.
    async fn update_code(
        &self,
        email: &Email,
        change: &mut CodeChange<'_>,
    ) -> Result<(), StorageError>;

    /// The record of `email`, if any (for operators and tests).
    async fn find_code(&self, email: &Email) -> Result<Option<CodeRecord>, StorageError>;

    /// Uses up the live code of `email` if it is still the one with hash `matched` (the hash
    /// a submission was just compared with), as [`CodeRecord::used_up`] says, in one atomic
    /// write; returns whether it did. Of concurrent calls with one hash, one gets `true`. A
    /// store may do it in one statement; this default goes through
    /// [`VerificationCodeRepository::update_code`].
    async fn use_code(&self, email: &Email, matched: &CodeHash) -> Result<bool, StorageError> {
        let mut used = false;
        self.update_code(email, &mut |record| {
            // Only the last call's conclusion holds (it may see no record at all).
            used = false;
            let next = record?.used_up(matched);
            used = next.is_some();
            next
        })
        .await?;
        Ok(used)
    }
}

/// Stores users and their identities.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// The user holding `identity`; if nobody does, creates user `new_id` holding it. Concurrent
    /// calls with the same identity MUST all return the same user.
    async fn find_or_create_user(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError>;

    /// The user, if they exist.
    async fn find_user(&self, id: UserId) -> Result<Option<User>, StorageError>;

    /// Every identity the user holds, ordered by kind then value.
    async fn identities(&self, id: UserId) -> Result<Vec<Identity>, StorageError>;

    /// The email address the user signed in with, if they have one (the first in order of the
    /// address, should they have several).
    async fn find_email(&self, id: UserId) -> Result<Option<Email>, StorageError>;

    /// Deletes the user and everything they own (identities, sessions, conversations, accounts
    /// and pending connect-flow tokens) in one transaction. Returns whether the user existed.
    async fn delete_user(&self, id: UserId) -> Result<bool, StorageError>;
}

/// Stores sign-in sessions.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session. Fails if its user does not exist. A session of an OAuth grant
    /// (`Session::grant`) is stored only while that grant is not revoked (checked in the same
    /// statement); otherwise nothing is stored, and its token is refused at first use.
    async fn create_session(&self, session: &Session) -> Result<(), StorageError>;

    /// The session, if it exists (revoked or not).
    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StorageError>;

    /// The user's sessions that are active at `now` (not revoked, not expired), oldest first.
    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StorageError>;

    /// Marks the session revoked at `now` unless it already is. Returns whether it existed.
    async fn revoke_session(
        &self,
        id: SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError>;
}

/// Stores saved conversations.
#[async_trait]
pub trait ConversationRepository: Send + Sync {
    /// Stores `conversation`. When it has an `external_id` and its user already has a
    /// conversation with that external id, that one is updated instead: its content and
    /// `updated_at` are replaced, its `id` and `created_at` kept. Returns what is stored.
    async fn save_conversation(
        &self,
        conversation: &Conversation,
    ) -> Result<Conversation, StorageError>;

    /// Up to `limit` conversations of `user`, newest first by (created_at, id); after `after`
    /// when given (strictly older than it).
    async fn list_conversations(
        &self,
        user: UserId,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Result<Vec<Conversation>, StorageError>;

    /// The same page for `guard`'s user, read only if `guard` admits its session (as
    /// [`SessionGuard::admits`]: the claimed session of that user, not revoked, its grant not
    /// revoked, not expired at the guard's instant), checked in the statement that reads:
    /// `None` when it does not. A GPT read signed in with a session token costs one round trip.
    async fn list_conversations_in_session(
        &self,
        guard: &SessionGuard,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Result<Option<Vec<Conversation>>, StorageError>;

    /// Deletes the conversation if it belongs to `user`. Returns whether one was deleted; a
    /// conversation of another user MUST be left alone and reported as not found.
    async fn delete_conversation(
        &self,
        user: UserId,
        id: ConversationId,
    ) -> Result<bool, StorageError>;
}

/// What a refresh of an account's tokens came to, for [`AccountRepository::end_refresh`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens (a provider that rotates sends a new refresh token; otherwise the sealed
    /// old one is passed again), their expiry and the account's metadata with what the
    /// provider told: stored, and the account is active again.
    Refreshed {
        tokens: SealedTokens,
        expires_at: Option<OffsetDateTime>,
        metadata: serde_json::Map<String, serde_json::Value>,
    },
    /// The provider no longer honours the grant: the account needs the user to connect again,
    /// if its refresh token is still `refused` (the one the provider refused; `None` when it had
    /// none). Another refresh that stored new tokens meanwhile wins: then only the lease is
    /// released.
    ReauthRequired { refused: Option<Sealed> },
    /// Nothing to store (the provider failed for now): only the lease is released.
    Unchanged,
}

/// Stores connected accounts. Tokens arrive and leave sealed; this port never sees plaintext.
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Stores `account`; when its user already has an account with the same provider and label,
    /// that one is updated instead: tokens, expiry, scopes and metadata replaced, enabled again,
    /// status active, `updated_at` set, `id` and `created_at` kept. Returns what is stored, so
    /// the caller learns which id the row has.
    async fn upsert_account(&self, account: &Account) -> Result<Account, StorageError>;

    /// The user's accounts, ordered by provider then label.
    async fn list_accounts(&self, user: UserId) -> Result<Vec<Account>, StorageError>;

    /// The same list for `guard`'s user, read only if `guard` admits its session (see
    /// [`ConversationRepository::list_conversations_in_session`]): `None` when it does not.
    async fn list_accounts_in_session(
        &self,
        guard: &SessionGuard,
    ) -> Result<Option<Vec<Account>>, StorageError>;

    /// The account if it belongs to `user`.
    async fn find_account(
        &self,
        user: UserId,
        id: AccountId,
    ) -> Result<Option<Account>, StorageError>;

    /// Enables or disables the account if it belongs to `user`. Returns whether it did.
    async fn set_account_enabled(
        &self,
        user: UserId,
        id: AccountId,
        enabled: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Replaces the sealed tokens of account `id` (after a refresh, a re-seal or a key
    /// rotation). Returns whether the account still exists.
    async fn replace_tokens(
        &self,
        id: AccountId,
        tokens: &SealedTokens,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Replaces the sealed tokens of account `id` with `new` only if they still are `old` (both
    /// tokens compared byte for byte): a re-seal must never overwrite tokens a reconnect or a
    /// refresh wrote meanwhile. Returns whether it replaced them.
    async fn reseal_tokens(
        &self,
        id: AccountId,
        old: &SealedTokens,
        new: &SealedTokens,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Takes the refresh lease of account `id` until `until`, unless an unexpired one (ending
    /// after `now`) is held. Returns whether it took it: `false` when another refresh holds it
    /// or the account does not exist. The lease lets one refresh at a time run per account
    /// across server instances, without a transaction held open during the provider call.
    async fn take_refresh_lease(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Stores what a refresh of account `id` came to and releases its lease, in one write.
    /// Returns whether the account still exists.
    async fn end_refresh(
        &self,
        id: AccountId,
        outcome: &RefreshOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Up to `limit` active accounts of `provider` that hold a refresh token and whose grant
    /// was last renewed (connected, or refreshed by `end_refresh`) before `before`, ordered by
    /// id, starting after `after` (strictly greater) when given: the accounts whose grant the
    /// background job keeps alive, in pages. Turning an account off or on renews nothing.
    async fn accounts_idle_since(
        &self,
        provider: ProviderId,
        before: OffsetDateTime,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StorageError>;

    /// Up to `limit` accounts of every user, ordered by id, starting after `after` (strictly
    /// greater) when given: a scan in pages, for re-sealing under a new key.
    async fn accounts_page(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StorageError>;

    /// Deletes the account if it belongs to `user`. Returns whether it did.
    async fn delete_account(&self, user: UserId, id: AccountId) -> Result<bool, StorageError>;
}

/// Stores the single-use tokens of the connect flow, by the SHA-256 of their value.
#[async_trait]
pub trait LinkTokenRepository: Send + Sync {
    async fn create_onboarding_token(&self, token: &OnboardingToken) -> Result<(), StorageError>;

    /// The onboarding token if it exists, is unused and has not expired at `now`. Changes
    /// nothing: a link can be looked at (previewed, scanned) any number of times.
    async fn find_onboarding_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OnboardingToken>, StorageError>;

    /// Marks the onboarding token used at `now` and returns it, if it exists, is unused and has
    /// not expired. Of concurrent calls with one token, exactly one gets it.
    async fn consume_onboarding_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OnboardingToken>, StorageError>;

    async fn create_management_token(&self, token: &ManagementToken) -> Result<(), StorageError>;

    async fn create_export_link(&self, link: &ExportLink) -> Result<(), StorageError>;

    /// Marks the export link used at `now` and returns it, if it exists, is unused and has not
    /// expired. Of concurrent calls with one link, exactly one gets it.
    async fn consume_export_link(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ExportLink>, StorageError>;

    /// Deletes the management token (signing out of the integrations page ends its link).
    /// Returns whether it existed.
    async fn delete_management_token(&self, hash: &TokenHash) -> Result<bool, StorageError>;

    /// The management token if it exists and has not expired at `now`.
    async fn find_management_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ManagementToken>, StorageError>;

    async fn create_oauth_state(&self, state: &OAuthState) -> Result<(), StorageError>;

    /// Removes the state and returns it if it had not expired at `now`. A state is returned at
    /// most once, even to concurrent callers; an expired one is removed and not returned.
    async fn take_oauth_state(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OAuthState>, StorageError>;

    /// Up to `limit` pending states (expired ones included), ordered by hash, starting after
    /// `after` (strictly greater) when given: a scan in pages, for re-sealing under a new key.
    async fn oauth_states_page(
        &self,
        after: Option<TokenHash>,
        limit: usize,
    ) -> Result<Vec<OAuthState>, StorageError>;

    /// Replaces the sealed PKCE verifier of a pending state. Returns whether the state still
    /// exists.
    async fn replace_pkce_verifier(
        &self,
        hash: &TokenHash,
        verifier: &Sealed,
    ) -> Result<bool, StorageError>;
}

/// How many rows a purge removed, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub verification_codes: u64,
    pub sessions: u64,
    pub onboarding_tokens: u64,
    pub management_tokens: u64,
    pub oauth_states: u64,
    pub export_links: u64,
    /// Authorization codes of gptgate's OAuth server that expired.
    pub authorization_codes: u64,
    /// Its refresh tokens that expired or were revoked (spent ones stay until they expire, so
    /// a late replay is still recognised and revokes its grant).
    pub refresh_tokens: u64,
    /// Grants nothing refers to any more (no code, refresh token or session).
    pub grants: u64,
    /// Clients that registered themselves and never started a grant.
    pub unused_clients: u64,
    /// Admin console sessions that expired.
    pub admin_sessions: u64,
    /// Admin audit log lines older than [`gptgate_domain::ADMIN_AUDIT_RETENTION`].
    pub admin_audit_entries: u64,
    /// Chat sessions that expired.
    pub chat_sessions: u64,
    /// Used ids (launch tokens, nonces) past their expiry.
    pub used_ids: u64,
    /// Usage budgets whose window ended an hour before (every window is an hour or less).
    pub budget_windows: u64,
    /// Token buckets full again (a full bucket needs no row).
    pub rate_buckets: u64,
}

/// The admin console's sessions and the password set in it.
#[async_trait]
pub trait AdminRepository: Send + Sync {
    async fn create_admin_session(&self, session: &AdminSession) -> Result<(), StorageError>;

    /// The session stored under `token_hash`, live or not (the caller checks its expiry).
    async fn find_admin_session(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<AdminSession>, StorageError>;

    /// Deletes one session; whether there was one.
    async fn end_admin_session(&self, token_hash: &TokenHash) -> Result<bool, StorageError>;

    /// The password set in the console, if one was.
    async fn admin_password(&self) -> Result<Option<StoredAdminPassword>, StorageError>;

    /// Stores `password` in place of any earlier one, deletes every admin session and every
    /// chat session opened with the admin password AND adds `audit` to the audit log, all or
    /// nothing: after a change nobody is signed in with the old password, and no change goes
    /// unrecorded.
    async fn replace_admin_password(
        &self,
        password: &StoredAdminPassword,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError>;

    /// Deletes the password set in the console AND every admin session and chat session opened
    /// with the admin password, all or none; whether there was such a password.
    async fn forget_admin_password(&self) -> Result<bool, StorageError>;

    /// Adds a line to the admin audit log.
    async fn record_admin_action(&self, entry: &AdminAuditEntry) -> Result<(), StorageError>;

    /// The newest `limit` lines of the audit log, newest first (lines of one instant in the
    /// reverse of their recording).
    async fn admin_actions(&self, limit: usize) -> Result<Vec<AdminAuditEntry>, StorageError>;

    /// The privacy settings (the defaults, keep everything, until some are set).
    async fn privacy_settings(&self) -> Result<gptgate_domain::PrivacySettings, StorageError>;

    /// Replaces the privacy settings AND adds `audit` (whose time is the change's) to the audit
    /// log, both or neither.
    async fn set_privacy_settings(
        &self,
        settings: &gptgate_domain::PrivacySettings,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError>;

    /// How many users, conversations and accounts there are, and how many addresses were last
    /// sent a sign-in code at `since` or later.
    async fn admin_overview(
        &self,
        since: OffsetDateTime,
    ) -> Result<gptgate_domain::AdminOverview, StorageError>;
}

/// Who may use the hosted assistant's chat: its sessions and the team password.
#[async_trait]
pub trait ChatAccessRepository: Send + Sync {
    async fn create_chat_session(
        &self,
        session: &gptgate_domain::ChatSession,
    ) -> Result<(), StorageError>;

    /// The session stored under `token_hash`, live or not (the caller checks its expiry); a
    /// team session only while the team password that admitted it is the one set, a launched
    /// visitor's only while its platform is registered.
    async fn find_chat_session(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<gptgate_domain::ChatSession>, StorageError>;

    /// Deletes one session; whether there was one.
    async fn end_chat_session(&self, token_hash: &TokenHash) -> Result<bool, StorageError>;

    /// The team password set in the console, if one is.
    async fn team_password(&self) -> Result<Option<gptgate_domain::TeamPassword>, StorageError>;

    /// Stores `password` (`None`: switched off) in place of any earlier one, deletes every
    /// team chat session AND adds `audit` to the admin audit log, all or nothing: after a
    /// rotation nobody chats on the old password, and no change goes unrecorded.
    async fn set_team_password(
        &self,
        password: Option<&gptgate_domain::TeamPassword>,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError>;
}

/// The learning platforms registered to launch visitors into the chat.
#[async_trait]
pub trait PlatformRepository: Send + Sync {
    /// Registers `platform` AND adds `audit`, both or neither. Fails if its issuer is taken.
    async fn create_platform(
        &self,
        platform: &gptgate_domain::LaunchPlatform,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError>;

    /// Every platform, oldest first.
    async fn platforms(&self) -> Result<Vec<gptgate_domain::LaunchPlatform>, StorageError>;

    /// The platform whose tokens carry `issuer`.
    async fn platform_by_issuer(
        &self,
        issuer: &gptgate_domain::Issuer,
    ) -> Result<Option<gptgate_domain::LaunchPlatform>, StorageError>;

    /// Registers LTI 1.3 `platform` AND adds `audit`, both or neither. Fails if its issuer
    /// and client id are registered already.
    async fn create_lti_platform(
        &self,
        platform: &gptgate_domain::LtiPlatform,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError>;

    /// Every LTI 1.3 registration, oldest first.
    async fn lti_platforms(&self) -> Result<Vec<gptgate_domain::LtiPlatform>, StorageError>;

    /// The LTI 1.3 registrations of `issuer` (one per client id).
    async fn lti_platforms_of(
        &self,
        issuer: &gptgate_domain::Issuer,
    ) -> Result<Vec<gptgate_domain::LtiPlatform>, StorageError>;

    /// The embedding origins of platform `id`, of either kind (none if there is no such
    /// platform).
    async fn embedding_origins(
        &self,
        id: gptgate_domain::PlatformId,
    ) -> Result<Vec<gptgate_domain::EmbeddingOrigin>, StorageError>;

    /// Removes platform `id` (of either kind), ends the chat sessions of the visitors it sent
    /// AND adds `audit`, all or nothing; `false` (and no audit line) if there is no such
    /// platform.
    async fn delete_platform(
        &self,
        id: gptgate_domain::PlatformId,
        audit: &AdminAuditEntry,
    ) -> Result<bool, StorageError>;
}

/// Ids that may be used once (a launch token's `jti`, an LTI launch's nonce), kept until they
/// expire so a replay is recognised.
#[async_trait]
pub trait UsedIdRepository: Send + Sync {
    /// Records `id` of `issuer` as used until `expires_at`; `false` if it was used before (a
    /// replay). Of concurrent uses of one id, exactly one gets `true`.
    async fn use_once(
        &self,
        issuer: &str,
        id: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StorageError>;
}

/// API keys made in the admin console: stored by the SHA-256 of the key only.
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores a new key AND adds `audit` to the admin audit log, both or neither.
    async fn create_api_key(
        &self,
        key: &gptgate_domain::StoredApiKey,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError>;

    /// Every key, active or revoked, newest first.
    async fn api_keys(&self) -> Result<Vec<gptgate_domain::StoredApiKey>, StorageError>;

    /// The key whose SHA-256 is `hash`, active or revoked.
    async fn find_api_key(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<gptgate_domain::StoredApiKey>, StorageError>;

    /// Revokes key `id` at `at` AND adds `audit`, both or neither; `false` (and no audit line)
    /// if there is no such key or it was revoked already.
    async fn revoke_api_key(
        &self,
        id: gptgate_domain::ApiKeyId,
        at: OffsetDateTime,
        audit: &AdminAuditEntry,
    ) -> Result<bool, StorageError>;

    /// Records when keys were last used (a batch, flushed now and then): each key's
    /// `last_used_at` becomes the later of the stored time and the given one.
    async fn record_api_key_uses(
        &self,
        uses: &[(gptgate_domain::ApiKeyId, OffsetDateTime)],
    ) -> Result<(), StorageError>;
}

/// The hosted assistant's profile versions and which one is published.
#[async_trait]
pub trait ProfileRepository: Send + Sync {
    /// Stores `profile` as the next version (1, 2, 3...; concurrent saves get distinct ones).
    async fn save_profile_version(
        &self,
        profile: &gptgate_domain::AssistantProfile,
        at: OffsetDateTime,
    ) -> Result<gptgate_domain::ProfileVersion, StorageError>;

    /// The newest `limit` versions, newest first.
    async fn profile_versions(
        &self,
        limit: usize,
    ) -> Result<Vec<gptgate_domain::ProfileVersion>, StorageError>;

    async fn profile_version(
        &self,
        version: u32,
    ) -> Result<Option<gptgate_domain::ProfileVersion>, StorageError>;

    /// Makes `version` the published one; `false` if there is no such version.
    async fn publish_profile_version(
        &self,
        version: u32,
        at: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// The published version, if one is.
    async fn published_profile(
        &self,
    ) -> Result<Option<gptgate_domain::ProfileVersion>, StorageError>;
}

/// Removes rows nobody can use any more.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// Deletes what ended before `before`: sessions that expired or were revoked, onboarding
    /// and management tokens, export links, OAuth states and authorization codes that expired,
    /// refresh tokens that expired or were revoked, and code records whose code
    /// expired and whose last code was sent before `before` minus one hour (so no rate-limit
    /// window is cut short). Callers pass a grace period (`now - 24 h`).
    async fn purge(&self, before: OffsetDateTime) -> Result<PurgeReport, StorageError>;

    /// Takes the lease of background job `job` until `until` if nobody holds it at `now`
    /// (the lease is free, or ended at or before `now`). Returns whether it did: with several
    /// instances on one database, one runs the job at a time.
    async fn take_job_lease(
        &self,
        job: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Deletes every conversation (of every user) last saved before `before` (the operator's
    /// retention); how many.
    async fn delete_conversations_saved_before(
        &self,
        before: OffsetDateTime,
    ) -> Result<u64, StorageError>;
}

/// What taking an authorization code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeTaken {
    /// The code, now used: exchange it.
    Taken(AuthorizationCode),
    /// The code was used before: a replay, so what was issued from it is revoked (RFC 6749
    /// 4.1.2).
    Replayed { grant_id: GrantId },
    /// No such code, or it expired.
    NotFound,
}

/// Stores gptgate's authorization server: its registered clients, the authorization codes it
/// issued and the refresh tokens of each grant, by the SHA-256 of their values.
#[async_trait]
pub trait AuthorizationRepository: Send + Sync {
    /// Registers a client. Fails if its id is taken.
    async fn create_client(&self, client: &OAuthClient) -> Result<(), StorageError>;

    async fn find_client(&self, id: ClientId) -> Result<Option<OAuthClient>, StorageError>;

    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<OAuthClient>, StorageError>;

    /// Deletes the client with its codes, its refresh tokens and the sessions issued to it (so
    /// its access tokens stop working at once). Returns whether it existed.
    async fn delete_client(&self, id: ClientId) -> Result<bool, StorageError>;

    /// Starts grant `grant` of `client` for `user`, for `audience`, at `at` (before its code is
    /// issued).
    async fn start_grant(
        &self,
        grant: GrantId,
        client: ClientId,
        user: UserId,
        audience: Audience,
        at: OffsetDateTime,
    ) -> Result<(), StorageError>;

    async fn create_code(&self, code: &AuthorizationCode) -> Result<(), StorageError>;

    /// Marks the code used at `now` and returns it if it exists, is unused and has not expired
    /// (dead from `expires_at` on); of concurrent calls with one code exactly one gets it. A
    /// code used before is a replay; an unknown or expired one is not found.
    async fn take_code(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<CodeTaken, StorageError>;

    /// Stores the first refresh token of a grant, if the grant is not revoked (checked in the
    /// same statement). Returns whether it did.
    async fn create_refresh_token(&self, token: &RefreshToken) -> Result<bool, StorageError>;

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, StorageError>;

    /// Marks refresh token `old` rotated at `now` if it is neither rotated nor revoked and its
    /// grant is not revoked, and stores `new`, both or neither. Returns whether it did: of concurrent rotations of one
    /// token exactly one does.
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Revokes grant `grant` at `now`: the grant itself (so nothing more is issued from it),
    /// its refresh tokens and the sessions issued from it (what is already revoked keeps its
    /// first revocation time).
    async fn revoke_grant(&self, grant: GrantId, now: OffsetDateTime) -> Result<(), StorageError>;

    /// The grants of `user` alive at `now` (a refresh token neither rotated, revoked nor
    /// expired), each with its client's name, the least recently renewed first.
    async fn grants_of(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<GrantSummary>, StorageError>;
}

/// A sign-in with an emailed code, once the code compared right: what
/// [`SignInRepository::sign_in_with_code`] stores.
#[derive(Debug, Clone, Copy)]
pub struct CodeSignIn<'a> {
    /// The address the code was sent to, and the hash of the code that matched.
    pub email: &'a Email,
    pub matched: &'a CodeHash,
    /// The id of the address's user if it has none yet (the user holding the address as an
    /// identity: the code proves the address, so no other identity can be named here).
    pub new_user: UserId,
    /// The session to open for them.
    pub session_id: SessionId,
    pub sessions: &'a SessionPolicy,
    pub now: OffsetDateTime,
}

/// The last step of a sign-in with a code, for a store that can take it in one go.
#[async_trait]
pub trait SignInRepository:
    VerificationCodeRepository + UserRepository + SessionRepository
{
    /// Uses up the code of `sign_in.email` if it is still `sign_in.matched` (as
    /// [`VerificationCodeRepository::use_code`]); if it was, finds or creates the user of
    /// that address (as [`UserRepository::find_or_create_user`]) and opens a session
    /// for them, which it returns. `None`: the code was no longer the live one, and nothing
    /// was done. A store that can does all three as one atomic step (one statement on
    /// PostgreSQL, one transaction on SQLite); the default does them one after the other,
    /// each safe alone (a failure after the use leaves a used code, and the caller asks for a
    /// new one).
    async fn sign_in_with_code(
        &self,
        sign_in: CodeSignIn<'_>,
    ) -> Result<Option<Session>, StorageError> {
        if !self.use_code(sign_in.email, sign_in.matched).await? {
            return Ok(None);
        }
        let user = self
            .find_or_create_user(
                &Identity::email(sign_in.email),
                sign_in.new_user,
                sign_in.now,
            )
            .await?;
        let session = sign_in
            .sessions
            .open(sign_in.session_id, user.id, sign_in.now);
        self.create_session(&session).await?;
        Ok(Some(session))
    }
}

/// A whole store: every storage port, plus what the server needs to run on it. Each backend
/// (the in-memory fake, SQLite, PostgreSQL) implements it, and the server holds one as
/// `Arc<dyn Store>`, handing each service the ports it needs (trait upcasting).
#[async_trait]
pub trait Store:
    VerificationCodeRepository
    + crate::BudgetRepository
    + crate::BucketRepository
    + AdminRepository
    + ChatAccessRepository
    + ApiKeyRepository
    + UsedIdRepository
    + PlatformRepository
    + ProfileRepository
    + UserRepository
    + SessionRepository
    + SignInRepository
    + ConversationRepository
    + AccountRepository
    + LinkTokenRepository
    + AuthorizationRepository
    + Housekeeping
    + 'static
{
    /// Whether the store answers now (for `/readyz`).
    async fn ping(&self) -> Result<(), StorageError>;

    /// Applies the pending migrations; a store that needs none does nothing.
    async fn migrate(&self) -> Result<(), StorageError>;

    /// How its connection pools are used now (for `/metrics`); a store without one says
    /// nothing.
    fn pool_use(&self) -> Vec<PoolUse> {
        Vec::new()
    }
}

/// A connection pool's use at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// The pool's name (`main`; SQLite: `readers`, `writer`).
    pub pool: &'static str,
    /// Connections open, idle or in use.
    pub open: u32,
    /// Open connections no one uses.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}
