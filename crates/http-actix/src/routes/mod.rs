//! The HTTP endpoints, one module per area. Handlers are thin: DTO -> domain types ->
//! service call -> DTO.

pub mod actions;
pub mod admin;
pub mod admin_keys;
pub mod admin_platforms;
pub mod auth;
pub mod authorize;
pub mod chat;
pub mod connect;
pub mod connections;
pub mod conversation_dto;
pub mod conversations;
pub mod download;
pub mod integrations;
pub mod lti;
pub mod mcp;
pub mod me;
pub mod meta;
pub mod oauth;
pub mod profile;

use actix_web::web;

/// Every route pattern and its methods, to tell "no such endpoint" (404) from "not with this
/// method" (405, with `Allow`).
pub const PATHS: &[(&str, &str)] = &[
    ("/auth/send-link", "POST"),
    ("/auth/verify-email", "POST"),
    ("/auth/logout", "POST"),
    ("/conversations", "POST"),
    ("/conversations/list", "POST"),
    ("/conversations/{id}", "DELETE"),
    ("/conversations/{id}/delete", "POST"),
    ("/me/delete", "POST"),
    ("/me/export", "POST"),
    ("/me/export/download", "GET"),
    ("/me/export/download", "POST"),
    ("/api/gpt/create-auth-link", "POST"),
    ("/api/gpt/create-management-link", "POST"),
    ("/api/gpt/accounts", "GET"),
    ("/api/gpt/accounts/list", "POST"),
    ("/api/gpt/accounts/{id}/toggle", "POST"),
    ("/api/gpt/accounts/{id}", "DELETE"),
    ("/api/gpt/accounts/{id}/delete", "POST"),
    ("/api/gpt/actions", "GET"),
    ("/api/gpt/actions/{provider}/{action}", "POST"),
    ("/auth/start", "GET"),
    ("/auth/start", "POST"),
    ("/auth/callback/{provider}", "GET"),
    ("/integrations", "GET"),
    ("/integrations", "POST"),
    ("/integrations/accounts/{id}/enabled", "POST"),
    ("/integrations/accounts/{id}/remove", "POST"),
    ("/integrations/connect", "POST"),
    ("/integrations/sign-out", "POST"),
    ("/integrations/apps/{grant}/revoke", "POST"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/openapi.json", "GET"),
    ("/openapi.yaml", "GET"),
    ("/privacy-policy", "GET"),
    ("/.well-known/oauth-authorization-server", "GET"),
    ("/.well-known/oauth-protected-resource", "GET"),
    ("/.well-known/oauth-protected-resource/mcp", "GET"),
    ("/oauth/authorize", "GET"),
    ("/oauth/authorize", "POST"),
    ("/oauth/authorize/email", "POST"),
    ("/oauth/authorize/code", "POST"),
    ("/oauth/token", "POST"),
    ("/oauth/revoke", "POST"),
    ("/oauth/register", "POST"),
    ("/admin", "GET"),
    ("/admin/login", "GET"),
    ("/admin/login", "POST"),
    ("/admin/logout", "POST"),
    ("/admin/password", "GET"),
    ("/admin/password", "POST"),
    ("/admin/audit", "GET"),
    ("/admin/privacy", "GET"),
    ("/admin/privacy", "POST"),
    ("/admin/profile", "GET"),
    ("/admin/profile", "POST"),
    ("/admin/profile/publish", "POST"),
];

/// The answer for a request no route took: 405 with `Allow` when the path exists with other
/// methods, else 404.
pub async fn unmatched(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    use actix_web::dev::ResourceDef;
    use actix_web::http::StatusCode;
    static KNOWN: std::sync::OnceLock<Vec<(ResourceDef, &'static str)>> =
        std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        PATHS
            .iter()
            .map(|(p, m)| (ResourceDef::new(*p), *m))
            .collect()
    });
    let mut allow: Vec<&str> = known
        .iter()
        .filter(|(r, _)| r.is_match(req.path()))
        .map(|(_, m)| *m)
        .collect();
    if allow.is_empty() {
        return Err(crate::error::ApiError::for_status(StatusCode::NOT_FOUND));
    }
    allow.dedup();
    Err(
        crate::error::ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)
            .with_allow(allow.join(", ")),
    )
}

/// Registers every endpoint.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(auth::send_link)
        .service(auth::verify_email)
        .service(auth::logout)
        .service(conversations::add)
        .service(conversations::list)
        .service(conversations::delete)
        .service(conversations::delete_with_token)
        .service(me::delete_me)
        .service(me::export_me)
        .service(download::page)
        .service(download::download)
        .service(connections::create_auth_link)
        .service(connections::create_management_link)
        .service(connections::list_accounts)
        .service(connections::list_accounts_with_token)
        .service(connections::toggle_account)
        .service(connections::delete_account)
        .service(connections::delete_account_with_token)
        .service(profile::published)
        .service(actions::catalog)
        .service(actions::run)
        .service(connect::start_page)
        .service(connect::start)
        .service(connect::callback)
        .service(integrations::page)
        .service(integrations::open)
        .service(integrations::set_enabled)
        .service(integrations::remove)
        .service(integrations::connect)
        .service(integrations::sign_out)
        .service(integrations::revoke_app)
        .service(meta::healthz)
        .service(meta::readyz)
        .service(meta::metrics)
        .service(meta::openapi_json)
        .service(meta::openapi_yaml)
        .service(meta::privacy_policy)
        .service(oauth::server_metadata)
        .service(oauth::resource_metadata)
        .service(authorize::authorize)
        .service(authorize::send_code)
        .service(authorize::verify_code)
        .service(authorize::decide)
        .service(oauth::token)
        .service(oauth::revoke)
        .service(oauth::register)
        .service(admin::home)
        .service(admin::login_page)
        .service(admin::log_in)
        .service(admin::log_out)
        .service(admin::password_page)
        .service(admin::change_password)
        .service(admin::audit)
        .service(admin::privacy_page)
        .service(admin::set_privacy)
        .service(admin::profile_page)
        .service(admin::save_profile)
        .service(admin::publish_profile)
        .service(admin_platforms::list)
        .service(admin_platforms::register)
        .service(admin_platforms::register_lti)
        .service(admin_platforms::remove)
        .service(admin_keys::list)
        .service(admin_keys::create)
        .service(admin_keys::revoke)
        .service(admin::chat_access_page)
        .service(admin::set_team_password)
        .service(admin::switch_off_team_password)
        .service(chat::chat_page)
        .service(chat::chat_script)
        .service(chat::log_in)
        .service(chat::log_out)
        .service(chat::launch)
        .service(lti::login_get)
        .service(lti::login_post)
        .service(lti::launch)
        .service(lti::key_set)
        .service(chat::ask);
}

