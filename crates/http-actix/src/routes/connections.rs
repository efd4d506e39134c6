//! Connected accounts: the GPT-facing JSON endpoints. The browser side of the connect flow is in
//! [`super::connect`].

use actix_web::{delete, get, post, web, HttpResponse};
use gptgate_domain::{Account, AccountId, AccountLabel, ProviderId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Success, TokenBody};
use crate::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{carries_token, GptCall, GptRead, NoBody};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateAuthLinkRequest {
    /// The session token from verifyCode, if the user signed in by email.
    pub token: Option<String>,
    /// `gmail`, `slack`, `linear`, `zoho` or `mercury`.
    #[schema(
        example = "linear",
        pattern = "^(gmail|google|slack|linear|zoho|mercury)$"
    )]
    pub provider: String,
    /// The user's name for this account, e.g. `work` (1-64 letters, digits, `-`, `_`, `.`).
    #[schema(
        example = "work",
        pattern = "^[A-Za-z0-9._-]{1,64}$",
        min_length = 1,
        max_length = 64
    )]
    pub label: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthLink {
    /// Give this link to the user; it works once, for 10 minutes.
    pub auth_url: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagementLink {
    /// Give this link to the user; it opens their integrations page for 1 hour.
    pub management_url: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDto {
    pub id: Uuid,
    pub provider: String,
    pub label: String,
    pub enabled: bool,
    /// `active`, `reauth_required` or `revoked`.
    pub status: String,
    /// What the provider said about the account (email, workspace...). Never a token.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Account> for AccountDto {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.as_uuid(),
            provider: a.provider.as_str().to_owned(),
            label: a.label.to_string(),
            enabled: a.enabled,
            status: a.status.as_str().to_owned(),
            metadata: a.metadata,
            created_at: a.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountDto>,
}

#[derive(Deserialize, Default, ToSchema)]
pub struct ToggleRequest {
    pub token: Option<String>,
    /// Set explicitly; without it the account is flipped.
    pub enabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Toggled {
    pub id: Uuid,
    pub enabled: bool,
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    raw.parse::<AccountId>()
        .map_err(|_| ApiError::not_found("account_not_found", "No such account."))
}

/// Link to connect an account.
#[utoipa::path(
    operation_id = "createAuthLink",
    tag = "connections",
    summary = "Get a link for the user to connect an account (Gmail, Slack, Linear, Zoho, Mercury)",
    description = "Returns a one-time link, valid 10 minutes. The user opens it, signs in at the provider and returns to ChatGPT. Connecting the same provider and label again replaces that connection.",
    request_body = CreateAuthLinkRequest,
    responses(
        (status = 200, body = AuthLink),
        (status = 400, description = "Unknown or unconfigured provider", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Invalid label", body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/api/gpt/create-auth-link")]
pub async fn create_auth_link(
    state: web::Data<AppState>,
    call: GptCall<CreateAuthLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let GptCall { caller, body } = call;
    let provider = ProviderId::parse(&body.provider)
        .map_err(|e| ApiError::bad_request("unknown_provider", format!("{e}.")))?;
    let label = AccountLabel::parse(&body.label)
        .map_err(|e| ApiError::unprocessable("invalid_label", format!("{e}.")))?;
    let auth_url = state
        .connections
        .create_auth_link(caller.user_id, provider, label)
        .await?;
    Ok(HttpResponse::Ok().json(AuthLink { auth_url }))
}

/// Link to the integrations page.
#[utoipa::path(
    operation_id = "createManagementLink",
    tag = "connections",
    summary = "Get a link to the user's integrations page",
    description = "Returns a link, valid 1 hour, to the user's integrations page: after pressing Open there, they can connect, turn off and remove accounts, and take access back from apps.",
    request_body = TokenBody,
    responses((status = 200, body = ManagementLink), (status = 401, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/api/gpt/create-management-link")]
pub async fn create_management_link(
    state: web::Data<AppState>,
    call: GptCall<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = call.caller;
    let management_url = state
        .connections
        .create_management_link(caller.user_id)
        .await?;
    Ok(HttpResponse::Ok().json(ManagementLink { management_url }))
}

/// The user's connected accounts.
#[utoipa::path(
    operation_id = "listAccounts",
    tag = "connections",
    summary = "List the user's connected accounts",
    description = "Provider, label, whether enabled, status and what the provider said about each account (email, workspace). Never tokens. A GPT that carries the session token in the body uses listAccountsWithToken instead.",
    responses((status = 200, body = AccountList), (status = 401, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[get("/api/gpt/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    call: GptRead<NoBody>,
) -> Result<HttpResponse, ApiError> {
    accounts_of(&state, call).await
}

/// The user's connected accounts, for a GPT that carries the session token in the body.
#[utoipa::path(
    operation_id = "listAccountsWithToken",
    tag = "connections",
    summary = "List the user's connected accounts (session token in the body)",
    description = "The same answer as listAccounts, for a user who signed in with verifyCode: pass the token. Never returns tokens.",
    request_body = TokenBody,
    responses((status = 200, body = AccountList), (status = 401, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/api/gpt/accounts/list")]
pub async fn list_accounts_with_token(
    state: web::Data<AppState>,
    call: GptRead<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    accounts_of(&state, call).await
}

async fn accounts_of<B>(state: &AppState, call: GptRead<B>) -> Result<HttpResponse, ApiError> {
    let accounts = call
        .read(|reader| state.connections.read_accounts(reader))
        .await?;
    Ok(HttpResponse::Ok().json(AccountList {
        accounts: accounts.into_iter().map(AccountDto::from).collect(),
    }))
}

/// Enable or disable an account.
#[utoipa::path(
    operation_id = "toggleAccount",
    tag = "connections",
    summary = "Enable or disable a connected account",
    request_body = ToggleRequest,
    params(("id" = Uuid, Path, description = "The account id")),
    responses((status = 200, body = Toggled), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/api/gpt/accounts/{id}/toggle")]
pub async fn toggle_account(
    state: web::Data<AppState>,
    path: web::Path<String>,
    call: GptCall<ToggleRequest>,
) -> Result<HttpResponse, ApiError> {
    let GptCall { caller, body } = call;
    let id = account_id(&path)?;
    let enabled = state
        .connections
        .set_enabled(caller.user_id, id, body.enabled)
        .await?;
    Ok(HttpResponse::Ok().json(Toggled {
        id: id.as_uuid(),
        enabled,
    }))
}

/// Disconnect an account.
#[utoipa::path(
    operation_id = "deleteAccount",
    tag = "connections",
    summary = "Disconnect an account: revoke access at the provider and delete it",
    description = "For callers identified by a header (Bearer session token, or ChatGPT's own id). A GPT that carries the session token in the body uses deleteAccountWithToken.",
    params(("id" = Uuid, Path, description = "The account id")),
    responses((status = 200, body = Success), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(true)))
)]
#[delete("/api/gpt/accounts/{id}")]
pub async fn delete_account(
    state: web::Data<AppState>,
    path: web::Path<String>,
    // No body is documented for DELETE; one that comes anyway is still read.
    call: GptCall<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    disconnect(&state, &path, call.caller).await
}

/// Disconnect an account, the session token in the body.
#[utoipa::path(
    operation_id = "deleteAccountWithToken",
    tag = "connections",
    summary = "Disconnect an account (session token in the body)",
    description = "Revokes access at the provider where it can, then deletes the account.",
    request_body = TokenBody,
    params(("id" = Uuid, Path, description = "The account id")),
    responses((status = 200, body = Success), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(true)))
)]
#[post("/api/gpt/accounts/{id}/delete")]
pub async fn delete_account_with_token(
    state: web::Data<AppState>,
    path: web::Path<String>,
    call: GptCall<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    disconnect(&state, &path, call.caller).await
}

async fn disconnect(
    state: &AppState,
    raw_id: &str,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(raw_id)?;
    state.connections.disconnect(caller.user_id, id).await?;
    Ok(HttpResponse::Ok().json(Success::new("Account disconnected.")))
}

carries_token!(CreateAuthLinkRequest, ToggleRequest);
