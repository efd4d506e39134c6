//! Saved conversations: the memory a GPT reads at the start of a new chat.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ConversationId, UserId};

/// Limits on what one saved conversation may hold.
pub mod limits {
    pub const SUMMARY_CHARS: usize = 2_000;
    pub const TITLE_CHARS: usize = 200;
    pub const MESSAGES: usize = 2_000;
    pub const RAW_TEXT_ITEMS: usize = 2_000;
    pub const EXERCISES: usize = 200;
    pub const EXERCISE_NAME_CHARS: usize = 200;
    pub const EXERCISE_NOTES_CHARS: usize = 2_000;
    pub const EXTERNAL_ID_CHARS: usize = 200;
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    System,
}

impl Role {
    /// Parses `user`, `assistant` or `system` (any case).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            "system" => Some(Self::System),
            _ => None,
        }
    }

    /// The lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
        }
    }
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// How the user did in one exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exercise {
    pub name: String,
    /// 0 to 100.
    pub score: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The id ChatGPT gives a chat (`openai-conversation-id`), used to update rather than duplicate
/// a conversation saved again from the same chat.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    /// Parses 1 to 200 visible ASCII characters after trimming.
    pub fn parse(raw: &str) -> Result<Self, ConversationError> {
        let id = raw.trim();
        if id.is_empty()
            || id.len() > limits::EXTERNAL_ID_CHARS
            || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ConversationError::InvalidExternalId);
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExternalId(..)")
    }
}

/// Why a conversation cannot be saved. Messages name the field and the limit, never the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    #[error("summary is required")]
    SummaryMissing,
    #[error("summary is longer than {} characters", limits::SUMMARY_CHARS)]
    SummaryTooLong,
    #[error("title is longer than {} characters", limits::TITLE_CHARS)]
    TitleTooLong,
    #[error("at most {} messages can be saved", limits::MESSAGES)]
    TooManyMessages,
    #[error("messages[{index}].role must be one of user, assistant, system")]
    InvalidRole { index: usize },
    #[error("at most {} raw_text entries can be saved", limits::RAW_TEXT_ITEMS)]
    TooManyRawTextItems,
    #[error("at most {} exercises can be saved", limits::EXERCISES)]
    TooManyExercises,
    #[error(
        "exercises[{index}].name must be 1 to {} characters",
        limits::EXERCISE_NAME_CHARS
    )]
    InvalidExerciseName { index: usize },
    #[error("exercises[{index}].score must be a whole number from 0 to 100")]
    InvalidScore { index: usize },
    #[error(
        "exercises[{index}].notes is longer than {} characters",
        limits::EXERCISE_NOTES_CHARS
    )]
    ExerciseNotesTooLong { index: usize },
    #[error("openai-conversation-id must be 1 to 200 visible ASCII characters")]
    InvalidExternalId,
}

/// Unchecked input for a conversation, as it arrives from a caller.
#[derive(Debug, Clone, Default)]
pub struct ConversationInput {
    pub title: Option<String>,
    pub summary: Option<String>,
    /// `(role, content)` pairs.
    pub messages: Vec<(String, String)>,
    pub raw_text: Vec<String>,
    /// `(name, score, notes)`.
    pub exercises: Vec<(String, i64, Option<String>)>,
}

/// A conversation that passed every rule and can be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationDraft {
    pub title: Option<String>,
    pub summary: String,
    pub messages: Vec<Message>,
    pub raw_text: Vec<String>,
    pub exercises: Vec<Exercise>,
}

fn too_long(s: &str, max: usize) -> bool {
    // Cheap byte check first: a string of at most `max` bytes has at most `max` characters.
    s.len() > max && s.chars().count() > max
}

