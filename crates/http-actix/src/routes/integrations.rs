//! The integrations page: a user's connected accounts, opened with the management link the
//! GPT hands out. Opening the link shows whose integrations it opens and changes nothing; its
//! Open button (a checked form POST) moves the link's token into the session cookie, so a page
//! elsewhere cannot switch this browser into another account (login CSRF), and the token
//! leaves the address bar. The session ends when the token does (1 hour). Every change is a
//! form POST checked by [`crate::browser`] (`Origin`, and a CSRF token bound to this browser
//! AND to its session, so a tab left open on one account cannot act in another), answered with
//! a redirect back to the page (post/redirect/get).

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use gptgate_domain::{AccountId, AccountLabel, AccountStatus, ProviderId};
use gptgate_ports::services::{ConnectError, LinkOwner, ManagementSession};
use serde::{Deserialize, Serialize};

use super::connect::{error_page, forbidden_page, to_provider};
use crate::browser::Forbidden;
use crate::pages::FORM_PAGE_CSP;
use crate::state::AppState;

/// What the Open form's CSRF token is bound to, besides the browser.
const OPEN_PURPOSE: &str = "integrations-open";

/// What the page's forms' CSRF tokens are bound to, besides the browser: the session itself.
fn purpose(session_token: &str) -> String {
    format!("integrations\0{session_token}")
}

/// Whose account `owner` is, as the pages say it.
fn owner_text(owner: LinkOwner) -> String {
    match owner {
        LinkOwner::Email(masked) => format!("the gptgate account of {masked}"),
        LinkOwner::ChatGpt => "a gptgate account without an email address".to_owned(),
    }
}

/// The page after a change, with what happened.
fn back(notice: Notice) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/integrations?done={}", notice.as_str()),
        ))
        .finish()
}

/// What the page says after a change: a fixed set, so nothing in the address bar is echoed.
#[derive(Clone, Copy)]
enum Notice {
    Enabled,
    Disabled,
    Removed,
    NotFound,
    InvalidLabel,
    UnknownProvider,
    AppRevoked,
}

impl Notice {
    const ALL: [Notice; 7] = [
        Notice::Enabled,
        Notice::Disabled,
        Notice::Removed,
        Notice::NotFound,
        Notice::InvalidLabel,
        Notice::UnknownProvider,
        Notice::AppRevoked,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Notice::Enabled => "enabled",
            Notice::Disabled => "disabled",
            Notice::Removed => "removed",
            Notice::NotFound => "not-found",
            Notice::InvalidLabel => "invalid-label",
            Notice::UnknownProvider => "unknown-provider",
            Notice::AppRevoked => "app-revoked",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Notice::Enabled => "The account is on: the GPT can use it.",
            Notice::Disabled => {
                "The account is off: the GPT cannot use it until you turn it back on."
            }
            Notice::Removed => "The account was removed.",
            Notice::NotFound => "That account no longer exists.",
            Notice::InvalidLabel => {
                "A name must be 1 to 64 letters, digits, dots, dashes or underscores."
            }
            Notice::UnknownProvider => "That service is not available on this server.",
            Notice::AppRevoked => "The app no longer has access. It will ask you to sign in again.",
        }
    }

    fn parse(raw: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|n| n.as_str() == raw)
    }
}

/// The page for a missing, unknown or expired session.
fn expired(state: &AppState, status: StatusCode) -> HttpResponse {
    let mut response = state.documents.pages.result(
        status,
        false,
        "This page's link has expired",
        "Links to your integrations work for one hour. Ask the GPT for a new one (say \"manage my integrations\").",
    );
    let _ = response.add_cookie(&state.browser.clear_session_cookie());
    response
}

/// The session cookie's value, or the page to answer instead.
fn session_token(state: &AppState, req: &HttpRequest) -> Result<String, Box<HttpResponse>> {
    state
        .browser
        .session(req)
        .ok_or_else(|| Box::new(expired(state, StatusCode::UNAUTHORIZED)))
}

