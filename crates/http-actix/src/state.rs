//! What every handler shares, built once at start-up.

use std::sync::Arc;

use actix_web::web::Bytes;
use gptgate_ports::services::{
    Actions, Authorization, Connections, Conversations, Exports, SignIn, Users,
};
use gptgate_ports::{Random, Store};

use crate::api_key::ApiKeys;
use crate::browser::Browser;
use crate::pages::Pages;

/// Documents rendered once at start-up and served as they are.
pub struct Documents {
    pub openapi_json: Bytes,
    pub openapi_yaml: Bytes,
    /// The same for a GPT on OAuth sign-in (`?auth=oauth`).
    pub openapi_oauth_json: Bytes,
    pub openapi_oauth_yaml: Bytes,
    /// The privacy policy page (its settings read on each request).
    pub privacy: crate::privacy::PrivacyPage,
    /// The OAuth authorization server's metadata (RFC 8414).
    pub oauth_metadata: Bytes,
    /// The MCP endpoint's protected-resource metadata (RFC 9728).
    pub protected_resource: Bytes,
    /// The page templates.
    pub pages: Pages,
}

/// The application state behind `web::Data`.
pub struct AppState {
    pub sign_in: SignIn,
    /// The admin console's sign-in (off without `ADMIN_PASSWORD_HASH`).
    pub admin: Arc<gptgate_ports::services::AdminConsole>,
    /// The hosted assistant's chat: who may use it, and its answers.
    pub assistant: gptgate_ports::services::Assistant,
    /// Learning platforms and the visitors they launch into the chat.
    pub launches: gptgate_ports::services::Launches,
    /// LTI 1.3 registrations, logins and launches.
    pub lti: gptgate_ports::services::LtiLaunches,
    /// The hosted assistant's profile versions.
    pub profiles: gptgate_ports::services::Profiles,
    pub users: Users,
    pub conversations: Conversations,
    pub exports: Exports,
    pub connections: Arc<Connections>,
    pub actions: Actions,
    /// gptgate's OAuth authorization server.
    pub authorization: Authorization,
    /// The authorization server's issuer identifier (the public URL).
    pub issuer: String,
    pub api_keys: ApiKeys,
    /// The API keys made in the admin console (also consulted by `api_keys`).
    pub console_keys: Arc<gptgate_ports::services::ApiKeys>,
    /// `TRUST_GPT_USER_ID_HEADER`: whether `x-gpt-user-id` may name the caller.
    pub trust_gpt_user_id_header: bool,
    /// The store, for `/readyz`.
    pub store: Arc<dyn Store>,
    pub documents: Documents,
    /// CSRF tokens and cookies of the browser pages.
    pub browser: Browser,
    /// For the browsers' pre-session values.
    pub random: Arc<dyn Random>,
    /// How long a streamed chat answer may stay silent before a comment line is sent.
    pub chat_heartbeat: std::time::Duration,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `METRICS_TOKEN`, as an HMAC tag under a per-process key (compared in constant time); none:
    /// `/metrics` is open.
    pub metrics_token: Option<(ring::hmac::Key, ring::hmac::Tag)>,
    /// The proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// Calls per API key and per user, page views per address.
    pub rate_limits: gptgate_ports::services::RateLimits,
}
