//! Exporting one's own data: everything stored about a user, and a single-use download link
//! for an export too large for one answer.

use std::sync::Arc;

use gptgate_domain::{
    Account, BudgetPolicy, Conversation, ExportLink, Identity, Session, User, UserId,
};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tracing::instrument;

use crate::{
    AccountRepository, BudgetRepository, Clock, ConversationRepository, InternalError,
    LinkTokenRepository, OpaqueTokens, SessionRepository, StorageError, UserRepository,
};

/// The ports an export reads.
#[derive(Clone)]
pub struct ExportPorts {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub conversations: Arc<dyn ConversationRepository>,
    pub accounts: Arc<dyn AccountRepository>,
    pub links: Arc<dyn LinkTokenRepository>,
    pub tokens: Arc<dyn OpaqueTokens>,
    pub clock: Arc<dyn Clock>,
    /// How many exports each user asked for this hour.
    pub budgets: Arc<dyn BudgetRepository>,
}

/// Everything stored about one user. Accounts are as stored: callers show their metadata and
/// MUST NOT show their (sealed) tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataExport {
    pub exported_at: OffsetDateTime,
    pub user: User,
    pub identities: Vec<Identity>,
    /// Every saved conversation, newest first.
    pub conversations: Vec<Conversation>,
    pub accounts: Vec<Account>,
    /// The sessions still active.
    pub sessions: Vec<Session>,
}

/// A download link for an export.
#[derive(Debug)]
pub struct ExportDownload {
    /// Give it to the user only; it works once.
    pub url: SecretString,
    pub expires_at: OffsetDateTime,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The user no longer exists (deleted meanwhile).
    #[error("there is no such user")]
    NoSuchUser,
    /// The user asked for more exports than [`EXPORTS_PER_HOUR`] this hour: an export reads
    /// everything the user has, so it is not something to repeat in a loop.
    #[error("too many exports; try again in {} s", retry_after.whole_seconds())]
    TooMany { retry_after: time::Duration },
    /// The download link is unknown, used or expired.
    #[error("this download link is invalid, expired or already used")]
    InvalidLink,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// The export use cases.
#[derive(Clone)]
pub struct Exports {
    ports: ExportPorts,
    public_url: String,
}

/// Conversations are read in pages of this size.
const PAGE: usize = 200;

/// Exports a user may ask for per hour.
pub const EXPORTS_PER_HOUR: u32 = 5;

impl Exports {
    pub fn new(ports: ExportPorts, public_url: &str) -> Self {
        Self {
            ports,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The host the service is reached at, as pages name it.
    pub fn service_name(&self) -> &str {
        self.public_url
            .split_once("://")
            .map_or(self.public_url.as_str(), |(_, host)| host)
    }

    /// Everything stored about `user`, at most [`EXPORTS_PER_HOUR`] times an hour.
    #[instrument(skip_all, fields(%user))]
    pub async fn export(&self, user: UserId) -> Result<DataExport, ExportError> {
        let now = self.ports.clock.now();
        let policy = BudgetPolicy::hourly(EXPORTS_PER_HOUR);
        let mut refused = None;
        self.ports
            .budgets
            .update_budget(
                &format!("export:{user}"),
                &mut |window| match policy.take(window, now) {
                    Ok(next) => Some(next),
                    Err(retry_after) => {
                        refused = Some(retry_after);
                        None
                    }
                },
            )
            .await?;
        if let Some(retry_after) = refused {
            return Err(ExportError::TooMany { retry_after });
        }
        self.collect(user).await
    }

    /// Everything stored about `user`, read now.
    async fn collect(&self, user: UserId) -> Result<DataExport, ExportError> {
        let now = self.ports.clock.now();
        let found = self
            .ports
            .users
            .find_user(user)
            .await?
            .ok_or(ExportError::NoSuchUser)?;
        let mut conversations = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .ports
                .conversations
                .list_conversations(user, after, PAGE)
                .await?;
            let done = page.len() < PAGE;
            after = page.last().map(Conversation::cursor);
            conversations.extend(page);
            if done {
                break;
            }
        }
        let export = DataExport {
            exported_at: now,
            identities: self.ports.users.identities(user).await?,
            accounts: self.ports.accounts.list_accounts(user).await?,
            sessions: self.ports.sessions.active_sessions(user, now).await?,
            conversations,
            user: found,
        };
        tracing::info!(
            conversations = export.conversations.len(),
            accounts = export.accounts.len(),
            "data exported"
        );
        Ok(export)
    }

    /// A link to download `user`'s export, once, within [`ExportLink::TTL`].
    #[instrument(skip_all, fields(%user))]
    pub async fn download_link(&self, user: UserId) -> Result<ExportDownload, ExportError> {
        let now = self.ports.clock.now();
        let (token, hash) = self
            .ports
            .tokens
            .mint()
            .map_err(|e| ExportError::Internal(e.into()))?;
        let link = ExportLink {
            hash,
            user_id: user,
            expires_at: now + ExportLink::TTL,
            used_at: None,
            created_at: now,
        };
        self.ports.links.create_export_link(&link).await?;
        Ok(ExportDownload {
            url: SecretString::from(format!(
                "{}/me/export/download?token={}",
                self.public_url,
                token.expose_secret()
            )),
            expires_at: link.expires_at,
        })
    }

    /// Uses the download link `token` up and returns its user's export, as it is now.
    #[instrument(skip_all)]
    pub async fn redeem(&self, token: &str) -> Result<DataExport, ExportError> {
        let now = self.ports.clock.now();
        let link = self
            .ports
            .links
            .consume_export_link(&self.ports.tokens.hash(token), now)
            .await?
            .ok_or(ExportError::InvalidLink)?;
        // The link came from an export that was counted; downloading it is not counted again.
        self.collect(link.user_id).await
    }
}