impl ConversationDraft {
    /// Checks every rule and returns the first violation.
    pub fn parse(input: ConversationInput) -> Result<Self, ConversationError> {
        let summary = input
            .summary
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or(ConversationError::SummaryMissing)?;
        if too_long(&summary, limits::SUMMARY_CHARS) {
            return Err(ConversationError::SummaryTooLong);
        }
        let title = input
            .title
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        if title
            .as_deref()
            .is_some_and(|t| too_long(t, limits::TITLE_CHARS))
        {
            return Err(ConversationError::TitleTooLong);
        }
        if input.messages.len() > limits::MESSAGES {
            return Err(ConversationError::TooManyMessages);
        }
        let messages = input
            .messages
            .into_iter()
            .enumerate()
            .map(|(index, (role, content))| {
                let role = Role::parse(&role).ok_or(ConversationError::InvalidRole { index })?;
                Ok(Message { role, content })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if input.raw_text.len() > limits::RAW_TEXT_ITEMS {
            return Err(ConversationError::TooManyRawTextItems);
        }
        if input.exercises.len() > limits::EXERCISES {
            return Err(ConversationError::TooManyExercises);
        }
        let exercises = input
            .exercises
            .into_iter()
            .enumerate()
            .map(|(index, (name, score, notes))| {
                let name = name.trim().to_owned();
                if name.is_empty() || too_long(&name, limits::EXERCISE_NAME_CHARS) {
                    return Err(ConversationError::InvalidExerciseName { index });
                }
                let score = u8::try_from(score)
                    .ok()
                    .filter(|s| *s <= 100)
                    .ok_or(ConversationError::InvalidScore { index })?;
                let notes = notes.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
                if notes
                    .as_deref()
                    .is_some_and(|n| too_long(n, limits::EXERCISE_NOTES_CHARS))
                {
                    return Err(ConversationError::ExerciseNotesTooLong { index });
                }
                Ok(Exercise { name, score, notes })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            title,
            summary,
            messages,
            raw_text: input.raw_text,
            exercises,
        })
    }
}

/// A stored conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    pub user_id: UserId,
    pub external_id: Option<ExternalId>,
    pub title: Option<String>,
    pub summary: String,
    pub messages: Vec<Message>,
    pub raw_text: Vec<String>,
    pub exercises: Vec<Exercise>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Conversation {
    /// Where a listing continues after this conversation.
    pub fn cursor(&self) -> ConversationCursor {
        ConversationCursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

/// A position in the newest-first listing of a user's conversations: lists continue with the
/// conversations strictly older than (created_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationCursor {
    pub created_at: OffsetDateTime,
    pub id: ConversationId,
}

/// A cursor string that was not made by [`ConversationCursor::encode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not one returned by a previous listing")]
pub struct CursorError;

impl ConversationCursor {
    /// An opaque, URL-safe form: `<unix microseconds>.<uuid>`.
    pub fn encode(&self) -> String {
        let micros = self.created_at.unix_timestamp_nanos() / 1_000;
        format!("{micros}.{}", self.id.as_uuid().simple())
    }

    /// Parses a string made by [`encode`](Self::encode).
    pub fn parse(raw: &str) -> Result<Self, CursorError> {
        let (micros, id) = raw.trim().split_once('.').ok_or(CursorError)?;
        let micros: i128 = micros.parse().map_err(|_| CursorError)?;
        // Checked: a cursor of forty digits must be refused, not overflow.
        let nanos = micros.checked_mul(1_000).ok_or(CursorError)?;
        let created_at =
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| CursorError)?;
        let id = id.parse().map_err(|_| CursorError)?;
        Ok(Self { created_at, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn valid() -> ConversationInput {
        ConversationInput {
            title: Some(" Spanish practice ".into()),
            summary: Some("Practised the subjunctive.".into()),
            messages: vec![
                ("User".into(), "Hola".into()),
                ("assistant".into(), "¡Hola!".into()),
            ],
            raw_text: vec!["User: Hola".into()],
            exercises: vec![("Subjunctive".into(), 85, Some("good".into()))],
        }
    }

    #[test]
    fn a_valid_conversation_is_trimmed_and_typed() {
        let draft = ConversationDraft::parse(valid()).unwrap();
        assert_eq!(draft.title.as_deref(), Some("Spanish practice"));
        assert_eq!(draft.messages[0].role, Role::User);
        assert_eq!(draft.exercises[0].score, 85);
    }

    #[test]
    fn invalid_conversations_are_rejected_with_the_field_named() {
        type Case = (&'static str, fn(&mut ConversationInput), ConversationError);
        let cases: Vec<Case> = vec![
            (
                "no summary",
                |i| i.summary = None,
                ConversationError::SummaryMissing,
            ),
            (
                "blank summary",
                |i| i.summary = Some("  ".into()),
                ConversationError::SummaryMissing,
            ),
            (
                "summary too long",
                |i| i.summary = Some("é".repeat(2_001)),
                ConversationError::SummaryTooLong,
            ),
            (
                "title too long",
                |i| i.title = Some("t".repeat(201)),
                ConversationError::TitleTooLong,
            ),
            (
                "unknown role",
                |i| i.messages.push(("robot".into(), "x".into())),
                ConversationError::InvalidRole { index: 2 },
            ),
            (
                "score above 100",
                |i| i.exercises[0].1 = 101,
                ConversationError::InvalidScore { index: 0 },
            ),
            (
                "negative score",
                |i| i.exercises[0].1 = -1,
                ConversationError::InvalidScore { index: 0 },
            ),
            (
                "blank exercise name",
                |i| i.exercises[0].0 = " ".into(),
                ConversationError::InvalidExerciseName { index: 0 },
            ),
            (
                "too many messages",
                |i| i.messages = vec![("user".into(), String::new()); 2_001],
                ConversationError::TooManyMessages,
            ),
        ];
        for (why, mutate, expected) in cases {
            let mut input = valid();
            mutate(&mut input);
            assert_eq!(ConversationDraft::parse(input), Err(expected), "{why}");
        }
    }

    #[test]
    fn the_summary_limit_counts_characters_not_bytes() {
        let mut input = valid();
        input.summary = Some("é".repeat(2_000));
        assert!(ConversationDraft::parse(input).is_ok());
    }

    #[test]
    fn scores_at_the_bounds_are_accepted() {
        for score in [0, 100] {
            let mut input = valid();
            input.exercises[0].1 = score;
            assert!(ConversationDraft::parse(input).is_ok(), "score {score}");
        }
    }

    #[test]
    fn a_cursor_round_trips_and_rejects_garbage() {
        let cursor = ConversationCursor {
            created_at: datetime!(2026-03-04 05:06:07.123456 UTC),
            id: ConversationId::from_random_bytes([9; 16]),
        };
        assert_eq!(ConversationCursor::parse(&cursor.encode()), Ok(cursor));
        for raw in [
            "",
            "abc",
            "12.notauuid",
            "x.0000",
            "99999999999999999999999999.00",
            // Would overflow when scaled to nanoseconds (found by the property tests).
            "99999999999999999999999999999999999999.00000000000000000000000000000000",
        ] {
            assert_eq!(ConversationCursor::parse(raw), Err(CursorError), "{raw:?}");
        }
    }

    #[test]
    fn external_ids_are_bounded() {
        assert!(ExternalId::parse("g-123").is_ok());
        assert!(ExternalId::parse("").is_err());
        assert!(ExternalId::parse(&"a".repeat(201)).is_err());
        assert!(ExternalId::parse("a b").is_err());
    }
}
