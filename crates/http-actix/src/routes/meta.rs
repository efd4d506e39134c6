//! Public endpoints: health, the OpenAPI document, the privacy policy. No API key needed.

use actix_web::http::header::{self, ContentType};
use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await.map_err(|e| {
        ApiError::unavailable("database_unavailable", "The database does not answer.", e)
    })?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}

#[get("/openapi.json")]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(state.documents.openapi_json.clone())
}

#[get("/openapi.yaml")]
pub async fn openapi_yaml(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(state.documents.openapi_yaml.clone())
}

#[get("/privacy-policy")]
pub async fn privacy_policy(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((header::CONTENT_SECURITY_POLICY, crate::pages::PAGE_CSP))
        .body(state.documents.privacy_html.clone())
}
