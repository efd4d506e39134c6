//! Who is calling: the one place where a request is resolved to a user (DESIGN.md section 3).

use actix_web::http::header;
use actix_web::HttpRequest;
use gptgate_domain::{ChatGptUserId, ClientId, Identity, SessionGuard, SessionId, UserId};

use crate::error::ApiError;
use crate::state::AppState;

/// The resolved caller of a GPT-facing endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    /// Set when the caller proved a session token (not for header identities).
    pub session_id: Option<SessionId>,
    /// The OAuth client the caller's access token was issued to, if it is one.
    pub client: Option<ClientId>,
}

/// A caller resolved up to its session: see [`AppState::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    Caller(Caller),
    /// A session token sent with the API key, its session not checked yet.
    Session(SessionGuard),
}

/// The identity header a trusted caller may set (`TRUST_GPT_USER_ID_HEADER`).
const GPT_USER_ID: &str = "x-gpt-user-id";

fn header_value<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    header_value(req, header::AUTHORIZATION.as_str())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim())
}

/// Whether the request carries a Bearer token and no API key: it can only be an OAuth access
/// token (see [`AppState::caller`]).
pub fn oauth_bearer_only(req: &HttpRequest) -> bool {
    req.headers().get("x-api-key").is_none()
        && header_value(req, header::AUTHORIZATION.as_str()).is_some_and(|v| {
            v.split_once(' ')
                .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
}

/// The credential of a call made with an OAuth access token: its client, which stands for the
/// API key in budgets and rate limits.
pub fn oauth_client_id(client: Option<ClientId>) -> String {
    let client = client.map(|c| c.to_string()).unwrap_or_default();
    format!("oauth-client:{client}")
}

impl AppState {
    /// Spends a token of `limit`'s bucket for `subject`; a refusal is counted in `/metrics`.
    pub async fn admit(
        &self,
        limit: gptgate_ports::services::Limit,
        subject: &str,
    ) -> Result<(), gptgate_ports::services::RateLimitError> {
        let admitted = self.rate_limits.admit(limit, subject).await;
        if let Err(gptgate_ports::services::RateLimitError::TooMany { limit, .. }) = &admitted {
            self.metrics.rate_limited(*limit);
        }
        admitted
    }

    /// Whether this instance already refuses `subject` on `limit` (nothing spent); a refusal is
    /// counted in `/metrics` as [`AppState::admit`] counts it.
    pub fn refused(
        &self,
        limit: gptgate_ports::services::Limit,
        subject: &str,
    ) -> Result<(), gptgate_ports::services::RateLimitError> {
        let refused = self.rate_limits.refused(limit, subject);
        if let Err(gptgate_ports::services::RateLimitError::TooMany { limit, .. }) = &refused {
            self.metrics.rate_limited(*limit);
        }
        refused
    }

    /// Resolves the caller, whose API key (when it brings one) the extractor checked before.
    /// Then, in order:
    /// 1. `Authorization: Bearer <session token>`;
    /// 2. the session token in the JSON body field `token` (the seed GPT instructions);
    /// 3. `x-gpt-user-id` — a ChatGPT user id, its user created on first sight — only when the
    ///    operator set `TRUST_GPT_USER_ID_HEADER=true` for a caller that sets it itself;
    ///    otherwise a request carrying it is refused, whatever else it carries: the model can
    ///    type any value there, and would then choose whose data it touches;
    /// 4. `openai-ephemeral-user-id` — sent by ChatGPT on every call; it may rotate.
    ///
    /// An explicit token ranks above the headers: ChatGPT sends the ephemeral header on every
    /// call, so ranking it first would silently file a signed-in user's data elsewhere. A token
    /// that is present but invalid is refused, never skipped.
    ///
    /// Without `x-api-key`, only an OAuth access token in `Authorization: Bearer` is accepted:
    /// issued by gptgate's authorization server to a registered client, it is that client's
    /// credential as well as the user's (a GPT whose Actions use OAuth sends nothing else).
    pub async fn caller(
        &self,
        req: &HttpRequest,
        body_token: Option<&str>,
    ) -> Result<Caller, ApiError> {
        self.resolve(self.claim(req, body_token).await?).await
    }

    /// The caller a claim stands for: a session token's session checked.
    pub async fn resolve(&self, claimed: Claimed) -> Result<Caller, ApiError> {
        match claimed {
            Claimed::Caller(caller) => Ok(caller),
            Claimed::Session(guard) => {
                let who = self.sign_in.confirm(&guard).await?;
                Ok(Caller {
                    user_id: who.user_id,
                    session_id: Some(who.session_id),
                    client: who.client,
                })
            }
        }
    }

    /// [`AppState::caller`] up to the session check of a session token sent with the API key:
    /// that one comes back as [`Claimed::Session`] (signature, expiry and audience checked),
    /// for a read that checks the session itself; every other caller is resolved.
    pub async fn claim(
        &self,
        req: &HttpRequest,
        body_token: Option<&str>,
    ) -> Result<Claimed, ApiError> {
        let keyed = !oauth_bearer_only(req);
        if !self.trust_gpt_user_id_header && header_value(req, GPT_USER_ID).is_some() {
            return Err(ApiError::bad_request(
                "untrusted_identity_header",
                "The x-gpt-user-id header is not accepted: anyone who can talk to the GPT could make the model fill it in and act as another user. Sign the user in with sendVerificationCode and verifyCode and pass the token instead. Only if a trusted caller (not the model) sets this header itself should the operator enable it with TRUST_GPT_USER_ID_HEADER=true.",
            ));
        }
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
        if !keyed {
            // A bearer without the API key: an OAuth access token, or nothing. One answer for
            // every other token, valid or not, so a stolen one cannot be tested here.
            let token = bearer.unwrap_or_default();
            return match self.sign_in.authenticate(token).await {
                Ok(who) if who.client.is_some() => Ok(Claimed::Caller(Caller {
                    user_id: who.user_id,
                    session_id: Some(who.session_id),
                    client: who.client,
                })),
                // The store failing is not the caller's mistake: no 401 that would sign every
                // user out.
                Err(e @ gptgate_ports::services::AuthenticateError::Storage(_)) => Err(e.into()),
                _ => Err(ApiError::unauthorized(
                    "invalid_token",
                    "Send an access token from gptgate's sign-in (OAuth), or the API key in x-api-key with the session token.",
                )),
            };
        }
        if let Some(token) = bearer.or(body_token.map(str::trim).filter(|t| !t.is_empty())) {
            return Ok(Claimed::Session(self.sign_in.claim(token)?));
        }
        for (name, identity) in [
            (
                GPT_USER_ID,
                Identity::chatgpt as fn(&ChatGptUserId) -> Identity,
            ),
            ("openai-ephemeral-user-id", Identity::openai_ephemeral),
        ] {
            if let Some(raw) = header_value(req, name) {
                let id = ChatGptUserId::parse(raw).map_err(|e| {
                    ApiError::bad_request("invalid_user_id", format!("{name}: {e}"))
                })?;
                let user_id = self.users.resolve(&identity(&id)).await?;
                return Ok(Claimed::Caller(Caller {
                    user_id,
                    session_id: None,
                    client: None,
                }));
            }
        }
        Err(ApiError::unauthorized(
            "not_signed_in",
            "Sign in first: call sendVerificationCode with the user's email, then verifyCode with the code, and pass the returned token.",
        ))
    }
}
