//! The admin console's sign-in: one password (`ADMIN_PASSWORD_HASH`, or the one set in the
//! console since), checked on the blocking threads, guesses limited per address and overall;
//! sessions of 8 hours, ended all at once when the password changes. Without a configured
//! password the console is off: no default password, ever.

use std::sync::Arc;

use gptgate_domain::{
    AdminAction, AdminAuditEntry, AdminPolicy, AdminSession, NewPassword, PasswordHash,
    StoredAdminPassword,
};
use secrecy::SecretString;
use time::Duration;
use tracing::instrument;

use super::guesses::Guesses;
use crate::{
    AdminRepository, BudgetRepository, Clock, InternalError, OpaqueTokens, PasswordHasher,
    StorageError,
};

/// What the console needs.
pub struct AdminPorts {
    pub store: Arc<dyn AdminRepository>,
    pub passwords: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn OpaqueTokens>,
    pub budgets: Arc<dyn BudgetRepository>,
    pub clock: Arc<dyn Clock>,
}

/// Why signing in (or proving the current password) failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminLoginError {
    /// No admin password is configured: the console does not exist.
    #[error("the admin console is off")]
    Off,
    /// One answer for every wrong password.
    #[error("wrong password")]
    WrongPassword,
    /// Too many wrong passwords from this address, or from everywhere.
    #[error("too many attempts; try again in {} s", retry_after.whole_seconds())]
    TooMany { retry_after: Duration },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Why a console request is not signed in.
#[derive(Debug, thiserror::Error)]
pub enum AdminAuthError {
    #[error("the admin console is off")]
    Off,
    /// No such session, or it ended.
    #[error("not signed in")]
    NotSignedIn,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The admin console's sign-in.
pub struct AdminConsole {
    ports: AdminPorts,
    policy: AdminPolicy,
    guesses: Guesses,
    /// `ADMIN_PASSWORD_HASH`; `None`: the console is off.
    configured: Option<PasswordHash>,
}

impl AdminConsole {
    pub fn new(ports: AdminPorts, policy: AdminPolicy, configured: Option<PasswordHash>) -> Self {
        let guesses = Guesses::new(
            ports.budgets.clone(),
            "admin-login",
            policy.per_address,
            policy.overall,
        );
        Self {
            ports,
            policy,
            guesses,
            configured,
        }
    }

    /// Whether there is a console at all.
    pub fn is_on(&self) -> bool {
        self.configured.is_some()
    }

    /// The admin password in force (`None`: the console is off).
    pub async fn password_in_force(&self) -> Result<Option<PasswordHash>, StorageError> {
        self.in_force().await
    }

    /// Checks `password` against the admin password as a sign-in does, from `address`: on the
    /// console's guess budgets, a wrong one in the audit log. For the chat, which the admin
    /// password opens too: no second budget of guesses at it.
    pub async fn verify(
        &self,
        password: &SecretString,
        address: &str,
    ) -> Result<(), AdminLoginError> {
        self.check(password, address).await.map(|_| ())
    }

    /// The hash that opens the console now. When the operator has put another hash in
    /// `ADMIN_PASSWORD_HASH` since the console's password was set, that one is forgotten and
    /// every session ends (a reset keeps no one signed in, and putting the old hash back does
    /// not bring the console's password back).
    async fn in_force(&self) -> Result<Option<PasswordHash>, StorageError> {
        let Some(configured) = &self.configured else {
            return Ok(None);
        };
        let stored = self.ports.store.admin_password().await?;
        let hash = StoredAdminPassword::in_force(stored.as_ref(), configured).clone();
        if stored.is_some()
            && hash == *configured
            && self.ports.store.forget_admin_password().await?
        {
            self.record(AdminAction::PasswordReset, "the server's configuration")
                .await?;
            tracing::warn!(
                "the admin password was reset from ADMIN_PASSWORD_HASH; every admin session ended"
            );
        }
        Ok(Some(hash))
    }

    /// Checks `password` against the one in force, spending a guess from `address` (the
    /// client's IP) and from everywhere first; a right password gives both back, so only
    /// wrong ones count.
    async fn check(
        &self,
        password: &SecretString,
        address: &str,
    ) -> Result<PasswordHash, AdminLoginError> {
        let hash = self.in_force().await?.ok_or(AdminLoginError::Off)?;
        let now = self.ports.clock.now();
        let spent = self
            .guesses
            .spend(address, now)
            .await?
            .map_err(|retry_after| AdminLoginError::TooMany { retry_after })?;
        if !self.ports.passwords.verify(password, &hash).await {
            tracing::warn!("admin sign-in with a wrong password");
            self.record(AdminAction::WrongPassword, address).await?;
            return Err(AdminLoginError::WrongPassword);
        }
        self.guesses.give_back(spent, now).await?;
        Ok(hash)
    }

