//! The admin console's pages (`/admin`): sign-in with the admin password, the console, the
//! password change, sign-out. Off (404, like any unknown path) without `ADMIN_PASSWORD_HASH`.
//! Every form carries a CSRF token and must come from this origin; the session cookie is
//! `__Host-` + Secure over https, HttpOnly and SameSite=Strict, for the session's 8 hours.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use gptgate_domain::{AdminSession, NewPassword};
use gptgate_ports::services::{AdminAuthError, AdminLoginError, TeamPasswordError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

use crate::browser::Forbidden;
use crate::pages::ADMIN_PAGE_CSP;
use crate::state::AppState;

/// What the sign-in form's token is bound to, besides the browser.
const LOGIN_PURPOSE: &str = "admin-login";

/// What a signed-in form's token is bound to: the browser AND this admin session, so a tab
/// left from an earlier session cannot act in a later one.
pub(super) fn purpose(session_token: &str) -> String {
    format!("admin\0{session_token}")
}

/// A signed-in console page: `template` with `context` and a form token bound to this browser
/// and session `token`, answered with `status` (a page that failed to render stays a 500).
pub(super) fn console_page(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    template: &str,
    context: tera::Context,
    status: StatusCode,
) -> HttpResponse {
    let response = super::form_page(
        state,
        req,
        template,
        context,
        &purpose(token),
        ADMIN_PAGE_CSP,
    );
    super::with_status(response, status)
}

/// The answer when the console is off: the same 404 as any path that does not exist.
fn off() -> HttpResponse {
    actix_web::ResponseError::error_response(&crate::error::ApiError::for_status(
        StatusCode::NOT_FOUND,
    ))
}

pub(super) fn unavailable(
    state: &AppState,
    req: &HttpRequest,
    e: impl std::fmt::Display,
) -> HttpResponse {
    tracing::error!(error = %e, "the admin console could not reach its store");
    login_page_with(
        state,
        req,
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        Some("The console cannot reach its database. Please try again in a minute."),
    )
}

fn forbidden(state: &AppState, req: &HttpRequest, why: Forbidden) -> HttpResponse {
    tracing::warn!(reason = %why, "an admin form post was refused");
    login_page_with(
        state,
        req,
        StatusCode::FORBIDDEN,
        None,
        Some("That form could not be verified (it may have been open too long). Nothing happened; please try again."),
    )
}

/// The sign-in page, with `notice` or `error`, and a fresh form token.
fn login_page_with(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("notice", &notice);
    context.insert("error", &error);
    super::with_status(
        super::form_page(
            state,
            req,
            "admin_login.html",
            context,
            LOGIN_PURPOSE,
            ADMIN_PAGE_CSP,
        ),
        status,
    )
}

/// The live session of this browser, with its token; or the answer instead (the sign-in
/// page, or 404 when the console is off).
pub(super) async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
) -> Result<(String, AdminSession), HttpResponse> {
    if !state.admin.is_on() {
        return Err(off());
    }
    let Some(token) = state.browser.admin_session(req) else {
        return Err(super::see_other("/admin/login"));
    };
    match state.admin.session(&token).await {
        Ok(session) => Ok((token, session)),
        Err(AdminAuthError::Off) => Err(off()),
        Err(AdminAuthError::NotSignedIn) => {
            let mut response = super::see_other("/admin/login");
            let _ = response.add_cookie(&state.browser.clear_admin_cookie());
            Err(response)
        }
        Err(AdminAuthError::Storage(e)) => Err(unavailable(state, req, e)),
    }
}

/// A form whose CSRF token is checked.
pub(super) trait WithCsrf {
    fn csrf(&self) -> Option<&str>;
}

macro_rules! with_csrf {
    ($($form:ty),*) => {$(
        impl WithCsrf for $form {
            fn csrf(&self) -> Option<&str> {
                self.csrf.as_deref()
            }
        }
    )*};
}
/// For the console's other pages (API keys, learning platforms).
pub(super) use with_csrf;

