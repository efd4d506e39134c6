//! What a tool answers: its result as structured content (and the same JSON as text, for
//! clients that read only text), or a refusal the model can act on: `isError: true` with
//! `{error: {code, message}}`, the codes those of the HTTP API, the wording naming this face's
//! tools. Storage and internal failures are logged here and answered with a generic message:
//! no cause, address or token reaches the model.

use gptgate_ports::services::{ActionsError, ConnectError, ConversationsError};
use gptgate_ports::{InternalError, StorageError};
use rmcp::model::CallToolResult;
use serde_json::{json, Map, Value};

/// A successful tool result.
pub fn done(value: Value) -> CallToolResult {
    CallToolResult::structured(value)
}

/// A service's answer as a tool result: `shown` of its value, or its refusal.
pub fn answer<T, E: Into<Refusal>>(
    result: Result<T, E>,
    shown: impl FnOnce(T) -> Value,
) -> CallToolResult {
    match result {
        Ok(value) => done(shown(value)),
        Err(e) => e.into().into_result(),
    }
}

/// A refusal: what went wrong (`code`) and what to do (`message`).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    /// More fields for the model (`authUrl` to reconnect, `retryAfter` in seconds).
    pub extra: Map<String, Value>,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    fn with(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_owned(), value);
        self
    }

    /// The tool result that carries it.
    pub fn into_result(self) -> CallToolResult {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        error.extend(self.extra);
        CallToolResult::structured_error(json!({ "error": error }))
    }
}

impl From<Refusal> for CallToolResult {
    fn from(refusal: Refusal) -> Self {
        refusal.into_result()
    }
}

impl From<StorageError> for Refusal {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "an MCP tool could not reach storage");
        Refusal::new(
            "database_unavailable",
            "The database is unavailable right now. Please try again shortly.",
        )
    }
}

impl From<InternalError> for Refusal {
    fn from(e: InternalError) -> Self {
        tracing::error!(error = %e, "an MCP tool failed");
        Refusal::new("internal_error", "Something went wrong on the server.")
    }
}

impl From<ConversationsError> for Refusal {
    fn from(e: ConversationsError) -> Self {
        match e {
            ConversationsError::NotFound => Refusal::new(
                "conversation_not_found",
                "No such conversation for this user: pass an id from list_conversations.",
            ),
            ConversationsError::InvalidLimit => Refusal::new("invalid_limit", format!("{e}.")),
            ConversationsError::StorageDisabled => Refusal::new(
                "conversation_storage_disabled",
                "This server's operator has turned conversation saving off: nothing is stored. Tell the user their conversations are not kept here.",
            ),
            ConversationsError::Storage(e) => e.into(),
            ConversationsError::Internal(e) => e.into(),
        }
    }
}

impl From<ConnectError> for Refusal {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::ProviderNotConfigured(p) => Refusal::new(
                "provider_not_configured",
                format!("{} is not configured on this server.", p.display_name()),
            ),
            ConnectError::NotFound => Refusal::new(
                "account_not_found",
                "No such account for this user: pass an id from list_accounts.",
            ),
            ConnectError::InvalidLink
            | ConnectError::InvalidState
            | ConnectError::WrongBrowser
            | ConnectError::Denied => Refusal::new("invalid_link", format!("{e}.")),
            ConnectError::Provider(p) => {
                tracing::warn!(error = %p, "a provider failed during an MCP tool");
                Refusal::new(
                    "provider_unavailable",
                    "The provider could not be reached. Please try again in a minute.",
                )
            }
            ConnectError::Storage(e) => e.into(),
            ConnectError::Internal(e) => e.into(),
        }
    }
}