    /// Adds `action` from `address` to the audit log.
    async fn record(&self, action: AdminAction, address: &str) -> Result<(), StorageError> {
        self.ports
            .store
            .record_admin_action(&AdminAuditEntry::new(
                self.ports.clock.now(),
                action,
                address,
            ))
            .await
    }

    /// What the server holds, and the addresses sent a code since midnight (UTC).
    pub async fn overview(&self) -> Result<gptgate_domain::AdminOverview, StorageError> {
        let today = self.ports.clock.now().replace_time(time::Time::MIDNIGHT);
        self.ports.store.admin_overview(today).await
    }

    /// The privacy settings in force.
    pub async fn privacy(&self) -> Result<gptgate_domain::PrivacySettings, StorageError> {
        self.ports.store.privacy_settings().await
    }

    /// Replaces the privacy settings, from `address` (the audit log says so).
    pub async fn set_privacy(
        &self,
        settings: &gptgate_domain::PrivacySettings,
        address: &str,
    ) -> Result<(), StorageError> {
        self.ports
            .store
            .set_privacy_settings(
                settings,
                &AdminAuditEntry::new(self.ports.clock.now(), AdminAction::PrivacyChanged, address),
            )
            .await?;
        tracing::info!(
            retention_days = settings.retention_days,
            zero_retention = settings.zero_retention,
            "privacy settings changed"
        );
        Ok(())
    }

    /// The newest `limit` lines of the audit log.
    pub async fn audit(&self, limit: usize) -> Result<Vec<AdminAuditEntry>, StorageError> {
        self.ports.store.admin_actions(limit).await
    }

    /// Signs in with `password` from `address`; the session's token, for the cookie.
    #[instrument(skip_all)]
    pub async fn log_in(
        &self,
        password: &SecretString,
        address: &str,
    ) -> Result<SecretString, AdminLoginError> {
        self.check(password, address).await?;
        let (token, hash) = self.ports.tokens.mint().map_err(InternalError::new)?;
        let session = self.policy.open(hash, self.ports.clock.now());
        self.ports.store.create_admin_session(&session).await?;
        self.record(AdminAction::SignedIn, address).await?;
        tracing::info!("admin signed in");
        Ok(token)
    }

    /// The live session of `token`.
    pub async fn session(&self, token: &str) -> Result<AdminSession, AdminAuthError> {
        if !self.is_on() {
            return Err(AdminAuthError::Off);
        }
        // A reset from the environment ends every session before any is honoured.
        self.in_force().await?;
        let session = self
            .ports
            .store
            .find_admin_session(&self.ports.tokens.hash(token))
            .await?
            .filter(|s| s.is_live(self.ports.clock.now()))
            .ok_or(AdminAuthError::NotSignedIn)?;
        Ok(session)
    }

    /// Ends the session of `token` (nothing if there is none), from `address`.
    pub async fn log_out(&self, token: &str, address: &str) -> Result<(), StorageError> {
        if self
            .ports
            .store
            .end_admin_session(&self.ports.tokens.hash(token))
            .await?
        {
            self.record(AdminAction::SignedOut, address).await?;
            tracing::info!("admin signed out");
        }
        Ok(())
    }

    /// Replaces the password, given the current one (checked like a sign-in, from
    /// `address`); every admin session ends, this one too.
    #[instrument(skip_all)]
    pub async fn change_password(
        &self,
        current: &SecretString,
        new: &NewPassword,
        address: &str,
    ) -> Result<(), AdminLoginError> {
        self.check(current, address).await?;
        let configured = self.configured.clone().ok_or(AdminLoginError::Off)?;
        let hash = self.ports.passwords.hash(new).await?;
        let now = self.ports.clock.now();
        self.ports
            .store
            .replace_admin_password(
                &StoredAdminPassword {
                    hash,
                    changed_at: now,
                    replaces: configured,
                },
                &AdminAuditEntry::new(now, AdminAction::PasswordChanged, address),
            )
            .await?;
        tracing::info!("admin password changed; every admin session ended");
        Ok(())
    }
}
