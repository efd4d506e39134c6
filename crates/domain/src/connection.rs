//! Connected accounts: a user's OAuth connections to providers (several per provider, told
//! apart by a label), and the short-lived single-use tokens of the connect flow.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{AccountId, UserId};

/// The providers gptgate connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderId {
    /// Google (Gmail).
    Gmail,
    Slack,
    Linear,
    Zoho,
    Mercury,
}

/// A provider name we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider; use one of gmail, slack, linear, zoho, mercury")]
pub struct UnknownProvider;

impl ProviderId {
    pub const ALL: [ProviderId; 5] = [
        ProviderId::Gmail,
        ProviderId::Slack,
        ProviderId::Linear,
        ProviderId::Zoho,
        ProviderId::Mercury,
    ];

    /// Parses a provider name, any case; `google` is accepted for Gmail.
    pub fn parse(raw: &str) -> Result<Self, UnknownProvider> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "gmail" | "google" => Ok(Self::Gmail),
            "slack" => Ok(Self::Slack),
            "linear" => Ok(Self::Linear),
            "zoho" => Ok(Self::Zoho),
            "mercury" => Ok(Self::Mercury),
            _ => Err(UnknownProvider),
        }
    }

    /// How long a refresh token of this provider lives unused, when it dies of disuse:
    /// Mercury's after 30 days, Google's after six months. Grants of the others do not lapse.
    pub fn refresh_token_idle_lifetime(&self) -> Option<Duration> {
        match self {
            Self::Mercury => Some(Duration::days(30)),
            Self::Gmail => Some(Duration::days(180)),
            Self::Slack | Self::Linear | Self::Zoho => None,
        }
    }

    /// How long an account of this provider may go without a refresh before the background
    /// job refreshes it to keep its grant alive: half its refresh token's idle lifetime, so
    /// a failed try has many more chances before the token dies.
    pub fn keep_alive_after(&self) -> Option<Duration> {
        self.refresh_token_idle_lifetime().map(|d| d / 2)
    }

    /// The stable name used in URLs and storage.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Gmail => "gmail",
            Self::Slack => "slack",
            Self::Linear => "linear",
            Self::Zoho => "zoho",
            Self::Mercury => "mercury",
        }
    }

    /// The name people know it by (`Linear`), the same on every face.
    pub fn display_name(&self) -> &'static str {
        match self {
            Self::Gmail => "Gmail",
            Self::Slack => "Slack",
            Self::Linear => "Linear",
            Self::Zoho => "Zoho",
            Self::Mercury => "Mercury",
        }
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The user's name for one of their accounts at a provider (`work`, `personal`): 1 to 64
/// letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountLabel(String);

/// Why a label is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label must be 1 to 64 characters of letters, digits, '-', '_' or '.'")]
pub struct InvalidLabel;

impl AccountLabel {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidLabel> {
        let label = raw.trim();
        let valid = (1..=Self::MAX_CHARS).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        valid.then(|| Self(label.to_owned())).ok_or(InvalidLabel)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a connection can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    /// The provider refused the refresh token: the user must connect again.
    ReauthRequired,
    Revoked,
}

impl AccountStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ReauthRequired => "reauth_required",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "reauth_required" => Some(Self::ReauthRequired),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// A value encrypted by a `SecretBox`: self-describing (it names its key), opaque otherwise.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// The tokens of a connection, encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedTokens {
    pub access_token: Option<Sealed>,
    pub refresh_token: Option<Sealed>,
    /// The id of the key both were sealed with.
    pub key_id: String,
}

/// A connected account, as stored. Tokens are ciphertext bound to this row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub user_id: UserId,
    pub provider: ProviderId,
    pub label: AccountLabel,
    pub enabled: bool,
    pub status: AccountStatus,
    pub tokens: SealedTokens,
    /// When the access token expires, if the provider said.
    pub expires_at: Option<OffsetDateTime>,
    pub scopes: Vec<String>,
    /// What the provider told about the account (email, workspace, ...). Never tokens.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A single-use token of the connect flow, stored only as the SHA-256 of its value.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Lifetimes of the connect-flow tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkPolicy {
    /// The link the GPT hands the user to connect an account.
    pub onboarding_ttl: Duration,
    /// The link to the integrations page.
    pub management_ttl: Duration,
    /// Between the redirect to the provider and its callback.
    pub state_ttl: Duration,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            onboarding_ttl: Duration::minutes(10),
            management_ttl: Duration::hours(1),
            state_ttl: Duration::minutes(10),
        }
    }
}