/// A form posted by a signed-in admin: the session's token and the form, its token checked
/// (bound to this browser and this session) and its origin ours; or the answer instead.
pub(super) async fn signed_in_form<F: serde::de::DeserializeOwned + WithCsrf>(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(String, F), HttpResponse> {
    let (token, _) = signed_in(state, req).await?;
    let Ok(form) = serde_urlencoded::from_bytes::<F>(body) else {
        return Err(forbidden(state, req, Forbidden::BadToken));
    };
    if let Err(why) = state.browser.check_form(req, form.csrf(), &purpose(&token)) {
        return Err(forbidden(state, req, why));
    }
    Ok((token, form))
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct SignedInForm {
    csrf: Option<String>,
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: Option<String>,
    current: Option<String>,
    new: Option<String>,
    again: Option<String>,
}

with_csrf!(SignedInForm, PasswordForm, PrivacyForm);

#[derive(Deserialize)]
pub struct HomeQuery {
    changed: Option<String>,
}

/// `GET /admin`: the console, or the way to sign in.
#[get("/admin")]
pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (token, session) = match signed_in(&state, &req).await {
        Ok(signed_in) => signed_in,
        Err(answer) => return answer,
    };
    let (overview, privacy, profile) = match (
        state.admin.overview().await,
        state.admin.privacy().await,
        state.profiles.published().await,
    ) {
        (Ok(overview), Ok(privacy), Ok(profile)) => (overview, privacy, profile),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return unavailable(&state, &req, e),
    };
    let mut context = tera::Context::new();
    context.insert("until", &shown(session.expires_at));
    context.insert("profile", &profile.map(|p| p.version));
    context.insert(
        "privacy",
        &serde_json::json!({
            "retention_days": privacy.retention_days,
            "zero_retention": privacy.zero_retention,
        }),
    );
    context.insert(
        "overview",
        &serde_json::json!({
            "users": overview.users,
            "conversations": overview.conversations,
            "codes": overview.code_addresses,
            "accounts": overview.accounts.iter().map(|a| serde_json::json!({
                "provider": a.provider.display_name(),
                "status": account_state(a.status, a.enabled),
                "count": a.count,
            })).collect::<Vec<_>>(),
        }),
    );
    context.insert("notice", &Option::<&str>::None);
    super::form_page(
        &state,
        &req,
        "admin_home.html",
        context,
        &purpose(&token),
        ADMIN_PAGE_CSP,
    )
}

/// An account count's state, for people.
fn account_state(status: gptgate_domain::AccountStatus, enabled: bool) -> String {
    use gptgate_domain::AccountStatus;
    let base = match status {
        AccountStatus::Active => "working",
        AccountStatus::ReauthRequired => "must be connected again",
        AccountStatus::Revoked => "revoked",
    };
    match (status, enabled) {
        (AccountStatus::Active, false) => "turned off by its user".to_owned(),
        (_, false) => format!("{base}, turned off"),
        _ => base.to_owned(),
    }
}

#[derive(Deserialize)]
struct PrivacyForm {
    csrf: Option<String>,
    retention_days: Option<String>,
    zero_retention: Option<String>,
}

fn privacy_form(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    settings: gptgate_domain::PrivacySettings,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("retention_days", &settings.retention_days);
    context.insert("zero_retention", &settings.zero_retention);
    context.insert(
        "max_days",
        &gptgate_domain::PrivacySettings::MAX_RETENTION_DAYS,
    );
    context.insert("notice", &notice);
    context.insert("error", &error);
    console_page(state, req, token, "admin_privacy.html", context, status)
}

/// `GET /admin/privacy`: the retention and zero-retention settings.
#[get("/admin/privacy")]
pub async fn privacy_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (token, _) = match signed_in(&state, &req).await {
        Ok(signed_in) => signed_in,
        Err(answer) => return answer,
    };
    match state.admin.privacy().await {
        Ok(settings) => privacy_form(&state, &req, &token, StatusCode::OK, settings, None, None),
        Err(e) => unavailable(&state, &req, e),
    }
}

