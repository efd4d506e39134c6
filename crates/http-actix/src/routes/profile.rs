//! `GET /api/gpt/profile`: the hosted assistant's published profile, for a Custom GPT whose
//! instructions are kept in gptgate too (a build script fetches them with the API key and
//! pastes them into the GPT editor). Not an action of the GPT's OpenAPI document: the model has
//! no use for it, and with every provider configured the document already holds the 30
//! operations ChatGPT allows.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::{KeyedCall, NoBody};
use crate::state::AppState;

/// The published profile.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileDto {
    version: u32,
    name: String,
    instructions: String,
    model: String,
    temperature: f32,
    max_output_tokens: u32,
    starters: Vec<String>,
    allowed_models: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    saved_at: time::OffsetDateTime,
}

#[get("/api/gpt/profile")]
pub async fn published(
    state: web::Data<AppState>,
    _call: KeyedCall<NoBody>,
) -> Result<HttpResponse, ApiError> {
    let version = state
        .profiles
        .published()
        .await
        .map_err(|e| {
            ApiError::unavailable(
                "database_unavailable",
                "The profile cannot be read right now. Please try again in a minute.",
                e,
            )
        })?
        .ok_or_else(|| {
            ApiError::not_found(
                "no_profile_published",
                "No assistant profile is published yet: the operator publishes one in the admin console (Assistant profile).",
            )
        })?;
    let profile = version.profile;
    Ok(HttpResponse::Ok().json(ProfileDto {
        version: version.version,
        name: profile.name,
        instructions: profile.instructions,
        model: profile.model,
        temperature: profile.temperature,
        max_output_tokens: profile.max_output_tokens,
        starters: profile.starters,
        allowed_models: profile.allowed_models,
        saved_at: version.saved_at,
    }))
}
