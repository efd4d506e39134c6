//! The use cases: what the HTTP layer and embedders call.

mod actions;
mod admin;
mod api_keys;
mod assistant;
mod authorization;
mod connections;
mod conversations;
mod export;
mod guesses;
mod launch;
mod lti;
mod maintenance;
mod profiles;
mod rate_limits;
mod refresh;
mod sign_in;
mod users;

pub use actions::{Actions, ActionsError};
pub use admin::{AdminAuthError, AdminConsole, AdminLoginError, AdminPorts};
pub use api_keys::{ApiKeyError, ApiKeyPorts, ApiKeys, CreatedApiKey, KEY_CACHE_TTL};
pub use assistant::{
    Assistant, AssistantPorts, ChatError, ChatLoginError, Question, TeamPasswordError,
};
pub use authorization::{
    Authorization, AuthorizationPorts, AuthorizeError, ClientCredentials, IssuedTokens,
    RegisterError, RegisteredClient, SelfRegisterError, TokenError as OAuthTokenError,
    REGISTRATIONS_PER_HOUR,
};
pub use connections::{
    Callback, ConnectError, ConnectPreview, Connections, ConnectionsPorts, Erased, LinkOwner,
    ManagementSession, RotationReport, StartedConnect,
};
pub use conversations::{Conversations, ConversationsError, Page, PAGE_LIMIT_MAX};
pub use export::{DataExport, ExportDownload, ExportError, ExportPorts, Exports, EXPORTS_PER_HOUR};
pub use launch::{KeyInput, LaunchError, LaunchPorts, Launched, Launches, RegisterPlatformError};
pub use lti::{
    LtiError, LtiLaunches, LtiLogin, LtiPorts, LtiRegistration, RegisterLtiError, KEY_SET_REFETCH,
    KEY_SET_TTL, LTI_LAUNCH_PATH,
};
pub use maintenance::{HourlyReport, Maintenance, HOURLY_LEASE};
pub use profiles::{Profiles, ProfilesError};
pub use rate_limits::{
    Limit, RateLimitError, RateLimitSettings, RateLimits, LEASE_LIFETIME, MEMORY_SWEEP_AT,
};
pub use refresh::{
    Access, AccessError, KeepAliveReport, RefreshPorts, Refresher, KEEP_ALIVE_BATCH, REFRESH_LEASE,
};
pub use sign_in::{
    AuthenticateError, Authenticated, Reader, SendCodeError, SignIn, SignInPorts, SignedIn,
    VerifyError,
};
pub use users::{Users, UsersError};
