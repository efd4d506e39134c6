//! The one error shape of the API: `{"error": {"code": "snake_case", "message": "..."}}`, with
//! the right status and, for rate limits, `Retry-After`. A 5xx never carries internal detail;
//! its cause chain is logged once, here at the edge.

use std::fmt;

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use gptgate_ports::services::{
    AuthenticateError, ConversationsError, SendCodeError, UsersError, VerifyError,
};
use gptgate_ports::{BoxError, InternalError, StorageError};
use serde::Serialize;
use time::Duration;
use utoipa::ToSchema;

/// An error answered to the caller.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    // Rare: boxed, so the common error stays small.
    allow: Option<Box<str>>,
    auth_url: Option<Box<str>>,
    cause: Option<BoxError>,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `invalid_code`.
    #[schema(example = "invalid_code")]
    pub code: String,
    /// What went wrong and what to do, in words to pass on to the user.
    pub message: String,
    /// With 429: how many seconds to wait before trying again (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With 409 `reauth_required`: a fresh link for the user to connect the account again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            allow: None,
            auth_url: None,
            cause: None,
        }
    }

    /// The error's code (`rate_limited`, `model_unavailable`...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// A 405 names the methods the path does accept.
    pub fn with_allow(self, methods: String) -> Self {
        Self {
            allow: Some(methods.into()),
            ..self
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 429 with the wait in whole seconds (at least 1): in `Retry-After`, in the body's
    /// `retryAfter`, and at the end of the message, since a GPT reads bodies, not headers.
    pub fn too_many(code: &'static str, message: &str, retry_after: Duration) -> Self {
        let secs = retry_after_seconds(retry_after);
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                format!("{message} Please try again in {secs} seconds."),
            )
        }
    }

    /// 413, naming the limit and the setting that raises it.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "The request body is larger than this server accepts ({limit} bytes). Send less (for a conversation: a summary and fewer or shorter messages); the operator can raise the limit with BODY_LIMIT_BYTES."
            ),
        )
    }

    /// 500: something broke on our side. `cause` is logged, never answered.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Something went wrong on our side. Please try again later.",
            )
        }
    }

    /// 503: a dependency is down. `cause` is logged, never answered.
    pub fn unavailable(code: &'static str, message: &str, cause: impl Into<BoxError>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// The generic error for a status that no handler produced itself (no such route, body too
    /// large, ...).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "There is no such endpoint."),
            // rmcp refuses a Host or browser Origin other than this server's.
            StatusCode::FORBIDDEN => (
                "forbidden",
                "This request is not accepted from where it comes (its Host or Origin is not this server's).",
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "This endpoint does not accept that method.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request body is too large.")
            }
            StatusCode::REQUEST_TIMEOUT => {
                ("request_timeout", "The request took too long to arrive.")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "Send the body as application/json.",
            ),
            s if s.is_client_error() => ("bad_request", "The request is malformed."),
            _ => (
                "internal_error",
                "Something went wrong on our side. Please try again later.",
            ),
        };
        Self::new(status, code, message)
    }

    /// A JSON body that did not parse. The message names the field or position but never echoes
    /// a value, which may be a code or a token.
    pub fn from_json(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let position = format!("(line {}, column {})", e.line(), e.column());
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => Self::bad_request(
                "malformed_json",
                format!("The request body is not valid JSON {position}."),
            ),
            Category::Data => {
                let full = e.to_string();
                let text = full.split(" at line ").next().unwrap_or_default();
                let detail = if text.starts_with("missing field") {
                    text.to_owned()
                } else if let Some(i) = text.find("expected ") {
                    format!("a field has the wrong type or value: {}", &text[i..])
                } else {
                    "a field has the wrong type or value".to_owned()
                };
                Self::unprocessable(
                    "invalid_field",
                    format!("Invalid request body: {detail} {position}."),
                )
            }
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )?;
        let mut source = self
            .cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static));
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        if self.status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(methods) = &self.allow {
            response.insert_header((header::ALLOW, &**methods));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                retry_after: self.retry_after,
                auth_url: self.auth_url.as_deref().map(str::to_owned),
            },
        })
    }
}

