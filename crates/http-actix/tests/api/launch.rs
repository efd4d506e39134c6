//! The platform-signed launch over HTTP: a platform registered in the console sends its
//! visitor with a JWT it signs (HS256 here; EdDSA and RS256 are tested in the adapter) from a
//! page of an origin it listed; the visitor gets a chat session and a chat that only that
//! origin may frame. Replays, other origins and removed platforms open nothing.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{error_code, field, Browser, TestApp, PUBLIC_URL};

const SECRET: &str = "a random secret shared with the platform, 43 characters+";
const ORIGIN: &str = "https://learn.example.com";
const ISSUER: &str = "https://learn.example.com";

async fn app() -> TestApp {
    crate::helpers::console_app().await
}

async fn console(app: &TestApp) -> Browser {
    crate::helpers::console_browser(app).await
}

async fn register(admin: &Browser, key_type: &str, key: &str, origins: &str) -> (u16, String) {
    let csrf = field(&admin.open("/admin/platforms").await.1, "csrf");
    let res = admin
        .post_form_to(
            "/admin/platforms",
            &[
                ("csrf", &csrf),
                ("name", "Learn"),
                ("issuer", ISSUER),
                ("key_type", key_type),
                ("key", key),
                ("origins", origins),
            ],
        )
        .await;
    if res.status() == 303 {
        // Post/redirect/get: the page after says what was done.
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        return admin.open(&to).await;
    }
    (res.status().as_u16(), res.text().await.unwrap())
}

/// A launch token for `jti`, signed with the platform's secret; the test clock's time.
fn token(jti: &str) -> String {
    let now = time::macros::datetime!(2026-01-01 12:00 UTC).unix_timestamp();
    let claims = json!({
        "iss": ISSUER, "aud": PUBLIC_URL, "sub": "student-42",
        "iat": now, "exp": now + 300, "jti": jti,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn launch(visitor: &Browser, token: &str, origin: Option<&str>) -> reqwest::Response {
    let mut request = visitor
        .client
        .post(visitor.local("/chat/launch"))
        .form(&[("token", token)]);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_registered_platform_launches_its_visitor_into_a_chat_only_it_may_frame() {
    let app = app().await;
    let admin = console(&app).await;
    let (status, page) = register(&admin, "hs256", SECRET, ORIGIN).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Registered.") && page.contains(ISSUER),
        "{page}"
    );
    assert!(!page.contains(SECRET), "the secret is never shown");

    let visitor = Browser::new(&app.address);
    let res = launch(&visitor, &token("launch-1"), Some(ORIGIN)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/chat");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("gptgate-launch=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let res = visitor.get("/chat").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.ends_with(&format!("frame-ancestors {ORIGIN}")),
        "only the platform's origin may frame it: {csp}"
    );
    let page = res.text().await.unwrap();
    let marker = "data-csrf=\"";
    let csrf = page[page.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // A launched visitor may not try profile versions (and needs a published profile first).
    let ask = visitor
        .client
        .post(visitor.local("/api/chat"))
        .header("origin", PUBLIC_URL)
        .header("x-csrf-token", &csrf)
        .json(&json!({ "messages": [{ "role": "user", "content": "Hola" }], "profile": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(ask, 403).await, "profile_not_allowed");

    // The same token again: refused.
    let again = Browser::new(&app.address);
    let res = launch(&again, &token("launch-1"), Some(ORIGIN)).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("could not be accepted"));

    // Removing the platform signs its visitor out.
    let id = admin
        .open("/admin/platforms")
        .await
        .1
        .split("action=\"/admin/platforms/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    let csrf_admin = field(&admin.open("/admin/platforms").await.1, "csrf");
    let res = admin
        .post_form_to(
            &format!("/admin/platforms/{id}/remove"),
            &[("csrf", &csrf_admin)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (_, page) = visitor.open("/chat").await;
    assert!(
        page.contains("Sign in to the chat") && !page.contains("data-csrf"),
        "signed out: {page}"
    );
}

#[tokio::test]
async fn a_launch_from_another_page_or_with_a_bad_token_opens_nothing() {
    let app = app().await;
    let admin = console(&app).await;
    register(&admin, "hs256", SECRET, ORIGIN).await;
    let visitor = Browser::new(&app.address);
    for origin in [None, Some("https://evil.example"), Some(PUBLIC_URL)] {
        let res = launch(&visitor, &token("launch-2"), origin).await;
        assert_eq!(res.status(), 403, "{origin:?}");
        assert!(res.headers().get("set-cookie").is_none());
    }
    for bad in ["", "not a token", &token("launch-2").replace('.', "x")] {
        assert_eq!(launch(&visitor, bad, Some(ORIGIN)).await.status(), 403);
    }
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "iss": ISSUER, "aud": PUBLIC_URL, "sub": "x", "exp": 1_767_269_100, "jti": "f" }),
        &EncodingKey::from_secret(b"not the platform's secret, but 32+ long"),
    )
    .unwrap();
    assert_eq!(launch(&visitor, &forged, Some(ORIGIN)).await.status(), 403);
    // None of the refusals spent the id.
    assert_eq!(
        launch(&visitor, &token("launch-2"), Some(ORIGIN))
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn registrations_are_checked_and_need_the_console() {
    let app = app().await;
    let admin = console(&app).await;
    for (key_type, key, origins, says) in [
        ("hs256", "too short", ORIGIN, "cannot be used"),
        ("rs256", "not a pem", ORIGIN, "cannot be used"),
        ("hs256", SECRET, "http://learn.example.com", "origin"),
        ("hs256", SECRET, "", "origin"),
        ("", SECRET, ORIGIN, "choose the kind of key"),
    ] {
        let (status, page) = register(&admin, key_type, key, origins).await;
        assert_eq!(status, 422, "{key_type} {origins}");
        assert!(page.contains(says), "{says}: {page}");
    }
    let (status, _) = register(&admin, "hs256", SECRET, ORIGIN).await;
    assert_eq!(status, 200);
    let (status, page) = register(&admin, "hs256", SECRET, ORIGIN).await;
    assert_eq!(status, 422);
    assert!(page.contains("registered already"));
    // Without a console session: sent to the sign-in page, nothing registered.
    let stranger = Browser::new(&app.address);
    let csrf = field(&stranger.open("/admin/login").await.1, "csrf");
    let res = stranger
        .post_form_to(
            "/admin/platforms",
            &[
                ("csrf", csrf.as_str()),
                ("name", "x"),
                ("issuer", "https://other.example"),
                ("key_type", "hs256"),
                ("key", SECRET),
                ("origins", ORIGIN),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/login");
    let listed = admin.open("/admin/platforms").await.1;
    assert!(!listed.contains("https://other.example"), "{listed}");
}