/// The session of `token`, or the page to answer instead.
async fn session(state: &AppState, token: &str) -> Result<ManagementSession, HttpResponse> {
    match state.connections.management_session(token).await {
        Ok(session) => Ok(session),
        Err(ConnectError::InvalidLink) => Err(expired(state, StatusCode::UNAUTHORIZED)),
        Err(e) => Err(error_page(state, e)),
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    token: Option<String>,
    done: Option<String>,
}

#[derive(Serialize)]
struct AccountView {
    id: String,
    provider: &'static str,
    provider_id: &'static str,
    label: String,
    identity: Option<String>,
    enabled: bool,
    toggle_to: bool,
    reauth: bool,
}

#[derive(Serialize)]
struct AppView {
    grant: String,
    name: String,
    renewed: String,
}

#[derive(Serialize)]
struct ProviderView {
    id: &'static str,
    name: &'static str,
}

/// `GET /integrations?token=...` shows whose integrations the link opens, with an Open
/// button; `GET /integrations` shows the page.
#[get("/integrations")]
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    if let Some(token) = query.token.as_deref().filter(|t| !t.is_empty()) {
        return confirm(&state, &req, token).await;
    }
    let token = match session_token(&state, &req) {
        Ok(token) => token,
        Err(answer) => return *answer,
    };
    let session = match session(&state, &token).await {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let (accounts, owner) = match tokio::try_join!(
        state.connections.accounts(session.user),
        state.connections.owner(session.user)
    ) {
        Ok(found) => found,
        Err(e) => return error_page(&state, e),
    };
    let apps: Vec<AppView> = match state.authorization.grants_of(session.user).await {
        Ok(grants) => grants
            .into_iter()
            .map(|g| AppView {
                grant: g.id.to_string(),
                name: g.client_name.as_str().to_owned(),
                renewed: g.renewed_at.date().to_string(),
            })
            .collect(),
        Err(e) => return error_page(&state, e.into()),
    };
    let accounts: Vec<AccountView> = accounts
        .into_iter()
        .map(|a| AccountView {
            id: a.id.to_string(),
            provider: a.provider.display_name(),
            provider_id: a.provider.as_str(),
            label: a.label.as_str().to_owned(),
            identity: a.identity(),
            enabled: a.enabled,
            toggle_to: !a.enabled,
            reauth: a.status != AccountStatus::Active,
        })
        .collect();
    let providers: Vec<ProviderView> = state
        .connections
        .configured()
        .into_iter()
        .map(|p| ProviderView {
            id: p.as_str(),
            name: p.display_name(),
        })
        .collect();
    let mut context = tera::Context::new();
    context.insert("owner", &owner_text(owner));
    context.insert(
        "until",
        &format!(
            "{:02}:{:02}",
            session.expires_at.hour(),
            session.expires_at.minute()
        ),
    );
    context.insert("accounts", &accounts);
    context.insert("apps", &apps);
    context.insert("providers", &providers);
    context.insert(
        "notice",
        &query
            .done
            .as_deref()
            .and_then(Notice::parse)
            .map(Notice::text),
    );
    super::form_page(
        &state,
        &req,
        "integrations.html",
        context,
        &purpose(&token),
        FORM_PAGE_CSP,
    )
}

/// The Open page of a management link: whose integrations it opens, whether it replaces
/// another account's page open in this browser, and the warning. Changes nothing.
async fn confirm(state: &AppState, req: &HttpRequest, token: &str) -> HttpResponse {
    let opening = match state.connections.management_session(token).await {
        Ok(session) => session,
        Err(ConnectError::InvalidLink) => return expired(state, StatusCode::BAD_REQUEST),
        Err(e) => return error_page(state, e),
    };
    let replaces = match state.browser.session(req) {
        Some(current) if current != token => state
            .connections
            .management_session(&current)
            .await
            .is_ok_and(|current| current.user != opening.user),
        _ => false,
    };
    let (owner, accounts) = match tokio::try_join!(
        state.connections.owner(opening.user),
        state.connections.accounts(opening.user)
    ) {
        Ok(found) => found,
        Err(e) => return error_page(state, e),
    };
    // What is connected there already: a masked email can look alike, a list of accounts
    // tells the user whether this is theirs.
    let connected: Vec<String> = accounts
        .iter()
        .map(|a| format!("{} · {}", a.provider.display_name(), a.label.as_str()))
        .collect();
    let mut context = tera::Context::new();
    context.insert("owner", &owner_text(owner));
    context.insert("connected", &connected);
    context.insert("replaces", &replaces);
    context.insert("token", token);
    super::form_page(
        state,
        req,
        "integrations_open.html",
        context,
        OPEN_PURPOSE,
        FORM_PAGE_CSP,
    )
}

#[derive(Deserialize)]
struct OpenForm {
    token: Option<String>,
    csrf: Option<String>,
}

/// `POST /integrations`: the Open button. Checks the form, then moves the link's token into
/// the session cookie (for the rest of the link's hour) and redirects to the page.
#[post("/integrations")]
pub async fn open(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form: OpenForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => return forbidden_page(&state, Forbidden::BadToken),
    };
    if let Err(why) = state
        .browser
        .check_form(&req, form.csrf.as_deref(), OPEN_PURPOSE)
    {
        return forbidden_page(&state, why);
    }
    let token = form.token.unwrap_or_default();
    match state.connections.management_session(&token).await {
        Ok(session) => {
            let mut response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/integrations"))
                .finish();
            let lifetime =
                actix_web::cookie::time::Duration::seconds(session.remaining.whole_seconds());
            let _ = response.add_cookie(&state.browser.session_cookie(&token, lifetime));
            response
        }
        Err(ConnectError::InvalidLink) => expired(&state, StatusCode::BAD_REQUEST),
        Err(e) => error_page(&state, e),
    }
}

