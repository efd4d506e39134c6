//! Conversation memory.

use actix_web::{delete, post, web, HttpRequest, HttpResponse};
use gptgate_domain::{
    ConversationCursor, ConversationDraft, ConversationId, ConversationInput, ExternalId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub use super::conversation_dto::{ConversationDto, ExerciseDto, MessageDto};
use super::{Success, TokenBody};
use crate::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{carries_token, GptCall, GptRead};
use crate::response_limit::fit_page;
use crate::state::AppState;

/// The default page size of a listing.
pub const DEFAULT_PAGE: usize = 10;

#[derive(Deserialize, ToSchema)]
pub struct AddConversationRequest {
    /// The session token from verifyCode.
    pub token: Option<String>,
    /// A short title.
    #[schema(max_length = 200)]
    pub title: Option<String>,
    /// A summary of the conversation (required, at most 2,000 characters).
    #[schema(required = true, min_length = 1, max_length = 2000, pattern = "\\S")]
    pub summary: Option<String>,
    /// Both sides of the chat, in order.
    #[serde(default)]
    pub messages: Vec<MessageDto>,
    /// The transcript as plain lines (older GPT instructions).
    #[serde(default)]
    pub raw_text: Vec<String>,
    /// How the user did in exercises.
    #[serde(default)]
    pub exercises: Vec<ExerciseDto>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedConversation {
    pub id: Uuid,
    pub title: Option<String>,
    /// True when an earlier save of the same chat was updated instead of adding a new one.
    pub updated: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    pub message: String,
}

#[derive(Deserialize, Default, ToSchema)]
pub struct ListRequest {
    /// The session token from verifyCode.
    pub token: Option<String>,
    /// How many conversations (1 to 50, default 10).
    #[schema(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
    /// `nextCursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationList {
    pub conversations: Vec<ConversationDto>,
    /// Pass as `cursor` to get older conversations; null on the last page.
    pub next_cursor: Option<String>,
}

/// Save a conversation.
#[utoipa::path(
    operation_id = "addConversation",
    tag = "memory",
    summary = "Save this conversation to the user's memory",
    description = "Saves both sides of the chat, a summary and exercise results for the signed-in user. Saving the same chat again updates the earlier save.",
    request_body = AddConversationRequest,
    responses(
        (status = 200, body = SavedConversation),
        (status = 401, body = ErrorBody),
        (status = 403, description = "conversation_storage_disabled: the operator turned saving off", body = ErrorBody),
        (status = 422, description = "A field breaks a rule; the message names it", body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/conversations")]
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    call: GptCall<AddConversationRequest>,
) -> Result<HttpResponse, ApiError> {
    let GptCall { caller, body } = call;
    let external_id = req
        .headers()
        .get("openai-conversation-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .map(ExternalId::parse)
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_conversation", e.to_string()))?;
    let draft = ConversationDraft::parse(ConversationInput {
        title: body.title,
        summary: body.summary,
        messages: body
            .messages
            .into_iter()
            .map(|m| (m.role, m.content))
            .collect(),
        raw_text: body.raw_text,
        exercises: body
            .exercises
            .into_iter()
            .map(|e| (e.name, e.score, e.notes))
            .collect(),
    })
    .map_err(|e| ApiError::unprocessable("invalid_conversation", format!("{e}.")))?;
    let saved = state
        .conversations
        .save(caller.user_id, draft, external_id)
        .await?;
    let updated = saved.created_at < saved.updated_at;
    Ok(HttpResponse::Ok().json(SavedConversation {
        id: saved.id.as_uuid(),
        title: saved.title,
        updated,
        created_at: saved.created_at,
        updated_at: saved.updated_at,
        message: if updated {
            "Conversation updated.".to_owned()
        } else {
            "Conversation saved.".to_owned()
        },
    }))
}

/// List past conversations.
#[utoipa::path(
    operation_id = "listConversations",
    tag = "memory",
    summary = "List the user's saved conversations, newest first",
    description = "Returns a page of saved conversations (default 10). Pass nextCursor as cursor for older ones. Very long conversations are cut and marked truncated to fit ChatGPT's response limit.",
    request_body = ListRequest,
    responses(
        (status = 200, body = ConversationList),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/conversations/list")]
pub async fn list(
    state: web::Data<AppState>,
    call: GptRead<ListRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = &call.body;
    let limit = match body.limit {
        None => DEFAULT_PAGE,
        Some(n) => usize::try_from(n).unwrap_or(0),
    };
    let after = body
        .cursor
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(ConversationCursor::parse)
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_cursor", format!("{e}.")))?;
    let page = call
        .read(|reader| state.conversations.read(reader, limit, after))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(fit_page(&page)))
}

/// Delete one conversation.
#[utoipa::path(
    operation_id = "deleteConversation",
    tag = "memory",
    summary = "Delete one saved conversation",
    description = "For callers identified by a header (Bearer session token, or ChatGPT's own id). A GPT that carries the session token in the body uses deleteConversationWithToken.",
    params(("id" = Uuid, Path, description = "The conversation id")),
    responses(
        (status = 200, body = Success),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(true)))
)]
#[delete("/conversations/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    // No body is documented for DELETE (whether ChatGPT sends one is not guaranteed); one that
    // comes anyway is still read, so older GPT instructions keep working.
    call: GptCall<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    delete_conversation(&state, &path, call.caller).await
}

/// Delete one conversation, the session token in the body.
#[utoipa::path(
    operation_id = "deleteConversationWithToken",
    tag = "memory",
    summary = "Delete one saved conversation (session token in the body)",
    request_body = TokenBody,
    params(("id" = Uuid, Path, description = "The conversation id")),
    responses(
        (status = 200, body = Success),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(true)))
)]
#[post("/conversations/{id}/delete")]
pub async fn delete_with_token(
    state: web::Data<AppState>,
    path: web::Path<String>,
    call: GptCall<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    delete_conversation(&state, &path, call.caller).await
}

async fn delete_conversation(
    state: &AppState,
    raw_id: &str,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    // An id that does not parse names no conversation: the same answer as any unknown id.
    let id = raw_id
        .parse::<ConversationId>()
        .map_err(|_| ApiError::not_found("conversation_not_found", "No such conversation."))?;
    state.conversations.delete(caller.user_id, id).await?;
    Ok(HttpResponse::Ok().json(Success::new("Conversation deleted.")))
}

carries_token!(AddConversationRequest, ListRequest);
