//! The chat model adapter: any OpenAI-compatible chat completions API (`POST
//! {LLM_BASE_URL}/chat/completions` with `stream: true`), read as server-sent events. Works with
//! OpenAI, vLLM, Ollama (`/v1`) and llama.cpp's server. The answer is passed on piece by piece
//! as it arrives, never buffered; dropping the stream closes the connection, which stops the
//! model.

use std::time::Duration;

use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use gptgate_ports::{ChatModel, ChatModelError, ChatRequest, ChatStream, ANSWER_TIME_LIMIT};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the API may stay silent, before its first piece or between two.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of an API's own error words passed on.
const MAX_ERROR_WORDS: usize = 300;

/// An OpenAI-compatible chat completions API.
pub struct OpenAiCompatible {
    client: reqwest::Client,
    /// The longest an answer may take ([`ANSWER_TIME_LIMIT`]; shorter in tests).
    time_limit: Duration,
    /// `https://api.openai.com/v1`, `http://localhost:11434/v1`...: without a trailing slash.
    base_url: String,
    api_key: Option<SecretString>,
}

impl OpenAiCompatible {
    /// The API at `base_url` (`LLM_BASE_URL`), with `api_key` (`LLM_API_KEY`; a local server
    /// may need none).
    pub fn new(base_url: &str, api_key: Option<SecretString>) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            time_limit: ANSWER_TIME_LIMIT,
        })
    }

    /// The same API with answers cut off after `limit` instead.
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }
}

/// What a failed call or a broken stream means for the chat.
fn failure(e: &reqwest::Error) -> ChatModelError {
    if e.is_timeout() {
        ChatModelError::TimedOut
    } else {
        ChatModelError::Unavailable
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
}

/// The API's own words about a refusal (`{"error": {"message": ...}}`), cut short.
fn error_words(body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "no reason given".to_owned());
    message.chars().take(MAX_ERROR_WORDS).collect()
}

/// One event's data: a piece of the answer (possibly none), the end, or something broken.
fn piece(data: &str) -> Result<Option<String>, ChatModelError> {
    let chunk: Chunk = serde_json::from_str(data).map_err(|_| ChatModelError::Unavailable)?;
    Ok(chunk
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.delta.content)
        .filter(|c| !c.is_empty()))
}

#[async_trait]
impl ChatModel for OpenAiCompatible {
    async fn answer(&self, request: ChatRequest) -> Result<ChatStream, ChatModelError> {
        let body = json!({
            "model": request.model,
            "messages": request.messages.iter().map(|m| json!({
                "role": m.role.as_str(),
                "content": m.content,
            })).collect::<Vec<_>>(),
            "temperature": request.temperature,
            "max_tokens": request.max_output_tokens,
            "stream": true,
        });
        let mut call = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .header("accept", "text/event-stream")
            .timeout(self.time_limit)
            .json(&body);
        if let Some(key) = &self.api_key {
            call = call.bearer_auth(key.expose_secret());
        }
        let response = call.send().await.map_err(|e| failure(&e))?;
        let status = response.status();
        if !status.is_success() {
            let words = response.text().await.unwrap_or_default();
            return Err(match status.as_u16() {
                401 | 403 => ChatModelError::Unauthorized,
                429 => ChatModelError::RateLimited,
                400..=499 => ChatModelError::Rejected {
                    message: error_words(&words),
                },
                _ => ChatModelError::Unavailable,
            });
        }
        let events = response.bytes_stream().eventsource();
        let pieces = events
            .take_while(|event| {
                let done = matches!(event, Ok(e) if e.data.trim() == "[DONE]");
                futures::future::ready(!done)
            })
            .filter_map(|event| {
                futures::future::ready(match event {
                    Ok(event) => piece(&event.data).transpose(),
                    Err(eventsource_stream::EventStreamError::Transport(e)) => {
                        Some(Err(failure(&e)))
                    }
                    Err(_) => Some(Err(ChatModelError::Unavailable)),
                })
            });
        // The first error ends the answer (a broken transport would otherwise go on failing).
        let pieces = pieces.scan(false, |failed, item| {
            let next = (!*failed).then_some(item);
            *failed |= matches!(next, Some(Err(_)));
            futures::future::ready(next)
        });
        Ok(Box::pin(pieces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_gives_its_text_and_empty_or_role_only_chunks_give_none() {
        assert_eq!(
            piece(r#"{"choices":[{"delta":{"content":"Hola"}}]}"#),
            Ok(Some("Hola".to_owned()))
        );
        assert_eq!(
            piece(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#),
            Ok(None)
        );
        assert_eq!(piece(r#"{"choices":[{"delta":{"content":""}}]}"#), Ok(None));
        assert_eq!(piece(r#"{"choices":[]}"#), Ok(None));
        assert_eq!(piece("not json"), Err(ChatModelError::Unavailable));
    }

    #[test]
    fn error_words_are_the_apis_own_cut_short() {
        assert_eq!(
            error_words(
                r#"{"error":{"message":"model not found","type":"invalid_request_error"}}"#
            ),
            "model not found"
        );
        assert_eq!(error_words("<html>"), "no reason given");
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(400));
        assert_eq!(error_words(&long).len(), 300);
    }
}
