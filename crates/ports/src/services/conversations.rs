//! Conversation memory: save, list, delete.

use std::sync::Arc;

use gptgate_domain::{
    Conversation, ConversationCursor, ConversationDraft, ConversationId, ExternalId, UserId,
};
use tracing::instrument;

use crate::services::Reader;
use crate::{AdminRepository, Clock, ConversationRepository, InternalError, Random, StorageError};

/// The largest page a listing returns.
pub const PAGE_LIMIT_MAX: usize = 50;

/// The conversation use cases.
#[derive(Clone)]
pub struct Conversations {
    repo: Arc<dyn ConversationRepository>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    /// The operator's privacy settings (zero retention refuses every save); none: saves are
    /// always taken.
    settings: Option<Arc<dyn AdminRepository>>,
}

/// Why a conversation use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ConversationsError {
    /// No such conversation for this user (it may belong to someone else).
    #[error("conversation not found")]
    NotFound,
    #[error("limit must be between 1 and {PAGE_LIMIT_MAX}")]
    InvalidLimit,
    /// The operator turned conversation storage off (zero retention).
    #[error("this server saves no conversations")]
    StorageDisabled,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// One page of a newest-first listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Conversation>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<ConversationCursor>,
}

fn check_limit(limit: usize) -> Result<(), ConversationsError> {
    if (1..=PAGE_LIMIT_MAX).contains(&limit) {
        Ok(())
    } else {
        Err(ConversationsError::InvalidLimit)
    }
}

/// A page of `limit` from `items`, read one over the limit to know whether a next page exists.
fn page(mut items: Vec<Conversation>, limit: usize) -> Page {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(Conversation::cursor)
    } else {
        None
    };
    Page { items, next }
}

impl Conversations {
    pub fn new(
        repo: Arc<dyn ConversationRepository>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        Self {
            repo,
            clock,
            random,
            settings: None,
        }
    }

    /// The same, refusing every save while the operator's settings say zero retention.
    pub fn with_privacy(mut self, settings: Arc<dyn AdminRepository>) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Saves a conversation of `user`. With `external_id` (ChatGPT's conversation id), saving the
    /// same chat again updates the earlier save instead of adding another.
    #[instrument(skip_all, fields(%user))]
    pub async fn save(
        &self,
        user: UserId,
        draft: ConversationDraft,
        external_id: Option<ExternalId>,
    ) -> Result<Conversation, ConversationsError> {
        if let Some(settings) = &self.settings {
            if settings.privacy_settings().await?.zero_retention {
                return Err(ConversationsError::StorageDisabled);
            }
        }
        let now = self.clock.now();
        let conversation = Conversation {
            id: self.random.conversation_id().map_err(InternalError::from)?,
            user_id: user,
            external_id,
            title: draft.title,
            summary: draft.summary,
            messages: draft.messages,
            raw_text: draft.raw_text,
            exercises: draft.exercises,
            created_at: now,
            updated_at: now,
        };
        let stored = self.repo.save_conversation(&conversation).await?;
        tracing::info!(conversation_id = %stored.id, "conversation saved");
        Ok(stored)
    }

    /// A page of `user`'s conversations, newest first. `limit` must be 1 to [`PAGE_LIMIT_MAX`].
    #[instrument(skip_all, fields(%user))]
    pub async fn list(
        &self,
        user: UserId,
        limit: usize,
        after: Option<ConversationCursor>,
    ) -> Result<Page, ConversationsError> {
        check_limit(limit)?;
        let items = self.repo.list_conversations(user, after, limit + 1).await?;
        Ok(page(items, limit))
    }

    /// A page of the reader's conversations, as [`Conversations::list`]; for a
    /// [`Reader::Session`] the session is checked by the read itself, and `None` means it
    /// refused the session (answer as an invalid token). The limit is checked first.
    pub async fn read(
        &self,
        reader: Reader,
        limit: usize,
        after: Option<ConversationCursor>,
    ) -> Result<Option<Page>, ConversationsError> {
        match reader {
            Reader::User(user) => self.list(user, limit, after).await.map(Some),
            Reader::Session(guard) => {
                check_limit(limit)?;
                let items = self
                    .repo
                    .list_conversations_in_session(&guard, after, limit + 1)
                    .await?;
                Ok(items.map(|items| page(items, limit)))
            }
        }
    }

    /// Deletes one of `user`'s conversations; another user's id is [`ConversationsError::NotFound`].
    #[instrument(skip_all, fields(%user, %id))]
    pub async fn delete(&self, user: UserId, id: ConversationId) -> Result<(), ConversationsError> {
        if self.repo.delete_conversation(user, id).await? {
            tracing::info!("conversation deleted");
            Ok(())
        } else {
            Err(ConversationsError::NotFound)
        }
    }
}
