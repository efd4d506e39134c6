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

/// `GET /metrics`: the Prometheus text format. With `METRICS_TOKEN` set, only for
/// `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time); a missing or wrong one
/// is `401` in the error shape.
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: actix_web::HttpRequest) -> HttpResponse {
    if let Some((key, tag)) = &state.metrics_token {
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if ring::hmac::verify(key, presented.as_bytes(), tag.as_ref()).is_err() {
            use actix_web::ResponseError;
            return ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send the METRICS_TOKEN as Authorization: Bearer <token>.",
            )
            .error_response();
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.store.pool_use()))
}
