//! API keys made in the admin console (beside those of `GPT_API_KEY`): named, shown once, kept
//! as the SHA-256 of the key, revoked at once, with the time each was last used.

use time::OffsetDateTime;

use crate::{ApiKeyId, TokenHash};

/// What every key made in the console starts with (so scanners and people recognise one).
pub const API_KEY_PREFIX: &str = "gpk_";

/// The name an operator gives a key ("Spanish tutor GPT", "staging"): 1 to
/// [`ApiKeyName::MAX`] characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

/// Why a key name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the key's name must be 1 to {max} characters, without control characters")]
pub struct InvalidApiKeyName {
    pub max: usize,
}

impl ApiKeyName {
    pub const MAX: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidApiKeyName> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > Self::MAX || name.chars().any(char::is_control) {
            return Err(InvalidApiKeyName { max: Self::MAX });
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key made in the console, as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApiKey {
    pub id: ApiKeyId,
    pub name: ApiKeyName,
    /// The SHA-256 of the whole key (prefix included).
    pub hash: TokenHash,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// When it was last accepted, to the minute or so (uses are recorded in batches).
    pub last_used_at: Option<OffsetDateTime>,
}

impl StoredApiKey {
    /// Whether it still opens the API (not revoked).
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_bounded_at_its_edges() {
        assert_eq!(
            ApiKeyName::parse("  Spanish tutor GPT ").unwrap().as_str(),
            "Spanish tutor GPT"
        );
        assert!(ApiKeyName::parse(&"é".repeat(64)).is_ok());
        for bad in [
            String::new(),
            "   ".into(),
            "é".repeat(65),
            "tab\there".into(),
            "new\nline".into(),
        ] {
            assert_eq!(
                ApiKeyName::parse(&bad),
                Err(InvalidApiKeyName { max: 64 }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_revoked_key_is_not_active() {
        let key = StoredApiKey {
            id: ApiKeyId::from_random_bytes([1; 16]),
            name: ApiKeyName::parse("ci").unwrap(),
            hash: TokenHash::from_bytes([2; 32]),
            created_at: time::macros::datetime!(2026-11-27 09:00 UTC),
            revoked_at: None,
            last_used_at: None,
        };
        assert!(key.is_active());
        let revoked = StoredApiKey {
            revoked_at: Some(key.created_at),
            ..key
        };
        assert!(!revoked.is_active());
    }
}
