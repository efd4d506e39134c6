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
