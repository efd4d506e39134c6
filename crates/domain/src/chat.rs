//! The hosted assistant's chat: who may use it (the operator's team by password; later,
//! visitors launched from a learning platform), its sessions, and the rules a conversation sent
//! with each request must keep. The server stores no conversation: the history arrives with
//! every request and is only checked here.

use time::{Duration, OffsetDateTime};

use crate::{BudgetPolicy, PasswordHash, TokenHash};

/// Who a chat session was opened for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatVisitor {
    /// The operator, with the admin password: may try saved profile versions. Ends when the
    /// admin password changes or is reset.
    Admin,
    /// Someone of the operator's team, with the team password set at `password_set_at`: the
    /// session ends with that password (a rotation or switch-off), however the two race.
    Team { password_set_at: OffsetDateTime },
    /// A visitor a registered learning platform sent with a signed token: the platform's own
    /// id for them (`sub`). The session ends when the platform is removed.
    Launched {
        platform: crate::PlatformId,
        subject: String,
    },
}

impl ChatVisitor {
    /// The stable name stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Team { .. } => "team",
            Self::Launched { .. } => "launch",
        }
    }

    /// Whether it may ask a saved profile version other than the published one.
    pub fn may_try_versions(&self) -> bool {
        matches!(self, Self::Admin)
    }
}

/// A browser that may chat: the cookie's token, kept as its SHA-256, until `expires_at`
/// however active it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSession {
    pub token_hash: TokenHash,
    pub visitor: ChatVisitor,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl ChatSession {
    /// Whether it still opens the chat at `now` (dead from `expires_at` on).
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// The team password set in the console (argon2id). None set: the team signs in with the
/// admin password alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamPassword {
    pub hash: PasswordHash,
    pub set_at: OffsetDateTime,
}

/// Who said a message of the conversation a chat request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
}

/// One message of the conversation a chat request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTurn {
    pub speaker: Speaker,
    pub text: String,
}

/// Why the conversation sent with a chat request is refused. Never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatInputError {
    #[error("messages must hold 1 to {max} messages")]
    Count { max: usize },
    #[error("each message must hold 1 to {max} characters")]
    MessageLength { max: usize },
    #[error("the messages together must hold at most {max} characters; start a new chat")]
    TotalLength { max: usize },
    #[error("the last message must be the user's")]
    LastNotUser,
}

/// How long chat sessions last, how much a conversation may hold, and how often one may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatPolicy {
    /// A team member's (or the admin's) session (absolute).
    pub team_session_ttl: Duration,
    /// A launched visitor's session (absolute): short, the platform sends them again.
    pub launch_session_ttl: Duration,
    /// Questions per session (one browser).
    pub per_session: BudgetPolicy,
    /// Questions per client address (every session from there together).
    pub per_address: BudgetPolicy,
    /// Questions from everyone together (a cap on what the model API can cost).
    pub overall: BudgetPolicy,
    /// Answers one session may be streaming at once.
    pub answers_at_once: usize,
}

impl Default for ChatPolicy {
    /// 8 hours; 20 questions a minute per session, 60 a minute per address, 600 a minute in
    /// all; two answers at once per session.
    fn default() -> Self {
        Self {
            team_session_ttl: Duration::hours(8),
            launch_session_ttl: Duration::hours(2),
            per_session: BudgetPolicy {
                limit: 20,
                window: Duration::minutes(1),
            },
            per_address: BudgetPolicy {
                limit: 60,
                window: Duration::minutes(1),
            },
            overall: BudgetPolicy {
                limit: 600,
                window: Duration::minutes(1),
            },
            answers_at_once: 2,
        }
    }
}

impl ChatPolicy {
    /// Messages a request may carry (the history and the new question).
    pub const MAX_MESSAGES: usize = 100;
    /// Characters in one message.
    pub const MAX_MESSAGE_CHARS: usize = 16_000;
    /// Characters in all messages together.
    pub const MAX_TOTAL_CHARS: usize = 100_000;

    /// A session for `visitor` opened at `now` with the token whose hash is `token_hash`.
    pub fn open(
        &self,
        visitor: ChatVisitor,
        token_hash: TokenHash,
        now: OffsetDateTime,
    ) -> ChatSession {
        let ttl = match visitor {
            ChatVisitor::Admin | ChatVisitor::Team { .. } => self.team_session_ttl,
            ChatVisitor::Launched { .. } => self.launch_session_ttl,
        };
        ChatSession {
            token_hash,
            visitor,
            created_at: now,
            expires_at: now + ttl,
        }
    }