/// The configured body limit (`BODY_LIMIT_BYTES`), for the 413 message.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Rewrites error responses that were not made by us (unknown route, payload too large, ...:
/// actix answers those in plain text, or with no body) into the one error shape. Our JSON
/// errors and HTML pages pass through.
pub fn rewrite_foreign_errors<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let ours = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if ours {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, _) = res.into_parts();
    let error = match req.app_data::<BodyLimit>() {
        Some(limit) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large(limit.0)
        }
        _ => ApiError::for_status(status),
    };
    let response = error.error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) => ApiError::unavailable(
                "database_unavailable",
                "The database is unavailable right now. Please try again shortly.",
                e,
            ),
            StorageError::Gone(_) => ApiError::new(
                StatusCode::CONFLICT,
                "deleted_meanwhile",
                "What this request belongs to was deleted while it ran (the user's data was deleted). Sign in again to start afresh.",
            ),
            other => ApiError::internal(other),
        }
    }
}

/// A wait as `Retry-After` says it: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let secs = wait.whole_seconds() + i64::from(wait.subsec_nanoseconds() > 0);
    u64::try_from(secs.max(1)).unwrap_or(1)
}

impl From<gptgate_ports::services::RateLimitError> for ApiError {
    fn from(e: gptgate_ports::services::RateLimitError) -> Self {
        use gptgate_ports::services::{Limit, RateLimitError};
        match e {
            RateLimitError::TooMany { limit, retry_after } => ApiError::too_many(
                "rate_limited",
                match limit {
                    Limit::ApiKey => "Too many calls with this API key (or OAuth client) right now; the operator sets the limit with RATE_LIMIT_API_KEY_PER_MINUTE and RATE_LIMIT_API_KEY_BURST.",
                    Limit::User => "Too many calls for this user right now; the operator sets the limit with RATE_LIMIT_USER_PER_MINUTE and RATE_LIMIT_USER_BURST.",
                    Limit::Address => "Too many requests from this address right now.",
                },
                retry_after,
            ),
            RateLimitError::Storage(e) => e.into(),
        }
    }
}

impl From<InternalError> for ApiError {
    fn from(e: InternalError) -> Self {
        ApiError::internal(e)
    }
}

