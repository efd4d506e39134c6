//! The admin console's sign-in: its sessions and the limits on guessing its password.

use time::{Duration, OffsetDateTime};

use crate::{AccountStatus, BudgetPolicy, PasswordHash, ProviderId, TokenHash};

/// A signed-in admin browser: the cookie's token, kept as its SHA-256; it ends at
/// `expires_at` however active it is (absolute, ASVS 3.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub token_hash: TokenHash,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl AdminSession {
    /// Whether it still opens the console at `now` (dead from `expires_at` on).
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// The password set in the console, which takes the place of `ADMIN_PASSWORD_HASH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAdminPassword {
    pub hash: PasswordHash,
    pub changed_at: OffsetDateTime,
    /// `ADMIN_PASSWORD_HASH` when it was set.
    pub replaces: PasswordHash,
}

impl StoredAdminPassword {
    /// The hash that opens the console, given `ADMIN_PASSWORD_HASH` now: the console's, unless
    /// the operator has put another hash in the environment since (how a forgotten console
    /// password is reset).
    pub fn in_force<'a>(
        stored: Option<&'a Self>,
        configured: &'a PasswordHash,
    ) -> &'a PasswordHash {
        match stored {
            Some(stored) if stored.replaces == *configured => &stored.hash,
            _ => configured,
        }
    }
}

/// What an admin did, as the audit log keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    SignedIn,
    /// A wrong password (at most as many as the limits let through).
    WrongPassword,
    SignedOut,
    PasswordChanged,
    PrivacyChanged,
    /// The operator put another hash in `ADMIN_PASSWORD_HASH`: the console's password was
    /// forgotten and every session ended.
    PasswordReset,
    ProfileSaved,
    ProfilePublished,
    /// A team password for the chat was set (or replaced): every team chat session ended.
    TeamPasswordSet,
    /// The team password was switched off: every team chat session ended.
    TeamPasswordOff,
    ApiKeyCreated,
    ApiKeyRevoked,
    PlatformAdded,
    PlatformRemoved,
}

impl AdminAction {
    pub const ALL: [AdminAction; 14] = [
        Self::SignedIn,
        Self::WrongPassword,
        Self::SignedOut,
        Self::PasswordChanged,
        Self::PrivacyChanged,
        Self::PasswordReset,
        Self::ProfileSaved,
        Self::ProfilePublished,
        Self::TeamPasswordSet,
        Self::TeamPasswordOff,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::PlatformAdded,
        Self::PlatformRemoved,
    ];

    /// The stable name stored.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SignedIn => "signed_in",
            Self::WrongPassword => "wrong_password",
            Self::SignedOut => "signed_out",
            Self::PasswordChanged => "password_changed",
            Self::PrivacyChanged => "privacy_changed",
            Self::PasswordReset => "password_reset",
            Self::ProfileSaved => "profile_saved",
            Self::ProfilePublished => "profile_published",
            Self::TeamPasswordSet => "team_password_set",
            Self::TeamPasswordOff => "team_password_off",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::PlatformAdded => "platform_added",
            Self::PlatformRemoved => "platform_removed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// What it was, for people.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::SignedIn => "Signed in",
            Self::WrongPassword => "Wrong password",
            Self::SignedOut => "Signed out",
            Self::PasswordChanged => "Changed the password (every session ended)",
            Self::PrivacyChanged => "Changed the privacy settings",
            Self::PasswordReset => {
                "The password was reset from ADMIN_PASSWORD_HASH (every session ended)"
            }
            Self::ProfileSaved => "Saved a new version of the assistant profile",
            Self::ProfilePublished => "Published a version of the assistant profile",
            Self::TeamPasswordSet => "Set the chat's team password (every team chat session ended)",
            Self::TeamPasswordOff => {
                "Switched the chat's team password off (every team chat session ended)"
            }
            Self::ApiKeyCreated => "Created an API key",
            Self::ApiKeyRevoked => "Revoked an API key",
            Self::PlatformAdded => "Registered a learning platform",
            Self::PlatformRemoved => "Removed a learning platform",
        }
    }
}