/// `{"success": true, "message": "..."}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Success {
    pub success: bool,
    pub message: String,
}

impl Success {
    pub fn new(message: &str) -> Self {
        Self {
            success: true,
            message: message.to_owned(),
        }
    }
}

/// A body that may carry only the session token.
#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
pub struct TokenBody {
    /// The session token from verifyCode, if the GPT passes it in the body.
    pub token: Option<String>,
}

crate::extract::carries_token!(TokenBody);

/// A page with a form that changes something: the form's CSRF token (bound to this browser's
/// pre-session cookie, set here if it has none) goes into `context` as `csrf`, and the page is
/// sent with `Referrer-Policy: same-origin`, since browsers blank the `Origin` of the form's
/// POST under `no-referrer` and the POST checks it.
pub(crate) fn form_page(
    state: &crate::state::AppState,
    req: &actix_web::HttpRequest,
    template: &str,
    mut context: tera::Context,
    purpose: &str,
    csp: &'static str,
) -> actix_web::HttpResponse {
    use actix_web::http::{header, StatusCode};
    let (pre_session, new_cookie) = match state.browser.pre_session(req, state.random.as_ref()) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::error!(error = %e, "no randomness for a pre-session");
            return actix_web::HttpResponse::InternalServerError().finish();
        }
    };
    context.insert("csrf", &state.browser.csrf_token(&pre_session, purpose));
    let mut response = state
        .documents
        .pages
        .page(StatusCode::OK, template, &context, csp);
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    if let Some(cookie) = new_cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// A 303 to `to` (after a form post, or to the sign-in page).
pub(crate) fn see_other(to: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, to.to_owned()))
        .finish()
}

/// The client's address, for the per-address limits and the audit log: the direct peer, or
/// behind a proxy listed in `TRUSTED_PROXIES` the client its `X-Forwarded-For` names
/// ([`crate::client_ip`]).
pub(crate) fn client_address(req: &actix_web::HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".to_owned();
    };
    let Some(state) = req.app_data::<web::Data<crate::state::AppState>>() else {
        return peer.to_string();
    };
    // Read leniently: a byte that is not text spoils only its own hop (a proxy that joins the
    // client's value and the real address into one line still names the real one).
    let forwarded: Vec<String> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let forwarded: Vec<&str> = forwarded.iter().map(String::as_str).collect();
    if !forwarded.is_empty() && !state.trusted_proxies.trusts(peer) {
        untrusted_forwarding_seen(peer);
    }
    state.trusted_proxies.client(peer, &forwarded).to_string()
}

/// Says once per process that `X-Forwarded-For` came from a peer `TRUSTED_PROXIES` does not
/// list: right when a client wrote it, but behind an unlisted proxy every client shares the
/// proxy's address, and with it the per-address limits.
fn untrusted_forwarding_seen(peer: std::net::IpAddr) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "X-Forwarded-For came from an address TRUSTED_PROXIES does not list, and was ignored; if gptgate runs behind a proxy, list the proxy there, or every client behind it counts as one address for the per-address limits"
        );
    }
}

/// A page refused by a limit: `Retry-After` in whole seconds, rounded up (at least 1).
pub(crate) fn with_retry_after(
    mut response: actix_web::HttpResponse,
    retry_after: time::Duration,
) -> actix_web::HttpResponse {
    response.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(crate::error::retry_after_seconds(retry_after)),
    );
    response
}

/// What a sign-in page says when wrong passwords have locked it for `retry_after`.
pub(crate) fn too_many_wrong_passwords(retry_after: time::Duration) -> String {
    let minutes = (retry_after.whole_seconds() + 59) / 60;
    format!(
        "Too many wrong passwords. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    )
}

/// `response` with `status`, unless it is already a failure (a page that failed to render
/// stays the 500 it is).
pub(crate) fn with_status(
    mut response: actix_web::HttpResponse,
    status: actix_web::http::StatusCode,
) -> actix_web::HttpResponse {
    if response.status().is_success() {
        *response.status_mut() = status;
    }
    response
}

#[cfg(test)]
mod status_tests {
    use actix_web::http::StatusCode;
    use actix_web::HttpResponse;

    #[test]
    fn a_page_gets_its_status_unless_it_failed_to_render() {
        let ok = super::with_status(
            HttpResponse::Ok().finish(),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_eq!(ok.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let failed =
            super::with_status(HttpResponse::InternalServerError().finish(), StatusCode::OK);
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