    /// Checks the conversation a request carries: 1 to [`Self::MAX_MESSAGES`] messages of 1 to
    /// [`Self::MAX_MESSAGE_CHARS`] characters, [`Self::MAX_TOTAL_CHARS`] in all, the last one
    /// the user's (the question to answer).
    pub fn check_conversation(turns: &[ChatTurn]) -> Result<(), ChatInputError> {
        if turns.is_empty() || turns.len() > Self::MAX_MESSAGES {
            return Err(ChatInputError::Count {
                max: Self::MAX_MESSAGES,
            });
        }
        let mut total = 0;
        for turn in turns {
            let chars = turn.text.chars().count();
            if chars == 0 || chars > Self::MAX_MESSAGE_CHARS || turn.text.trim().is_empty() {
                return Err(ChatInputError::MessageLength {
                    max: Self::MAX_MESSAGE_CHARS,
                });
            }
            total += chars;
        }
        if total > Self::MAX_TOTAL_CHARS {
            return Err(ChatInputError::TotalLength {
                max: Self::MAX_TOTAL_CHARS,
            });
        }
        match turns.last() {
            Some(last) if last.speaker == Speaker::User => Ok(()),
            _ => Err(ChatInputError::LastNotUser),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn user(text: &str) -> ChatTurn {
        ChatTurn {
            speaker: Speaker::User,
            text: text.into(),
        }
    }

    fn assistant(text: &str) -> ChatTurn {
        ChatTurn {
            speaker: Speaker::Assistant,
            text: text.into(),
        }
    }

    #[test]
    fn a_team_session_lasts_eight_hours_to_the_second() {
        let t0 = datetime!(2026-11-27 09:00 UTC);
        let team = ChatVisitor::Team {
            password_set_at: t0 - Duration::days(1),
        };
        assert_eq!(team.kind(), "team");
        assert!(!team.may_try_versions());
        assert_eq!(ChatVisitor::Admin.kind(), "admin");
        assert!(ChatVisitor::Admin.may_try_versions());
        let session = ChatPolicy::default().open(team, TokenHash::from_bytes([1; 32]), t0);
        assert_eq!(session.created_at, t0);
        let admin =
            ChatPolicy::default().open(ChatVisitor::Admin, TokenHash::from_bytes([2; 32]), t0);
        assert_eq!(admin.expires_at, t0 + Duration::hours(8));
        let launched = ChatVisitor::Launched {
            platform: crate::PlatformId::from_random_bytes([3; 16]),
            subject: "student-42".into(),
        };
        assert_eq!(launched.kind(), "launch");
        assert!(!launched.may_try_versions());
        let visitor = ChatPolicy::default().open(launched, TokenHash::from_bytes([3; 32]), t0);
        assert_eq!(visitor.expires_at, t0 + Duration::hours(2));
        assert!(session.is_live(t0 + Duration::hours(8) - Duration::seconds(1)));
        assert!(!session.is_live(t0 + Duration::hours(8)));
    }

    #[test]
    fn a_conversation_ends_with_the_users_question() {
        assert_eq!(ChatPolicy::check_conversation(&[user("Hola")]), Ok(()));
        assert_eq!(
            ChatPolicy::check_conversation(&[user("Hola"), assistant("¡Hola!"), user("¿Qué tal?")]),
            Ok(())
        );
        assert_eq!(
            ChatPolicy::check_conversation(&[user("Hola"), assistant("¡Hola!")]),
            Err(ChatInputError::LastNotUser)
        );
        assert_eq!(
            ChatPolicy::check_conversation(&[]),
            Err(ChatInputError::Count { max: 100 })
        );
    }

    #[test]
    fn every_bound_holds_at_its_edge() {
        let max = ChatPolicy::MAX_MESSAGE_CHARS;
        // The largest accepted.
        let mut hundred: Vec<ChatTurn> = (0..99).map(|_| assistant("a")).collect();
        hundred.push(user("q"));
        assert_eq!(ChatPolicy::check_conversation(&hundred), Ok(()));
        assert_eq!(
            ChatPolicy::check_conversation(&[user(&"é".repeat(max))]),
            Ok(())
        );
        let mut full: Vec<ChatTurn> = (0..6).map(|_| assistant(&"a".repeat(max))).collect();
        full.push(user(&"q".repeat(100_000 - 6 * max)));
        assert_eq!(ChatPolicy::check_conversation(&full), Ok(()));
        // One more refused.
        hundred.insert(0, user("q"));
        assert_eq!(
            ChatPolicy::check_conversation(&hundred),
            Err(ChatInputError::Count { max: 100 })
        );
        assert_eq!(
            ChatPolicy::check_conversation(&[user(&"é".repeat(max + 1))]),
            Err(ChatInputError::MessageLength { max })
        );
        full.last_mut().unwrap().text.push('q');
        assert_eq!(
            ChatPolicy::check_conversation(&full),
            Err(ChatInputError::TotalLength { max: 100_000 })
        );
        for blank in ["", " \n\t"] {
            assert_eq!(
                ChatPolicy::check_conversation(&[assistant(blank), user("q")]),
                Err(ChatInputError::MessageLength { max })
            );
        }
    }

    #[test]
    fn the_default_limits_are_the_documented_ones() {
        let policy = ChatPolicy::default();
        assert_eq!(policy.per_session.limit, 20);
        assert_eq!(policy.per_session.window, Duration::minutes(1));
        assert_eq!(policy.per_address.limit, 60);
        assert_eq!(policy.per_address.window, Duration::minutes(1));
        assert_eq!(policy.overall.limit, 600);
        assert_eq!(policy.overall.window, Duration::minutes(1));
        assert_eq!(policy.answers_at_once, 2);
    }
}