/// One line of the admin audit log: when, what, from which address. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAuditEntry {
    pub at: OffsetDateTime,
    pub action: AdminAction,
    /// The client's address, at most [`AdminAuditEntry::MAX_ADDRESS`] characters.
    pub address: String,
}

impl AdminAuditEntry {
    pub const MAX_ADDRESS: usize = 64;

    pub fn new(at: OffsetDateTime, action: AdminAction, address: &str) -> Self {
        Self {
            at,
            action,
            address: address.chars().take(Self::MAX_ADDRESS).collect(),
        }
    }
}

/// Connected accounts of one provider in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountCount {
    pub provider: ProviderId,
    pub status: AccountStatus,
    pub enabled: bool,
    pub count: u64,
}

/// What the console's first page shows of the server's use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminOverview {
    pub users: u64,
    pub conversations: u64,
    /// By provider name, then status name, then on before off; only the non-empty ones.
    pub accounts: Vec<AccountCount>,
    /// Addresses sent a sign-in code since the start of the day asked about (each counted once,
    /// by its latest code).
    pub code_addresses: u64,
}

/// The operator's privacy settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrivacySettings {
    /// Conversations are deleted this many days after their last save; 0 keeps them until
    /// their user deletes them.
    pub retention_days: u32,
    /// No conversation is saved at all.
    pub zero_retention: bool,
}

/// Why privacy settings are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "retention must be a whole number of days from 0 to {}",
    PrivacySettings::MAX_RETENTION_DAYS
)]
pub struct InvalidRetention;

impl PrivacySettings {
    /// Ten years.
    pub const MAX_RETENTION_DAYS: u32 = 3_650;

    pub fn new(retention_days: u32, zero_retention: bool) -> Result<Self, InvalidRetention> {
        if retention_days > Self::MAX_RETENTION_DAYS {
            return Err(InvalidRetention);
        }
        Ok(Self {
            retention_days,
            zero_retention,
        })
    }

    /// Conversations last saved before this are to be deleted at `now`; `None`: kept.
    pub fn delete_saved_before(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        (self.retention_days > 0).then(|| now - Duration::days(i64::from(self.retention_days)))
    }
}

/// How long the audit log keeps a line.
pub const ADMIN_AUDIT_RETENTION: Duration = Duration::days(365);

/// Which address's budget of guesses a client spends: its IPv4 address (an IPv4-mapped IPv6
/// address counts as the IPv4 one), or its IPv6 /64 (one subscriber's network: an attacker
/// holding a /64 must not get a fresh budget per address). Anything else is its own bucket.
pub fn guess_bucket(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => address.chars().take(AdminAuditEntry::MAX_ADDRESS).collect(),
    }
}

/// How long admin sessions last and how many wrong passwords are tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminPolicy {
    pub session_ttl: Duration,
    /// Wrong passwords from one address.
    pub per_address: BudgetPolicy,
    /// Wrong passwords from everywhere together (a guesser with many addresses).
    pub overall: BudgetPolicy,
}

impl Default for AdminPolicy {
    /// 8 hours; 10 wrong passwords per address per 15 minutes, 100 per hour in all.
    fn default() -> Self {
        Self {
            session_ttl: Duration::hours(8),
            per_address: BudgetPolicy {
                limit: 10,
                window: Duration::minutes(15),
            },
            overall: BudgetPolicy::hourly(100),
        }
    }
}

