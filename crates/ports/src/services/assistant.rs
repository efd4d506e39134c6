//! The hosted assistant's chat: who may use it, and its answers. The team signs in with the
//! team password (set, rotated or switched off in the console) or the admin password; a
//! session of 8 hours follows. An answer is the published profile's model, instructions and
//! settings applied to the conversation the browser sends: the server keeps none of it and
//! logs none of it.

use std::sync::Arc;

use gptgate_domain::{
    AdminAction, AdminAuditEntry, AdminPolicy, ChatInputError, ChatPolicy, ChatSession, ChatTurn,
    ChatVisitor, NewPassword, PasswordHash, ProfileVersion, Speaker, TeamPassword,
};
use secrecy::SecretString;
use time::Duration;
use tracing::instrument;

use super::guesses::{self, Guesses};
use super::AdminConsole;
use crate::{
    BudgetRepository, ChatAccessRepository, ChatMessage, ChatModel, ChatModelError, ChatRequest,
    ChatRole, ChatStream, Clock, InternalError, OpaqueTokens, PasswordHasher, ProfileRepository,
    StorageError,
};

/// What the chat needs.
pub struct AssistantPorts {
    pub store: Arc<dyn ChatAccessRepository>,
    pub profiles: Arc<dyn ProfileRepository>,
    pub passwords: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn OpaqueTokens>,
    pub budgets: Arc<dyn BudgetRepository>,
    pub clock: Arc<dyn Clock>,
    /// `None`: no model is configured (`LLM_BASE_URL`), and every question is refused.
    pub model: Option<Arc<dyn ChatModel>>,
}

