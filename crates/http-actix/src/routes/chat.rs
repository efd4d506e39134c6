//! The hosted assistant's chat: `GET /chat` (the page, or the team's sign-in), `POST
//! /chat/login`, `POST /chat/logout`, and `POST /api/chat`, which streams an answer as
//! server-sent events. The server keeps no conversation and logs no message text: the page
//! holds the conversation in memory and sends it whole with each question.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use futures::StreamExt;
use gptgate_domain::{ChatInputError, ChatTurn, Speaker};
use gptgate_ports::services::{ChatError, ChatLoginError, Question};
use gptgate_ports::ChatModelError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::body::json_body;
use crate::browser::Forbidden;
use crate::error::ApiError;
use crate::state::AppState;

/// What the sign-in form's token is bound to, besides the browser.
const LOGIN_PURPOSE: &str = "chat-login";
/// What the chat's own requests (questions, sign-out) are bound to, besides the session.
const CHAT_PURPOSE: &str = "chat";
/// The header carrying the chat's request token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The chat page's policy: its one script from this origin, requests to this origin only,
/// forms posting here, never framed.
pub const CHAT_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The same policy for a launched visitor's chat: framed only by the origins its platform
/// listed.
fn launched_chat_csp(origins: &[gptgate_domain::EmbeddingOrigin]) -> String {
    let ancestors: Vec<&str> = origins.iter().map(|o| o.as_str()).collect();
    let ancestors = if ancestors.is_empty() {
        "'none'".to_owned()
    } else {
        ancestors.join(" ")
    };
    format!("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}")
}

/// The chat page's script.
const CHAT_JS: &str = include_str!("../../static/chat.js");

/// A page of the chat's with `context`.
fn page(
    state: &AppState,
    status: StatusCode,
    template: &str,
    context: &tera::Context,
) -> HttpResponse {
    let mut response = state
        .documents
        .pages
        .page(status, template, context, CHAT_PAGE_CSP);
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The team's sign-in page with `error`, or, when no password opens the chat, a page saying
/// how one gets in.
async fn sign_in_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    match state.assistant.has_password_sign_in().await {
        Ok(true) => {
            let mut context = tera::Context::new();
            context.insert("error", &error);
            super::with_status(
                super::form_page(state, req, "chat_login.html", context, LOGIN_PURPOSE, CHAT_PAGE_CSP),
                status,
            )
        }
        Ok(false) => state.documents.pages.result(
            StatusCode::FORBIDDEN,
            false,
            "This chat is not open",
            "This assistant is open to its operator's team only, and no team password is set. Ask the operator for access.",
        ),
        Err(e) => unavailable_page(state, e),
    }
}

pub(super) fn unavailable_page(state: &AppState, e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "the chat could not reach its store");
    state.documents.pages.result(
        StatusCode::SERVICE_UNAVAILABLE,
        false,
        "The chat is unavailable",
        "The chat cannot reach its database. Please try again in a minute.",
    )
}

/// The live chat session of this browser, with its token.
async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(String, gptgate_domain::ChatSession)>, gptgate_ports::StorageError> {
    let Some(token) = state.browser.chat_session(req) else {
        return Ok(None);
    };
    Ok(state
        .assistant
        .session(&token)
        .await?
        .map(|session| (token, session)))
}

/// `GET /chat`: the chat, or the way in.
#[get("/chat")]
pub async fn chat_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (token, session) = match signed_in(&state, &req).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => return sign_in_page(&state, &req, StatusCode::OK, None).await,
        Err(e) => return unavailable_page(&state, e),
    };
    let profile = match state.assistant.published().await {
        Ok(profile) => profile.map(|v| v.profile),
        Err(e) => return unavailable_page(&state, e),
    };
    let mut context = tera::Context::new();
    context.insert("csrf", &state.browser.csrf_token(&token, CHAT_PURPOSE));
    context.insert("has_model", &state.assistant.has_model());
    context.insert("name", &profile.as_ref().map(|p| p.name.as_str()));
    context.insert(
        "starters",
        &profile
            .as_ref()
            .map(|p| p.starters.clone())
            .unwrap_or_default(),
    );
    let mut response = page(&state, StatusCode::OK, "chat.html", &context);
    if let gptgate_domain::ChatVisitor::Launched { platform, .. } = &session.visitor {
        let origins = match state.launches.embedding_origins(*platform).await {
            Ok(origins) => origins,
            Err(e) => return unavailable_page(&state, e),
        };
        if let Ok(csp) = header::HeaderValue::from_str(&launched_chat_csp(&origins)) {
            // Browsers that know frame-ancestors ignore the blanket X-Frame-Options: DENY next
            // to it; older ones keep refusing to frame the chat (failing closed).
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, csp);
        }
    }
    response
}

