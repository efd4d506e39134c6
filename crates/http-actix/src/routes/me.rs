//! The user's own account.

use actix_web::{post, web, HttpRequest, HttpResponse};

use super::{Success, TokenBody};
use crate::body::json_body;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Delete everything stored about the caller.
#[utoipa::path(
    operation_id = "deleteMyData",
    tag = "account",
    summary = "Delete all of the user's data",
    description = "Deletes the user's account, sign-in sessions and every saved conversation. This cannot be undone.",
    request_body = TokenBody,
    responses(
        (status = 200, body = Success),
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
    state.users.delete(caller.user_id).await?;
    Ok(HttpResponse::Ok().json(Success::new(
        "All data of this user was deleted: account, sessions and conversations.",
    )))
}