/// `POST /admin/privacy`: new settings (days 0 to 3650; the checkbox for zero retention).
#[post("/admin/privacy")]
pub async fn set_privacy(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, form) = match signed_in_form::<PrivacyForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let zero = form.zero_retention.as_deref() == Some("on");
    let settings = form
        .retention_days
        .as_deref()
        .map(str::trim)
        .and_then(|d| d.parse::<u32>().ok())
        .ok_or(gptgate_domain::InvalidRetention)
        .and_then(|days| gptgate_domain::PrivacySettings::new(days, zero));
    let settings = match settings {
        Ok(settings) => settings,
        Err(e) => {
            let current = state.admin.privacy().await.unwrap_or_default();
            return privacy_form(
                &state,
                &req,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                current,
                None,
                Some(&format!("Nothing was changed: {e}.")),
            );
        }
    };
    match state
        .admin
        .set_privacy(&settings, &super::client_address(&req))
        .await
    {
        Ok(()) => privacy_form(
            &state,
            &req,
            &token,
            StatusCode::OK,
            settings,
            Some("Saved. The privacy policy page says so now."),
            None,
        ),
        Err(e) => unavailable(&state, &req, e),
    }
}

#[derive(Deserialize)]
struct TeamPasswordForm {
    csrf: Option<String>,
    new: Option<String>,
    again: Option<String>,
}

with_csrf!(TeamPasswordForm);

/// The chat access page: whether a team password is set (since when), the form to set or
/// rotate it, the button that switches it off.
async fn chat_access_form(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let set_at = match state.assistant.team_password_set_at().await {
        Ok(set_at) => set_at,
        Err(e) => return unavailable(state, req, e),
    };
    let mut context = tera::Context::new();
    context.insert("set_at", &set_at.map(shown));
    context.insert("has_model", &state.assistant.has_model());
    context.insert("notice", &notice);
    context.insert("error", &error);
    console_page(state, req, token, "admin_chat.html", context, status)
}

/// `GET /admin/chat`: who may use the chat (the team password); `?changed=set|off` after a
/// change says what it did.
#[get("/admin/chat")]
pub async fn chat_access_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HomeQuery>,
) -> HttpResponse {
    let notice = match query.changed.as_deref() {
        Some("set") => Some(
            "Team password set. Everyone signed in with an earlier one has been signed out.",
        ),
        Some("off") => Some("Team password switched off. Everyone signed in with it has been signed out; the admin password still opens the chat."),
        _ => None,
    };
    match signed_in(&state, &req).await {
        Ok((token, _)) => {
            chat_access_form(&state, &req, &token, StatusCode::OK, notice, None).await
        }
        Err(answer) => answer,
    }
}

/// `POST /admin/chat/team-password`: sets or rotates the team password (typed twice); every
/// team chat session ends.
#[post("/admin/chat/team-password")]
pub async fn set_team_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, form) = match signed_in_form::<TeamPasswordForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let (new, again) = (form.new.unwrap_or_default(), form.again.unwrap_or_default());
    let refused = |message: String| {
        let state = state.clone();
        let req = req.clone();
        let token = token.clone();
        async move {
            chat_access_form(
                &state,
                &req,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(&message),
            )
            .await
        }
    };
    if new != again {
        return refused("Nothing was changed: the two passwords differ.".into()).await;
    }
    let password = match NewPassword::parse(&new) {
        Ok(password) => password,
        Err(e) => return refused(format!("Nothing was changed: {e}.")).await,
    };
    match state
        .assistant
        .set_team_password(&password, &super::client_address(&req))
        .await
    {
        // Post/redirect/get: a reload does not rotate (and sign everyone out) again.
        Ok(()) => super::see_other("/admin/chat?changed=set"),
        Err(TeamPasswordError::SameAsAdmin) => {
            refused("Nothing was changed: the team password must differ from the admin password (sharing it would open the console to the team).".into()).await
        }
        Err(TeamPasswordError::Storage(e)) => unavailable(&state, &req, e),
        Err(TeamPasswordError::Internal(e)) => unavailable(&state, &req, e),
    }
}

/// `POST /admin/chat/team-password/off`: switches the team password off; every team chat
/// session ends at once.
#[post("/admin/chat/team-password/off")]
pub async fn switch_off_team_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, _) = match signed_in_form::<SignedInForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let _ = token;
    match state
        .assistant
        .switch_off_team_password(&super::client_address(&req))
        .await
    {
        Ok(()) => super::see_other("/admin/chat?changed=off"),
        Err(e) => unavailable(&state, &req, e),
    }
}

