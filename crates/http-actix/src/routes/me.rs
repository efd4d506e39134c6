//! The user's own account.

use actix_web::{post, web, HttpResponse};
use gptgate_ports::services::DataExport;
use secrecy::ExposeSecret;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::connections::AccountDto;
use super::conversation_dto::ConversationDto;
use super::TokenBody;
use crate::error::{ApiError, ErrorBody};
use crate::extract::GptCall;
use crate::response_limit::RESPONSE_LIMIT;
use crate::state::AppState;

/// Delete everything stored about the caller.
#[utoipa::path(
    operation_id = "deleteMyData",
    tag = "account",
    summary = "Delete all of the user's data",
    description = "Revokes every connected account at its provider, then deletes the user's account, sign-in sessions, connected accounts and every saved conversation. This cannot be undone.",
    request_body = TokenBody,
    responses(
        (status = 200, body = Deleted),
        (status = 401, body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(true)))
)]
#[post("/me/delete")]
pub async fn delete_me(
    state: web::Data<AppState>,
    call: GptCall<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = call.caller;
    let erased = state.connections.erase_user(caller.user_id).await?;
    let unconfirmed = erased.accounts - erased.revoked;
    let message = if unconfirmed == 0 {
        format!(
            "All data of this user was deleted: account, sessions, conversations and {} connected account(s), each revoked at its provider.",
            erased.accounts
        )
    } else {
        format!(
            "All data of this user was deleted: account, sessions, conversations and {} connected account(s). {unconfirmed} of them could not be revoked at the provider: the user should remove gptgate's access in that service's security settings.",
            erased.accounts
        )
    };
    Ok(HttpResponse::Ok().json(Deleted {
        success: true,
        accounts_disconnected: erased.accounts,
        revoked_at_provider: erased.revoked,
        message,
    }))
}

/// What `deleteMyData` did.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub success: bool,
    /// How many connected accounts were removed.
    pub accounts_disconnected: usize,
    /// Of those, how many the provider confirmed revoking.
    pub revoked_at_provider: usize,
    pub message: String,
}

/// Everything stored about the user.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportDto {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: OffsetDateTime,
    pub user: ExportedUser,
    /// How the user is recognised: `email`, `chatgpt` or `openai_ephemeral`, and the value.
    pub identities: Vec<ExportedIdentity>,
    /// Every saved conversation, newest first.
    pub conversations: Vec<ConversationDto>,
    /// Connected accounts: what the provider said about each. Never a token.
    pub accounts: Vec<AccountDto>,
    /// Sign-in sessions still active.
    pub sessions: Vec<ExportedSession>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportedUser {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedIdentity {
    pub kind: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportedSession {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

impl From<DataExport> for ExportDto {
    fn from(e: DataExport) -> Self {
        Self {
            exported_at: e.exported_at,
            user: ExportedUser {
                id: e.user.id.as_uuid(),
                created_at: e.user.created_at,
            },
            identities: e
                .identities
                .iter()
                .map(|i| ExportedIdentity {
                    kind: i.kind().as_str().to_owned(),
                    value: i.value().to_owned(),
                })
                .collect(),
            conversations: e.conversations.iter().map(ConversationDto::from).collect(),
            accounts: e.accounts.into_iter().map(AccountDto::from).collect(),
            sessions: e
                .sessions
                .iter()
                .map(|s| ExportedSession {
                    id: s.id.as_uuid(),
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                })
                .collect(),
        }
    }
}

/// The answer of `exportMyData`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportAnswer {
    /// True when `data` holds the whole export; false when it is too large for one answer and
    /// `downloadUrl` is given instead.
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<ExportDto>,
    /// Give this link to the user: it downloads the export, once, within 10 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    pub message: String,
}

/// Room left in an answer for everything but `data`.
const EXPORT_ENVELOPE: usize = 1_000;

/// Export everything stored about the caller.
#[utoipa::path(
    operation_id = "exportMyData",
    tag = "account",
    summary = "Export all of the user's data",
    description = "Everything stored about the user: identities, saved conversations, connected accounts (what the provider said about them, never tokens) and active sessions. Small exports come in `data`; larger ones as `downloadUrl`, a link for the user that works once, for 10 minutes.",
    request_body = TokenBody,
    responses(
        (status = 200, body = ExportAnswer),
        (status = 401, body = ErrorBody),
        (status = 429, description = "This user's data was exported too often in the last hour (export_limit), or a rate limit (rate_limited); see Retry-After", body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(true)))
)]
#[post("/me/export")]
pub async fn export_me(
    state: web::Data<AppState>,
    call: GptCall<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = call.caller;
    let data = ExportDto::from(state.exports.export(caller.user_id).await?);
    let size = serde_json::to_string(&data)
        .map_err(ApiError::internal)?
        .chars()
        .count();
    if size + EXPORT_ENVELOPE <= RESPONSE_LIMIT {
        return Ok(HttpResponse::Ok().json(ExportAnswer {
            complete: true,
            data: Some(data),
            download_url: None,
            expires_at: None,
            message: "Everything stored about this user is in data.".to_owned(),
        }));
    }
    let link = state.exports.download_link(caller.user_id).await?;
    Ok(HttpResponse::Ok().json(ExportAnswer {
        complete: false,
        data: None,
        download_url: Some(link.url.expose_secret().to_owned()),
        expires_at: Some(link.expires_at),
        message: format!(
            "The export is {size} characters, more than one answer can carry. Give the user downloadUrl: it downloads everything once, within 10 minutes."
        ),
    }))
}
