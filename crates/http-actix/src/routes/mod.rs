//! The HTTP endpoints, one module per area. Handlers are thin: DTO -> domain types ->
//! service call -> DTO.

pub mod auth;
pub mod connections;
pub mod conversations;
pub mod me;
pub mod meta;

use actix_web::web;

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