#[derive(Deserialize, Default)]
struct ProfileForm {
    csrf: Option<String>,
    name: Option<String>,
    instructions: Option<String>,
    model: Option<String>,
    temperature: Option<String>,
    max_output_tokens: Option<String>,
    starters: Option<String>,
    allowed_models: Option<String>,
}

#[derive(Deserialize)]
struct PublishForm {
    csrf: Option<String>,
    version: Option<String>,
}

with_csrf!(ProfileForm, PublishForm);

/// How many versions the profile page lists.
const VERSIONS_SHOWN: usize = 20;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

/// The profile page: the form (filled with `form`), the versions, which one is published.
async fn profile_page_with(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    form: serde_json::Value,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let (versions, published) = match (
        state.profiles.versions(VERSIONS_SHOWN).await,
        state.profiles.published().await,
    ) {
        (Ok(versions), Ok(published)) => (versions, published),
        (Err(e), _) | (_, Err(e)) => return unavailable(state, req, e),
    };
    let rows: Vec<_> = versions
        .iter()
        .map(|v| {
            serde_json::json!({
                "version": v.version,
                "saved_at": shown(v.saved_at),
                "name": v.profile.name,
                "model": v.profile.model,
            })
        })
        .collect();
    let mut context = tera::Context::new();
    context.insert("versions", &rows);
    context.insert("published", &published.map(|p| p.version));
    context.insert("form", &form);
    context.insert("notice", &notice);
    context.insert("error", &error);
    console_page(state, req, token, "admin_profile.html", context, status)
}

/// A form filled with `version`'s profile, or sensible defaults.
fn form_of(version: Option<&gptgate_domain::ProfileVersion>) -> serde_json::Value {
    match version {
        Some(v) => serde_json::json!({
            "name": v.profile.name,
            "instructions": v.profile.instructions,
            "model": v.profile.model,
            "temperature": v.profile.temperature,
            "max_output_tokens": v.profile.max_output_tokens,
            "starters": v.profile.starters.join("\n"),
            "allowed_models": v.profile.allowed_models.join("\n"),
        }),
        None => serde_json::json!({
            "name": "Assistant",
            "instructions": "",
            "model": "gpt-4o-mini",
            "temperature": 0.7,
            "max_output_tokens": 1024,
            "starters": "",
            "allowed_models": "gpt-4o-mini",
        }),
    }
}

/// `GET /admin/profile`: the assistant profile's versions and the form for a new one (filled
/// with the newest).
#[get("/admin/profile")]
pub async fn profile_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (token, _) = match signed_in(&state, &req).await {
        Ok(signed_in) => signed_in,
        Err(answer) => return answer,
    };
    let newest = match state.profiles.versions(1).await {
        Ok(mut newest) => newest.pop(),
        Err(e) => return unavailable(&state, &req, e),
    };
    profile_page_with(
        &state,
        &req,
        &token,
        StatusCode::OK,
        form_of(newest.as_ref()),
        None,
        None,
    )
    .await
}

/// `POST /admin/profile`: saves the form as a new version (not published).
#[post("/admin/profile")]
pub async fn save_profile(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, form) = match signed_in_form::<ProfileForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let echo = serde_json::json!({
        "name": form.name.clone().unwrap_or_default(),
        "instructions": form.instructions.clone().unwrap_or_default(),
        "model": form.model.clone().unwrap_or_default(),
        "temperature": form.temperature.clone().unwrap_or_default(),
        "max_output_tokens": form.max_output_tokens.clone().unwrap_or_default(),
        "starters": form.starters.clone().unwrap_or_default(),
        "allowed_models": form.allowed_models.clone().unwrap_or_default(),
    });
    let refused = |message: String| {
        let state = &state;
        let req = &req;
        let token = &token;
        let echo = echo.clone();
        async move {
            profile_page_with(
                state,
                req,
                token,
                StatusCode::UNPROCESSABLE_ENTITY,
                echo,
                None,
                Some(&format!("Nothing was saved: {message}.")),
            )
            .await
        }
    };
    let number =
        |raw: &Option<String>| raw.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let Ok(temperature) = number(&form.temperature).parse::<f32>() else {
        return refused(gptgate_domain::ProfileError::Temperature.to_string()).await;
    };
    let Ok(max_output_tokens) = number(&form.max_output_tokens).parse::<u32>() else {
        return refused(
            gptgate_domain::ProfileError::MaxOutputTokens {
                max: gptgate_domain::AssistantProfile::MAX_OUTPUT_TOKENS,
            }
            .to_string(),
        )
        .await;
    };
    let input = gptgate_domain::ProfileInput {
        name: form.name.unwrap_or_default(),
        instructions: form.instructions.unwrap_or_default(),
        model: form.model.unwrap_or_default(),
        temperature,
        max_output_tokens,
        starters: lines(&form.starters.unwrap_or_default()),
        allowed_models: lines(&form.allowed_models.unwrap_or_default()),
    };
    match state
        .profiles
        .save(input, &super::client_address(&req))
        .await
    {
        Ok(saved) => {
            profile_page_with(
                &state,
                &req,
                &token,
                StatusCode::OK,
                form_of(Some(&saved)),
                Some(&format!(
                    "Saved as version {}. It is not published yet.",
                    saved.version
                )),
                None,
            )
            .await
        }
        Err(gptgate_ports::services::ProfilesError::Invalid(e)) => refused(e.to_string()).await,
        Err(e) => unavailable(&state, &req, e),
    }
}