#[derive(Deserialize)]
struct LaunchForm {
    token: Option<String>,
}

/// `POST /chat/launch`: a learning platform sends its visitor with a token it signed (form
/// field `token`), from a page of an origin it listed; the visitor gets a 2-hour chat session
/// and the chat. Refusals are one page, the reason only in the log.
#[post("/chat/launch")]
pub async fn launch(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let token = serde_urlencoded::from_bytes::<LaunchForm>(&body)
        .ok()
        .and_then(|f| f.token)
        .unwrap_or_default();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    match state
        .launches
        .launch(token.trim(), origin, &super::client_address(&req))
        .await
    {
        Ok(launched) => into_chat(&state, &launched),
        Err(gptgate_ports::services::LaunchError::TooMany { retry_after }) => {
            too_many_launches(&state, retry_after)
        }
        Err(gptgate_ports::services::LaunchError::Storage(e)) => unavailable_page(&state, e),
        Err(gptgate_ports::services::LaunchError::Internal(e)) => unavailable_page(&state, e),
        Err(why) => {
            tracing::warn!(reason = %why, "a launch was refused");
            launch_refused(&state)
        }
    }
}

/// The answer to a launch that opened a session: its cookie (2 hours), and on to the chat.
pub(super) fn into_chat(
    state: &AppState,
    launched: &gptgate_ports::services::Launched,
) -> HttpResponse {
    let mut response = super::see_other("/chat");
    let cookie = state
        .browser
        .launched_chat_cookie(launched.token.expose_secret(), CookieDuration::hours(2));
    if let Ok(value) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The page of a launch refused by the per-address limit.
pub(super) fn too_many_launches(state: &AppState, retry_after: time::Duration) -> HttpResponse {
    let page = state.documents.pages.course_result(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many at once",
        "Too many visitors are opening the chat from this network right now. Please try again in a minute.",
    );
    super::with_retry_after(page, retry_after)
}

/// The one page of every refused launch (the reason goes to the log only).
pub(super) fn launch_refused(state: &AppState) -> HttpResponse {
    state.documents.pages.course_result(
        StatusCode::FORBIDDEN,
        "This link into the chat could not be accepted",
        "It may have expired or been used already. Go back to your course and open the chat again from there.",
    )
}

/// `GET /chat/chat.js`: the chat page's script.
#[get("/chat/chat.js")]
pub async fn chat_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(CHAT_JS)
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: Option<String>,
    password: Option<String>,
}

/// `POST /chat/login`: the team password (or the admin password) opens an 8-hour session.
#[post("/chat/login")]
pub async fn log_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = serde_urlencoded::from_bytes::<LoginForm>(&body).ok();
    let csrf = form.as_ref().and_then(|f| f.csrf.as_deref());
    if let Err(why) = state.browser.check_form(&req, csrf, LOGIN_PURPOSE) {
        return forbidden_page(&state, &req, why).await;
    }
    let password = SecretString::from(form.and_then(|f| f.password).unwrap_or_default());
    match state
        .assistant
        .log_in(&password, &super::client_address(&req))
        .await
    {
        Ok(token) => {
            let mut response = super::see_other("/chat");
            let _ = response.add_cookie(
                &state
                    .browser
                    .chat_cookie(token.expose_secret(), CookieDuration::hours(8)),
            );
            response
        }
        Err(ChatLoginError::Closed) => {
            sign_in_page(&state, &req, StatusCode::FORBIDDEN, None).await
        }
        Err(ChatLoginError::WrongPassword) => {
            sign_in_page(
                &state,
                &req,
                StatusCode::UNAUTHORIZED,
                Some("That password is not right."),
            )
            .await
        }
        Err(ChatLoginError::TooMany { retry_after }) => {
            let response = sign_in_page(
                &state,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&super::too_many_wrong_passwords(retry_after)),
            )
            .await;
            super::with_retry_after(response, retry_after)
        }
        Err(ChatLoginError::Storage(e)) => unavailable_page(&state, e),
        Err(ChatLoginError::Internal(e)) => unavailable_page(&state, e),
    }
}

