//! The browser side of a data export too large for one answer: the link opens a page that
//! says what it downloads (and changes nothing), and its button downloads the file, once.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use gptgate_ports::services::ExportError;
use serde::Deserialize;

use super::connect::forbidden_page;
use super::me::ExportDto;
use crate::browser::Forbidden;
use crate::error::ApiError;
use crate::state::AppState;

/// The policy of the download page: its form posts here, and the answer is a file.
const DOWNLOAD_PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What the CSRF token of the download form is bound to, besides the browser.
const PURPOSE: &str = "export-download";

#[derive(Deserialize)]
pub struct DownloadQuery {
    token: Option<String>,
}

/// Opens a download link: a page with one button. Opening it uses nothing up.
#[get("/me/export/download")]
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<DownloadQuery>,
) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("service", state.exports.service_name());
    context.insert("token", query.token.as_deref().unwrap_or_default());
    super::form_page(
        &state,
        &req,
        "export_download.html",
        context,
        PURPOSE,
        DOWNLOAD_PAGE_CSP,
    )
}

#[derive(Deserialize)]
struct DownloadForm {
    token: Option<String>,
    csrf: Option<String>,
}

/// The page's button: checks the form, uses the link up and answers the export as a file.
#[post("/me/export/download")]
pub async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form: DownloadForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => return forbidden_page(&state, Forbidden::BadToken),
    };
    if let Err(why) = state
        .browser
        .check_form(&req, form.csrf.as_deref(), PURPOSE)
    {
        return forbidden_page(&state, why);
    }
    let pages = &state.documents.pages;
    let export = match state
        .exports
        .redeem(form.token.as_deref().unwrap_or_default())
        .await
    {
        Ok(export) => export,
        Err(ExportError::InvalidLink | ExportError::NoSuchUser) => return pages.result(
            StatusCode::BAD_REQUEST,
            false,
            "This link has expired",
            "Download links work once and for 10 minutes. Ask the GPT to export your data again.",
        ),
        Err(e) => {
            tracing::error!(error = ?ApiError::from(e), "export download failed");
            return pages.result(
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
                "Something went wrong",
                "Nothing was downloaded. Please try again later.",
            );
        }
    };
    let filename = format!("gptgate-export-{}.json", export.exported_at.date());
    match serde_json::to_vec_pretty(&ExportDto::from(export)) {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ))
            .body(json),
        Err(e) => {
            tracing::error!(error = %e, "export failed to serialize");
            HttpResponse::InternalServerError().finish()
        }
    }
}
