//! Provider actions: the catalog and running one. Each configured provider's actions are also
//! listed in the OpenAPI document as operations of their own (`openapi.rs`), so ChatGPT sees
//! each action's params and whether it asks the user first.

use actix_web::{get, post, web, HttpResponse};
use gptgate_domain::ProviderId;
use gptgate_ports::ActionSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{carries_token, GptCall, KeyedCall, NoBody};
use crate::state::AppState;

/// Running an action.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRequest {
    /// The session token from verifyCode, if the user signed in by email.
    pub token: Option<String>,
    /// The id of the user's account to act with (from listAccounts).
    pub account_id: String,
    /// The action's parameters, as its schema in the catalog says.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub params: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

carries_token!(ActionRequest);

/// The catalog.
#[derive(Serialize, ToSchema)]
pub struct Catalog {
    pub providers: Vec<ProviderActionsDto>,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderActionsDto {
    /// `gmail`, `slack`, `linear`, `zoho` or `mercury`.
    pub provider: String,
    /// The provider's name for people (`Linear`).
    pub name: String,
    pub actions: Vec<ActionDto>,
}

#[derive(Serialize, ToSchema)]
pub struct ActionDto {
    /// Use it in the path: `/api/gpt/actions/{provider}/{name}`.
    pub name: String,
    pub description: String,
    /// Whether it sends or changes something at the provider (confirm with the user first).
    pub consequential: bool,
    /// The JSON Schema of `params`.
    #[schema(value_type = Object)]
    pub params: Value,
}

impl From<&ActionSpec> for ActionDto {
    fn from(spec: &ActionSpec) -> Self {
        Self {
            name: spec.name.to_owned(),
            description: spec.description.to_owned(),
            consequential: spec.consequential,
            params: spec.params.clone(),
        }
    }
}

/// What the configured providers' actions are.
#[utoipa::path(
    operation_id = "listActions",
    tag = "actions",
    summary = "List what the GPT can do with connected accounts",
    description = "For each configured provider, its actions: name, what it does, whether it sends or changes something, and the JSON Schema of its params. Each action is also an operation of this document.",
    responses((status = 200, body = Catalog), (status = 401, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[get("/api/gpt/actions")]
pub async fn catalog(
    state: web::Data<AppState>,
    _call: KeyedCall<NoBody>,
) -> Result<HttpResponse, ApiError> {
    let providers = state
        .actions
        .catalog()
        .into_iter()
        .map(|(provider, actions)| ProviderActionsDto {
            provider: provider.as_str().to_owned(),
            name: provider.display_name().to_owned(),
            actions: actions.iter().map(ActionDto::from).collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Catalog { providers }))
}

/// Runs an action (documented per action in the OpenAPI document).
#[post("/api/gpt/actions/{provider}/{action}")]
pub async fn run(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    call: GptCall<ActionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (provider, action) = path.into_inner();
    let GptCall { caller, body } = call;
    let provider = ProviderId::parse(&provider).map_err(|_| {
        ApiError::not_found(
            "unknown_provider",
            "No such provider. listActions says which are configured.",
        )
    })?;
    let account = body.account_id.parse().map_err(|_| {
        ApiError::not_found(
            "account_not_found",
            "No such account for this user: pass an id from listAccounts.",
        )
    })?;
    // The time limit cancels the action with its request (nothing more is sent after the
    // caller was told it failed, though a call already at the provider may take effect); a
    // token refresh under way finishes in its own task.
    let result = state
        .actions
        .run(caller.user_id, provider, &action, account, &body.params)
        .await?;
    Ok(HttpResponse::Ok().json(result))
}
