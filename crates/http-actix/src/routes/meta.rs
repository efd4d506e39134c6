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

/// `?auth=oauth` asks for the document of a GPT on OAuth sign-in; without it, or with
/// `auth=apikey`, the API-key one.
#[derive(serde::Deserialize)]
pub struct DocumentQuery {
    auth: Option<String>,
}

impl DocumentQuery {
    fn oauth(&self) -> Result<bool, ApiError> {
        match self.auth.as_deref() {
            None | Some("apikey") => Ok(false),
            Some("oauth") => Ok(true),
            Some(_) => Err(ApiError::bad_request(
                "invalid_auth",
                "auth must be apikey (the default) or oauth.",
            )),
        }
    }
}

#[get("/openapi.json")]
pub async fn openapi_json(
    state: web::Data<AppState>,
    query: web::Query<DocumentQuery>,
) -> Result<HttpResponse, ApiError> {
    let docs = &state.documents;
    let body = if query.oauth()? {
        docs.openapi_oauth_json.clone()
    } else {
        docs.openapi_json.clone()
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

#[get("/openapi.yaml")]
pub async fn openapi_yaml(
    state: web::Data<AppState>,
    query: web::Query<DocumentQuery>,
) -> Result<HttpResponse, ApiError> {
    let docs = &state.documents;
    let body = if query.oauth()? {
        docs.openapi_oauth_yaml.clone()
    } else {
        docs.openapi_yaml.clone()
    };
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(body))
}

#[get("/privacy-policy")]
pub async fn privacy_policy(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // The operator's retention settings, as they are now (one small read).
    let settings = state.admin.privacy().await?;
    let html = state
        .documents
        .privacy
        .html(&state.documents.pages, settings)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((header::CONTENT_SECURITY_POLICY, crate::pages::PAGE_CSP))
        .body(html))
}