async fn forbidden_page(state: &AppState, req: &HttpRequest, why: Forbidden) -> HttpResponse {
    tracing::warn!(reason = %why, "a chat form post was refused");
    sign_in_page(
        state,
        req,
        StatusCode::FORBIDDEN,
        Some("That form could not be verified (it may have been open too long). Nothing happened; please try again."),
    )
    .await
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

/// `POST /chat/logout`: ends the session and clears the cookie.
#[post("/chat/logout")]
pub async fn log_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(token) = state.browser.chat_session(&req) else {
        return super::see_other("/chat");
    };
    let form = serde_urlencoded::from_bytes::<LogoutForm>(&body).ok();
    let csrf = form.as_ref().and_then(|f| f.csrf.as_deref());
    if let Err(why) = state.browser.check_bound(&req, csrf, &token, CHAT_PURPOSE) {
        return forbidden_page(&state, &req, why).await;
    }
    if let Err(e) = state.assistant.log_out(&token).await {
        return unavailable_page(&state, e);
    }
    let mut response = super::see_other("/chat");
    let _ = response.add_cookie(&state.browser.clear_chat_cookie());
    if let Ok(value) = header::HeaderValue::from_str(&state.browser.clear_launched_chat_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// One message of the conversation a question carries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageDto {
    role: RoleDto,
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleDto {
    User,
    Assistant,
}

/// `POST /api/chat`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    messages: Vec<MessageDto>,
    /// One of the profile's allowed models; the profile's own by default.
    model: Option<String>,
    /// A saved profile version to try before publishing it; the published one by default.
    profile: Option<u32>,
}

/// Why a question got no answer, in the error shape.
fn refusal(e: ChatError) -> ApiError {
    match e {
        ChatError::NoModel => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_model_configured",
            "No chat model is configured. The operator sets LLM_BASE_URL (an OpenAI-compatible API such as https://api.openai.com/v1 or http://localhost:11434/v1) and, if it needs one, LLM_API_KEY, and restarts gptgate.",
        ),
        ChatError::NoProfile => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_profile_published",
            "The assistant is not ready: the operator has not published a profile yet (admin console, Assistant profile).",
        ),
        ChatError::NoSuchVersion(version) => ApiError::not_found(
            "profile_not_found",
            format!("There is no profile version {version}."),
        ),
        ChatError::VersionNotAllowed => ApiError::new(
            StatusCode::FORBIDDEN,
            "profile_not_allowed",
            "Only the operator (signed in to the chat with the admin password) may try a profile version other than the published one; leave profile out.",
        ),
        ChatError::Busy => ApiError::too_many(
            "answer_in_progress",
            "Answers are still being written in this chat; wait for them to finish.",
            time::Duration::seconds(5),
        ),
        ChatError::ModelNotAllowed => ApiError::unprocessable(
            "model_not_allowed",
            "That model is not one this assistant allows; leave model out to use the assistant's own.",
        ),
        ChatError::Invalid(e) => ApiError::unprocessable("invalid_messages", invalid(&e)),
        ChatError::TooMany { retry_after } => ApiError::too_many(
            "rate_limited",
            "Too many questions in a short time.",
            retry_after,
        ),
        ChatError::Model(e) => model_error(&e),
        ChatError::Storage(e) => ApiError::unavailable(
            "database_unavailable",
            "The chat cannot reach its database. Please try again in a minute.",
            e,
        ),
    }
}

fn invalid(e: &ChatInputError) -> String {
    capitalized(&e.to_string())
}

/// `text` as a sentence: its first letter upper case, a full stop at the end.
fn capitalized(text: &str) -> String {
    let mut message = text.to_owned();
    if let Some(first) = message.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    format!("{message}.")
}

