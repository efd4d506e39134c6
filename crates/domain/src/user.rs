//! Users and the identities that lead to them.

use std::fmt;

use time::OffsetDateTime;

use crate::{Email, UserId};

/// A user: owner of sessions and conversations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub created_at: OffsetDateTime,
}

/// The kinds of identity a user can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    /// An email address proven by a one-time code.
    Email,
    /// A ChatGPT user id passed by the GPT in `x-gpt-user-id`.
    ChatGpt,
    /// ChatGPT's `openai-ephemeral-user-id` header. It may rotate, so it is a weak identity, kept
    /// apart from `ChatGpt` so the two can never collide.
    OpenAiEphemeral,
}

impl IdentityKind {
    /// The kind named `raw` in storage.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "email" => Some(Self::Email),
            "chatgpt" => Some(Self::ChatGpt),
            "openai_ephemeral" => Some(Self::OpenAiEphemeral),
            _ => None,
        }
    }

    /// The stable name used in storage.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::ChatGpt => "chatgpt",
            Self::OpenAiEphemeral => "openai_ephemeral",
        }
    }
}

/// A ChatGPT-side user id (`x-gpt-user-id` or `openai-ephemeral-user-id`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ChatGptUserId(String);

/// Why a string is not an identity we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the user id is empty")]
    Empty,
    #[error("the user id is longer than 256 characters")]
    TooLong,
    #[error("the user id may contain only visible ASCII characters")]
    InvalidCharacters,
}

impl ChatGptUserId {
    /// Parses a user id: 1 to 256 visible ASCII characters after trimming.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let id = raw.trim();
        if id.is_empty() {
            return Err(IdentityError::Empty);
        }
        if id.len() > 256 {
            return Err(IdentityError::TooLong);
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdentityError::InvalidCharacters);
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ChatGptUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChatGptUserId(..)")
    }
}

/// A stored identity whose value does not fit its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the identity's value does not fit its kind")]
pub struct InvalidIdentity;

/// One identity: a kind and a normalized value, unique across all users.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    kind: IdentityKind,
    value: String,
}

impl Identity {
    /// The identity of a verified email address.
    pub fn email(email: &Email) -> Self {
        Self {
            kind: IdentityKind::Email,
            value: email.as_str().to_owned(),
        }
    }

    /// The identity of a stable ChatGPT user id.
    pub fn chatgpt(id: &ChatGptUserId) -> Self {
        Self {
            kind: IdentityKind::ChatGpt,
            value: id.as_str().to_owned(),
        }
    }

    /// The identity of an ephemeral OpenAI user id.
    pub fn openai_ephemeral(id: &ChatGptUserId) -> Self {
        Self {
            kind: IdentityKind::OpenAiEphemeral,
            value: id.as_str().to_owned(),
        }
    }

    /// An identity read back from storage: the value is parsed again for its kind.
    pub fn from_parts(kind: IdentityKind, value: &str) -> Result<Self, InvalidIdentity> {
        match kind {
            IdentityKind::Email => Email::parse(value)
                .map(|e| Self::email(&e))
                .map_err(|_| InvalidIdentity),
            IdentityKind::ChatGpt => ChatGptUserId::parse(value)
                .map(|id| Self::chatgpt(&id))
                .map_err(|_| InvalidIdentity),
            IdentityKind::OpenAiEphemeral => ChatGptUserId::parse(value)
                .map(|id| Self::openai_ephemeral(&id))
                .map_err(|_| InvalidIdentity),
        }
    }

    pub fn kind(&self) -> IdentityKind {
        self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatgpt_ids_are_trimmed_and_bounded() {
        assert_eq!(
            ChatGptUserId::parse(" user-abc ").unwrap().as_str(),
            "user-abc"
        );
        let cases = [
            ("", IdentityError::Empty, "empty"),
            ("  ", IdentityError::Empty, "blank"),
            ("a b", IdentityError::InvalidCharacters, "inner space"),
            ("ü", IdentityError::InvalidCharacters, "non-ASCII"),
        ];
        for (raw, expected, why) in cases {
            assert_eq!(ChatGptUserId::parse(raw), Err(expected), "{why}");
        }
        assert_eq!(
            ChatGptUserId::parse(&"x".repeat(257)),
            Err(IdentityError::TooLong)
        );
    }

    #[test]
    fn identities_round_trip_through_their_stored_parts() {
        let id = ChatGptUserId::parse("g-1").unwrap();
        for identity in [
            Identity::email(&Email::parse("ann@example.com").unwrap()),
            Identity::chatgpt(&id),
            Identity::openai_ephemeral(&id),
        ] {
            let kind = IdentityKind::parse(identity.kind().as_str()).unwrap();
            assert_eq!(Identity::from_parts(kind, identity.value()), Ok(identity));
        }
        assert_eq!(IdentityKind::parse("phone"), None);
        assert_eq!(
            Identity::from_parts(IdentityKind::Email, "not an email"),
            Err(InvalidIdentity)
        );
        assert_eq!(
            Identity::from_parts(IdentityKind::ChatGpt, ""),
            Err(InvalidIdentity)
        );
    }

    #[test]
    fn identities_of_different_kinds_never_collide() {
        let id = ChatGptUserId::parse("same").unwrap();
        assert_ne!(Identity::chatgpt(&id), Identity::openai_ephemeral(&id));
    }
}
