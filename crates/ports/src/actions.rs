//! The provider actions port: what the GPT can do with a connected account (send an email,
//! post a Slack message, create a Linear issue...). One implementation per provider in
//! `gptgate-adapters-oauth`, a scripted fake in `gptgate-testkit`.

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use secrecy::SecretString;
use serde_json::{Map, Value};
use time::Duration;

use crate::BoxError;

/// One action a provider offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// The action's name in URLs: lowercase words joined by `-` (`send-email`).
    pub name: &'static str,
    /// What it does, for the GPT (at most 300 characters: ChatGPT's limit).
    pub description: &'static str,
    /// The JSON Schema of its `params` object.
    pub params: Value,
    /// Whether it sends or changes something outside gptgate (ChatGPT then asks the user
    /// before each call: `x-openai-isConsequential`).
    pub consequential: bool,
}

/// What an action is called with.
pub struct ActionCall<'a> {
    pub access_token: &'a SecretString,
    /// The account's metadata (Zoho's `apiDomain`, Slack's team...). Never tokens.
    pub metadata: &'a Map<String, Value>,
    pub params: &'a Value,
}

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The params do not fit the action's schema; `field` names the offending one (a path
    /// such as `messages[0].role`, or empty for the object itself).
    #[error("{field}: {message}")]
    InvalidParams { field: String, message: String },
    /// The provider refused the access token (HTTP 401): the caller refreshes it and retries
    /// once.
    #[error("the provider refused the access token")]
    Unauthorized,
    /// The provider limits the rate of calls; `retry_after` is its word on when to come back.
    #[error("the provider limits the rate of calls")]
    RateLimited { retry_after: Option<Duration> },
    /// The request conflicts with the state at the provider (Slack's `not_in_channel`);
    /// `code` is the provider's, `message` says what the user can do.
    #[error("{message}")]
    Conflict { code: String, message: String },
    /// The provider refused the request; `code` is its error code and `message` its words
    /// (safe to show: never a token).
    #[error("the provider refused: {code}")]
    Rejected {
        code: String,
        message: Option<String>,
    },
    /// The provider could not be reached, timed out, failed (5xx) or answered something
    /// unreadable.
    #[error("the provider could not be reached or answered unexpectedly")]
    Unavailable(#[source] BoxError),
}

/// The actions of one provider, configured with this server's settings for it.
#[async_trait]
pub trait ProviderActions: Send + Sync {
    fn provider(&self) -> ProviderId;

    /// Every action, in a stable order.
    fn catalog(&self) -> &[ActionSpec];

    /// Checks `params` against `action`'s schema and bounds without calling anyone. `action`
    /// is one of the catalog's names.
    fn check(&self, action: &str, params: &Value) -> Result<(), ActionError>;

    /// Runs `action` for the account and returns its result, which MUST fit ChatGPT's
    /// 100,000-character limit when serialized: lists bounded and saying when they were cut,
    /// long texts cut. MUST give up within 20 seconds. MUST NOT put a token in an error.
    async fn run(&self, action: &str, call: ActionCall<'_>) -> Result<Value, ActionError>;
}
