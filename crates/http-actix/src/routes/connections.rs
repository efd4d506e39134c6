//! Connected accounts: the GPT-facing JSON endpoints and the browser side of the OAuth flow.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use gptgate_domain::{Account, AccountId, AccountLabel, ProviderId};
use gptgate_ports::services::{Callback, ConnectError, LinkOwner};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Success, TokenBody};
use crate::body::json_body;
use crate::browser::Forbidden;
use crate::error::{ApiError, ErrorBody};
use crate::pages::{self, FORM_PAGE_CSP, PAGE_CSP};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateAuthLinkRequest {
    /// The session token from verifyCode, if the user signed in by email.
    pub token: Option<String>,
    /// `gmail`, `slack`, `linear`, `zoho` or `mercury`.
    #[schema(
        example = "linear",
        pattern = "^(gmail|google|slack|linear|zoho|mercury)$"
    )]
    pub provider: String,
    /// The user's name for this account, e.g. `work` (1-64 letters, digits, `-`, `_`, `.`).
    #[schema(
        example = "work",
        pattern = "^[A-Za-z0-9._-]{1,64}$",
        min_length = 1,
        max_length = 64
    )]
    pub label: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthLink {
    /// Give this link to the user; it works once, for 10 minutes.
    pub auth_url: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagementLink {
    /// Give this link to the user; it opens their integrations page for 1 hour.
    pub management_url: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDto {
    pub id: Uuid,
    pub provider: String,
    pub label: String,
    pub enabled: bool,
    /// `active`, `reauth_required` or `revoked`.
    pub status: String,
    /// What the provider said about the account (email, workspace...). Never a token.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Account> for AccountDto {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.as_uuid(),
            provider: a.provider.as_str().to_owned(),
            label: a.label.to_string(),
            enabled: a.enabled,
            status: a.status.as_str().to_owned(),
            metadata: a.metadata,
            created_at: a.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountDto>,
}

#[derive(Deserialize, Default, ToSchema)]
pub struct ToggleRequest {
    pub token: Option<String>,
    /// Set explicitly; without it the account is flipped.
    pub enabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Toggled {
    pub id: Uuid,
    pub enabled: bool,
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    raw.parse::<AccountId>()
        .map_err(|_| ApiError::not_found("account_not_found", "No such account."))
}

/// Link to connect an account.
#[utoipa::path(
    operation_id = "createAuthLink",
    tag = "connections",
    summary = "Get a link for the user to connect an account (Gmail, Slack, Linear, Zoho, Mercury)",
    description = "Returns a one-time link, valid 10 minutes. The user opens it, signs in at the provider and returns to ChatGPT. Connecting the same provider and label again replaces that connection.",
    request_body = CreateAuthLinkRequest,
    responses(
        (status = 200, body = AuthLink),
        (status = 400, description = "Unknown or unconfigured provider", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Invalid label", body = ErrorBody),
    ),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/api/gpt/create-auth-link")]
pub async fn create_auth_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: CreateAuthLinkRequest = json_body(&body)?;
    let caller = state.caller(&req, body.token.as_deref()).await?;
    let provider = ProviderId::parse(&body.provider)
        .map_err(|e| ApiError::bad_request("unknown_provider", format!("{e}.")))?;
    let label = AccountLabel::parse(&body.label)
        .map_err(|e| ApiError::unprocessable("invalid_label", format!("{e}.")))?;
    let auth_url = state
        .connections
        .create_auth_link(caller.user_id, provider, label)
        .await?;
    Ok(HttpResponse::Ok().json(AuthLink { auth_url }))
}

/// Link to the integrations page.
#[utoipa::path(
    operation_id = "createManagementLink",
    tag = "connections",
    summary = "Get a link to the user's integrations page",
    description = "Returns a link, valid 1 hour, where the user can see, disable and remove connected accounts.",
    request_body = TokenBody,
    responses((status = 200, body = ManagementLink), (status = 401, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/api/gpt/create-management-link")]
pub async fn create_management_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: TokenBody = json_body(&body)?;
    let caller = state.caller(&req, body.token.as_deref()).await?;
    let management_url = state
        .connections
        .create_management_link(caller.user_id)
        .await?;
    Ok(HttpResponse::Ok().json(ManagementLink { management_url }))
}

/// The user's connected accounts.
#[utoipa::path(
    operation_id = "listAccounts",
    tag = "connections",
    summary = "List the user's connected accounts",
    description = "Provider, label, whether enabled, status and what the provider said about each account (email, workspace). Never tokens. A GPT that carries the session token in the body uses listAccountsWithToken instead.",
    responses((status = 200, body = AccountList), (status = 401, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[get("/api/gpt/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    accounts_of(&state, &req, None).await
}

/// The user's connected accounts, for a GPT that carries the session token in the body.
#[utoipa::path(
    operation_id = "listAccountsWithToken",
    tag = "connections",
    summary = "List the user's connected accounts (session token in the body)",
    description = "The same answer as listAccounts, for a user who signed in with verifyCode: pass the token. Never returns tokens.",
    request_body = TokenBody,
    responses((status = 200, body = AccountList), (status = 401, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/api/gpt/accounts/list")]
pub async fn list_accounts_with_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: TokenBody = json_body(&body)?;
    accounts_of(&state, &req, body.token.as_deref()).await
}

async fn accounts_of(
    state: &AppState,
    req: &HttpRequest,
    body_token: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let caller = state.caller(req, body_token).await?;
    let accounts = state.connections.accounts(caller.user_id).await?;
    Ok(HttpResponse::Ok().json(AccountList {
        accounts: accounts.into_iter().map(AccountDto::from).collect(),
    }))
}

/// Enable or disable an account.
#[utoipa::path(
    operation_id = "toggleAccount",
    tag = "connections",
    summary = "Enable or disable a connected account",
    request_body = ToggleRequest,
    params(("id" = Uuid, Path, description = "The account id")),
    responses((status = 200, body = Toggled), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(false)))
)]
#[post("/api/gpt/accounts/{id}/toggle")]
pub async fn toggle_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: ToggleRequest = json_body(&body)?;
    let caller = state.caller(&req, body.token.as_deref()).await?;
    let id = account_id(&path)?;
    let enabled = state
        .connections
        .set_enabled(caller.user_id, id, body.enabled)
        .await?;
    Ok(HttpResponse::Ok().json(Toggled {
        id: id.as_uuid(),
        enabled,
    }))
}

/// Disconnect an account.
#[utoipa::path(
    operation_id = "deleteAccount",
    tag = "connections",
    summary = "Disconnect an account: revoke access at the provider and delete it",
    request_body = TokenBody,
    params(("id" = Uuid, Path, description = "The account id")),
    responses((status = 200, body = Success), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("apiKey" = [])),
    extensions(("x-openai-isConsequential" = json!(true)))
)]
#[delete("/api/gpt/accounts/{id}")]
pub async fn delete_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: TokenBody = json_body(&body)?;
    let caller = state.caller(&req, body.token.as_deref()).await?;
    let id = account_id(&path)?;
    state.connections.disconnect(caller.user_id, id).await?;
    Ok(HttpResponse::Ok().json(Success::new("Account disconnected.")))
}

/// A result page of the browser flow.
fn page(
    state: &AppState,
    status: StatusCode,
    ok: bool,
    title: &str,
    message: &str,
) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("ok", &ok);
    context.insert("title", title);
    context.insert("message", message);
    render(state, status, "connect_result.html", &context, PAGE_CSP)
}