/// A model's refusal or failure, in the error shape (the API's key is never named).
fn model_error(e: &ChatModelError) -> ApiError {
    let bad_gateway = |code, message: String| ApiError::new(StatusCode::BAD_GATEWAY, code, message);
    match e {
        ChatModelError::Unauthorized => bad_gateway(
            "model_unavailable",
            "The model API refused gptgate's key; the operator should check LLM_API_KEY.".into(),
        ),
        ChatModelError::RateLimited => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_busy",
            "The model API is limiting requests right now. Please try again in a minute.",
        ),
        rejected @ ChatModelError::Rejected { .. } => bad_gateway(
            "model_rejected",
            format!(
                "{} The operator should check the profile's model against that API.",
                capitalized(&rejected.to_string())
            ),
        ),
        ChatModelError::Unavailable => bad_gateway(
            "model_unavailable",
            "The model API could not be reached or failed. Please try again in a minute.".into(),
        ),
        ChatModelError::TimedOut => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "model_timeout",
            "The answer took too long and was cut off.",
        ),
    }
}

/// One server-sent event.
fn event(name: Option<&str>, data: &serde_json::Value) -> Bytes {
    let mut text = String::with_capacity(64);
    if let Some(name) = name {
        text.push_str("event: ");
        text.push_str(name);
        text.push('\n');
    }
    text.push_str("data: ");
    text.push_str(&data.to_string());
    text.push_str("\n\n");
    Bytes::from(text)
}

/// `events`, with a comment line (`: waiting`) whenever `every` passes without one: it keeps
/// proxies from closing a slow answer, and writing it to a browser that went away fails, which
/// drops the answer and so stops the model.
fn with_heartbeat(
    events: impl futures::Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
    every: std::time::Duration,
) -> impl futures::Stream<Item = Result<Bytes, actix_web::Error>> {
    futures::stream::unfold(Box::pin(events), move |mut events| async move {
        match tokio::time::timeout(every, events.next()).await {
            Ok(Some(item)) => Some((item, events)),
            Ok(None) => None,
            Err(_) => Some((Ok(Bytes::from_static(b": waiting\n\n")), events)),
        }
    })
}

/// `POST /api/chat`: a streamed answer to the conversation sent (`text/event-stream`: a
/// `data: {"delta": "..."}` event per piece, then `event: done`, or `event: error` with the
/// error shape if the answer breaks off). Refusals before the answer starts are plain JSON in
/// the error shape. Only the chat page of a signed-in browser may ask: its session cookie and
/// the page's token in `x-csrf-token`, from this origin.
#[post("/api/chat")]
pub async fn ask(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let not_signed_in = || {
        ApiError::unauthorized(
            "not_signed_in",
            "Sign in to the chat first (open /chat); the session may have ended.",
        )
    };
    let token = state.browser.chat_session(&req).ok_or_else(not_signed_in)?;
    let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if let Err(why) = state
        .browser
        .check_bound(&req, presented, &token, CHAT_PURPOSE)
    {
        tracing::warn!(reason = %why, "a chat question was refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This request did not come from the chat page of this browser. Reload the chat and try again.",
        ));
    }
    let session = state
        .assistant
        .session(&token)
        .await
        .map_err(|e| refusal(ChatError::Storage(e)))?
        .ok_or_else(not_signed_in)?;
    let body: ChatBody = json_body(&body)?;
    let question = Question {
        conversation: body
            .messages
            .into_iter()
            .map(|m| ChatTurn {
                speaker: match m.role {
                    RoleDto::User => Speaker::User,
                    RoleDto::Assistant => Speaker::Assistant,
                },
                text: m.content,
            })
            .collect(),
        model: body.model,
        version: body.profile,
    };
    let answer = state
        .assistant
        .answer(&session, question, &super::client_address(&req))
        .await
        .map_err(refusal)?;
    // An answer that breaks off ends with its error; one that ends well, with `done`.
    let broke_off = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let marked = broke_off.clone();
    let events = answer
        .map(move |piece| {
            Ok::<_, actix_web::Error>(match piece {
                Ok(text) => event(None, &serde_json::json!({ "delta": text })),
                Err(e) => {
                    marked.store(true, std::sync::atomic::Ordering::Relaxed);
                    let error = model_error(&e);
                    event(
                        Some("error"),
                        &serde_json::json!({ "error": { "code": error.code(), "message": error.to_string() } }),
                    )
                }
            })
        })
        .chain(
            futures::stream::once(async move {
                (!broke_off.load(std::sync::atomic::Ordering::Relaxed))
                    .then(|| Ok(event(Some("done"), &serde_json::json!({}))))
            })
            .filter_map(futures::future::ready),
        );
    let events = with_heartbeat(events, state.chat_heartbeat);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Proxies such as nginx must pass each piece on as it comes.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(events))
}
