//! Who is calling: the one place where a request is resolved to a user (DESIGN.md section 3).

use actix_web::http::header;
use actix_web::HttpRequest;
use gptgate_domain::{ChatGptUserId, Identity, SessionId, UserId};

use crate::error::ApiError;
use crate::state::AppState;

/// The resolved caller of a GPT-facing endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    /// Set when the caller proved a session token (not for header identities).
    pub session_id: Option<SessionId>,
}

fn header_value<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl AppState {
    /// Resolves the caller. The API key is always required. Then, in order:
    /// 1. `Authorization: Bearer <session token>`;
    /// 2. the session token in the JSON body field `token` (the seed GPT instructions);
    /// 3. `x-gpt-user-id` — a ChatGPT user id, its user created on first sight;
    /// 4. `openai-ephemeral-user-id` — sent by ChatGPT on every call; it may rotate.
    ///
    /// An explicit token ranks above the headers: ChatGPT sends the ephemeral header on every
    /// call, so ranking it first would silently file a signed-in user's data elsewhere. A token
    /// that is present but invalid is refused, never skipped.
    pub async fn caller(
        &self,
        req: &HttpRequest,
        body_token: Option<&str>,
    ) -> Result<Caller, ApiError> {
        self.api_keys.check(req)?;
        let bearer = match header_value(req, header::AUTHORIZATION.as_str()) {
            Some(value) => match value.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    Some(token.trim())
                }
                _ => {
                    return Err(ApiError::unauthorized(
                        "invalid_token",
                        "The Authorization header must be \"Bearer <session token>\".",
                    ))
                }
            },
            None => None,
        };
        if let Some(token) = bearer.or(body_token.map(str::trim).filter(|t| !t.is_empty())) {
            let who = self.sign_in.authenticate(token).await?;
            return Ok(Caller {
                user_id: who.user_id,
                session_id: Some(who.session_id),
            });
        }
        for (name, identity) in [
            (
                "x-gpt-user-id",
                Identity::chatgpt as fn(&ChatGptUserId) -> Identity,
            ),
            ("openai-ephemeral-user-id", Identity::openai_ephemeral),
        ] {
            if let Some(raw) = header_value(req, name) {
                let id = ChatGptUserId::parse(raw).map_err(|e| {
                    ApiError::bad_request("invalid_user_id", format!("{name}: {e}"))
                })?;
                let user_id = self.users.resolve(&identity(&id)).await?;
                return Ok(Caller {
                    user_id,
                    session_id: None,
                });
            }
        }
        Err(ApiError::unauthorized(
            "not_signed_in",
            "Sign in first: call sendVerificationCode with the user's email, then verifyCode with the code, and pass the returned token.",
        ))
    }
}
