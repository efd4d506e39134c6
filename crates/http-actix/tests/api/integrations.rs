//! The integrations page over HTTP: the management link exchanged for a session cookie, the
//! list, turning accounts off and on, removing them, adding one, and every form refused
//! without its CSRF token, from another origin, or outside the session.

use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    field, linear_knows_ann, linear_settings, param, spawn_app_with, Browser, TestApp, API_KEY,
};

struct Page {
    app: TestApp,
    linear: MockServer,
    /// Ann's GPT session token.
    ann: String,
    /// Ann's browser, signed in to the integrations page.
    browser: Browser,
}

async fn gpt(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut req = app
        .request(method, path)
        .header("x-api-key", API_KEY)
        .header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

/// Connects Linear as `label` for the user of `token`, in `browser`.
async fn connect(app: &TestApp, browser: &Browser, token: &str, label: &str) {
    let link = gpt(
        app,
        token,
        Method::POST,
        "/api/gpt/create-auth-link",
        Some(json!({ "provider": "linear", "label": label })),
    )
    .await["authUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let to = browser.start(&link).await;
    let res = browser
        .callback(
            "linear",
            &format!("code=c-{label}&state={}", param(&to, "state")),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// Opens a management link in `browser` and presses Open: the answer to the POST.
async fn open_link(browser: &Browser, link: &str) -> reqwest::Response {
    let (status, html) = browser.open(link).await;
    assert_eq!(status, 200, "{html}");
    browser
        .post_form_to(
            "/integrations",
            &[
                ("token", &field(&html, "token")),
                ("csrf", &field(&html, "csrf")),
            ],
        )
        .await
}

async fn management_link(app: &TestApp, token: &str) -> String {
    gpt(
        app,
        token,
        Method::POST,
        "/api/gpt/create-management-link",
        None,
    )
    .await["managementUrl"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn page() -> Page {
    let linear = MockServer::start().await;
    let app = spawn_app_with(&linear_settings(&linear)).await;
    linear_knows_ann(&linear).await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "lin-access", "token_type": "Bearer", "expires_in": 3600,
            "refresh_token": "lin-refresh"
        })))
        .mount(&linear)
        .await;
    let ann = app.sign_in("ann.lee@example.com").await;
    let browser = Browser::new(&app.address);
    connect(&app, &browser, &ann, "work").await;
    let link = management_link(&app, &ann).await;
    let res = open_link(&browser, &link).await;
    assert_eq!(res.status(), 303);
    Page {
        app,
        linear,
        ann,
        browser,
    }
}

impl Page {
    async fn html(&self) -> (u16, String) {
        self.browser.open("/integrations").await
    }

    async fn accounts(&self) -> Vec<Value> {
        gpt(&self.app, &self.ann, Method::GET, "/api/gpt/accounts", None).await["accounts"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn account_id(&self) -> String {
        self.accounts().await[0]["id"].as_str().unwrap().to_owned()
    }

    /// Posts `fields` plus the page's CSRF token to `path`.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let (_, html) = self.html().await;
        let csrf = field(&html, "csrf");
        let mut all = fields.to_vec();
        all.push(("csrf", &csrf));
        self.browser.post_form_to(path, &all).await
    }
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn opening_the_link_shows_whose_integrations_and_changes_nothing() {
    let linear = MockServer::start().await;
    let app = spawn_app_with(&linear_settings(&linear)).await;
    let ann = app.sign_in("ann.lee@example.com").await;
    let link = management_link(&app, &ann).await;
    let browser = Browser::new(&app.address);
    let res = browser.get(&link).await;
    assert_eq!(res.status(), 200);
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies.iter().all(|c| !c.starts_with("gptgate-session")),
        "a GET signs nobody in: {cookies:?}"
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains("the gptgate account of a***@example.com"),
        "{html}"
    );
    assert!(html.contains("Continue only if you asked your GPT for this link just now"));
    assert!(!html.contains("id=\"replaces\""));
    // Without the page's token, or from another site, Open is refused and nothing is set.
    let token = field(&html, "token");
    let csrf = field(&html, "csrf");
    for res in [
        browser
            .post_form_to("/integrations", &[("token", token.as_str())])
            .await,
        browser
            .client
            .post(browser.local("/integrations"))
            .header("origin", "https://evil.example")
            .form(&[("token", token.as_str()), ("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(res.status(), 403);
        assert!(res.headers().get("set-cookie").is_none());
    }
    assert_eq!(browser.open("/integrations").await.0, 401);
}

#[tokio::test]
async fn open_moves_the_link_into_a_session_cookie_and_out_of_the_address_bar() {
    let linear = MockServer::start().await;
    let app = spawn_app_with(&linear_settings(&linear)).await;
    let ann = app.sign_in("ann.lee@example.com").await;
    let link = management_link(&app, &ann).await;
    let browser = Browser::new(&app.address);
    let res = open_link(&browser, &link).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/integrations");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("gptgate-session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(cookie.contains("Max-Age=3600"), "{cookie}");

    let (status, html) = browser.open("/integrations").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("the gptgate account of a***@example.com"),
        "{html}"
    );
    assert!(html.contains("No accounts are connected yet."));
    assert!(
        !html.contains(&link[link.find("token=").unwrap() + 6..]),
        "the token is not echoed"
    );

    // The link can be opened again within its hour (a second browser).
    assert_eq!(
        open_link(&Browser::new(&app.address), &link).await.status(),
        303
    );
}

#[tokio::test]
async fn a_page_left_open_on_one_account_cannot_act_after_the_browser_switched_to_another() {
    let p = page().await;
    let id = p.account_id().await;
    let (_, anns_page) = p.html().await;
    let anns_csrf = field(&anns_page, "csrf");
    // Someone gets Bob's link opened in Ann's browser.
    let bob = p.app.sign_in("bob@example.com").await;
    let bobs_link = management_link(&p.app, &bob).await;
    let (_, html) = p.browser.open(&bobs_link).await;
    assert!(
        html.contains("the gptgate account of b***@example.com"),
        "{html}"
    );
    assert!(html.contains("Nothing is connected there yet."), "{html}");
    let (_, anns_open) = p.browser.open(&management_link(&p.app, &p.ann).await).await;
    assert!(
        anns_open.contains("Connected there now: Linear · work."),
        "what is connected tells look-alike accounts apart: {anns_open}"
    );
    assert!(
        html.contains("id=\"replaces\""),
        "the switch is said: {html}"
    );
    assert_eq!(open_link(&p.browser, &bobs_link).await.status(), 303);
    // Ann's tab still shows her page; its forms no longer work.
    for (path, fields) in [
        (
            "/integrations/connect".to_owned(),
            vec![
                ("provider", "linear"),
                ("label", "mail"),
                ("csrf", anns_csrf.as_str()),
            ],
        ),
        (
            format!("/integrations/accounts/{id}/remove"),
            vec![("csrf", anns_csrf.as_str())],
        ),
    ] {
        let res = p.browser.post_form_to(&path, &fields).await;
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(p.accounts().await.len(), 1);
    let bobs = gpt(&p.app, &bob, Method::GET, "/api/gpt/accounts", None).await;
    assert_eq!(bobs["accounts"], json!([]));
}

#[tokio::test]
async fn every_page_sends_the_security_headers() {
    let p = page().await;
    let res = p.browser.get("/integrations").await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no script at all: {csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "same-origin");
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script"), "works without JavaScript");
}

#[tokio::test]
async fn the_page_lists_accounts_with_what_the_provider_said() {
    let p = page().await;
    let (status, html) = p.html().await;
    assert_eq!(status, 200);
    let id = p.account_id().await;
    assert!(html.contains(&format!("id=\"account-{id}\"")), "{html}");
    assert!(html.contains("Linear</strong> · work"), "{html}");
    assert!(html.contains("ann@acme.test (Acme)"), "{html}");
    assert!(html.contains(">On<"), "{html}");
    assert!(!html.contains("lin-access") && !html.contains("lin-refresh"));
}

#[tokio::test]
async fn an_unknown_or_expired_link_or_session_gets_a_page_that_says_what_to_do() {
    let p = page().await;
    let stranger = Browser::new(&p.app.address);
    let (status, html) = stranger.open("/integrations?token=not-a-real-token").await;
    assert_eq!(status, 400);
    assert!(html.contains("Ask the GPT for a new one"), "{html}");
    let res = stranger
        .post_form_to("/integrations", &[("token", "not-a-real-token")])
        .await;
    assert_eq!(res.status(), 403);
    assert!(html.contains("Ask the GPT for a new one"), "{html}");
    let (status, html) = stranger.open("/integrations").await;
    assert_eq!(status, 401);
    assert!(html.contains("Ask the GPT for a new one"), "{html}");

    // The session ends with its link: exactly one hour after the link was made.
    p.app
        .clock
        .advance(Duration::hours(1) - Duration::seconds(1));
    assert_eq!(p.html().await.0, 200);
    p.app.clock.advance(Duration::seconds(1));
    let res = p.browser.get("/integrations").await;
    assert_eq!(res.status(), 401);
    let cleared = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn an_account_is_turned_off_and_on_again() {
    let p = page().await;
    let id = p.account_id().await;
    let res = p
        .post(
            &format!("/integrations/accounts/{id}/enabled"),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/integrations?done=disabled");
    assert_eq!(p.accounts().await[0]["enabled"], false);
    let (_, html) = p.browser.open("/integrations?done=disabled").await;
    assert!(html.contains("The account is off"), "{html}");
    assert!(html.contains("Turn on"), "{html}");

    let res = p
        .post(
            &format!("/integrations/accounts/{id}/enabled"),
            &[("enabled", "true")],
        )
        .await;
    assert_eq!(location(&res), "/integrations?done=enabled");
    assert_eq!(p.accounts().await[0]["enabled"], true);
}

#[tokio::test]
async fn removing_an_account_revokes_it_at_the_provider_first() {
    let p = page().await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(body_string_contains("lin-"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1..)
        .mount(&p.linear)
        .await;
    let id = p.account_id().await;
    let res = p
        .post(&format!("/integrations/accounts/{id}/remove"), &[])
        .await;
    assert_eq!(location(&res), "/integrations?done=removed");
    assert!(p.accounts().await.is_empty());
    let (_, html) = p.browser.open("/integrations?done=removed").await;
    assert!(html.contains("The account was removed."));
    assert!(html.contains("No accounts are connected yet."));
}

#[tokio::test]
async fn forms_without_the_token_from_another_site_or_without_a_session_change_nothing() {
    let p = page().await;
    let id = p.account_id().await;
    let target = format!("/integrations/accounts/{id}/enabled");
    let (_, html) = p.html().await;
    let csrf = field(&html, "csrf");

    // No token.
    let res = p
        .browser
        .post_form_to(&target, &[("enabled", "false")])
        .await;
    assert_eq!(res.status(), 403);
    // Another site.
    let res = p
        .browser
        .client
        .post(p.browser.local(&target))
        .header("origin", "https://evil.example")
        .form(&[("enabled", "false"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The token of this page, in another browser: without a session, then with its own.
    let attacker = Browser::new(&p.app.address);
    let res = attacker
        .post_form_to(&target, &[("enabled", "false"), ("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 401);
    let eve = p.app.sign_in("eve@example.com").await;
    let eves_link = management_link(&p.app, &eve).await;
    assert_eq!(open_link(&attacker, &eves_link).await.status(), 303);
    let res = attacker
        .post_form_to(&target, &[("enabled", "false"), ("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 403);
    // A valid form after the session's hour.
    p.app.clock.advance(Duration::hours(1));
    let res = p
        .browser
        .post_form_to(&target, &[("enabled", "false"), ("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(p.accounts().await.len(), 1);
    assert_eq!(p.accounts().await[0]["enabled"], true);
}

#[tokio::test]
async fn another_users_account_cannot_be_touched_from_the_page() {
    let p = page().await;
    let bob = p.app.sign_in("bob@example.com").await;
    let bobs_browser = Browser::new(&p.app.address);
    connect(&p.app, &bobs_browser, &bob, "bobs").await;
    let bobs_id = gpt(&p.app, &bob, Method::GET, "/api/gpt/accounts", None).await["accounts"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (path, fields) in [
        (
            format!("/integrations/accounts/{bobs_id}/enabled"),
            vec![("enabled", "false")],
        ),
        (format!("/integrations/accounts/{bobs_id}/remove"), vec![]),
        ("/integrations/accounts/not-an-id/remove".to_owned(), vec![]),
    ] {
        let res = p.post(&path, &fields).await;
        assert_eq!(location(&res), "/integrations?done=not-found", "{path}");
    }
    let bobs = gpt(&p.app, &bob, Method::GET, "/api/gpt/accounts", None).await;
    assert_eq!(bobs["accounts"][0]["enabled"], true);
}

#[tokio::test]
async fn adding_an_integration_starts_the_browser_bound_flow() {
    let p = page().await;
    let res = p
        .post(
            "/integrations/connect",
            &[("provider", "linear"), ("label", "personal")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let to = reqwest::Url::parse(&location(&res)).unwrap();
    assert_eq!(to.path(), "/oauth/authorize");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("gptgate-connect-"), "{cookie}");
    let done = p
        .browser
        .callback("linear", &format!("code=c2&state={}", param(&to, "state")))
        .await;
    assert_eq!(done.status(), 200);
    let labels: Vec<String> = p
        .accounts()
        .await
        .iter()
        .map(|a| a["label"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(labels, ["personal", "work"]);

    for (fields, notice) in [
        (vec![("provider", "linear"), ("label", "")], "invalid-label"),
        (
            vec![("provider", "linear"), ("label", "a b")],
            "invalid-label",
        ),
        (
            vec![("provider", "myspace"), ("label", "x")],
            "unknown-provider",
        ),
        (
            vec![("provider", "gmail"), ("label", "x")],
            "unknown-provider",
        ),
    ] {
        let res = p.post("/integrations/connect", &fields).await;
        assert_eq!(location(&res), format!("/integrations?done={notice}"));
    }
    let (_, html) = p.browser.open("/integrations?done=invalid-label").await;
    assert!(html.contains("A name must be 1 to 64"), "{html}");
    let (_, html) = p.browser.open("/integrations?done=%3Cscript%3E").await;
    assert!(!html.contains("<script>") && !html.contains("id=\"notice\""));
}

#[tokio::test]
async fn the_privacy_policy_says_what_actions_send_and_how_to_manage_connections() {
    let linear = MockServer::start().await;
    let app = spawn_app_with(&linear_settings(&linear)).await;
    let html = app
        .request(Method::GET, "/privacy-policy")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Accounts you connect</strong> (Linear)"),
        "{html}"
    );
    assert!(html.contains("passes exactly that request"), "{html}");
    assert!(html.contains("your integrations page"), "{html}");
    assert!(html.contains("Cookies in your browser"), "{html}");
    let bare = crate::helpers::spawn_app().await;
    let html = bare
        .request(Method::GET, "/privacy-policy")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("lets you turn an account off"),
        "no providers, no accounts to manage: {html}"
    );
    assert!(html.contains("Cookies in your browser"), "{html}");
}

#[tokio::test]
async fn signing_out_ends_the_link_for_good() {
    let p = page().await;
    let link = management_link(&p.app, &p.ann).await;
    let other_tab = Browser::new(&p.app.address);
    assert_eq!(open_link(&other_tab, &link).await.status(), 303);
    let (_, html) = other_tab.open("/integrations").await;
    let res = other_tab
        .post_form_to("/integrations/sign-out", &[("csrf", &field(&html, "csrf"))])
        .await;
    assert_eq!(res.status(), 200);
    let cleared = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(res.text().await.unwrap().contains("no longer works"));
    // The link is dead wherever it was copied; the first browser's own link still works.
    assert_eq!(other_tab.open(&link).await.0, 400);
    assert_eq!(other_tab.open("/integrations").await.0, 401);
    assert_eq!(p.html().await.0, 200);
    // Without the page's token, or from another site, signing out is refused.
    let res = p.browser.post_form_to("/integrations/sign-out", &[]).await;
    assert_eq!(res.status(), 403);
    let (_, html) = p.html().await;
    let res = p
        .browser
        .client
        .post(p.browser.local("/integrations/sign-out"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", field(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(p.html().await.0, 200);
}
