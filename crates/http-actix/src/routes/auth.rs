//! Sign-in by emailed code.

use actix_web::{post, web, HttpResponse};
use gptgate_domain::{Email, VerificationCode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Success, TokenBody};
use crate::body::code_string;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{GptCall, KeyedCall};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct SendLinkRequest {
    /// The user's email address.
    #[schema(example = "ann@example.com", format = Email, max_length = 254)]
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct SendLinkResponse {
    pub message: String,
    /// The address as normalized (trimmed, lower-cased).
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    #[schema(example = "ann@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// The 6-digit code from the email.
    #[serde(deserialize_with = "code_string::deserialize")]
    #[schema(example = "042917", pattern = "^[0-9]{6}$")]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// The session token. Pass it as `token` in the body of every later call.
    pub token: String,
    pub user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub message: String,
}

fn email(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(|e| ApiError::unprocessable("invalid_email", format!("{e}.")))
}

/// Email the user a sign-in code.
#[utoipa::path(
    operation_id = "sendVerificationCode",
    tag = "sign-in",
    summary = "Email the user a 6-digit sign-in code",
    description = "Sends a one-time code to the email address. The code expires in 10 minutes. The same answer is given for every valid address. A new code can be requested after 60 seconds.",
    request_body = SendLinkRequest,
    responses(
        (status = 200, body = SendLinkResponse),
        (status = 422, description = "Invalid email", body = ErrorBody),
        (status = 429, description = "Too soon or too many codes for this address, or this GPT's hourly budget of sign-in emails is spent (mail_budget_exhausted); see Retry-After", body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/auth/send-link")]
pub async fn send_link(
    state: web::Data<AppState>,
    call: KeyedCall<SendLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let KeyedCall { key_id, body } = call;
    let email = email(&body.email)?;
    state.sign_in.send_code(&email, &key_id).await?;
    Ok(HttpResponse::Ok().json(SendLinkResponse {
        message: format!(
            "A 6-digit code is on its way to {email}. It expires in {} minutes. Ask the user to read it from the email.",
            state.sign_in.code_policy().ttl.whole_minutes()
        ),
        email: email.to_string(),
    }))
}

/// Exchange the emailed code for a session token.
#[utoipa::path(
    operation_id = "verifyCode",
    tag = "sign-in",
    summary = "Check the emailed code and get a session token",
    description = "Verifies the 6-digit code sent to the email. Returns a session token to pass as `token` in later calls. Wrong, expired and used codes get the same error; after 5 wrong tries the code stops working.",
    request_body = VerifyRequest,
    responses(
        (status = 200, body = VerifyResponse),
        (status = 400, description = "Wrong, expired or used code", body = ErrorBody),
        (status = 422, description = "Malformed email or code", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/auth/verify-email")]
pub async fn verify_email(
    state: web::Data<AppState>,
    call: KeyedCall<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = call.body;
    let email = email(&body.email)?;
    let code = VerificationCode::parse(&body.code)
        .map_err(|e| ApiError::unprocessable("invalid_code_format", format!("{e}.")))?;
    let signed_in = state.sign_in.verify(&email, &code).await?;
    Ok(HttpResponse::Ok().json(VerifyResponse {
        token: signed_in.token.expose_secret().to_owned(),
        user_id: signed_in.user_id.as_uuid(),
        expires_at: signed_in.expires_at,
        message: "Signed in. Keep this token for this chat and pass it as \"token\" in every later call; if a call answers invalid_token, sign the user in again.".to_owned(),
    }))
}

/// End the session.
#[utoipa::path(
    operation_id = "logout",
    tag = "sign-in",
    summary = "Sign out: the session token stops working",
    request_body = TokenBody,
    responses(
        (status = 200, body = Success),
        (status = 400, description = "The caller used no session token", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    call: GptCall<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = call.caller;
    let session_id = caller.session_id.ok_or_else(|| {
        ApiError::bad_request(
            "no_session",
            "Only a session token can be signed out; this call used none.",
        )
    })?;
    state.sign_in.logout(session_id).await?;
    Ok(HttpResponse::Ok().json(Success::new("Signed out.")))
}
