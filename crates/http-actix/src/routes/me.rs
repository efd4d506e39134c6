//! The user's own account.

use actix_web::{post, web, HttpRequest, HttpResponse};

use super::TokenBody;
use crate::body::json_body;
use crate::error::{ApiError, ErrorBody};
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
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: TokenBody = json_body(&body)?;
    let caller = state.caller(&req, body.token.as_deref()).await?;
    let disconnected = state.connections.erase_user(caller.user_id).await?;
    Ok(HttpResponse::Ok().json(Deleted {
        success: true,
        accounts_disconnected: disconnected,
        message: format!(
            "All data of this user was deleted: account, sessions, conversations and {disconnected} connected account(s), each revoked at its provider first."
        ),
    }))
}

/// What `deleteMyData` did.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub success: bool,
    /// How many connected accounts were revoked at their provider and removed.
    pub accounts_disconnected: usize,
    pub message: String,
}
