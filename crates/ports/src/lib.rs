//! gptgate's ports and use cases.
//!
//! The traits here are the outbound ports: what the application needs from the world (storage,
//! mail, time, randomness, crypto), each with its contract in its doc comment. The services in
//! [`services`] implement the use cases on top of them; the HTTP layer and embedders call the
//! services. No infrastructure type (sqlx, actix, reqwest, lettre) appears in any signature.

pub mod actions;
pub mod chat;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod limits;
pub mod mail;
pub mod oauth;
pub mod random;
pub mod services;
pub mod storage;

pub use actions::{ActionCall, ActionError, ActionSpec, ProviderActions};
pub use chat::{
    ChatMessage, ChatModel, ChatModelError, ChatRequest, ChatRole, ChatStream, ANSWER_TIME_LIMIT,
};
pub use clock::{Clock, Task, Timer};
pub use crypto::{
    CodeHasher, KeySetError, KeySets, LaunchTokenError, LaunchTokens, LtiPeek, LtiTokens,
    OpaqueTokens, PasswordHasher, SealError, SecretBox, SessionClaims, SessionTokens, TokenError,
};
pub use error::{BoxError, InternalError, StorageError};
pub use limits::{BucketRepository, BudgetRepository};
pub use mail::{MailError, Mailer};
pub use oauth::{
    Authorization, OAuthProvider, ProviderError, Revocation, Revoked, TokenSet, REVOKE_TIME_LIMIT,
};
pub use random::{Random, RandomError};
pub use storage::{
    AccountRepository, AdminRepository, ApiKeyRepository, AuthorizationRepository,
    ChatAccessRepository, CodeSignIn, CodeTaken, ConversationRepository, Housekeeping,
    LinkTokenRepository, PlatformRepository, PoolUse, ProfileRepository, PurgeReport,
    RefreshOutcome, SessionRepository, SignInRepository, Store, UsedIdRepository, UserRepository,
    VerificationCodeRepository,
};
