use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionCall, ActionError, ActionSpec, ProviderActions};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use time::Duration;

/// A provider's actions from a script: `post-note` (consequential, `{text}` of 1 to 100
/// characters) and `list-notes` (`{limit}` from 1 to 10). Records every call; answers each
/// with the next scripted outcome, or `{"ok": true}`.
pub struct FakeProviderActions {
    provider: ProviderId,
    script: Mutex<VecDeque<FakeOutcome>>,
    calls: Mutex<Vec<FakeActionCall>>,
}

/// A scripted answer of [`FakeProviderActions`].
#[derive(Debug, Clone)]
pub enum FakeOutcome {
    Ok(Value),
    Unauthorized,
    RateLimited(Option<Duration>),
    Conflict(&'static str),
    Rejected(&'static str),
    Unavailable,
}

/// One call that reached the fake provider.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeActionCall {
    pub action: String,
    pub access_token: String,
    pub params: Value,
}

static CATALOG: LazyLock<[ActionSpec; 2]> = LazyLock::new(|| {
    [
        ActionSpec {
            name: "post-note",
            description: "Posts a note.",
            params: json!({
                "type": "object",
                "properties": { "text": { "type": "string", "minLength": 1, "maxLength": 100 } },
                "required": ["text"],
                "additionalProperties": false
            }),
            consequential: true,
        },
        ActionSpec {
            name: "list-notes",
            description: "Lists notes.",
            params: json!({
                "type": "object",
                "properties": { "limit": { "type": "integer", "minimum": 1, "maximum": 10 } },
                "additionalProperties": false
            }),
            consequential: false,
        },
    ]
});

impl FakeProviderActions {
    pub fn new(provider: ProviderId) -> Self {
        Self {
            provider,
            script: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The next calls answer these, in order.
    pub fn answer(&self, outcomes: impl IntoIterator<Item = FakeOutcome>) {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(outcomes);
    }

    pub fn calls(&self) -> Vec<FakeActionCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn invalid(field: &str, message: &str) -> ActionError {
    ActionError::InvalidParams {
        field: field.into(),
        message: message.into(),
    }
}

#[async_trait]
impl ProviderActions for FakeProviderActions {
    fn provider(&self) -> ProviderId {
        self.provider
    }

    fn catalog(&self) -> &[ActionSpec] {
        CATALOG.as_slice()
    }

    fn check(&self, action: &str, params: &Value) -> Result<(), ActionError> {
        let object = params
            .as_object()
            .ok_or_else(|| invalid("", "must be an object"))?;
        let allowed: &[&str] = match action {
            "post-note" => &["text"],
            _ => &["limit"],
        };
        if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(unknown, "is not a parameter of this action"));
        }
        match action {
            "post-note" => match object.get("text").and_then(Value::as_str) {
                None => Err(invalid("text", "is required, a string")),
                Some(t) if t.is_empty() || t.chars().count() > 100 => {
                    Err(invalid("text", "must be 1 to 100 characters"))
                }
                Some(_) => Ok(()),
            },
            _ => match object.get("limit") {
                None => Ok(()),
                Some(limit) => match limit.as_u64() {
                    Some(1..=10) => Ok(()),
                    _ => Err(invalid("limit", "must be a whole number from 1 to 10")),
                },
            },
        }
    }

    async fn run(&self, action: &str, call: ActionCall<'_>) -> Result<Value, ActionError> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(FakeActionCall {
                action: action.to_owned(),
                access_token: call.access_token.expose_secret().to_owned(),
                params: call.params.clone(),
            });
        let next = self
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        match next.unwrap_or(FakeOutcome::Ok(json!({ "ok": true }))) {
            FakeOutcome::Ok(value) => Ok(value),
            FakeOutcome::Unauthorized => Err(ActionError::Unauthorized),
            FakeOutcome::RateLimited(retry_after) => Err(ActionError::RateLimited { retry_after }),
            FakeOutcome::Conflict(code) => Err(ActionError::Conflict {
                code: code.into(),
                message: format!("conflict: {code}"),
            }),
            FakeOutcome::Rejected(code) => Err(ActionError::Rejected {
                code: code.into(),
                message: Some(format!("refused: {code}")),
            }),
            FakeOutcome::Unavailable => Err(ActionError::Unavailable("provider down".into())),
        }
    }
}
