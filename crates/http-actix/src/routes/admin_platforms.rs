//! The admin console's learning platforms page (`/admin/platforms`): the platforms that may
//! send visitors to the chat with a token they sign — register one (its issuer, its key with
//! the algorithm pinned, the origins that may embed the chat), remove one (its visitors'
//! sessions end); and the platforms registered for LTI 1.3 (issuer, client id, login URL, key
//! set, deployments, embedding origins), with what to enter in the platform.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use gptgate_domain::{PlatformId, StoredLaunchKey};
use gptgate_ports::services::{KeyInput, LtiRegistration, RegisterLtiError, RegisterPlatformError};
use secrecy::SecretString;
use serde::Deserialize;

use super::admin::{
    console_page, shown, signed_in, signed_in_form, unavailable, with_csrf, WithCsrf,
};
use crate::state::AppState;

#[derive(Deserialize)]
struct RegisterForm {
    csrf: Option<String>,
    name: Option<String>,
    issuer: Option<String>,
    key_type: Option<String>,
    key: Option<String>,
    origins: Option<String>,
}

#[derive(Deserialize)]
struct RemoveForm {
    csrf: Option<String>,
}

#[derive(Deserialize)]
struct LtiForm {
    csrf: Option<String>,
    name: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    login_url: Option<String>,
    key_set_url: Option<String>,
    deployments: Option<String>,
    origins: Option<String>,
}

with_csrf!(RegisterForm, RemoveForm, LtiForm);

/// A text area's lines.
fn lines(text: Option<String>) -> Vec<String> {
    text.unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[derive(Deserialize)]
pub struct PlatformsQuery {
    changed: Option<String>,
}

async fn platforms_page(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let platforms = match state.launches.platforms().await {
        Ok(platforms) => platforms,
        Err(e) => return unavailable(state, req, e),
    };
    let listed: Vec<serde_json::Value> = platforms
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id.to_string(),
                "name": p.name.as_str(),
                "issuer": p.issuer.as_str(),
                "algorithm": match p.key {
                    StoredLaunchKey::EdDsa { .. } => "EdDSA",
                    StoredLaunchKey::Rs256 { .. } => "RS256",
                    StoredLaunchKey::Hs256 { .. } => "HS256",
                },
                "origins": p.origins.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                "created": shown(p.created_at),
            })
        })
        .collect();
    let lti = match state.lti.platforms().await {
        Ok(lti) => lti,
        Err(e) => return unavailable(state, req, e),
    };
    let lti: Vec<serde_json::Value> = lti
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id.to_string(),
                "name": p.name.as_str(),
                "issuer": p.issuer.as_str(),
                "client_id": p.client_id.as_str(),
                "deployments": p.deployments.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                "origins": p.origins.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut context = tera::Context::new();
    context.insert("platforms", &listed);
    context.insert("lti_platforms", &lti);
    context.insert("audience", state.launches.audience());
    context.insert("notice", &notice);
    context.insert("error", &error);
    console_page(state, req, token, "admin_platforms.html", context, status)
}

/// The page again, saying why nothing was registered (422).
async fn not_registered(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    why: &dyn std::fmt::Display,
) -> HttpResponse {
    let error = format!("Nothing was registered: {why}.");
    platforms_page(
        state,
        req,
        token,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        Some(&error),
    )
    .await
}

/// `GET /admin/platforms`.
#[get("/admin/platforms")]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PlatformsQuery>,
) -> HttpResponse {
    let (token, _) = match signed_in(&state, &req).await {
        Ok(signed_in) => signed_in,
        Err(answer) => return answer,
    };
    let notice = match query.changed.as_deref() {
        Some("added") => Some("Registered. The platform can send its visitors now."),
        Some("removed") => Some(
            "Removed. Its visitors have been signed out of the chat, and its tokens open nothing.",
        ),
        _ => None,
    };
    platforms_page(&state, &req, &token, StatusCode::OK, notice, None).await
}

/// `POST /admin/platforms`: registers a platform.
#[post("/admin/platforms")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, form) = match signed_in_form::<RegisterForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let key = form.key.unwrap_or_default();
    let key = match form.key_type.as_deref() {
        Some("eddsa") => KeyInput::EdDsa { public_pem: key },
        Some("rs256") => KeyInput::Rs256 { public_pem: key },
        Some("hs256") => KeyInput::Hs256 {
            secret: SecretString::from(key),
        },
        _ => return not_registered(&state, &req, &token, &"choose the kind of key").await,
    };
    let origins = lines(form.origins);
    let registered = state
        .launches
        .register(
            form.name.as_deref().unwrap_or_default(),
            form.issuer.as_deref().unwrap_or_default(),
            key,
            &origins,
            &super::client_address(&req),
        )
        .await;
    match registered {
        Ok(_) => super::see_other("/admin/platforms?changed=added"),
        Err(RegisterPlatformError::Storage(e)) => unavailable(&state, &req, e),
        Err(RegisterPlatformError::Internal(e)) => unavailable(&state, &req, e),
        Err(refused) => not_registered(&state, &req, &token, &refused).await,
    }
}

/// `POST /admin/platforms/lti`: registers a platform for LTI 1.3.
#[post("/admin/platforms/lti")]
pub async fn register_lti(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, form) = match signed_in_form::<LtiForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let input = LtiRegistration {
        name: form.name.unwrap_or_default(),
        issuer: form.issuer.unwrap_or_default(),
        client_id: form.client_id.unwrap_or_default(),
        login_url: form.login_url.unwrap_or_default(),
        key_set_url: form.key_set_url.unwrap_or_default(),
        deployments: lines(form.deployments),
        origins: lines(form.origins),
    };
    match state
        .lti
        .register(&input, &super::client_address(&req))
        .await
    {
        Ok(_) => super::see_other("/admin/platforms?changed=added"),
        Err(RegisterLtiError::Storage(e)) => unavailable(&state, &req, e),
        Err(RegisterLtiError::Internal(e)) => unavailable(&state, &req, e),
        Err(refused) => not_registered(&state, &req, &token, &refused).await,
    }
}

/// `POST /admin/platforms/{id}/remove`: either kind.
#[post("/admin/platforms/{id}/remove")]
pub async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (token, _) = match signed_in_form::<RemoveForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let removed = match path.parse::<PlatformId>() {
        Ok(id) => {
            state
                .launches
                .remove(id, &super::client_address(&req))
                .await
        }
        Err(_) => Ok(false),
    };
    match removed {
        Ok(true) => super::see_other("/admin/platforms?changed=removed"),
        Ok(false) => {
            platforms_page(
                &state,
                &req,
                &token,
                StatusCode::NOT_FOUND,
                None,
                Some("There is no such platform."),
            )
            .await
        }
        Err(e) => unavailable(&state, &req, e),
    }
}
