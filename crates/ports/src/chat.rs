//! The chat model port: an OpenAI-compatible chat completions API (OpenAI, vLLM, Ollama,
//! llama.cpp server) behind one trait, streaming the answer as it is written. One adapter in
//! `gptgate-adapters-llm` (reqwest), a scripted fake in `gptgate-testkit`.

use async_trait::async_trait;
use futures::stream::BoxStream;

/// Who said a message of the conversation sent to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

impl ChatRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

/// What the model is asked: the whole conversation (the server keeps none), and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: f32,
    pub max_output_tokens: u32,
}

/// Why the model gave no (more) answer. Never holds message text or the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatModelError {
    /// The API refused the key (401/403).
    #[error("the model API refused the key")]
    Unauthorized,
    /// The API limits the rate of calls (429).
    #[error("the model API limits the rate of calls")]
    RateLimited,
    /// The API refused the request (4xx): its status and, when it gave one, its error code
    /// (`model_not_found`, `context_length_exceeded`...). Never its words, which may quote the
    /// conversation.
    #[error("the model API refused the request (HTTP {status}{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Rejected { status: u16, code: Option<String> },
    /// The API could not be reached, failed (5xx), timed out, or sent something that is not an
    /// answer stream.
    #[error("the model API is unavailable")]
    Unavailable,
    /// The answer took longer than the chat allows, and was cut off there.
    #[error("the answer took too long")]
    TimedOut,
}

/// The longest an answer may take, first byte to last: the adapter cuts it off there with
/// [`ChatModelError::TimedOut`].
pub const ANSWER_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The pieces of an answer, in order, as the model writes them.
pub type ChatStream = BoxStream<'static, Result<String, ChatModelError>>;

/// A chat model.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Starts an answer to `request`: an error if the API refuses it outright, else the stream
    /// of its pieces (text deltas, empty ones left out), which ends when the answer does or
    /// with an error if it breaks off. Dropping the stream stops the call.
    async fn answer(&self, request: ChatRequest) -> Result<ChatStream, ChatModelError>;
}
