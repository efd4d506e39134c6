//! One tool per provider action of the configured providers (`gmail_send_email`,
//! `linear_create_issue`...), built from the catalog the HTTP API documents: the same
//! description, the same JSON Schema for `params`, and annotations that say what
//! `x-openai-isConsequential` says (a consequential action is neither read-only nor harmless;
//! every other one only reads).

use std::sync::Arc;

use gptgate_domain::{AccountId, ProviderId};
use gptgate_ports::services::{Actions, ActionsError};
use gptgate_ports::ActionSpec;
use rmcp::handler::server::router::tool::ToolRoute;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResponse, CallToolResult, JsonObject, Tool, ToolAnnotations};
use rmcp::ErrorData;
use serde_json::{json, Value};

use crate::answer::{done, Refusal};
use crate::{user_of, GateMcp};

/// The tool's name: provider and action in snake case (`gmail_send_email`).
pub fn tool_name(provider: ProviderId, action: &str) -> String {
    format!("{}_{}", provider.as_str(), action.replace('-', "_"))
}

/// What the tool is told about and what a client may assume of it.
pub fn annotations(spec: &ActionSpec) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(!spec.consequential)
        .destructive(spec.consequential)
        .open_world(true)
}

/// The tool's input: the HTTP API's `{accountId, params}`, `params` the action's own schema.
pub fn input_schema(provider: ProviderId, spec: &ActionSpec) -> JsonObject {
    let schema = json!({
        "type": "object",
        "properties": {
            "accountId": {
                "type": "string",
                "description": format!(
                    "The id of the user's {} account to use (from list_accounts).",
                    provider.display_name()
                ),
            },
            "params": spec.params,
        },
        "required": ["accountId", "params"],
    });
    match schema {
        Value::Object(object) => object,
        _ => JsonObject::new(),
    }
}

/// A tool for each action of each configured provider.
pub fn routes(actions: &Actions) -> Vec<ToolRoute<GateMcp>> {
    actions
        .catalog()
        .into_iter()
        .flat_map(|(provider, specs)| specs.iter().map(move |spec| route(provider, spec)))
        .collect()
}

fn route(provider: ProviderId, spec: &ActionSpec) -> ToolRoute<GateMcp> {
    let tool = Tool::new(
        tool_name(provider, spec.name),
        spec.description,
        Arc::new(input_schema(provider, spec)),
    )
    .annotate(annotations(spec));
    let action = spec.name;
    ToolRoute::new_dyn(tool, move |context: ToolCallContext<'_, GateMcp>| {
        Box::pin(run(context, provider, action))
    })
}

/// Runs the action for the signed-in user, bounded by the action time limit and dropped if the
/// request ends (the client disconnects): nothing more is started or sent after the caller
/// was told it stopped, though a call already at the provider may take effect there (the
/// answer says to check). A token refresh under way finishes in its own task (`Refresher`).
/// A stateless server never sees `notifications/cancelled` (it comes as another request): a
/// client stops a call by closing its request.
async fn run(
    context: ToolCallContext<'_, GateMcp>,
    provider: ProviderId,
    action: &'static str,
) -> Result<CallToolResponse, ErrorData> {
    let user = user_of(&context.request_context)?;
    let arguments = context.arguments.unwrap_or_default();
    let account = arguments
        .get("accountId")
        .and_then(Value::as_str)
        .and_then(|id| id.trim().parse::<AccountId>().ok());
    let Some(account) = account else {
        return Ok(Refusal::from(ActionsError::AccountNotFound)
            .into_result()
            .into());
    };
    let params = arguments
        .get("params")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let gate = context.service;
    let work = gate
        .services
        .actions
        .run(user, provider, action, account, &params);
    let result: CallToolResult = tokio::select! {
        outcome = tokio::time::timeout(gate.action_time_limit, work) => match outcome {
            Ok(Ok(value)) => done(as_object(value)),
            Ok(Err(e)) => Refusal::from(e).into(),
            Err(_) => Refusal::new(
                "timeout",
                "The provider took too long and the action was stopped. If it sends or changes something, it may have been done all the same: check at the provider before trying again.",
            )
            .into(),
        },
        () = context.request_context.ct.cancelled() => {
            return Err(ErrorData::internal_error("the request was cancelled", None));
        }
    };
    Ok(result.into())
}

/// Structured content is an object: another value is put under `result`.
fn as_object(value: Value) -> Value {
    if value.is_object() {
        value
    } else {
        json!({ "result": value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(consequential: bool) -> ActionSpec {
        ActionSpec {
            name: "send-email",
            description: "Send an email.",
            params: json!({ "type": "object", "properties": { "to": { "type": "string" } } }),
            consequential,
        }
    }

    #[test]
    fn names_are_provider_and_action_in_snake_case() {
        assert_eq!(
            tool_name(ProviderId::Gmail, "send-email"),
            "gmail_send_email"
        );
        assert_eq!(
            tool_name(ProviderId::Linear, "list-my-issues"),
            "linear_list_my_issues"
        );
    }

    #[test]
    fn annotations_follow_consequential() {
        let sends = annotations(&spec(true));
        assert_eq!(sends.read_only_hint, Some(false));
        assert_eq!(sends.destructive_hint, Some(true));
        let reads = annotations(&spec(false));
        assert_eq!(reads.read_only_hint, Some(true));
        assert_eq!(reads.destructive_hint, Some(false));
        assert_eq!(reads.open_world_hint, Some(true));
    }

    #[test]
    fn the_input_is_an_account_and_the_actions_own_params_schema() {
        let schema = Value::Object(input_schema(ProviderId::Gmail, &spec(true)));
        assert_eq!(schema["properties"]["params"], spec(true).params);
        assert_eq!(schema["required"], json!(["accountId", "params"]));
        assert!(schema["properties"]["accountId"]["description"]
            .as_str()
            .unwrap()
            .contains("Gmail"));
    }

    #[test]
    fn results_are_objects() {
        assert_eq!(as_object(json!({ "a": 1 })), json!({ "a": 1 }));
        assert_eq!(as_object(json!([1])), json!({ "result": [1] }));
    }
}