impl From<ActionsError> for Refusal {
    fn from(e: ActionsError) -> Self {
        match e {
            ActionsError::UnknownProvider => Refusal::new(
                "unknown_provider",
                "No such provider is configured on this server.",
            ),
            ActionsError::UnknownAction { provider } => Refusal::new(
                "unknown_action",
                format!("{} has no such action.", provider.display_name()),
            ),
            ActionsError::InvalidParams { field, message } => Refusal::new(
                "invalid_params",
                if field.is_empty() {
                    format!("params {message}.")
                } else {
                    format!("params.{field} {message}.")
                },
            ),
            ActionsError::AccountNotFound => Refusal::new(
                "account_not_found",
                "No such account of this user at this provider: pass an id from list_accounts.",
            ),
            ActionsError::AccountDisabled => Refusal::new(
                "account_disabled",
                "This account is turned off. The user can turn it on again on the integrations page (manage_accounts gives the link).",
            ),
            ActionsError::ReauthRequired { auth_url } => Refusal::new(
                "reauth_required",
                "The provider no longer accepts this connection: show the user authUrl to connect the account again (it works once, for 10 minutes), then retry.",
            )
            .with("authUrl", json!(auth_url)),
            ActionsError::RateLimited { retry_after } => {
                let secs = retry_after
                    .map(|d| d.whole_seconds() + i64::from(d.subsec_nanoseconds() > 0))
                    .unwrap_or(60)
                    .max(1);
                Refusal::new(
                    "provider_rate_limited",
                    format!("The provider limits how often it may be called. Please try again in {secs} seconds."),
                )
                .with("retryAfter", json!(secs))
            }
            ActionsError::Conflict { code: _, message } => {
                Refusal::new("provider_conflict", message)
            }
            ActionsError::ProviderRejected { code, message } => Refusal::new(
                "provider_error",
                match message {
                    Some(message) => format!("The provider refused ({code}): {message}"),
                    None => format!("The provider refused ({code})."),
                },
            ),
            ActionsError::ProviderUnavailable => Refusal::new(
                "provider_unavailable",
                "The provider did not answer in time or failed. If the action sends or changes something, it may have been done all the same: check at the provider before trying again.",
            ),
            ActionsError::Busy => Refusal::new(
                "refresh_in_progress",
                "The account's access is being renewed. Please try again in a minute.",
            ),
            ActionsError::Storage(e) => e.into(),
            ActionsError::Internal(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn error_of(result: CallToolResult) -> Value {
        assert_eq!(result.is_error, Some(true));
        result.structured_content.unwrap()["error"].clone()
    }

    #[test]
    fn a_refusal_is_an_error_result_with_its_code_message_and_extras() {
        let e = error_of(
            Refusal::from(ActionsError::ReauthRequired {
                auth_url: "https://gate.example/auth/start?token=t".into(),
            })
            .into_result(),
        );
        assert_eq!(e["code"], "reauth_required");
        assert_eq!(e["authUrl"], "https://gate.example/auth/start?token=t");
        assert!(e["message"].as_str().unwrap().contains("authUrl"));
    }

    #[test]
    fn a_rate_limit_says_when_in_whole_seconds_rounded_up() {
        for (retry_after, secs) in [
            (None, 60),
            (Some(Duration::milliseconds(1500)), 2),
            (Some(Duration::seconds(3)), 3),
            (Some(Duration::ZERO), 1),
        ] {
            let e = error_of(Refusal::from(ActionsError::RateLimited { retry_after }).into());
            assert_eq!(e["retryAfter"], secs, "{retry_after:?}");
            assert!(e["message"]
                .as_str()
                .unwrap()
                .contains(&format!("in {secs} seconds")));
        }
    }

    #[test]
    fn params_errors_name_the_field_or_the_object() {
        let named = Refusal::from(ActionsError::InvalidParams {
            field: "to".into(),
            message: "must be an email address".into(),
        });
        assert_eq!(named.message, "params.to must be an email address.");
        let whole = Refusal::from(ActionsError::InvalidParams {
            field: String::new(),
            message: "must be an object".into(),
        });
        assert_eq!(whole.message, "params must be an object.");
    }

    #[test]
    fn zero_retention_is_its_own_refusal() {
        let e = Refusal::from(ConversationsError::StorageDisabled);
        assert_eq!(e.code, "conversation_storage_disabled");
        assert!(e.message.contains("not kept"));
    }

    #[test]
    fn storage_failures_say_nothing_of_their_cause() {
        let e = Refusal::from(ConversationsError::Storage(StorageError::Unavailable(
            "connection to 10.0.0.5 refused, password=hunter2".into(),
        )));
        assert_eq!(e.code, "database_unavailable");
        assert!(!e.message.contains("10.0.0.5") && !e.message.contains("hunter2"));
    }
}