/// Why a team member could not sign in to the chat.
#[derive(Debug, thiserror::Error)]
pub enum ChatLoginError {
    /// Neither a team password nor an admin password is set: no one signs in by password.
    #[error("the chat has no password sign-in")]
    Closed,
    /// One answer for every wrong password.
    #[error("wrong password")]
    WrongPassword,
    #[error("too many attempts; try again in {} s", retry_after.whole_seconds())]
    TooMany { retry_after: Duration },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Why a question got no answer. Never holds the conversation.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// `LLM_BASE_URL` is not set.
    #[error("no chat model is configured")]
    NoModel,
    /// The operator has not published a profile yet.
    #[error("no assistant profile is published")]
    NoProfile,
    /// The profile version asked for does not exist.
    #[error("there is no profile version {0}")]
    NoSuchVersion(u32),
    /// The model asked for is not one the profile allows.
    #[error("that model is not one the assistant allows")]
    ModelNotAllowed,
    #[error(transparent)]
    Invalid(#[from] ChatInputError),
    /// Too many questions from this session or this address.
    #[error("too many questions; try again in {} s", retry_after.whole_seconds())]
    TooMany { retry_after: Duration },
    /// The model refused or failed before answering.
    #[error(transparent)]
    Model(ChatModelError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A question: the whole conversation (ending with it), and optionally which model and which
/// profile version (a team member trying a version before publishing it).
#[derive(Debug, Clone)]
pub struct Question {
    pub conversation: Vec<ChatTurn>,
    pub model: Option<String>,
    pub version: Option<u32>,
}

/// The hosted assistant's chat.
pub struct Assistant {
    ports: AssistantPorts,
    policy: ChatPolicy,
    guesses: Guesses,
    /// The admin password opens the chat too.
    admin: Arc<AdminConsole>,
}

impl Assistant {
    /// The chat with `policy`; wrong team passwords are limited as the console's are
    /// (`admin_policy`), on budgets of their own.
    pub fn new(
        ports: AssistantPorts,
        policy: ChatPolicy,
        admin_policy: AdminPolicy,
        admin: Arc<AdminConsole>,
    ) -> Self {
        let guesses = Guesses::new(
            ports.budgets.clone(),
            "chat-login",
            admin_policy.per_address,
            admin_policy.overall,
        );
        Self {
            ports,
            policy,
            guesses,
            admin,
        }
    }

    /// Whether a model is configured.
    pub fn has_model(&self) -> bool {
        self.ports.model.is_some()
    }

    /// Whether a team member can sign in by password (a team password or an admin password
    /// is set).
    pub async fn has_password_sign_in(&self) -> Result<bool, StorageError> {
        Ok(self.admin.is_on() || self.ports.store.team_password().await?.is_some())
    }

    /// Signs a team member in with `password` (the team password or the admin password) from
    /// `address`; the session's token, for the cookie.
    #[instrument(skip_all)]
    pub async fn log_in(
        &self,
        password: &SecretString,
        address: &str,
    ) -> Result<SecretString, ChatLoginError> {
        let hashes: Vec<PasswordHash> = self
            .ports
            .store
            .team_password()
            .await?
            .map(|t| t.hash)
            .into_iter()
            .chain(self.admin.password_in_force().await?)
            .collect();
        if hashes.is_empty() {
            return Err(ChatLoginError::Closed);
        }
        let now = self.ports.clock.now();
        let spent = self
            .guesses
            .spend(address, now)
            .await?
            .map_err(|retry_after| ChatLoginError::TooMany { retry_after })?;
        let mut right = false;
        for hash in &hashes {
            if self.ports.passwords.verify(password, hash).await {
                right = true;
                break;
            }
        }
        if !right {
            tracing::warn!("chat sign-in with a wrong password");
            return Err(ChatLoginError::WrongPassword);
        }
        self.guesses.give_back(spent, now).await?;
        let (token, hash) = self.ports.tokens.mint().map_err(InternalError::new)?;
        let session = self.policy.open(ChatVisitor::Team, hash, now);
        self.ports.store.create_chat_session(&session).await?;
        tracing::info!("a team member signed in to the chat");
        Ok(token)
    }

    /// The live session of `token`, if it has one.
    pub async fn session(&self, token: &str) -> Result<Option<ChatSession>, StorageError> {
        Ok(self
            .ports
            .store
            .find_chat_session(&self.ports.tokens.hash(token))
            .await?
            .filter(|s| s.is_live(self.ports.clock.now())))
    }

    /// Ends the session of `token` (nothing if there is none).
    pub async fn log_out(&self, token: &str) -> Result<(), StorageError> {
        self.ports
            .store
            .end_chat_session(&self.ports.tokens.hash(token))
            .await?;
        Ok(())
    }

    /// When the team password was set, if one is.
    pub async fn team_password_set_at(&self) -> Result<Option<time::OffsetDateTime>, StorageError> {
        Ok(self.ports.store.team_password().await?.map(|t| t.set_at))
    }

    /// Sets (or rotates) the team password, from `address`: every team session ends.
    #[instrument(skip_all)]
    pub async fn set_team_password(
        &self,
        password: &NewPassword,
        address: &str,
    ) -> Result<(), ChatLoginError> {
        let hash = self.ports.passwords.hash(password).await?;
        let now = self.ports.clock.now();
        self.ports
            .store
            .set_team_password(
                Some(&TeamPassword { hash, set_at: now }),
                &AdminAuditEntry::new(now, AdminAction::TeamPasswordSet, address),
            )
            .await?;
        tracing::info!("team password set; every team chat session ended");
        Ok(())
    }

    /// Switches the team password off, from `address`: every team session ends at once (the
    /// admin password still opens the chat).
    pub async fn switch_off_team_password(&self, address: &str) -> Result<(), StorageError> {
        let now = self.ports.clock.now();
        self.ports
            .store
            .set_team_password(
                None,
                &AdminAuditEntry::new(now, AdminAction::TeamPasswordOff, address),
            )
            .await?;
        tracing::info!("team password switched off; every team chat session ended");
        Ok(())
    }

    /// The published profile (its name and starters, for the chat page).
    pub async fn published(&self) -> Result<Option<ProfileVersion>, StorageError> {
        self.ports.profiles.published_profile().await
    }

    /// Answers `question` for `session`, asked from `address`: the stream of the answer's
    /// pieces (the model adapter cuts it off after [`crate::ANSWER_TIME_LIMIT`]). Dropping the
    /// stream stops the model.
    #[instrument(skip_all)]
    pub async fn answer(
        &self,
        session: &ChatSession,
        question: Question,
        address: &str,
    ) -> Result<ChatStream, ChatError> {
        let model_api = self.ports.model.clone().ok_or(ChatError::NoModel)?;
        ChatPolicy::check_conversation(&question.conversation)?;
        let profile = match question.version {
            Some(version) => self
                .ports
                .profiles
                .profile_version(version)
                .await?
                .ok_or(ChatError::NoSuchVersion(version))?,
            None => self
                .ports
                .profiles
                .published_profile()
                .await?
                .ok_or(ChatError::NoProfile)?,
        }
        .profile;
        let model = match question.model {
            Some(model) if profile.allowed_models.contains(&model) => model,
            Some(_) => return Err(ChatError::ModelNotAllowed),
            None => profile.model.clone(),
        };
        self.spend(session, address).await?;
        let system = (!profile.instructions.is_empty()).then(|| ChatMessage {
            role: ChatRole::System,
            content: profile.instructions.clone(),
        });
        let messages = system
            .into_iter()
            .chain(question.conversation.into_iter().map(|turn| ChatMessage {
                role: match turn.speaker {
                    Speaker::User => ChatRole::User,
                    Speaker::Assistant => ChatRole::Assistant,
                },
                content: turn.text,
            }))
            .collect();
        let stream = model_api
            .answer(ChatRequest {
                model,
                messages,
                temperature: profile.temperature,
                max_output_tokens: profile.max_output_tokens,
            })
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "the chat model gave no answer");
                ChatError::Model(e)
            })?;
        Ok(stream)
    }

    /// Spends a question from the session's budget and the address's; how long to wait when
    /// either is spent (nothing kept spent then).
    async fn spend(&self, session: &ChatSession, address: &str) -> Result<(), ChatError> {
        let now = self.ports.clock.now();
        let budgets = self.ports.budgets.as_ref();
        let by_session = format!("chat:session:{}", hex(session.token_hash.as_bytes()));
        let by_address = format!("chat:address:{}", gptgate_domain::guess_bucket(address));
        if let Err(retry_after) =
            guesses::take(budgets, &by_session, self.policy.per_session, now).await?
        {
            return Err(ChatError::TooMany { retry_after });
        }
        if let Err(retry_after) =
            guesses::take(budgets, &by_address, self.policy.per_address, now).await?
        {
            guesses::give_back(budgets, &by_session, self.policy.per_session, now).await?;
            return Err(ChatError::TooMany { retry_after });
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
