//! The HTTP endpoints, one module per area. Handlers are thin: DTO -> domain types ->
//! service call -> DTO.

pub mod auth;
pub mod connections;
pub mod conversations;
pub mod me;
pub mod meta;

use actix_web::web;

/// Every route pattern, to tell "no such endpoint" (404) from "not with this method" (405).
pub const PATHS: &[&str] = &[
    "/auth/send-link",
    "/auth/verify-email",
    "/auth/logout",
    "/conversations",
    "/conversations/list",
    "/conversations/{id}",
    "/me/delete",
    "/api/gpt/create-auth-link",
    "/api/gpt/create-management-link",
    "/api/gpt/accounts",
    "/api/gpt/accounts/{id}/toggle",
    "/api/gpt/accounts/{id}",
    "/auth/start",
    "/auth/callback/{provider}",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/openapi.yaml",
    "/privacy-policy",
];

/// The answer for a request no route took: 405 when the path exists with other methods.
pub async fn unmatched(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    use actix_web::dev::ResourceDef;
    use actix_web::http::StatusCode;
    static KNOWN: std::sync::OnceLock<Vec<ResourceDef>> = std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(|| PATHS.iter().map(|p| ResourceDef::new(*p)).collect());
    let status = if known.iter().any(|r| r.is_match(req.path())) {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        StatusCode::NOT_FOUND
    };
    Err(crate::error::ApiError::for_status(status))
}

/// Registers every endpoint.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(auth::send_link)
        .service(auth::verify_email)
        .service(auth::logout)
        .service(conversations::add)
        .service(conversations::list)
        .service(conversations::delete)
        .service(me::delete_me)
        .service(connections::create_auth_link)
        .service(connections::create_management_link)
        .service(connections::list_accounts)
        .service(connections::toggle_account)
        .service(connections::delete_account)
        .service(connections::start)
        .service(connections::callback)
        .service(meta::healthz)
        .service(meta::readyz)
        .service(meta::openapi_json)
        .service(meta::openapi_yaml)
        .service(meta::privacy_policy);
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
