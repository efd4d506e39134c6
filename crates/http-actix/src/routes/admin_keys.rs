//! The admin console's API keys page (`/admin/keys`): the keys of `GPT_API_KEY` (listed, "from
//! the environment", changed only there), and the keys made here: create one with a name (the
//! key is shown once, on the answer to the form, and never again), see when each was last used,
//! revoke one at once.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use gptgate_domain::{ApiKeyId, ApiKeyName};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::admin::{
    console_page, shown, signed_in, signed_in_form, unavailable, with_csrf, WithCsrf,
};
use crate::state::AppState;

#[derive(Deserialize)]
struct CreateForm {
    csrf: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: Option<String>,
}

with_csrf!(CreateForm, RevokeForm);

#[derive(Deserialize)]
pub struct KeysQuery {
    revoked: Option<String>,
}

/// The page: every key, and `created` (a key just made, shown this once) or a notice/error.
async fn keys_page(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    created: Option<(&str, &str)>,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let (keys, error) = match state.console_keys.list().await {
        Ok(keys) => (keys, error),
        // A key just made is shown even so: it exists, and this is its one showing.
        Err(e) if created.is_some() => {
            tracing::error!(error = %e, "the API keys could not be listed");
            (
                Vec::new(),
                Some("The list of keys cannot be read right now."),
            )
        }
        Err(e) => return unavailable(state, req, e),
    };
    let made: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "id": k.id.to_string(),
                "name": k.name.as_str(),
                "created": shown(k.created_at),
                "last_used": k.last_used_at.map(shown),
                "revoked": k.revoked_at.map(shown),
            })
        })
        .collect();
    let mut context = tera::Context::new();
    context.insert("environment", state.api_keys.environment_ids());
    context.insert("keys", &made);
    context.insert(
        "created",
        &created.map(|(name, key)| serde_json::json!({ "name": name, "key": key })),
    );
    context.insert("notice", &notice);
    context.insert("error", &error);
    context.insert("max_name", &ApiKeyName::MAX);
    let mut response = console_page(state, req, token, "admin_keys.html", context, status);
    // The page may hold a key just made: never kept by a cache.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `GET /admin/keys`.
#[get("/admin/keys")]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<KeysQuery>,
) -> HttpResponse {
    let (token, _) = match signed_in(&state, &req).await {
        Ok(signed_in) => signed_in,
        Err(answer) => return answer,
    };
    let notice = query
        .revoked
        .as_deref()
        .map(|_| "Revoked. The key opens nothing from now on (other instances within seconds).");
    keys_page(&state, &req, &token, StatusCode::OK, None, notice, None).await
}

/// `POST /admin/keys`: makes a key named as typed and shows it, this once.
#[post("/admin/keys")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (token, form) = match signed_in_form::<CreateForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let name = match ApiKeyName::parse(form.name.as_deref().unwrap_or_default()) {
        Ok(name) => name,
        Err(e) => {
            let error = format!("Nothing was made: {e}.");
            return keys_page(
                &state,
                &req,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                None,
                Some(&error),
            )
            .await;
        }
    };
    match state
        .console_keys
        .create(name, &super::client_address(&req))
        .await
    {
        Ok(made) => {
            keys_page(
                &state,
                &req,
                &token,
                StatusCode::OK,
                Some((made.stored.name.as_str(), made.key.expose_secret())),
                None,
                None,
            )
            .await
        }
        Err(e) => unavailable(&state, &req, e),
    }
}

/// `POST /admin/keys/{id}/revoke`: revokes a key at once.
#[post("/admin/keys/{id}/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (token, _) = match signed_in_form::<RevokeForm>(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let revoked = match path.parse::<ApiKeyId>() {
        Ok(id) => {
            state
                .console_keys
                .revoke(id, &super::client_address(&req))
                .await
        }
        Err(_) => Ok(false),
    };
    match revoked {
        Ok(true) => super::see_other("/admin/keys?revoked=1"),
        Ok(false) => {
            keys_page(
                &state,
                &req,
                &token,
                StatusCode::NOT_FOUND,
                None,
                None,
                Some("There is no such key, or it was revoked already."),
            )
            .await
        }
        Err(e) => unavailable(&state, &req, e),
    }
}