/// `POST /admin/profile/publish`: publishes a version (an earlier one: a rollback).
#[post("/admin/profile/publish")]
pub async fn publish_profile(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, form) = match signed_in_form::<PublishForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let version = form
        .version
        .as_deref()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let newest = state
        .profiles
        .versions(1)
        .await
        .ok()
        .and_then(|mut v| v.pop());
    let (status, notice, error) = match state
        .profiles
        .publish(version, &super::client_address(&req))
        .await
    {
        Ok(()) => (
            StatusCode::OK,
            Some(format!("Version {version} is published.")),
            None,
        ),
        Err(gptgate_ports::services::ProfilesError::NoSuchVersion(_)) => (
            StatusCode::NOT_FOUND,
            None,
            Some("There is no such version. Nothing was changed.".to_owned()),
        ),
        Err(e) => return unavailable(&state, &req, e),
    };
    profile_page_with(
        &state,
        &req,
        &token,
        status,
        form_of(newest.as_ref()),
        notice.as_deref(),
        error.as_deref(),
    )
    .await
}

/// How many audit lines the page shows.
const AUDIT_PAGE: usize = 200;

/// A time as the console shows it: `2026-11-27 09:00:00` (UTC).
pub(super) fn shown(at: time::OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .map(|t| {
            t.replace('T', " ")
                .trim_end_matches('Z')
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default()
}

/// `GET /admin/audit`: the audit log, newest first.
#[get("/admin/audit")]
pub async fn audit(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Err(answer) = signed_in(&state, &req).await {
        return answer;
    }
    let entries = match state.admin.audit(AUDIT_PAGE).await {
        Ok(entries) => entries,
        Err(e) => return unavailable(&state, &req, e),
    };
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "at": shown(e.at),
                "what": e.action.describe(),
                "address": e.address,
            })
        })
        .collect();
    let mut context = tera::Context::new();
    context.insert("entries", &rows);
    context.insert("limit", &AUDIT_PAGE);
    state
        .documents
        .pages
        .page(StatusCode::OK, "admin_audit.html", &context, ADMIN_PAGE_CSP)
}

/// `GET /admin/login`: the sign-in form (the console when already signed in).
#[get("/admin/login")]
pub async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HomeQuery>,
) -> HttpResponse {
    if !state.admin.is_on() {
        return off();
    }
    if let Some(token) = state.browser.admin_session(&req) {
        if state.admin.session(&token).await.is_ok() {
            return super::see_other("/admin");
        }
    }
    let notice = query.changed.is_some().then_some(
        "The password was changed and every admin session ended. Sign in with the new one.",
    );
    login_page_with(&state, &req, StatusCode::OK, notice, None)
}

