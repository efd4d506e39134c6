//! A store of one's own for gptgate's use cases: the "notebook", users, their sessions,
//! sign-in codes and conversations in ordered maps behind one mutex.
//!
//! It implements four storage ports (`VerificationCodeRepository`, `UserRepository`,
//! `SessionRepository`, `ConversationRepository`): what the `SignIn` and `Conversations` use
//! cases need. It passes the testkit's contract checks for those ports (`tests/contract.rs`,
//! and `cargo run --example embed`). See docs/embedding.md.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use gptgate_domain::{
    CodeRecord, Conversation, ConversationCursor, ConversationId, Email, Identity, IdentityKind,
    Session, SessionGuard, SessionId, User, UserId,
};
use gptgate_ports::storage::CodeChange;
use gptgate_ports::{
    ConversationRepository, SessionRepository, StorageError, UserRepository,
    VerificationCodeRepository,
};
use time::OffsetDateTime;

/// Where a conversation sits in its user's map: newest first, then by id, descending.
type Newest = (Reverse<OffsetDateTime>, Reverse<ConversationId>);

fn newest(created_at: OffsetDateTime, id: ConversationId) -> Newest {
    (Reverse(created_at), Reverse(id))
}

#[derive(Default)]
struct Notebook {
    codes: BTreeMap<String, CodeRecord>,
    users: BTreeMap<UserId, User>,
    /// (kind, value) -> holder.
    identities: BTreeMap<(&'static str, String), UserId>,
    sessions: BTreeMap<SessionId, Session>,
    /// Each user's conversations, newest first, so a page is one range of the map.
    conversations: BTreeMap<UserId, BTreeMap<Newest, Conversation>>,
    /// Where each conversation is kept.
    placed: BTreeMap<ConversationId, (UserId, Newest)>,
}

impl Notebook {
    /// Up to `limit` of `user`'s conversations, newest first, strictly older than `after`.
    fn page(
        &self,
        user: UserId,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Vec<Conversation> {
        let Some(theirs) = self.conversations.get(&user) else {
            return Vec::new();
        };
        // Strictly older than the cursor is strictly after its key in newest-first order.
        let from = match after {
            Some(cursor) => Bound::Excluded(newest(cursor.created_at, cursor.id)),
            None => Bound::Unbounded,
        };
        theirs
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect()
    }
}

/// Users, sessions, sign-in codes and conversations in memory.
#[derive(Default)]
pub struct NotebookStore {
    notebook: Mutex<Notebook>,
}

impl NotebookStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn open(&self) -> Result<MutexGuard<'_, Notebook>, StorageError> {
        self.notebook
            .lock()
            .map_err(|_| StorageError::Corrupt("a writer panicked mid-change".into()))
    }
}

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

#[async_trait]
impl VerificationCodeRepository for NotebookStore {
    async fn update_code(
        &self,
        email: &Email,
        change: &mut CodeChange<'_>,
    ) -> Result<(), StorageError> {
        // One lock around the read and the write: nothing interleaves.
        let mut notebook = self.open()?;
        if let Some(next) = change(notebook.codes.get(email.as_str())) {
            notebook.codes.insert(email.as_str().to_owned(), next);
        }
        Ok(())
    }

    async fn find_code(&self, email: &Email) -> Result<Option<CodeRecord>, StorageError> {
        Ok(self.open()?.codes.get(email.as_str()).cloned())
    }
}

