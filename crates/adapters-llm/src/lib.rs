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
/// The longest error code passed on.
const MAX_ERROR_CODE: usize = 64;

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
    /// Some servers (and proxies) report a failure in the middle of the stream this way.
    #[serde(default)]
    error: Option<serde_json::Value>,
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

/// The API's error code for a refusal (`{"error": {"code": ..., "type": ...}}`): an
/// identifier only (letters, digits, `_`, `-`, `.`), never its message, which may quote the
/// conversation.
fn error_code(body: &str) -> Option<String> {
    let value = serde_json::from_str::<serde_json::Value>(body).ok()?;
    ["/error/code", "/error/type"]
        .iter()
        .filter_map(|pointer| value.pointer(pointer).and_then(|v| v.as_str()))
        .find(|code| {
            !code.is_empty()
                && code.len() <= MAX_ERROR_CODE
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        })
        .map(str::to_owned)
}

/// One event's data: a piece of the answer (possibly none), the end, or something broken.
fn piece(data: &str) -> Result<Option<String>, ChatModelError> {
    let chunk: Chunk = serde_json::from_str(data).map_err(|_| ChatModelError::Unavailable)?;
    if chunk.error.is_some() {
        return Err(ChatModelError::Unavailable);
    }
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
            let body = response.text().await.unwrap_or_default();
            return Err(match status.as_u16() {
                401 | 403 => ChatModelError::Unauthorized,
                429 => ChatModelError::RateLimited,
                code @ 400..=499 => ChatModelError::Rejected {
                    status: code,
                    code: error_code(&body),
                },
                _ => ChatModelError::Unavailable,
            });
        }
        let events = response.bytes_stream().eventsource();
        // Each event gives a piece (or none), `[DONE]` ends the answer; a stream that stops
        // before `[DONE]` was cut off. The first error ends the answer.
        let pieces = futures::stream::unfold(Some(Box::pin(events)), |events| async move {
            let mut events = events?;
            loop {
                let item = match events.next().await {
                    None => Err(ChatModelError::Unavailable),
                    Some(Ok(event)) if event.data.trim() == "[DONE]" => return None,
                    Some(Ok(event)) => match piece(&event.data) {
                        Ok(None) => continue,
                        Ok(Some(text)) => Ok(text),
                        Err(e) => Err(e),
                    },
                    Some(Err(eventsource_stream::EventStreamError::Transport(e))) => {
                        Err(failure(&e))
                    }
                    Some(Err(_)) => Err(ChatModelError::Unavailable),
                };
                let next = item.is_ok().then_some(events);
                return Some((item, next));
            }
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
    fn only_the_apis_error_code_is_kept_never_its_words() {
        assert_eq!(
            error_code(
                r#"{"error":{"message":"model not found","type":"invalid_request_error","code":"model_not_found"}}"#
            ),
            Some("model_not_found".to_owned())
        );
        assert_eq!(
            error_code(r#"{"error":{"message":"bad","type":"invalid_request_error","code":null}}"#),
            Some("invalid_request_error".to_owned())
        );
        assert_eq!(
            error_code(r#"{"error":{"message":"x","code":"you said: secret words"}}"#),
            None
        );
        let long = format!(r#"{{"error":{{"code":"{}"}}}}"#, "x".repeat(65));
        assert_eq!(error_code(&long), None);
        let longest = format!(r#"{{"error":{{"code":"{}"}}}}"#, "x".repeat(64));
        assert_eq!(error_code(&longest), Some("x".repeat(64)));
        assert_eq!(error_code("<html>"), None);
    }

    #[test]
    fn a_chunk_that_reports_an_error_breaks_the_answer_off() {
        assert_eq!(
            piece(r#"{"error":{"message":"upstream failed"}}"#),
            Err(ChatModelError::Unavailable)
        );
    }
}