impl AdminPolicy {
    /// A session opened at `now` with the token whose hash is `token_hash`.
    pub fn open(&self, token_hash: TokenHash, now: OffsetDateTime) -> AdminSession {
        AdminSession {
            token_hash,
            created_at: now,
            expires_at: now + self.session_ttl,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_session_lasts_eight_hours_to_the_second() {
        let t0 = datetime!(2026-11-27 09:00 UTC);
        let session = AdminPolicy::default().open(TokenHash::from_bytes([1; 32]), t0);
        assert_eq!(session.created_at, t0);
        assert!(session.is_live(t0 + Duration::hours(8) - Duration::seconds(1)));
        assert!(!session.is_live(t0 + Duration::hours(8)));
    }

    #[test]
    fn the_consoles_password_is_in_force_until_the_environment_changes() {
        let hash = |salt: &str| {
            PasswordHash::parse(&format!(
                "$argon2id$v=19$m=19456,t=2,p=1${salt}$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo"
            ))
            .unwrap()
        };
        let env = hash("ZW52");
        assert_eq!(StoredAdminPassword::in_force(None, &env), &env);
        let stored = StoredAdminPassword {
            hash: hash("Y29uc29sZQ"),
            changed_at: datetime!(2026-11-27 09:00 UTC),
            replaces: env.clone(),
        };
        assert_eq!(
            StoredAdminPassword::in_force(Some(&stored), &env),
            &stored.hash
        );
        let reset = hash("cmVzZXQ");
        assert_eq!(
            StoredAdminPassword::in_force(Some(&stored), &reset),
            &reset,
            "a new hash in the environment resets the console's"
        );
    }

    #[test]
    fn audit_actions_round_trip_by_name_and_addresses_are_bounded() {
        for action in AdminAction::ALL {
            assert_eq!(AdminAction::parse(action.as_str()), Some(action));
        }
        let described: Vec<&str> = AdminAction::ALL.iter().map(|a| a.describe()).collect();
        assert_eq!(
            described,
            [
                "Signed in",
                "Wrong password",
                "Signed out",
                "Changed the password (every session ended)",
                "Changed the privacy settings",
                "The password was reset from ADMIN_PASSWORD_HASH (every session ended)",
                "Saved a new version of the assistant profile",
                "Published a version of the assistant profile",
                "Set the chat's team password (every team chat session ended)",
                "Switched the chat's team password off (every team chat session ended)",
                "Created an API key",
                "Revoked an API key",
                "Registered a learning platform",
                "Removed a learning platform"
            ]
        );
        assert_eq!(AdminAction::parse("deleted_everything"), None);
        let t0 = datetime!(2026-11-27 09:00 UTC);
        let entry = AdminAuditEntry::new(t0, AdminAction::SignedIn, &"a".repeat(65));
        assert_eq!(entry.address.chars().count(), 64);
        let entry = AdminAuditEntry::new(t0, AdminAction::SignedIn, "203.0.113.7");
        assert_eq!(entry.address, "203.0.113.7");
    }

    #[test]
    fn retention_is_0_to_3650_days_and_0_keeps_everything() {
        let now = datetime!(2026-11-27 09:00 UTC);
        assert_eq!(PrivacySettings::default().delete_saved_before(now), None);
        let month = PrivacySettings::new(30, false).unwrap();
        assert_eq!(
            month.delete_saved_before(now),
            Some(datetime!(2026-10-28 09:00 UTC))
        );
        assert!(PrivacySettings::new(3650, true).is_ok());
        assert_eq!(PrivacySettings::new(3651, false), Err(InvalidRetention));
    }

    #[test]
    fn an_ipv6_network_shares_one_budget_of_guesses() {
        assert_eq!(guess_bucket("203.0.113.7"), "203.0.113.7");
        assert_eq!(guess_bucket("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            guess_bucket("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            guess_bucket("2001:db8:1:2::1"),
            guess_bucket("2001:db8:1:2:ffff::9")
        );
        assert_ne!(
            guess_bucket("2001:db8:1:2::1"),
            guess_bucket("2001:db8:1:3::1")
        );
        assert_eq!(guess_bucket("unknown"), "unknown");
        assert_eq!(guess_bucket(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn ten_wrong_passwords_per_address_per_quarter_hour_and_a_hundred_an_hour_in_all() {
        let policy = AdminPolicy::default();
        assert_eq!(policy.per_address.limit, 10);
        assert_eq!(policy.per_address.window, Duration::minutes(15));
        assert_eq!(policy.overall.limit, 100);
        assert_eq!(policy.overall.window, Duration::hours(1));
    }
}
