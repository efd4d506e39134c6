//! The browser side of the connect flow: the confirmation page, its Continue, and the
//! provider's redirect back. Pages come from [`crate::pages`], form checks and cookies from
//! [`crate::browser`]; the rules are in `Connections`.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use gptgate_domain::ProviderId;
use gptgate_ports::services::{Callback, ConnectError, LinkOwner, StartedConnect};
use serde::Deserialize;

use crate::browser::Forbidden;
use crate::error::ApiError;
use crate::pages::FORM_PAGE_CSP;
use crate::state::AppState;

/// A result page of the browser flow.
fn page(
    state: &AppState,
    status: StatusCode,
    ok: bool,
    title: &str,
    message: &str,
) -> HttpResponse {
    state.documents.pages.result(status, ok, title, message)
}

pub(super) fn error_page(state: &AppState, e: ConnectError) -> HttpResponse {
    match e {
        ConnectError::InvalidLink => page(state, StatusCode::BAD_REQUEST, false, "This link has expired",
            "Connect links work once and for 10 minutes. Ask the GPT for a new link."),
        ConnectError::InvalidState => page(state, StatusCode::BAD_REQUEST, false, "This sign-in attempt has expired",
            "Please ask the GPT for a new link and try again."),
        ConnectError::WrongBrowser => page(state, StatusCode::FORBIDDEN, false, "This connection was started in another browser",
            "For your safety it was stopped and nothing was stored. Open the link in the browser you will finish in, or ask the GPT for a new link."),
        ConnectError::Denied => page(state, StatusCode::OK, false, "Nothing was connected",
            "Access was not granted, so nothing was stored. Ask the GPT for a new link if you change your mind."),
        ConnectError::ProviderNotConfigured(p) => page(state, StatusCode::BAD_REQUEST, false, "Not available",
            &format!("{} is not configured on this server.", p.display_name())),
        ConnectError::Provider(p) => {
            tracing::warn!(error = %p, "provider failed during the connect flow");
            page(state, StatusCode::BAD_GATEWAY, false, "The provider did not answer as expected",
                "Nothing was stored. Please ask the GPT for a new link and try again.")
        }
        other => {
            let status = ApiError::from(other);
            tracing::error!(error = ?status, "connect flow failed");
            page(state, StatusCode::INTERNAL_SERVER_ERROR, false, "Something went wrong",
                "Nothing was stored. Please try again later.")
        }
    }
}

/// The page for a form POST that failed its CSRF or origin check. The link is left usable.
pub(super) fn forbidden_page(state: &AppState, why: Forbidden) -> HttpResponse {
    tracing::warn!(reason = %why, "a form post was refused");
    page(
        state,
        StatusCode::FORBIDDEN,
        false,
        "This request could not be verified",
        "Nothing happened. Open the link the GPT gave you again and press the button on that page.",
    )
}

/// What the CSRF token of the confirmation form is bound to, besides the browser.
const START_PURPOSE: &str = "connect-start";

#[derive(Deserialize)]
pub struct StartQuery {
    token: Option<String>,
}

/// Opens a connect link: a confirmation page that says what will be connected and for whom.
/// It changes nothing, so link previewers and mail scanners cannot use the link up.
#[get("/auth/start")]
pub async fn start_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<StartQuery>,
) -> HttpResponse {
    let token = query.token.as_deref().unwrap_or_default();
    let preview = match state.connections.preview(token).await {
        Ok(preview) => preview,
        Err(e) => return error_page(&state, e),
    };
    let mut context = tera::Context::new();
    context.insert("provider", preview.provider.display_name());
    context.insert("label", preview.label.as_str());
    context.insert(
        "owner",
        &match &preview.owner {
            LinkOwner::Email(masked) => format!("your gptgate account ({masked})"),
            LinkOwner::ChatGpt => "the ChatGPT account that asked for this link".to_owned(),
        },
    );
    context.insert("token", token);
    super::form_page(
        &state,
        &req,
        "connect_confirm.html",
        context,
        START_PURPOSE,
        FORM_PAGE_CSP,
    )
}

#[derive(Deserialize)]
struct StartForm {
    token: Option<String>,
    csrf: Option<String>,
}

/// The confirmation page's Continue: checks the form, uses the link up, binds the flow to this
/// browser with a nonce cookie, and sends the browser to the provider.
#[post("/auth/start")]
pub async fn start(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form: StartForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => return forbidden_page(&state, Forbidden::BadToken),
    };
    if let Err(why) = state
        .browser
        .check_form(&req, form.csrf.as_deref(), START_PURPOSE)
    {
        return forbidden_page(&state, why);
    }
    match state
        .connections
        .start(form.token.as_deref().unwrap_or_default())
        .await
    {
        Ok(started) => to_provider(&state, started),
        Err(e) => error_page(&state, e),
    }
}

/// Sends the browser to the provider, holding the flow's nonce in its cookie.
pub(super) fn to_provider(state: &AppState, started: StartedConnect) -> HttpResponse {
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, started.provider_url))
        .finish();
    let lifetime = actix_web::cookie::time::Duration::seconds(started.lifetime.whole_seconds());
    let cookie = state
        .browser
        .connect_cookie(&started.flow_id, &started.browser_nonce, lifetime);
    let _ = response.add_cookie(&cookie);
    response
}

/// The provider's redirect back. Finished only in the browser that started the flow.
#[get("/auth/callback/{provider}")]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<BTreeMap<String, String>>,
) -> HttpResponse {
    let Ok(provider) = ProviderId::parse(&path) else {
        return error_page(&state, ConnectError::InvalidState);
    };
    let mut extra = query.into_inner();
    let callback = Callback {
        code: extra.remove("code"),
        state: extra.remove("state"),
        error: extra.remove("error"),
        extra,
    };
    let flow_id = callback
        .state
        .as_deref()
        .map(|s| state.connections.flow_id(s));
    let nonce = flow_id
        .as_deref()
        .and_then(|id| state.browser.connect_nonce(&req, id));
    let mut response = match state
        .connections
        .complete(provider, callback, nonce.as_deref())
        .await
    {
        Ok(account) => page(
            &state,
            StatusCode::OK,
            true,
            &format!("Connected {} ({})", provider.display_name(), account.label),
            "Return to ChatGPT and carry on: the GPT can use this account now.",
        ),
        Err(e) => error_page(&state, e),
    };
    if let (Some(id), Some(_)) = (flow_id, nonce) {
        let _ = response.add_cookie(&state.browser.clear_connect_cookie(&id));
    }
    response
}
