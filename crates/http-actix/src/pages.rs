//! The browser pages: one layout, every template loaded once at start-up, and one response
//! builder that gives every page the same headers.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use tera::{Context, Tera};

/// Every page template, parsed once.
pub struct Pages {
    tera: Tera,
}

impl Pages {
    pub fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::new();
        tera.add_raw_templates(vec![
            ("layout.html", include_str!("../templates/layout.html")),
            (
                "connect_confirm.html",
                include_str!("../templates/connect_confirm.html"),
            ),
            ("result.html", include_str!("../templates/result.html")),
            ("chat.html", include_str!("../templates/chat.html")),
            (
                "admin_platforms.html",
                include_str!("../templates/admin_platforms.html"),
            ),
            (
                "admin_keys.html",
                include_str!("../templates/admin_keys.html"),
            ),
            (
                "admin_chat.html",
                include_str!("../templates/admin_chat.html"),
            ),
            (
                "chat_login.html",
                include_str!("../templates/chat_login.html"),
            ),
            (
                "export_download.html",
                include_str!("../templates/export_download.html"),
            ),
            ("privacy.html", include_str!("../templates/privacy.html")),
            (
                "integrations.html",
                include_str!("../templates/integrations.html"),
            ),
            (
                "integrations_open.html",
                include_str!("../templates/integrations_open.html"),
            ),
            (
                "oauth_signin.html",
                include_str!("../templates/oauth_signin.html"),
            ),
            (
                "oauth_consent.html",
                include_str!("../templates/oauth_consent.html"),
            ),
            (
                "admin_login.html",
                include_str!("../templates/admin_login.html"),
            ),
            (
                "admin_home.html",
                include_str!("../templates/admin_home.html"),
            ),
            (
                "admin_password.html",
                include_str!("../templates/admin_password.html"),
            ),
            (
                "admin_audit.html",
                include_str!("../templates/admin_audit.html"),
            ),
            (
                "admin_privacy.html",
                include_str!("../templates/admin_privacy.html"),
            ),
            (
                "admin_profile.html",
                include_str!("../templates/admin_profile.html"),
            ),
        ])?;
        Ok(Self { tera })
    }

    /// Renders `template` (autoescaped) with `context`.
    pub fn render(&self, template: &str, context: &Context) -> Result<String, tera::Error> {
        self.tera.render(template, context)
    }

    /// `template` as a page answer with `csp`; a template that fails to render is logged and
    /// answered 500 without detail.
    pub fn page(
        &self,
        status: StatusCode,
        template: &str,
        context: &Context,
        csp: &'static str,
    ) -> HttpResponse {
        match self.render(template, context) {
            Ok(body) => html(status, csp, body),
            Err(e) => {
                tracing::error!(error = %e, template, "a page failed to render");
                HttpResponse::InternalServerError().finish()
            }
        }
    }

    /// A result page: a title (green when `ok`), a message, and "return to ChatGPT".
    pub fn result(&self, status: StatusCode, ok: bool, title: &str, message: &str) -> HttpResponse {
        let mut context = Context::new();
        context.insert("ok", &ok);
        context.insert("title", title);
        context.insert("message", message);
        self.page(status, "result.html", &context, PAGE_CSP)
    }

    /// A result page for a learning platform's user, often shown inside the platform's frame:
    /// framable by any site (it holds nothing to click, so nothing to hijack), and without the
    /// ChatGPT line.
    pub fn course_result(&self, status: StatusCode, title: &str, message: &str) -> HttpResponse {
        let mut context = Context::new();
        context.insert("ok", &false);
        context.insert("course", &true);
        context.insert("title", title);
        context.insert("message", message);
        self.page(status, "result.html", &context, FRAMABLE_PAGE_CSP)
    }
}

/// The policy of a page without forms or links that may be framed anywhere: the refusals a
/// learning platform's frame shows (a blank frame would leave its user guessing).
pub const FRAMABLE_PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors *";

/// The policy of a page without forms: inline styles, nothing else, never framed.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The policy of a page whose form leads on to a provider. `form-action` is left out on
/// purpose: Chromium applies it to the redirects after the POST, and the redirect to the
/// provider (any of five origins, configurable) would be blocked. Nothing user-controlled is
/// rendered unescaped, and the form posts to this origin only.
pub const FORM_PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

/// The policy of the admin console's pages: its forms post to this origin only.
pub const ADMIN_PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// An HTML page answer with `csp`.
pub fn html(status: StatusCode, csp: &'static str, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_extends_the_layout_and_escapes_what_it_shows() {
        let pages = Pages::load().unwrap();
        let mut context = Context::new();
        context.insert("ok", &false);
        context.insert("title", "<b>Title</b>");
        context.insert("message", "a & b");
        let html = pages.render("result.html", &context).unwrap();
        assert!(html.starts_with("<!doctype html>"), "the layout: {html}");
        assert!(
            html.contains("&lt;b&gt;Title&lt;&#x2F;b&gt;")
                || html.contains("&lt;b&gt;Title&lt;/b&gt;"),
            "{html}"
        );
        assert!(html.contains("a &amp; b"));
        assert!(!html.contains("{{") && !html.contains("{%"));
    }
}