impl From<SendCodeError> for ApiError {
    fn from(e: SendCodeError) -> Self {
        match e {
            SendCodeError::CoolingDown { retry_after } => ApiError::too_many(
                "resend_cooldown",
                "A code was sent to this address moments ago; ask the user to check their inbox and spam folder. A new code can be sent once a minute.",
                retry_after,
            ),
            SendCodeError::TooManyCodes { retry_after } => ApiError::too_many(
                "too_many_codes",
                "Too many codes were requested for this email address this hour.",
                retry_after,
            ),
            SendCodeError::BudgetExhausted { retry_after } => ApiError::too_many(
                "mail_budget_exhausted",
                "This GPT has sent as many sign-in emails as it may this hour.",
                retry_after,
            ),
            SendCodeError::Mail(e) => ApiError::unavailable(
                "mail_unavailable",
                "The sign-in email could not be sent. Please try again in a minute.",
                e,
            ),
            SendCodeError::Storage(e) => e.into(),
            SendCodeError::Internal(e) => e.into(),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::InvalidCode => ApiError::bad_request(
                "invalid_code",
                "The code is wrong or has expired. Check the latest email, or request a new code.",
            ),
            VerifyError::TooManyAttempts { retry_after } => ApiError::too_many(
                "too_many_attempts",
                "Too many wrong codes were tried. Request a new code with sendVerificationCode, then try once more.",
                retry_after,
            ),
            VerifyError::Storage(e) => e.into(),
            VerifyError::Internal(e) => e.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(e: AuthenticateError) -> Self {
        match e {
            AuthenticateError::InvalidToken => ApiError::unauthorized(
                "invalid_token",
                "The session token is invalid or has expired. Sign in again with a new code.",
            ),
            AuthenticateError::Storage(e) => e.into(),
        }
    }
}

impl From<UsersError> for ApiError {
    fn from(e: UsersError) -> Self {
        match e {
            UsersError::Storage(e) => e.into(),
            UsersError::Internal(e) => e.into(),
        }
    }
}

impl From<ConversationsError> for ApiError {
    fn from(e: ConversationsError) -> Self {
        match e {
            ConversationsError::NotFound => {
                ApiError::not_found(
                    "conversation_not_found",
                    "No such conversation for this user. If the user signed in with a code, pass their token (to delete: deleteConversationWithToken).",
                )
            }
            ConversationsError::InvalidLimit => {
                ApiError::unprocessable("invalid_limit", e.to_string())
            }
            ConversationsError::StorageDisabled => ApiError::new(
                StatusCode::FORBIDDEN,
                "conversation_storage_disabled",
                "This server's operator has turned conversation saving off: nothing is stored. Tell the user their conversations are not kept here, and do not try again.",
            ),
            ConversationsError::Storage(e) => e.into(),
            ConversationsError::Internal(e) => e.into(),
        }
    }
}

impl From<gptgate_ports::services::ExportError> for ApiError {
    fn from(e: gptgate_ports::services::ExportError) -> Self {
        use gptgate_ports::services::ExportError;
        match e {
            ExportError::NoSuchUser => ApiError::unauthorized(
                "invalid_token",
                "This user no longer exists. Sign in again with a new code.",
            ),
            ExportError::InvalidLink => ApiError::bad_request("invalid_link", e.to_string()),
            ExportError::TooMany { retry_after } => ApiError::too_many(
                "export_limit",
                "This user's data was exported several times in the last hour.",
                retry_after,
            ),
            ExportError::Storage(e) => e.into(),
            ExportError::Internal(e) => e.into(),
        }
    }
}

impl From<gptgate_ports::services::ConnectError> for ApiError {
    fn from(e: gptgate_ports::services::ConnectError) -> Self {
        use gptgate_ports::services::ConnectError;
        match e {
            ConnectError::ProviderNotConfigured(p) => ApiError::bad_request(
                "provider_not_configured",
                format!("{} is not configured on this server.", p.display_name()),
            ),
            ConnectError::NotFound => ApiError::not_found(
                "account_not_found",
                "No such account for this user. If the user signed in with a code, pass their token (to disconnect: deleteAccountWithToken).",
            ),
            ConnectError::InvalidLink
            | ConnectError::InvalidState
            | ConnectError::WrongBrowser
            | ConnectError::Denied => ApiError::bad_request("invalid_link", e.to_string()),
            ConnectError::Provider(p) => ApiError {
                cause: Some(Box::new(p)),
                ..ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "provider_error",
                    "The provider did not answer as expected. Please try again.",
                )
            },
            ConnectError::Storage(e) => e.into(),
            ConnectError::Internal(e) => e.into(),
        }
    }
}

impl From<gptgate_ports::services::ActionsError> for ApiError {
    fn from(e: gptgate_ports::services::ActionsError) -> Self {
        use gptgate_ports::services::ActionsError;
        let bad_gateway =
            |code, message: String| ApiError::new(StatusCode::BAD_GATEWAY, code, message);
        match e {
            ActionsError::UnknownProvider => ApiError::not_found(
                "unknown_provider",
                "No such provider is configured on this server. listActions says which are.",
            ),
            ActionsError::UnknownAction { provider } => ApiError::not_found(
                "unknown_action",
                format!(
                    "{} has no such action. listActions says which there are.",
                    provider.display_name()
                ),
            ),
            ActionsError::InvalidParams { field, message } => ApiError::unprocessable(
                "invalid_params",
                if field.is_empty() {
                    format!("params {message}.")
                } else {
                    format!("params.{field} {message}.")
                },
            ),
            ActionsError::AccountNotFound => ApiError::not_found(
                "account_not_found",
                "No such account of this user at this provider: pass an id from listAccounts (and the user's token, if they signed in by email).",
            ),
            ActionsError::AccountDisabled => ApiError::new(
                StatusCode::CONFLICT,
                "account_disabled",
                "This account is disabled. The user can enable it again (toggleAccount, or the integrations page).",
            ),
            ActionsError::ReauthRequired { auth_url } => ApiError {
                auth_url: Some(auth_url.into()),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    "reauth_required",
                    "The provider no longer accepts this connection: give the user authUrl to connect the account again (it works once, for 10 minutes), then retry.",
                )
            },
            ActionsError::RateLimited { retry_after } => ApiError::too_many(
                "provider_rate_limited",
                "The provider limits how often it may be called.",
                retry_after.unwrap_or(Duration::seconds(60)),
            ),
            ActionsError::Conflict { code: _, message } => {
                ApiError::new(StatusCode::CONFLICT, "provider_conflict", message)
            }
            ActionsError::ProviderRejected { code, message } => bad_gateway(
                "provider_error",
                match message {
                    Some(message) => format!("The provider refused ({code}): {message}"),
                    None => format!("The provider refused ({code})."),
                },
            ),
            ActionsError::ProviderUnavailable => bad_gateway(
                "provider_unavailable",
                "The provider did not answer in time or failed. If the action sends or changes something, it may have been done all the same: check at the provider before trying again.".to_owned(),
            ),
            ActionsError::Busy => ApiError::unavailable(
                "refresh_in_progress",
                "The account's access is being renewed. Please try again in a minute.",
                "a refresh lease was held too long",
            ),
            ActionsError::Storage(e) => e.into(),
            ActionsError::Internal(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_never_echo_the_value_sent() {
        let e = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>("[123456]")
            .unwrap_err();
        assert!(!format!("{:?}", ApiError::from_json(&e)).contains("123456"));
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            code: String,
        }
        let e = serde_json::from_str::<Body>(r#"{"code": 987654}"#).unwrap_err();
        let api = ApiError::from_json(&e);
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!api.message.contains("987654"), "{}", api.message);
        assert!(api.message.contains("expected a string"), "{}", api.message);
    }

    #[test]
    fn a_500_logs_its_whole_cause_chain_and_answers_none_of_it() {
        let cause = std::io::Error::other("disk quota exceeded on /var/lib/gptgate");
        let e = ApiError::from(InternalError::new(cause));
        let logged = format!("{e:?}");
        assert!(logged.contains("an internal step failed"), "{logged}");
        assert!(
            logged.contains("disk quota exceeded"),
            "the root cause: {logged}"
        );
        assert!(!e.message.contains("disk"), "nothing of it in the answer");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_said_in_the_message() {
        let e = ApiError::too_many("x", "Wait.", Duration::milliseconds(1_500));
        assert_eq!(e.retry_after, Some(2));
        assert_eq!(e.message, "Wait. Please try again in 2 seconds.");
        let e = ApiError::too_many("x", "Wait.", Duration::ZERO);
        assert_eq!(e.retry_after, Some(1));
    }

    #[actix_web::test]
    async fn a_429_body_carries_retry_after_and_other_errors_do_not() {
        let body = |e: ApiError| async move {
            let bytes = actix_web::body::to_bytes(e.error_response().into_body())
                .await
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        let limited = body(ApiError::too_many("x", "Wait.", Duration::seconds(30))).await;
        assert_eq!(limited["error"]["retryAfter"], 30);
        let other = body(ApiError::bad_request("y", "No.")).await;
        assert!(other["error"].get("retryAfter").is_none(), "{other}");
    }

    #[test]
    fn action_errors_keep_their_meaning_and_words() {
        use gptgate_ports::services::ActionsError;
        let cases = [
            (
                ActionsError::Conflict {
                    code: "not_in_channel".into(),
                    message: "Invite the app.".into(),
                },
                409,
                "provider_conflict",
                "Invite the app.",
            ),
            (
                ActionsError::ProviderRejected {
                    code: "msg_too_long".into(),
                    message: None,
                },
                502,
                "provider_error",
                "The provider refused (msg_too_long).",
            ),
            (
                ActionsError::InvalidParams {
                    field: String::new(),
                    message: "must be an object".into(),
                },
                422,
                "invalid_params",
                "params must be an object.",
            ),
            (
                ActionsError::Busy,
                503,
                "refresh_in_progress",
                "The account's access is being renewed. Please try again in a minute.",
            ),
        ];
        for (error, status, code, message) in cases {
            let e = ApiError::from(error);
            assert_eq!(e.status.as_u16(), status, "{code}");
            assert_eq!(e.code, code);
            assert_eq!(e.message, message);
        }
        let limited = ApiError::from(ActionsError::RateLimited { retry_after: None });
        assert_eq!(
            limited.retry_after,
            Some(60),
            "a default wait when the provider gave none"
        );
    }
}
