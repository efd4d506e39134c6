//! gptgate's domain: value objects parsed once at the edge, entities, and the pure rules of
//! sign-in and memory. Nothing here performs I/O, reads the clock or draws random numbers:
//! callers pass `now` and random bytes in, so every rule is a plain function to test.

pub mod admin;
pub mod api_key;
pub mod budget;
pub mod chat;
pub mod code;
pub mod connection;
pub mod conversation;
pub mod email;
pub mod export;
pub mod ids;
pub mod launch;
pub mod lti;
pub mod oauth;
pub mod password;
pub mod platform;
pub mod profile;
pub mod rate;
pub mod session;
pub mod user;

pub use admin::{
    guess_bucket, AccountCount, AdminAction, AdminAuditEntry, AdminOverview, AdminPolicy,
    AdminSession, InvalidRetention, PrivacySettings, StoredAdminPassword, ADMIN_AUDIT_RETENTION,
};
pub use api_key::{ApiKeyName, InvalidApiKeyName, StoredApiKey, API_KEY_PREFIX};
pub use budget::{BudgetPolicy, BudgetWindow};
pub use chat::{
    ChatInputError, ChatPolicy, ChatSession, ChatTurn, ChatVisitor, Speaker, TeamPassword,
};
pub use code::{
    AttemptVerdict, CodeFormatError, CodeHash, CodePolicy, CodeRecord, SendRefused,
    VerificationCode,
};
pub use connection::{
    token_expiry, Account, AccountLabel, AccountStatus, InvalidLabel, LinkPolicy, ManagementToken,
    OAuthState, OnboardingToken, ProviderId, Sealed, SealedTokens, TokenHash, UnknownProvider,
    MAX_TOKEN_LIFETIME,
};
pub use conversation::{
    Conversation, ConversationCursor, ConversationDraft, ConversationError, ConversationInput,
    CursorError, Exercise, ExternalId, Message, Role,
};
pub use email::{Email, EmailError};
pub use export::ExportLink;
pub use ids::{
    AccountId, ApiKeyId, ClientId, ConversationId, GrantId, PlatformId, SessionId, UserId,
};
pub use launch::{bit_length, Launch, LaunchClaims, LaunchKey, LaunchPolicy, LaunchRefused};
pub use lti::{
    DeploymentId, LoginBinding, LoginInitiation, LoginRefused, LtiClaims, LtiClientId, LtiLaunch,
    LtiPlatform, LtiPlatformError, LtiPolicy, LtiRefused, PlatformKey, PlatformUrl,
};
pub use oauth::{
    is_chatgpt_callback, is_pkce_verifier, Audience, AuthorizationCode, ClientError, ClientKind,
    ClientName, CodeChallenge, GrantSummary, OAuthClient, OAuthPolicy, RedirectUri, RefreshToken,
    RefreshUse,
};
pub use password::{NewPassword, NewPasswordError, PasswordHash, PasswordHashError};
pub use platform::{
    EmbeddingOrigin, Issuer, LaunchPlatform, PlatformError, PlatformName, StoredLaunchKey,
};
pub use profile::{AssistantProfile, ProfileError, ProfileInput, ProfileVersion};
pub use rate::{Taken, TokenBucket, TokenBucketError};
pub use session::{Session, SessionGuard, SessionPolicy};
pub use user::{ChatGptUserId, Identity, IdentityError, IdentityKind, InvalidIdentity, User};
