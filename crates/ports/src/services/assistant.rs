//! The hosted assistant's chat: who may use it, and its answers. The team signs in with the
//! team password (set, rotated or switched off in the console) or the admin password; a
//! session of 8 hours follows. An answer is the published profile's model, instructions and
//! settings applied to the conversation the browser sends: the server keeps none of it and
//! logs none of it.

use std::sync::Arc;

use gptgate_domain::{
    AdminAction, AdminAuditEntry, AdminPolicy, ChatInputError, ChatPolicy, ChatSession, ChatTurn,
    ChatVisitor, NewPassword, ProfileVersion, Speaker, TeamPassword, TokenHash,
};
use secrecy::SecretString;
use time::Duration;
use tracing::instrument;

use futures::StreamExt;

use super::guesses::{self, Guesses};
use super::{AdminConsole, AdminLoginError};
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

/// Why the team password was not set.
#[derive(Debug, thiserror::Error)]
pub enum TeamPasswordError {
    /// It is the admin password.
    #[error("the team password must differ from the admin password")]
    SameAsAdmin,
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
    /// Only the admin may try a version other than the published one.
    #[error("only the admin may try other profile versions")]
    VersionNotAllowed,
    /// This session is streaming as many answers as it may at once.
    #[error("an answer is still being written")]
    Busy,
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
    /// The answers each session is streaming now.
    answering: Arc<Answering>,
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
            answering: Arc::new(Answering {
                limit: policy.answers_at_once,
                live: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
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

    /// Signs a team member in with `password` from `address`: the team password (on the
    /// chat's guess budgets), else the admin password (on the console's as well, so it gets no
    /// extra guesses); the session's token, for the cookie.
    #[instrument(skip_all)]
    pub async fn log_in(
        &self,
        password: &SecretString,
        address: &str,
    ) -> Result<SecretString, ChatLoginError> {
        let team = self.ports.store.team_password().await?;
        if team.is_none() && !self.admin.is_on() {
            return Err(ChatLoginError::Closed);
        }
        let now = self.ports.clock.now();
        let spent = self
            .guesses
            .spend(address, now)
            .await?
            .map_err(|retry_after| ChatLoginError::TooMany { retry_after })?;
        let mut visitor = None;
        if let Some(team) = &team {
            if self.ports.passwords.verify(password, &team.hash).await {
                visitor = Some(ChatVisitor::Team {
                    password_set_at: team.set_at,
                });
            }
        }
        if visitor.is_none() && self.admin.is_on() {
            visitor = match self.admin.verify(password, address).await {
                Ok(()) => Some(ChatVisitor::Admin),
                Err(AdminLoginError::WrongPassword | AdminLoginError::Off) => None,
                Err(AdminLoginError::TooMany { retry_after }) => {
                    return Err(ChatLoginError::TooMany { retry_after })
                }
                Err(AdminLoginError::Storage(e)) => return Err(e.into()),
                Err(AdminLoginError::Internal(e)) => return Err(e.into()),
            };
        }
        let Some(visitor) = visitor else {
            tracing::warn!("chat sign-in with a wrong password");
            return Err(ChatLoginError::WrongPassword);
        };
        self.guesses.give_back(spent, now).await?;
        let (token, hash) = self.ports.tokens.mint().map_err(InternalError::new)?;
        let session = self.policy.open(visitor, hash, now);
        self.ports.store.create_chat_session(&session).await?;
        tracing::info!(kind = session.visitor.kind(), "signed in to the chat");
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

    /// Sets (or rotates) the team password, from `address`: every team session ends. The
    /// admin password is refused (sharing it with the team would hand them the console).
    #[instrument(skip_all)]
    pub async fn set_team_password(
        &self,
        password: &NewPassword,
        address: &str,
    ) -> Result<(), TeamPasswordError> {
        if let Some(admin) = self.admin.password_in_force().await? {
            let typed = SecretString::from(password.as_str().to_owned());
            if self.ports.passwords.verify(&typed, &admin).await {
                return Err(TeamPasswordError::SameAsAdmin);
            }
        }
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
            Some(_) if !session.visitor.may_try_versions() => {
                return Err(ChatError::VersionNotAllowed)
            }
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
        let slot = self.answering.enter(&session.token_hash)?;
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
        // The slot is held until the answer's stream is dropped.
        Ok(Box::pin(stream.map(move |piece| {
            let _held = &slot;
            piece
        })))
    }

    /// Spends a question from the session's budget and the address's; how long to wait when
    /// either is spent (nothing kept spent then).
    async fn spend(&self, session: &ChatSession, address: &str) -> Result<(), ChatError> {
        let now = self.ports.clock.now();
        let budgets = self.ports.budgets.as_ref();
        let keys = [
            (
                format!("chat:session:{}", hex(session.token_hash.as_bytes())),
                self.policy.per_session,
            ),
            (
                format!("chat:address:{}", gptgate_domain::guess_bucket(address)),
                self.policy.per_address,
            ),
            ("chat:all".to_owned(), self.policy.overall),
        ];
        for (i, (key, policy)) in keys.iter().enumerate() {
            if let Err(retry_after) = guesses::take(budgets, key, *policy, now).await? {
                for (taken, policy) in &keys[..i] {
                    guesses::give_back(budgets, taken, *policy, now).await?;
                }
                return Err(ChatError::TooMany { retry_after });
            }
        }
        Ok(())
    }
}

/// The answers being streamed, by session (in this process: a browser talks to one instance
/// at a time, and the question budgets are what bounds the rest).
struct Answering {
    limit: usize,
    live: std::sync::Mutex<std::collections::HashMap<TokenHash, usize>>,
}

/// One answer being streamed for a session; leaving gives its place back.
struct Slot {
    answering: Arc<Answering>,
    session: TokenHash,
}

impl Answering {
    /// A place for one more answer of `session`, or `Busy` when it has its limit already.
    fn enter(self: &Arc<Self>, session: &TokenHash) -> Result<Slot, ChatError> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let count = live.entry(session.clone()).or_insert(0);
        if *count >= self.limit {
            return Err(ChatError::Busy);
        }
        *count += 1;
        Ok(Slot {
            answering: self.clone(),
            session: session.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut live = self
            .answering
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = live.get_mut(&self.session) {
            *count -= 1;
            if *count == 0 {
                live.remove(&self.session);
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
