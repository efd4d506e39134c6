//! Slack's actions, with the bot token. Slack answers most errors as HTTP 200
//! `{"ok": false, "error": "..."}`: a revoked or expired token is a refused token,
//! `not_in_channel` a conflict the user can fix (invite the app), any other code a refusal
//! with Slack's code; HTTP 429 carries `Retry-After`.

use std::sync::LazyLock;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionCall, ActionError, ActionSpec, ProviderActions};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{length, parse, spec, unreachable, within, Bounded, ACTION_TIME_LIMIT};
use crate::config::{ProviderConfig, ProviderSetupError};

/// Post a message in a channel.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PostMessage {
    /// The channel's id (from list-channels) or name, such as `#general`.
    channel: String,
    /// The message (1 to 40,000 characters; Slack's mrkdwn formatting).
    text: String,
    /// To answer in a thread: the `ts` of the message that started it.
    thread_ts: Option<String>,
}

impl Bounded for PostMessage {
    fn check(&self) -> Result<(), ActionError> {
        length("channel", &self.channel, 1, 100)?;
        length("text", &self.text, 1, 40_000)?;
        if let Some(ts) = &self.thread_ts {
            length("threadTs", ts, 1, 50)?;
        }
        Ok(())
    }
}

/// The workspace's public channels.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListChannels {
    /// How many (1 to 200, default 100).
    limit: Option<u32>,
}

impl Bounded for ListChannels {
    fn check(&self) -> Result<(), ActionError> {
        if let Some(limit) = self.limit {
            within("limit", limit, 1..=200)?;
        }
        Ok(())
    }
}

static CATALOG: LazyLock<Vec<ActionSpec>> = LazyLock::new(|| {
    vec![
        spec::<PostMessage>(
            "post-message",
            "Post a message in a Slack channel of the connected workspace (as the gptgate app, which must be in the channel), optionally in a thread.",
            true,
        ),
        spec::<ListChannels>(
            "list-channels",
            "List the public channels of the connected Slack workspace, and whether the gptgate app is in each.",
            false,
        ),
    ]
});

/// Slack's actions.
pub struct SlackActions {
    http: reqwest::Client,
    api: String,
}

/// The actions of a configured Slack provider.
pub fn actions(config: &ProviderConfig) -> Result<SlackActions, ProviderSetupError> {
    Ok(SlackActions {
        http: crate::http::client(ProviderId::Slack)?,
        api: config.api_base_url.trim_end_matches('/').to_owned(),
    })
}

impl SlackActions {
    /// Sends a Web API call; its body when `ok`, Slack's error mapped otherwise.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, ActionError> {
        let response = request
            .timeout(ACTION_TIME_LIMIT)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ActionError::RateLimited {
                retry_after: super::retry_after(response.headers()),
            });
        }
        if status.is_server_error() {
            return Err(ActionError::Unavailable(
                format!("Slack answered {status}").into(),
            ));
        }
        let body: Value = super::json_body(response).await?;
        if body.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(body);
        }
        let code = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unexpected_response")
            .to_owned();
        Err(match code.as_str() {
            "invalid_auth" | "not_authed" | "token_revoked" | "token_expired"
            | "account_inactive" => ActionError::Unauthorized,
            "ratelimited" => ActionError::RateLimited { retry_after: None },
            "not_in_channel" => ActionError::Conflict {
                code,
                message: "The gptgate app is not in this channel. In Slack, invite it (type /invite and the app's name in the channel), then try again.".into(),
            },
            "channel_not_found" => ActionError::Rejected {
                code,
                message: Some("No such channel in this workspace; list-channels shows them.".into()),
            },
            _ => ActionError::Rejected {
                code,
                message: None,
            },
        })
    }
}

#[async_trait]
impl ProviderActions for SlackActions {
    fn provider(&self) -> ProviderId {
        ProviderId::Slack
    }

    fn catalog(&self) -> &[ActionSpec] {
        &CATALOG
    }

    fn check(&self, action: &str, params: &Value) -> Result<(), ActionError> {
        match action {
            "post-message" => parse::<PostMessage>(params).map(drop),
            _ => parse::<ListChannels>(params).map(drop),
        }
    }

    async fn run(&self, action: &str, call: ActionCall<'_>) -> Result<Value, ActionError> {
        let token = call.access_token.expose_secret();
        match action {
            "post-message" => {
                let p: PostMessage = parse(call.params)?;
                let mut message = json!({ "channel": p.channel, "text": p.text });
                if let Some(ts) = p.thread_ts {
                    message["thread_ts"] = json!(ts);
                }
                let body = self
                    .call(
                        self.http
                            .post(format!("{}/chat.postMessage", self.api))
                            .bearer_auth(token)
                            .json(&message),
                    )
                    .await?;
                Ok(json!({
                    "channel": body.get("channel"),
                    "ts": body.get("ts"),
                }))
            }
            _ => {
                let p: ListChannels = parse(call.params)?;
                let limit = p.limit.unwrap_or(100).to_string();
                let body = self
                    .call(
                        self.http
                            .get(format!("{}/conversations.list", self.api))
                            .bearer_auth(token)
                            .query(&[
                                ("limit", limit.as_str()),
                                ("exclude_archived", "true"),
                                ("types", "public_channel"),
                            ]),
                    )
                    .await?;
                let channels: Vec<Value> = body
                    .get("channels")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        json!({
                            "id": c.get("id"),
                            "name": c.get("name"),
                            "isMember": c.get("is_member"),
                            "topic": c.pointer("/topic/value"),
                        })
                    })
                    .collect();
                let more = body
                    .pointer("/response_metadata/next_cursor")
                    .and_then(Value::as_str)
                    .is_some_and(|c| !c.is_empty());
                Ok(super::fit_list("channels", channels, more))
            }
        }
    }
}