/// A pending connection: who wants to connect which provider under which label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingToken {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub provider: ProviderId,
    pub label: AccountLabel,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl OnboardingToken {
    /// Usable at `now`: not used and not expired (dead from `expires_at` on).
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

/// Access to the integrations page: a link the GPT hands out, or a browser session opened by
/// signing in on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementToken {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    /// Opened by signing in with an emailed code (not by a link that may have travelled):
    /// only such a session may grant an app access to the account.
    pub signed_in: bool,
}

/// The state of one authorization redirect: consumed by the provider's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub provider: ProviderId,
    pub label: AccountLabel,
    /// The PKCE verifier, encrypted; `None` for providers without PKCE.
    pub pkce_verifier: Option<Sealed>,
    /// The hash of the nonce held in a cookie by the browser that started the flow: only that
    /// browser may finish it (RFC 6749 10.12, RFC 9700 4.7).
    pub browser: TokenHash,
    pub redirect_uri: String,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

/// How long before its expiry an access token is refreshed: a token that could expire during a
/// provider call (20 s at most) or between the GPT's calls is not used.
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);

impl Account {
    /// Who or what the account is at its provider, as the provider told us when it was
    /// connected: an email address (Gmail, Linear, Zoho), the Slack workspace, the Linear
    /// organization or the Mercury business; else a name. At most 100 characters.
    pub fn identity(&self) -> Option<String> {
        let text = |key: &str| {
            let value = self.metadata.get(key)?;
            value
                .as_str()
                .or_else(|| value.get("name").and_then(serde_json::Value::as_str))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let found = match (text("email"), text("workspace"), text("organization")) {
            (Some(email), _, Some(org)) => format!("{email} ({org})"),
            (Some(email), _, None) => email.to_owned(),
            (None, Some(workspace), _) => workspace.to_owned(),
            (None, None, Some(org)) => org.to_owned(),
            (None, None, None) => text("business").or_else(|| text("name"))?.to_owned(),
        };
        Some(found.chars().take(100).collect())
    }

    /// Whether the access token must be refreshed before it is used at `now`: it expires within
    /// [`REFRESH_MARGIN`] (or has expired). A token of unknown lifetime is used until the
    /// provider refuses it.
    pub fn needs_refresh(&self, now: OffsetDateTime) -> bool {
        self.expires_at
            .is_some_and(|expires_at| expires_at - now <= REFRESH_MARGIN)
    }
}

/// The longest access-token lifetime believed: past twenty years a token is as good as
/// non-expiring, and `now + lifetime` stays far from the calendar's end.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::days(20 * 365);

/// When a token with `lifetime` left expires, counted from `now`. A provider's `expires_in` is
/// input: a negative one means "already expired" and a huge one is cut to
/// [`MAX_TOKEN_LIFETIME`], so no value can overflow the date arithmetic.
pub fn token_expiry(now: OffsetDateTime, lifetime: Duration) -> OffsetDateTime {
    let lifetime = lifetime.clamp(Duration::ZERO, MAX_TOKEN_LIFETIME);
    now.checked_add(lifetime).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_has_the_name_people_know_it_by() {
        let names: Vec<&str> = ProviderId::ALL.iter().map(|p| p.display_name()).collect();
        assert_eq!(names, ["Gmail", "Slack", "Linear", "Zoho", "Mercury"]);
    }

    fn account_expiring(expires_at: Option<OffsetDateTime>) -> Account {
        let t0 = time::macros::datetime!(2026-01-01 00:00 UTC);
        Account {
            id: AccountId::from_random_bytes([1; 16]),
            user_id: UserId::from_random_bytes([2; 16]),
            provider: ProviderId::Gmail,
            label: AccountLabel::parse("work").unwrap(),
            enabled: true,
            status: AccountStatus::Active,
            tokens: SealedTokens {
                access_token: None,
                refresh_token: None,
                key_id: "k1".into(),
            },
            expires_at,
            scopes: Vec::new(),
            metadata: serde_json::Map::new(),
            created_at: t0,
            updated_at: t0,
        }
    }

    #[test]
    fn a_token_is_refreshed_from_five_minutes_before_its_expiry() {
        let now = time::macros::datetime!(2026-01-01 10:00 UTC);
        let at = |left: Duration| account_expiring(Some(now + left)).needs_refresh(now);
        assert!(
            !at(REFRESH_MARGIN + Duration::microseconds(1)),
            "just over: used"
        );
        assert!(at(REFRESH_MARGIN), "exactly five minutes left: refreshed");
        assert!(at(Duration::ZERO));
        assert!(at(-Duration::hours(1)), "expired");
        assert!(
            !account_expiring(None).needs_refresh(now),
            "unknown lifetime: used until refused"
        );
    }

    #[test]
    fn an_account_is_named_by_what_its_provider_said() {
        let named = |metadata: serde_json::Value| {
            let mut account = account_expiring(None);
            account.metadata = metadata.as_object().unwrap().clone();
            account.identity()
        };
        use serde_json::json;
        assert_eq!(
            named(json!({ "email": "ana@example.com", "name": "Ana" })).as_deref(),
            Some("ana@example.com")
        );
        assert_eq!(
            named(json!({ "email": "ana@acme.example", "organization": { "name": "Acme", "urlKey": "acme" } }))
                .as_deref(),
            Some("ana@acme.example (Acme)")
        );
        assert_eq!(
            named(json!({ "workspace": "Acme HQ", "workspaceUrl": "https://acme.slack.com/" }))
                .as_deref(),
            Some("Acme HQ")
        );
        assert_eq!(
            named(json!({ "business": "Acme Labs LLC", "accounts": ["Checking"] })).as_deref(),
            Some("Acme Labs LLC")
        );
        assert_eq!(named(json!({ "name": "Ana" })).as_deref(), Some("Ana"));
        assert_eq!(named(json!({ "email": "  ", "teamId": "T1" })), None);
        assert_eq!(named(json!({})), None);
        assert_eq!(
            named(json!({ "name": "x".repeat(101) })).map(|n| n.chars().count()),
            Some(100)
        );
    }

    #[test]
    fn grants_that_die_of_disuse_are_kept_alive_at_half_their_life() {
        assert_eq!(
            ProviderId::Mercury.keep_alive_after(),
            Some(Duration::days(15))
        );
        assert_eq!(
            ProviderId::Gmail.keep_alive_after(),
            Some(Duration::days(90))
        );
        for id in [ProviderId::Slack, ProviderId::Linear, ProviderId::Zoho] {
            assert_eq!(id.keep_alive_after(), None, "{id}");
        }
    }

    #[test]
    fn a_token_expiry_is_clamped_to_a_sane_range() {
        assert_eq!(MAX_TOKEN_LIFETIME, Duration::days(7300), "twenty years");
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        assert_eq!(
            token_expiry(now, Duration::hours(1)),
            now + Duration::hours(1)
        );
        assert_eq!(
            token_expiry(now, Duration::seconds(-5)),
            now,
            "negative: expired now"
        );
        assert_eq!(token_expiry(now, Duration::ZERO), now);
        assert_eq!(
            token_expiry(now, MAX_TOKEN_LIFETIME),
            now + MAX_TOKEN_LIFETIME,
            "the longest lifetime is kept as it is"
        );
        assert_eq!(
            token_expiry(now, MAX_TOKEN_LIFETIME + Duration::seconds(1)),
            now + MAX_TOKEN_LIFETIME
        );
        assert_eq!(token_expiry(now, Duration::MAX), now + MAX_TOKEN_LIFETIME);
        assert_eq!(token_expiry(now, Duration::MIN), now);
        let late = time::macros::datetime!(9999-12-31 00:00 UTC);
        assert_eq!(
            token_expiry(late, Duration::days(1)),
            late,
            "no overflow at the calendar's end"
        );
    }

    #[test]
    fn providers_parse_by_name_and_alias() {
        for p in ProviderId::ALL {
            assert_eq!(ProviderId::parse(p.as_str()), Ok(p));
        }
        assert_eq!(ProviderId::parse(" Google "), Ok(ProviderId::Gmail));
        assert_eq!(ProviderId::parse("dropbox"), Err(UnknownProvider));
    }

    #[test]
    fn labels_follow_the_rules() {
        for ok in ["work", "gmail-personal", "a.b_c-1", &"x".repeat(64)] {
            assert!(AccountLabel::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "   ", "has space", "ünï", "semi;colon", &"x".repeat(65)] {
            assert_eq!(AccountLabel::parse(bad), Err(InvalidLabel), "{bad:?}");
        }
    }

    #[test]
    fn an_onboarding_token_is_usable_once_and_until_expiry() {
        let t0 = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut token = OnboardingToken {
            hash: TokenHash::from_bytes([1; 32]),
            user_id: UserId::from_random_bytes([2; 16]),
            provider: ProviderId::Slack,
            label: AccountLabel::parse("work").unwrap(),
            expires_at: t0 + Duration::minutes(10),
            used_at: None,
            created_at: t0,
        };
        assert!(token.is_usable(t0 + Duration::minutes(10) - Duration::seconds(1)));
        assert!(!token.is_usable(t0 + Duration::minutes(10)));
        token.used_at = Some(t0);
        assert!(!token.is_usable(t0));
    }
}