#[async_trait]
impl UserRepository for NotebookStore {
    async fn find_or_create_user(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
        let mut notebook = self.open()?;
        let key = (identity.kind().as_str(), identity.value().to_owned());
        if let Some(holder) = notebook.identities.get(&key) {
            return notebook
                .users
                .get(holder)
                .cloned()
                .ok_or_else(|| corrupt("an identity without its user"));
        }
        let user = User {
            id: new_id,
            created_at: now,
        };
        notebook.users.insert(new_id, user.clone());
        notebook.identities.insert(key, new_id);
        Ok(user)
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StorageError> {
        Ok(self.open()?.users.get(&id).cloned())
    }

    async fn identities(&self, id: UserId) -> Result<Vec<Identity>, StorageError> {
        // The map is ordered by (kind, value): the order the port asks for.
        self.open()?
            .identities
            .iter()
            .filter(|(_, holder)| **holder == id)
            .map(|((kind, value), _)| {
                let kind = IdentityKind::parse(kind).ok_or_else(|| corrupt("unknown kind"))?;
                Identity::from_parts(kind, value).map_err(corrupt)
            })
            .collect()
    }

    async fn find_email(&self, id: UserId) -> Result<Option<Email>, StorageError> {
        let notebook = self.open()?;
        let kind = IdentityKind::Email.as_str();
        let first = notebook
            .identities
            .iter()
            .find(|((k, _), holder)| *k == kind && **holder == id);
        first
            .map(|((_, value), _)| Email::parse(value).map_err(corrupt))
            .transpose()
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StorageError> {
        let mut notebook = self.open()?;
        let existed = notebook.users.remove(&id).is_some();
        notebook.identities.retain(|_, holder| *holder != id);
        notebook.sessions.retain(|_, s| s.user_id != id);
        if let Some(theirs) = notebook.conversations.remove(&id) {
            for conversation in theirs.values() {
                notebook.placed.remove(&conversation.id);
            }
        }
        Ok(existed)
    }
}

/// The last step of a sign-in with a code: the port's default (the code's use, the user, the
/// session, one after the other) is right for a store that cannot do them in one go.
impl gptgate_ports::SignInRepository for NotebookStore {}

#[async_trait]
impl SessionRepository for NotebookStore {
    async fn create_session(&self, session: &Session) -> Result<(), StorageError> {
        let mut notebook = self.open()?;
        if !notebook.users.contains_key(&session.user_id) {
            return Err(StorageError::Failed("no such user".into()));
        }
        if notebook.sessions.contains_key(&session.id) {
            return Err(StorageError::Failed("a session with this id exists".into()));
        }
        notebook.sessions.insert(session.id, session.clone());
        Ok(())
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StorageError> {
        Ok(self.open()?.sessions.get(&id).cloned())
    }

    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StorageError> {
        let mut active: Vec<Session> = self
            .open()?
            .sessions
            .values()
            .filter(|s| s.user_id == user && s.is_active(now))
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
        Ok(match self.open()?.sessions.get_mut(&id) {
            Some(session) => {
                session.revoked_at.get_or_insert(now);
                true
            }
            None => false,
        })
    }
}

#[async_trait]
impl ConversationRepository for NotebookStore {
    async fn save_conversation(
        &self,
        conversation: &Conversation,
    ) -> Result<Conversation, StorageError> {
        let mut notebook = self.open()?;
        if !notebook.users.contains_key(&conversation.user_id) {
            return Err(StorageError::Failed("no such user".into()));
        }
        let mut stored = conversation.clone();
        let theirs = notebook.conversations.entry(stored.user_id).or_default();
        let earlier = stored.external_id.as_ref().and_then(|external| {
            theirs
                .values()
                .find(|c| c.external_id.as_ref() == Some(external))
                .map(|c| (c.id, c.created_at))
        });
        if let Some((id, created_at)) = earlier {
            // Saved again from the same chat: the content is replaced, id and creation kept.
            stored.id = id;
            stored.created_at = created_at;
        } else if notebook.placed.contains_key(&stored.id) {
            return Err(StorageError::Failed(
                "a conversation with this id exists".into(),
            ));
        }
        let key = newest(stored.created_at, stored.id);
        notebook
            .conversations
            .entry(stored.user_id)
            .or_default()
            .insert(key, stored.clone());
        notebook.placed.insert(stored.id, (stored.user_id, key));
        Ok(stored)
    }

    async fn list_conversations(
        &self,
        user: UserId,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Result<Vec<Conversation>, StorageError> {
        Ok(self.open()?.page(user, after, limit))
    }

    async fn list_conversations_in_session(
        &self,
        guard: &SessionGuard,
        after: Option<ConversationCursor>,
        limit: usize,
    ) -> Result<Option<Vec<Conversation>>, StorageError> {
        // The session checked under the same lock as the page is read.
        let notebook = self.open()?;
        let admitted = notebook
            .sessions
            .get(&guard.session_id)
            .is_some_and(|session| guard.admits(session));
        Ok(admitted.then(|| notebook.page(guard.user_id, after, limit)))
    }

    async fn delete_conversation(
        &self,
        user: UserId,
        id: ConversationId,
    ) -> Result<bool, StorageError> {
        let mut notebook = self.open()?;
        match notebook.placed.get(&id).copied() {
            Some((owner, key)) if owner == user => {
                notebook.placed.remove(&id);
                if let Some(theirs) = notebook.conversations.get_mut(&owner) {
                    theirs.remove(&key);
                }
                Ok(true)
            }
            // Another user's conversation is left alone and reported as not found.
            _ => Ok(false),
        }
    }
}