fn render(
    state: &AppState,
    status: StatusCode,
    template: &str,
    context: &tera::Context,
    csp: &'static str,
) -> HttpResponse {
    match state.documents.pages.render(template, context) {
        Ok(html) => pages::html(status, csp, html),
        Err(e) => {
            tracing::error!(error = %e, template, "a page failed to render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn error_page(state: &AppState, e: ConnectError) -> HttpResponse {
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
fn forbidden_page(state: &AppState, why: Forbidden) -> HttpResponse {
    tracing::warn!(reason = %why, "a form post was refused");
    page(
        state,
        StatusCode::FORBIDDEN,
        false,
        "This request could not be verified",
        "Nothing happened. Open the link the GPT gave you again and press Continue on that page.",
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
    let (pre_session, new_cookie) = match state.browser.pre_session(&req, state.random.as_ref()) {
        Ok(pair) => pair,
        Err(e) => return error_page(&state, ConnectError::Internal(e.into())),
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
    context.insert(
        "csrf",
        &state.browser.csrf_token(&pre_session, START_PURPOSE),
    );
    let mut response = render(
        &state,
        StatusCode::OK,
        "connect_confirm.html",
        &context,
        FORM_PAGE_CSP,
    );
    // The form's POST must carry `Origin`, which a no-referrer policy would blank out.
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    if let Some(cookie) = new_cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
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
        Ok(started) => {
            let mut response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, started.provider_url))
                .finish();
            let cookie = state
                .browser
                .connect_cookie(&started.flow_id, &started.browser_nonce);
            let _ = response.add_cookie(&cookie);
            response
        }
        Err(e) => error_page(&state, e),
    }
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