/// A form's fields; unknown ones are ignored, missing ones are `None`.
#[derive(Deserialize, Default)]
struct Form {
    csrf: Option<String>,
    enabled: Option<String>,
    provider: Option<String>,
    label: Option<String>,
}

/// The form, checked (origin, and the CSRF token of this browser and this session), and the
/// session: or the page to answer instead.
async fn checked(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Form, ManagementSession), HttpResponse> {
    let token = session_token(state, req).map_err(|answer| *answer)?;
    let form: Form = serde_urlencoded::from_bytes(body)
        .map_err(|_| forbidden_page(state, Forbidden::BadToken))?;
    state
        .browser
        .check_form(req, form.csrf.as_deref(), &purpose(&token))
        .map_err(|why| forbidden_page(state, why))?;
    let session = session(state, &token).await?;
    Ok((form, session))
}

/// `POST /integrations/accounts/{id}/enabled` `enabled=true|false`.
#[post("/integrations/accounts/{id}/enabled")]
pub async fn set_enabled(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, session) = match checked(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    let Ok(id) = path.parse::<AccountId>() else {
        return back(Notice::NotFound);
    };
    let enabled = match form.enabled.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => return back(Notice::NotFound),
    };
    match state
        .connections
        .set_enabled(session.user, id, Some(enabled))
        .await
    {
        Ok(true) => back(Notice::Enabled),
        Ok(false) => back(Notice::Disabled),
        Err(ConnectError::NotFound) => back(Notice::NotFound),
        Err(e) => error_page(&state, e),
    }
}

/// `POST /integrations/accounts/{id}/remove`: revokes at the provider where it can, deletes.
#[post("/integrations/accounts/{id}/remove")]
pub async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, session) = match checked(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    let Ok(id) = path.parse::<AccountId>() else {
        return back(Notice::NotFound);
    };
    match state.connections.disconnect(session.user, id).await {
        Ok(()) => back(Notice::Removed),
        Err(ConnectError::NotFound) => back(Notice::NotFound),
        Err(e) => error_page(&state, e),
    }
}

/// `POST /integrations/connect` `provider=...&label=...`: starts the browser-bound connect
/// flow for the signed-in user and sends the browser to the provider.
#[post("/integrations/connect")]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (form, session) = match checked(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    let Ok(provider) = ProviderId::parse(form.provider.as_deref().unwrap_or_default()) else {
        return back(Notice::UnknownProvider);
    };
    let Ok(label) = AccountLabel::parse(form.label.as_deref().unwrap_or_default()) else {
        return back(Notice::InvalidLabel);
    };
    match state
        .connections
        .start_for(session.user, provider, label)
        .await
    {
        Ok(started) => to_provider(&state, started),
        Err(ConnectError::ProviderNotConfigured(_)) => back(Notice::UnknownProvider),
        Err(e) => error_page(&state, e),
    }
}

/// `POST /integrations/sign-out`: ends the session and its link for good, and clears the
/// cookie.
#[post("/integrations/sign-out")]
pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let token = match session_token(&state, &req) {
        Ok(token) => token,
        Err(answer) => return *answer,
    };
    let form: Form = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => return forbidden_page(&state, Forbidden::BadToken),
    };
    if let Err(why) = state
        .browser
        .check_form(&req, form.csrf.as_deref(), &purpose(&token))
    {
        return forbidden_page(&state, why);
    }
    if let Err(e) = state.connections.end_management_session(&token).await {
        return error_page(&state, e);
    }
    let mut response = state.documents.pages.result(
        StatusCode::OK,
        true,
        "Signed out",
        "This integrations link no longer works, wherever it was copied. Ask the GPT for a new one to come back.",
    );
    let _ = response.add_cookie(&state.browser.clear_session_cookie());
    response
}

/// `POST /integrations/apps/{grant}/revoke`: takes an app's access back (its tokens stop
/// working at once).
#[post("/integrations/apps/{grant}/revoke")]
pub async fn revoke_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, session) = match checked(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    let Ok(grant) = path.parse::<gptgate_domain::GrantId>() else {
        return back(Notice::NotFound);
    };
    match state
        .authorization
        .revoke_for_user(session.user, grant)
        .await
    {
        Ok(true) => back(Notice::AppRevoked),
        Ok(false) => back(Notice::NotFound),
        Err(e) => error_page(&state, e.into()),
    }
}
