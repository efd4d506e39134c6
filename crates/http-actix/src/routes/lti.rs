//! LTI 1.3 (IMS Security Framework 1.0 section 5.1): a learning platform's third-party login
//! initiation (`GET`/`POST /lti/login`), answered with the authentication request (what binds
//! the login to this browser kept in a cookie named after its state), and the launch the
//! platform posts back
//! (`POST /lti/launch`, `id_token` + `state`), which opens the chat. `GET /lti/jwks` is the
//! tool's key set: empty, since gptgate signs nothing to platforms.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use gptgate_domain::LoginInitiation;
use gptgate_ports::services::LtiError;
use serde::Deserialize;

use super::chat::{into_chat, launch_refused, too_many_launches, unavailable_page};
use crate::state::AppState;

/// How long a browser keeps a login: as long as it is open (so cookies of logins never
/// finished do not pile up: each goes within 5 minutes).
const LOGIN_LIFETIME: CookieDuration =
    CookieDuration::seconds(gptgate_domain::LoginBinding::LIFETIME.whole_seconds());

#[derive(Deserialize, Default)]
struct LoginParams {
    iss: Option<String>,
    login_hint: Option<String>,
    target_link_uri: Option<String>,
    lti_message_hint: Option<String>,
    client_id: Option<String>,
    lti_deployment_id: Option<String>,
}

/// `GET /lti/login`: the platform's login initiation, its parameters in the query.
#[get("/lti/login")]
pub async fn login_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let params = serde_urlencoded::from_str::<LoginParams>(req.query_string());
    login(&state, &req, params.ok()).await
}

/// `POST /lti/login`: the same, its parameters in the form.
#[post("/lti/login")]
pub async fn login_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = serde_urlencoded::from_bytes::<LoginParams>(&body);
    login(&state, &req, params.ok()).await
}

async fn login(state: &AppState, req: &HttpRequest, params: Option<LoginParams>) -> HttpResponse {
    let Some(params) = params else {
        return refused_login(state);
    };
    let initiation = LoginInitiation {
        iss: params.iss,
        login_hint: params.login_hint,
        target_link_uri: params.target_link_uri,
        lti_message_hint: params.lti_message_hint,
        client_id: params.client_id,
        lti_deployment_id: params.lti_deployment_id,
    };
    match state
        .lti
        .login(&initiation, &super::client_address(req))
        .await
    {
        Ok(login) => {
            let Some(cookie) =
                state
                    .browser
                    .lti_cookie(&login.state, &login.binding, LOGIN_LIFETIME)
            else {
                return unavailable_page(state, "a minted LTI state cannot name a cookie");
            };
            let mut response = HttpResponse::Found()
                .insert_header((header::LOCATION, login.redirect_to))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            if let Ok(value) = header::HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => refusal(state, e, "an LTI login was refused"),
    }
}

/// The page of a login that names no registered platform, or names it wrongly.
fn refused_login(state: &AppState) -> HttpResponse {
    state.documents.pages.course_result(
        StatusCode::BAD_REQUEST,
        "This course link cannot open the chat",
        "The learning platform's request did not match a platform registered with this assistant. Ask the people who run the assistant to check its LTI registration.",
    )
}

fn refusal(state: &AppState, e: LtiError, what: &str) -> HttpResponse {
    match e {
        LtiError::TooMany { retry_after } => too_many_launches(state, retry_after),
        LtiError::Storage(e) => unavailable_page(state, e),
        LtiError::Internal(e) => unavailable_page(state, e),
        LtiError::Login(why) => {
            tracing::warn!(reason = %why, "{what}");
            refused_login(state)
        }
        why => {
            tracing::warn!(reason = %why, "{what}");
            launch_refused(state)
        }
    }
}

#[derive(Deserialize, Default)]
struct LaunchForm {
    id_token: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `POST /lti/launch`: the platform posts the `id_token` for the login this browser started
/// (`state` names it; the browser's cookie binds it). A good launch opens a 2-hour chat
/// session and goes on to the chat; every refusal is one page, the reason in the log only.
#[post("/lti/launch")]
pub async fn launch(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = serde_urlencoded::from_bytes::<LaunchForm>(&body).unwrap_or_default();
    if let Some(error) = form.error {
        // The platform did not sign the user in (OIDC's error response): say so, keep only
        // a known code in the log.
        let code = match error.as_str() {
            "login_required"
            | "interaction_required"
            | "invalid_request"
            | "unauthorized_client"
            | "access_denied"
            | "server_error" => error.as_str(),
            _ => "other",
        };
        tracing::warn!(code, "the LTI platform answered the login with an error");
        return launch_refused(&state);
    }
    let login_state = form.state.unwrap_or_default();
    let binding = state.browser.lti_binding(&req, &login_state);
    let mut response = match state
        .lti
        .launch(
            form.id_token.as_deref().unwrap_or_default().trim(),
            &login_state,
            binding.as_deref(),
            &super::client_address(&req),
        )
        .await
    {
        Ok(launched) => into_chat(&state, &launched),
        Err(e) => refusal(&state, e, "an LTI launch was refused"),
    };
    // The login is over, whatever became of it: its cookie goes (a cookie of a state
    // gptgate would not mint names none).
    clear_login(&state, &mut response, &login_state);
    response
}

/// Adds to `response` the removal of LTI login `login_state`'s cookie.
fn clear_login(state: &AppState, response: &mut HttpResponse, login_state: &str) {
    if let Some(cookie) = state
        .browser
        .lti_cookie(login_state, "", CookieDuration::ZERO)
    {
        if let Ok(value) = header::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// `GET /lti/jwks`: the tool's public key set, for platforms that ask for one. Empty: gptgate
/// calls no LTI services and signs no messages to platforms.
#[get("/lti/jwks")]
pub async fn key_set() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(r#"{"keys":[]}"#)
}