/// `POST /admin/login`: the password, checked off the async threads; a session cookie for
/// the right one, one generic answer for any wrong one, 429 past the limits.
#[post("/admin/login")]
pub async fn log_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if !state.admin.is_on() {
        return off();
    }
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return forbidden(&state, &req, Forbidden::BadToken);
    };
    if let Err(why) = state
        .browser
        .check_form(&req, form.csrf.as_deref(), LOGIN_PURPOSE)
    {
        return forbidden(&state, &req, why);
    }
    let password = SecretString::from(form.password.unwrap_or_default());
    match state
        .admin
        .log_in(&password, &super::client_address(&req))
        .await
    {
        Ok(token) => {
            let mut response = super::see_other("/admin");
            let _ = response.add_cookie(
                &state
                    .browser
                    .admin_cookie(token.expose_secret(), CookieDuration::hours(8)),
            );
            response
        }
        Err(e) => login_refused(&state, &req, e),
    }
}

/// The sign-in page again, saying why (never which part of a wrong password was wrong).
fn login_refused(state: &AppState, req: &HttpRequest, e: AdminLoginError) -> HttpResponse {
    match e {
        AdminLoginError::Off => off(),
        AdminLoginError::WrongPassword => login_page_with(
            state,
            req,
            StatusCode::UNAUTHORIZED,
            None,
            Some("That password is not right."),
        ),
        AdminLoginError::TooMany { retry_after } => {
            let response = login_page_with(
                state,
                req,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some(&super::too_many_wrong_passwords(retry_after)),
            );
            super::with_retry_after(response, retry_after)
        }
        AdminLoginError::Storage(e) => unavailable(state, req, e),
        AdminLoginError::Internal(e) => unavailable(state, req, e),
    }
}

/// `POST /admin/logout`: ends the session and clears the cookie.
#[post("/admin/logout")]
pub async fn log_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, _) = match signed_in_form::<SignedInForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    if let Err(e) = state
        .admin
        .log_out(&token, &super::client_address(&req))
        .await
    {
        return unavailable(&state, &req, e);
    }
    let mut response = super::see_other("/admin/login");
    let _ = response.add_cookie(&state.browser.clear_admin_cookie());
    response
}

/// `GET /admin/password`: the form to change the password.
#[get("/admin/password")]
pub async fn password_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (token, _) = match signed_in(&state, &req).await {
        Ok(signed_in) => signed_in,
        Err(answer) => return answer,
    };
    password_form(&state, &req, &token, StatusCode::OK, None)
}

fn password_form(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("error", &error);
    console_page(state, req, token, "admin_password.html", context, status)
}

/// `POST /admin/password`: the current password, checked like a sign-in, and the new one
/// twice; then every admin session ends and the browser signs in again.
#[post("/admin/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, form) = match signed_in_form::<PasswordForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let new = form.new.unwrap_or_default();
    if form.again.as_deref() != Some(new.as_str()) {
        return password_form(
            &state,
            &req,
            &token,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("The new password and its repetition differ."),
        );
    }
    let new = match NewPassword::parse(&new) {
        Ok(new) => new,
        Err(e) => {
            return password_form(
                &state,
                &req,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&format!("The new password is refused: {e}.")),
            )
        }
    };
    let current = SecretString::from(form.current.unwrap_or_default());
    match state
        .admin
        .change_password(&current, &new, &super::client_address(&req))
        .await
    {
        Ok(()) => {
            let mut response = super::see_other("/admin/login?changed=1");
            let _ = response.add_cookie(&state.browser.clear_admin_cookie());
            response
        }
        Err(AdminLoginError::WrongPassword) => password_form(
            &state,
            &req,
            &token,
            StatusCode::UNAUTHORIZED,
            Some("The current password is not right. Nothing was changed."),
        ),
        Err(e) => login_refused(&state, &req, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gptgate_domain::AccountStatus;

    #[test]
    fn account_states_read_as_people_say_them() {
        for (status, enabled, text) in [
            (AccountStatus::Active, true, "working"),
            (AccountStatus::Active, false, "turned off by its user"),
            (
                AccountStatus::ReauthRequired,
                true,
                "must be connected again",
            ),
            (
                AccountStatus::ReauthRequired,
                false,
                "must be connected again, turned off",
            ),
            (AccountStatus::Revoked, true, "revoked"),
            (AccountStatus::Revoked, false, "revoked, turned off"),
        ] {
            assert_eq!(account_state(status, enabled), text);
        }
    }

    #[test]
    fn times_show_to_the_second_in_utc() {
        let at = time::macros::datetime!(2026-11-27 09:05:03.123456 UTC);
        assert_eq!(shown(at), "2026-11-27 09:05:03");
    }
}
