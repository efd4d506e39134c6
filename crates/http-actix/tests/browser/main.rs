//! Every page in a real headless Chromium (Debian's `chromium` and `chromium-driver`), driven
//! over WebDriver: the connect flow end to end, its refusal in another browser, the error page,
//! the privacy policy and the export download page. A runner of its own: without chromedriver
//! these tests are reported as ignored with the reason, unless CI=true, where they fail.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use thirtyfour::prelude::*;
use thirtyfour::ChromiumLikeCapabilities;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{
    linear_knows_ann, linear_settings, no_token_request, spawn_app_with_options, ServeOptions,
    TestApp,
};

/// A chromedriver process, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver_path() -> Option<String> {
    std::env::var("CHROMEDRIVER")
        .ok()
        .or_else(|| Some("/usr/bin/chromedriver".to_owned()))
        .filter(|p| std::path::Path::new(p).exists())
}

fn main() -> std::process::ExitCode {
    use gptgate_testkit::harness::{async_trial, run};
    let requirement = chromedriver_path().map(drop).ok_or_else(|| {
        "no chromedriver (apt-get install chromium chromium-driver, or set CHROMEDRIVER)".to_owned()
    });
    run(
        requirement,
        vec![
            async_trial(
                "a_user_connects_an_account_in_a_real_browser",
                a_user_connects_an_account_in_a_real_browser,
            ),
            async_trial(
                "a_flow_started_in_one_browser_is_refused_in_another",
                a_flow_started_in_one_browser_is_refused_in_another,
            ),
            async_trial(
                "a_user_manages_integrations_in_a_real_browser_on_a_phone",
                a_user_manages_integrations_in_a_real_browser_on_a_phone,
            ),
            async_trial(
                "a_user_signs_in_to_an_app_with_oauth_in_a_real_browser",
                a_user_signs_in_to_an_app_with_oauth_in_a_real_browser,
            ),
            async_trial(
                "an_mcp_client_that_registered_itself_is_allowed_in_a_real_browser",
                an_mcp_client_that_registered_itself_is_allowed_in_a_real_browser,
            ),
            async_trial(
                "an_operator_signs_in_to_the_admin_console_in_a_real_browser",
                an_operator_signs_in_to_the_admin_console_in_a_real_browser,
            ),
            async_trial(
                "a_learning_platform_sends_its_visitor_to_the_chat_in_a_real_browser",
                a_learning_platform_sends_its_visitor_to_the_chat_in_a_real_browser,
            ),
            async_trial(
                "a_moodle_course_launches_the_chat_over_lti_in_an_iframe",
                a_moodle_course_launches_the_chat_over_lti_in_an_iframe,
            ),
            async_trial(
                "a_team_member_chats_with_the_assistant_in_a_real_browser",
                a_team_member_chats_with_the_assistant_in_a_real_browser,
            ),
            async_trial(
                "the_expired_link_privacy_and_download_pages_work_in_a_real_browser",
                the_expired_link_privacy_and_download_pages_work_in_a_real_browser,
            ),
        ],
    )
}

/// Starts chromedriver (the runner checked that there is one).
async fn driver() -> Driver {
    let path = chromedriver_path().expect("chromedriver (the runner checked)");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver {
        child: Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {}", driver.url);
}

/// A fresh headless Chromium with its own profile (so its own cookies).
async fn browser(driver: &Driver) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    if std::path::Path::new("/usr/bin/chromium").exists() {
        caps.set_binary("/usr/bin/chromium").unwrap();
    }
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ] {
        caps.add_arg(arg).unwrap();
    }
    WebDriver::new(&driver.url, caps)
        .await
        .expect("a Chromium session")
}

/// Linear's authorize endpoint as a user who approves at once: straight back to the
/// callback with a code and the state.
struct ApproveAtOnce;

impl Respond for ApproveAtOnce {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q: std::collections::HashMap<String, String> =
            request.url.query_pairs().into_owned().collect();
        let mut back = reqwest::Url::parse(&q["redirect_uri"]).unwrap();
        back.query_pairs_mut()
            .append_pair("code", "browser-code")
            .append_pair("state", &q["state"]);
        ResponseTemplate::new(302).insert_header("location", back.as_str())
    }
}

/// The app at its own address (so Chromium's `Origin` is the public origin), with Linear on
/// wiremock, and Ann signed in by email.
async fn app_with_linear(linear: &MockServer) -> (TestApp, String) {
    let app = spawn_app_with_options(
        &linear_settings(linear),
        ServeOptions {
            public_url_is_own_address: true,
            ..ServeOptions::default()
        },
    )
    .await;
    linear_knows_ann(linear).await;
    let token = app.sign_in("ann.lee@example.com").await;
    (app, token)
}

async fn auth_link(app: &TestApp, token: &str) -> String {
    let res = app
        .post(
            "/api/gpt/create-auth-link",
            &json!({ "token": token, "provider": "linear", "label": "work" }),
        )
        .await;
    res.json::<Value>().await.unwrap()["authUrl"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Whether `selector` matches something and every element it matches ends within the window's
/// width (no sideways scrolling on a phone).
async fn fits_the_window(browser: &WebDriver, selector: &str) -> bool {
    browser
        .execute(
            "const width = document.documentElement.clientWidth; \
             const all = [...document.querySelectorAll(arguments[0])]; \
             return all.length > 0 \
                 && all.every(e => e.getBoundingClientRect().right <= width + 0.5);",
            vec![serde_json::json!(selector)],
        )
        .await
        .unwrap()
        .convert()
        .unwrap()
}

/// The PKCE verifier of the OAuth flows (RFC 7636's example).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The S256 challenge of `verifier`.
fn challenge_of(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// On the authorize page's sign-in: types `email`, then the code emailed to it.
async fn sign_in_by_code(browser: &WebDriver, app: &TestApp, email: &str) {
    browser
        .find(By::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    click(browser, "#send").await;
    text_once_it_shows(browser, "The code sent to").await;
    let code = app.mailer.last_code_for(email).unwrap();
    browser
        .find(By::Id("code"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    click(browser, "#verify").await;
}

/// The page's text once it contains `needle` (a navigation is under way), or after 5 s.
async fn text_once_it_shows(browser: &WebDriver, needle: &str) -> String {
    let mut page = String::new();
    for _ in 0..50 {
        page = text(browser).await;
        if page.contains(needle) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page
}

/// The page's text; empty while a navigation replaces the document.
async fn text(browser: &WebDriver) -> String {
    match browser.find(By::Tag("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn a_user_connects_an_account_in_a_real_browser() {
    let driver = driver().await;
    let linear = MockServer::start().await;
    let (app, token) = app_with_linear(&linear).await;
    Mock::given(method("GET"))
        .and(path("/oauth/authorize"))
        .respond_with(ApproveAtOnce)
        .mount(&linear)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "lin_access", "token_type": "Bearer",
            "expires_in": 86399, "refresh_token": "lin_refresh"
        })))
        .expect(1)
        .mount(&linear)
        .await;
    let link = auth_link(&app, &token).await;

    let chromium = browser(&driver).await;
    chromium.goto(&link).await.unwrap();
    assert_eq!(chromium.title().await.unwrap(), "Connect Linear");
    let page = text(&chromium).await;
    assert!(page.contains("Connect Linear?"), "{page}");
    assert!(
        page.contains("your gptgate account (a***@example.com)"),
        "{page}"
    );
    assert_eq!(
        chromium
            .find(By::Id("owner"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "your gptgate account (a***@example.com)"
    );
    chromium.refresh().await.unwrap();
    chromium
        .find(By::Id("continue"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Continue -> Linear (approves at once) -> the callback in this same browser.
    let page = text_once_it_shows(&chromium, "Connected").await;
    assert!(page.contains("Connected Linear (work)"), "{page}");
    let url = chromium.current_url().await.unwrap();
    assert_eq!(url.path(), "/auth/callback/linear");
    let flow_cookies: Vec<String> = chromium
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .filter(|n| n.starts_with("gptgate-connect-"))
        .collect();
    assert!(
        flow_cookies.is_empty(),
        "the flow's nonce is cleared: {flow_cookies:?}"
    );
    chromium.quit().await.unwrap();

    let accounts: Value = app
        .post("/api/gpt/accounts/list", &json!({ "token": token }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        accounts["accounts"][0]["metadata"]["email"],
        "ann@acme.test"
    );
}

async fn a_flow_started_in_one_browser_is_refused_in_another() {
    let driver = driver().await;
    let linear = MockServer::start().await;
    let (app, token) = app_with_linear(&linear).await;
    // Linear's consent screen, where the attacker stops and copies the URL with its state.
    Mock::given(method("GET"))
        .and(path("/oauth/authorize"))
        .respond_with(ResponseTemplate::new(200).set_body_string("Linear consent"))
        .mount(&linear)
        .await;
    no_token_request(&linear).await;
    let link = auth_link(&app, &token).await;

    let attacker = browser(&driver).await;
    attacker.goto(&link).await.unwrap();
    attacker
        .find(By::Id("continue"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut consent = None;
    for _ in 0..50 {
        let url = attacker.current_url().await.unwrap();
        if url.path() == "/oauth/authorize" {
            consent = Some(url);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let consent = consent.expect("the attacker reached the provider");
    let state = consent
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    attacker.quit().await.unwrap();

    let victim = browser(&driver).await;
    victim
        .goto(format!(
            "{}/auth/callback/linear?code=victims-code&state={state}",
            app.address
        ))
        .await
        .unwrap();
    let page = text(&victim).await;
    assert!(
        page.contains("This connection was started in another browser"),
        "{page}"
    );
    assert!(page.contains("ask the GPT for a new link"), "{page}");
    victim.quit().await.unwrap();
}

async fn the_expired_link_privacy_and_download_pages_work_in_a_real_browser() {
    let driver = driver().await;
    let linear = MockServer::start().await;
    let (app, _) = app_with_linear(&linear).await;
    let chromium = browser(&driver).await;
    chromium
        .goto(format!("{}/auth/start?token=made-up", app.address))
        .await
        .unwrap();
    assert_eq!(chromium.title().await.unwrap(), "This link has expired");
    assert!(text(&chromium).await.contains("Ask the GPT for a new link"));
    chromium
        .goto(format!("{}/privacy-policy", app.address))
        .await
        .unwrap();
    assert!(chromium
        .title()
        .await
        .unwrap()
        .starts_with("Privacy policy"));
    let page = text(&chromium).await;
    assert!(page.contains("Accounts you connect (Linear)"), "{page}");
    assert!(page.contains("export your data"), "{page}");
    chromium
        .goto(format!("{}/me/export/download?token=made-up", app.address))
        .await
        .unwrap();
    assert_eq!(chromium.title().await.unwrap(), "Download your data");
    chromium
        .find(By::Id("download"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = text_once_it_shows(&chromium, "expired").await;
    assert!(
        page.contains("This link has expired"),
        "the form posted (CSRF and Origin passed) and the made-up link was refused: {page}"
    );
    chromium.quit().await.unwrap();
}

/// The accounts of the user of `token`, by label: their ids.
async fn account_ids(app: &TestApp, token: &str) -> std::collections::BTreeMap<String, String> {
    let accounts: Value = app
        .post("/api/gpt/accounts/list", &json!({ "token": token }))
        .await
        .json()
        .await
        .unwrap();
    accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["label"].as_str().unwrap().to_owned(),
                a["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn click(browser: &WebDriver, css: &str) {
    browser
        .find(By::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn a_user_manages_integrations_in_a_real_browser_on_a_phone() {
    let driver = driver().await;
    let linear = MockServer::start().await;
    let (app, token) = app_with_linear(&linear).await;
    Mock::given(method("GET"))
        .and(path("/oauth/authorize"))
        .respond_with(ApproveAtOnce)
        .mount(&linear)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "lin_access", "token_type": "Bearer",
            "expires_in": 86399, "refresh_token": "lin_refresh"
        })))
        .mount(&linear)
        .await;
    // Two accounts connected beforehand, through their connect links.
    let chromium = browser(&driver).await;
    for label in ["work", "old"] {
        let res = app
            .post(
                "/api/gpt/create-auth-link",
                &json!({ "token": token, "provider": "linear", "label": label }),
            )
            .await;
        let link = res.json::<Value>().await.unwrap()["authUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        chromium.goto(&link).await.unwrap();
        click(&chromium, "#continue").await;
        let page = text_once_it_shows(&chromium, "Connected").await;
        assert!(
            page.contains(&format!("Connected Linear ({label})")),
            "{page}"
        );
    }
    let ids = account_ids(&app, &token).await;
    let link = app
        .post(
            "/api/gpt/create-management-link",
            &json!({ "token": token }),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["managementUrl"]
        .as_str()
        .unwrap()
        .to_owned();

    chromium.set_window_rect(0, 0, 390, 844).await.unwrap();
    chromium.goto(&link).await.unwrap();
    assert_eq!(chromium.title().await.unwrap(), "Open your integrations?");
    let page = text(&chromium).await;
    assert!(
        page.contains("the gptgate account of a***@example.com"),
        "{page}"
    );
    assert!(
        page.contains("Continue only if you asked your GPT"),
        "{page}"
    );
    click(&chromium, "#open").await;
    text_once_it_shows(&chromium, "Your integrations").await;
    let url = chromium.current_url().await.unwrap();
    assert_eq!(url.path(), "/integrations");
    assert_eq!(url.query(), None, "the token left the address bar");
    assert_eq!(
        chromium.title().await.unwrap(),
        "Your integrations — gptgate"
    );
    let page = text(&chromium).await;
    assert!(
        page.contains("the gptgate account of a***@example.com"),
        "{page}"
    );
    assert!(page.contains("ann@acme.test (Acme)"), "{page}");
    let fits = fits_the_window(&chromium, "body *").await;
    assert!(fits, "no sideways scrolling on a phone");
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    chromium
        .screenshot(&screenshots.join("integrations-phone.png"))
        .await
        .unwrap();

    // Turn "work" off.
    click(
        &chromium,
        &format!("#account-{} button.toggle", ids["work"]),
    )
    .await;
    let page = text_once_it_shows(&chromium, "The account is off").await;
    assert!(page.contains("The account is off"), "{page}");
    let state = chromium
        .find(By::Css(format!("#account-{} .state", ids["work"])))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(state, "Off");

    // Remove "old".
    click(&chromium, &format!("#account-{} button.remove", ids["old"])).await;
    let page = text_once_it_shows(&chromium, "The account was removed").await;
    assert!(page.contains("The account was removed."), "{page}");
    assert!(chromium
        .find(By::Id(format!("account-{}", ids["old"])))
        .await
        .is_err());

    // Add "personal" through Linear's authorize page.
    chromium
        .find(By::Id("add-label"))
        .await
        .unwrap()
        .send_keys("personal")
        .await
        .unwrap();
    click(&chromium, "#add-submit").await;
    let page = text_once_it_shows(&chromium, "Connected").await;
    assert!(page.contains("Connected Linear (personal)"), "{page}");
    chromium
        .screenshot(&screenshots.join("integrations-connected.png"))
        .await
        .unwrap();
    // Back on the page, sign out: the link is dead.
    chromium
        .goto(format!("{}/integrations", app.address))
        .await
        .unwrap();
    click(&chromium, "#sign-out").await;
    let page = text_once_it_shows(&chromium, "Signed out").await;
    assert!(page.contains("no longer works"), "{page}");
    chromium.goto(&link).await.unwrap();
    assert_eq!(
        chromium.title().await.unwrap(),
        "This page's link has expired"
    );
    chromium.quit().await.unwrap();

    let ids = account_ids(&app, &token).await;
    assert_eq!(ids.keys().collect::<Vec<_>>(), ["personal", "work"]);
    let accounts: Value = app
        .post("/api/gpt/accounts/list", &json!({ "token": token }))
        .await
        .json()
        .await
        .unwrap();
    let work = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["label"] == "work")
        .unwrap();
    assert_eq!(work["enabled"], false);
}

async fn a_user_signs_in_to_an_app_with_oauth_in_a_real_browser() {
    use gptgate_domain::{ClientId, ClientKind, ClientName, OAuthClient, RedirectUri, TokenHash};
    use gptgate_ports::AuthorizationRepository;
    let driver = driver().await;
    let linear = MockServer::start().await;
    let (app, _) = app_with_linear(&linear).await;
    // The app's callback: a page on wiremock.
    let app_site = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cb"))
        .respond_with(ResponseTemplate::new(200).set_body_string("back at the app"))
        .mount(&app_site)
        .await;
    let secret = "client-secret-0123456789-abcdefghijklmnopqrstuv";
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let client = OAuthClient {
        id: ClientId::from_random_bytes([7; 16]),
        name: ClientName::parse("Spanish tutor GPT").unwrap(),
        kind: ClientKind::Web,
        secret_hash: Some(TokenHash::from_bytes(digest.as_ref().try_into().unwrap())),
        redirect_uris: vec![RedirectUri::parse(&format!("{}/cb", app_site.uri())).unwrap()],
        created_at: gptgate_ports::Clock::now(&app.clock),
    };
    app.store.create_client(&client).await.unwrap();
    let verifier = VERIFIER;
    let challenge = challenge_of(verifier);
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", &client.id.to_string()),
        ("redirect_uri", &format!("{}/cb", app_site.uri())),
        ("state", "s-123"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();

    let chromium = browser(&driver).await;
    chromium.set_window_rect(0, 0, 390, 844).await.unwrap();
    chromium
        .goto(format!("{}/oauth/authorize?{query}", app.address))
        .await
        .unwrap();
    assert_eq!(
        chromium.title().await.unwrap(),
        "Sign in to continue to Spanish tutor GPT"
    );
    sign_in_by_code(&chromium, &app, "bea@example.com").await;
    let page = text_once_it_shows(&chromium, "Allow Spanish tutor GPT?").await;
    assert!(
        page.contains("Let Spanish tutor GPT use your gptgate account: your saved conversations and connected accounts, acting with them as you, and your gptgate account itself"),
        "{page}"
    );
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    chromium
        .screenshot(&screenshots.join("oauth-consent-phone.png"))
        .await
        .unwrap();
    click(&chromium, "#allow").await;
    text_once_it_shows(&chromium, "back at the app").await;
    let landed = chromium.current_url().await.unwrap();
    assert_eq!(landed.path(), "/cb");
    let param = |name: &str| {
        landed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    assert_eq!(param("state"), "s-123");
    assert_eq!(param("iss"), app.address);
    let code = param("code");
    chromium.quit().await.unwrap();

    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", app.address))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &format!("{}/cb", app_site.uri())),
            ("code_verifier", verifier),
            ("client_id", &client.id.to_string()),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let res = reqwest::Client::new()
        .get(format!("{}/api/gpt/accounts", app.address))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// An MCP client (Claude Code, say) registers itself with a loopback callback and sends the
/// user's browser to sign in: the consent page says the app registered itself, where the
/// answer goes and what the access allows, fits a phone, and Allow returns to the app with a
/// code that becomes a token for /mcp (and not for the GPT API).
async fn an_mcp_client_that_registered_itself_is_allowed_in_a_real_browser() {
    let driver = driver().await;
    let linear = MockServer::start().await;
    let (app, _) = app_with_linear(&linear).await;
    // The app's loopback callback (wiremock listens on 127.0.0.1).
    let app_site = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/callback"))
        .respond_with(ResponseTemplate::new(200).set_body_string("back in the MCP client"))
        .mount(&app_site)
        .await;
    let callback = format!("{}/callback", app_site.uri());
    let registered: Value = reqwest::Client::new()
        .post(format!("{}/oauth/register", app.address))
        .json(&json!({
            "client_name": "Claude Code", "redirect_uris": [callback],
            "token_endpoint_auth_method": "none"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let verifier = VERIFIER;
    let challenge = challenge_of(verifier);
    let mcp = format!("{}/mcp", app.address);
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", &client_id),
        ("redirect_uri", &callback),
        ("state", "mcp-state"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("resource", &mcp),
    ])
    .unwrap();

    let chromium = browser(&driver).await;
    chromium.set_window_rect(0, 0, 390, 844).await.unwrap();
    chromium
        .goto(format!("{}/oauth/authorize?{query}", app.address))
        .await
        .unwrap();
    sign_in_by_code(&chromium, &app, "bea@example.com").await;
    let page = text_once_it_shows(&chromium, "Allow Claude Code?").await;
    assert!(page.contains("This app registered itself"), "{page}");
    assert!(
        page.contains("Your answer goes to an app on this computer"),
        "{page}"
    );
    assert!(page.contains("sending email"), "{page}");
    let fits = fits_the_window(&chromium, "body *").await;
    assert!(fits, "no sideways scrolling on a phone");
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    chromium
        .screenshot(&screenshots.join("oauth-consent-mcp-client-phone.png"))
        .await
        .unwrap();
    click(&chromium, "#allow").await;
    text_once_it_shows(&chromium, "back in the MCP client").await;
    let landed = chromium.current_url().await.unwrap();
    let param = |name: &str| {
        landed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    assert_eq!(param("state"), "mcp-state");
    let code = param("code");
    chromium.quit().await.unwrap();

    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", app.address))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &callback),
            ("code_verifier", verifier),
            ("client_id", &client_id),
            ("resource", &mcp),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let res = reqwest::Client::new()
        .post(&mcp)
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(access)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = reqwest::Client::new()
        .get(format!("{}/api/gpt/accounts", app.address))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a token for /mcp only");
}

/// The operator signs in to the admin console on a phone-sized window: a wrong password is
/// refused with one message, the right one opens the console (screenshot), the password is
/// changed (which signs every session out), and the new one signs in; then sign-out.
async fn an_operator_signs_in_to_the_admin_console_in_a_real_browser() {
    let driver = driver().await;
    let app = spawn_app_with_options(
        &[(
            "ADMIN_PASSWORD_HASH",
            gptgate_testkit::FakePasswords::hash_of("correct horse battery staple")
                .as_str()
                .to_owned(),
        )],
        ServeOptions {
            public_url_is_own_address: true,
            ..ServeOptions::default()
        },
    )
    .await;
    let chromium = browser(&driver).await;
    chromium.set_window_rect(0, 0, 390, 844).await.unwrap();
    chromium
        .goto(format!("{}/admin", app.address))
        .await
        .unwrap();
    assert_eq!(
        chromium.title().await.unwrap(),
        "Sign in to the gptgate admin console"
    );
    let type_into = |id: &'static str, text: &'static str| {
        let chromium = &chromium;
        async move {
            let field = chromium.find(By::Id(id)).await.unwrap();
            field.clear().await.unwrap();
            field.send_keys(text).await.unwrap();
        }
    };
    type_into("password", "not the password").await;
    click(&chromium, "#sign-in").await;
    let page = text_once_it_shows(&chromium, "That password is not right.").await;
    assert!(!page.contains("not the password"));
    type_into("password", "correct horse battery staple").await;
    click(&chromium, "#sign-in").await;
    let page = text_once_it_shows(&chromium, "Signed in until").await;
    assert!(page.contains("Change the admin password"), "{page}");
    let fits = fits_the_window(&chromium, "body *").await;
    assert!(fits, "no sideways scrolling on a phone");
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    chromium
        .screenshot(&screenshots.join("admin-console-phone.png"))
        .await
        .unwrap();

    // API keys: one made, shown once, then revoked.
    click(&chromium, "#api-keys").await;
    text_once_it_shows(&chromium, "from the environment").await;
    type_into("key-name", "Biology GPT").await;
    click(&chromium, "#create-key").await;
    text_once_it_shows(&chromium, "shown this once").await;
    let key = chromium
        .find(By::Id("new-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(key.starts_with("gpk_"), "{key}");
    let fits = fits_the_window(&chromium, "table#keys, #created").await;
    assert!(fits, "the keys page fits a phone");
    chromium
        .screenshot(&screenshots.join("admin-keys-phone.png"))
        .await
        .unwrap();
    click(&chromium, "button.danger").await;
    let page = text_once_it_shows(&chromium, "Revoked.").await;
    assert!(!page.contains(&key), "shown once only");
    chromium
        .goto(format!("{}/admin", app.address))
        .await
        .unwrap();
    click(&chromium, "#audit-log").await;
    let page = text_once_it_shows(&chromium, "Audit log").await;
    assert!(
        page.contains("Signed in") && page.contains("Wrong password"),
        "{page}"
    );
    assert!(!page.contains("not the password"));
    chromium
        .goto(format!("{}/admin/profile", app.address))
        .await
        .unwrap();
    type_into("name", "Spanish tutor").await;
    click(&chromium, "#save").await;
    text_once_it_shows(&chromium, "Saved as version 1").await;
    click(&chromium, "#publish-1").await;
    text_once_it_shows(&chromium, "Version 1 is published").await;
    let fits = fits_the_window(&chromium, "form.profile *").await;
    assert!(fits, "the profile form fits a phone");
    chromium
        .screenshot(&screenshots.join("admin-profile-phone.png"))
        .await
        .unwrap();
    chromium
        .goto(format!("{}/admin", app.address))
        .await
        .unwrap();
    click(&chromium, "#change-password").await;
    text_once_it_shows(&chromium, "Change the admin password").await;
    type_into("current", "correct horse battery staple").await;
    type_into("new", "a much better passphrase").await;
    type_into("again", "a much better passphrase").await;
    click(&chromium, "#change").await;
    text_once_it_shows(&chromium, "Sign in with the new one").await;
    type_into("password", "a much better passphrase").await;
    click(&chromium, "#sign-in").await;
    text_once_it_shows(&chromium, "Signed in until").await;
    click(&chromium, "#sign-out").await;
    let page = text_once_it_shows(&chromium, "Sign in").await;
    assert!(!page.contains("Signed in until"), "{page}");
    chromium
        .goto(format!("{}/admin", app.address))
        .await
        .unwrap();
    assert_eq!(
        chromium.title().await.unwrap(),
        "Sign in to the gptgate admin console",
        "signed out"
    );
    chromium.quit().await.unwrap();
}

async fn a_team_member_chats_with_the_assistant_in_a_real_browser() {
    use gptgate_ports::ProfileRepository;
    use gptgate_testkit::{FakeAnswer, FakeChatModel};
    let driver = driver().await;
    let model = std::sync::Arc::new(FakeChatModel::default());
    let app = spawn_app_with_options(
        &[(
            "ADMIN_PASSWORD_HASH",
            gptgate_testkit::FakePasswords::hash_of("correct horse battery staple")
                .as_str()
                .to_owned(),
        )],
        ServeOptions {
            public_url_is_own_address: true,
            chat_model: Some(model.clone()),
            // Comment lines while the model is silent, which the page must pass over.
            chat_heartbeat: Duration::from_millis(50),
            ..ServeOptions::default()
        },
    )
    .await;
    let profile = gptgate_domain::AssistantProfile::parse(gptgate_domain::ProfileInput {
        name: "Spanish tutor".into(),
        instructions: "You are a patient Spanish tutor.".into(),
        model: "gpt-4o-mini".into(),
        temperature: 0.3,
        max_output_tokens: 500,
        starters: vec!["Practise ser and estar".into()],
        allowed_models: vec!["gpt-4o-mini".into()],
    })
    .unwrap();
    let at = time::macros::datetime!(2026-01-01 12:00 UTC);
    let version = app.store.save_profile_version(&profile, at).await.unwrap();
    app.store
        .publish_profile_version(version.version, at)
        .await
        .unwrap();

    // The operator sets a team password in the console.
    let operator = browser(&driver).await;
    operator
        .goto(format!("{}/admin/login", app.address))
        .await
        .unwrap();
    operator
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery staple")
        .await
        .unwrap();
    click(&operator, "#sign-in").await;
    text_once_it_shows(&operator, "Signed in until").await;
    click(&operator, "#chat-access").await;
    text_once_it_shows(&operator, "No team password is set").await;
    for id in ["new", "again"] {
        operator
            .find(By::Id(id))
            .await
            .unwrap()
            .send_keys("team password of the week")
            .await
            .unwrap();
    }
    click(&operator, "#set-team-password").await;
    text_once_it_shows(&operator, "A team password is set").await;
    operator.quit().await.unwrap();

    // A team member, on a phone, signs in and chats.
    let chromium = browser(&driver).await;
    chromium.set_window_rect(0, 0, 390, 844).await.unwrap();
    chromium
        .goto(format!("{}/chat", app.address))
        .await
        .unwrap();
    assert_eq!(chromium.title().await.unwrap(), "Sign in to the chat");
    chromium
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys("team password of the week")
        .await
        .unwrap();
    click(&chromium, "#sign-in").await;
    text_once_it_shows(&chromium, "Practise ser and estar").await;
    assert_eq!(chromium.title().await.unwrap(), "Spanish tutor");
    model.will(FakeAnswer::Slow(
        vec![
            "Ser is for what something is, ".into(),
            "estar for how it is.".into(),
        ],
        Duration::from_millis(300),
    ));
    click(&chromium, "button.starter").await;
    text_once_it_shows(&chromium, "estar for how it is.").await;
    let starters_shown = chromium
        .find(By::Id("starters"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap();
    assert!(!starters_shown, "the starters give way to the conversation");
    // A second question, typed and sent with Enter, carries the whole conversation.
    model.will(FakeAnswer::Pieces(vec!["¡Exacto!".into()]));
    let question = chromium.find(By::Id("question")).await.unwrap();
    question.send_keys("So: estoy cansado?").await.unwrap();
    question.send_keys(Key::Enter).await.unwrap();
    text_once_it_shows(&chromium, "¡Exacto!").await;
    let asked = model.requests();
    assert_eq!(asked.len(), 2);
    let texts: Vec<&str> = asked[1]
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "You are a patient Spanish tutor.",
            "Practise ser and estar",
            "Ser is for what something is, estar for how it is.",
            "So: estoy cansado?"
        ]
    );
    // A model that fails shows why, in the page.
    model.will(FakeAnswer::Refuses(
        gptgate_ports::ChatModelError::Unavailable,
    ));
    let question = chromium.find(By::Id("question")).await.unwrap();
    question.send_keys("¿Y mañana?").await.unwrap();
    click(&chromium, "#send").await;
    text_once_it_shows(&chromium, "The model API could not be reached").await;
    let fits = fits_the_window(&chromium, "body *").await;
    assert!(fits, "no sideways scrolling on a phone");
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    chromium
        .screenshot(&screenshots.join("chat-phone.png"))
        .await
        .unwrap();
    // A reload erases the conversation: it was never stored.
    chromium.refresh().await.unwrap();
    let page = text_once_it_shows(&chromium, "Practise ser and estar").await;
    assert!(
        !page.contains("¡Exacto!") && !page.contains("estoy cansado"),
        "{page}"
    );
    // Signed out, the chat asks for the password again.
    click(&chromium, "#sign-out").await;
    text_once_it_shows(&chromium, "Use the team password").await;
    chromium.quit().await.unwrap();
}

/// The operator registers a learning platform in the console; the platform's page (another
/// origin, served by wiremock) posts a token it signed for its visitor; the visitor lands in
/// the chat, and the same page again (the token replayed) is refused.
async fn a_learning_platform_sends_its_visitor_to_the_chat_in_a_real_browser() {
    const SECRET: &str = "a random secret shared with the platform, 43 characters+";
    let driver = driver().await;
    let app = spawn_app_with_options(
        &[(
            "ADMIN_PASSWORD_HASH",
            gptgate_testkit::FakePasswords::hash_of("correct horse battery staple")
                .as_str()
                .to_owned(),
        )],
        ServeOptions {
            public_url_is_own_address: true,
            chat_model: Some(std::sync::Arc::new(
                gptgate_testkit::FakeChatModel::default(),
            )),
            ..ServeOptions::default()
        },
    )
    .await;
    let platform = MockServer::start().await;
    let platform_origin = format!("http://localhost:{}", platform.address().port());

    // The operator registers it.
    let operator = browser(&driver).await;
    operator
        .goto(format!("{}/admin/login", app.address))
        .await
        .unwrap();
    operator
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery staple")
        .await
        .unwrap();
    click(&operator, "#sign-in").await;
    text_once_it_shows(&operator, "Signed in until").await;
    click(&operator, "#platforms").await;
    text_once_it_shows(&operator, "Register a platform").await;
    for (id, text) in [
        ("platform-name", "Learn"),
        ("platform-issuer", "https://learn.example.com"),
        ("platform-key", SECRET),
        ("platform-origins", platform_origin.as_str()),
    ] {
        operator
            .find(By::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    operator
        .find(By::Css("#platform-key-type option[value=hs256]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&operator, "#register-platform").await;
    text_once_it_shows(&operator, "Registered.").await;
    let fits = fits_the_window(&operator, "table#platforms, form.profile").await;
    assert!(fits, "the platforms page fits the window");
    operator.quit().await.unwrap();

    // The platform's page posts a token for its visitor.
    let now = time::macros::datetime!(2026-01-01 12:00 UTC).unix_timestamp();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({
            "iss": "https://learn.example.com", "aud": app.address, "sub": "student-42",
            "iat": now, "exp": now + 300, "jti": "browser-launch-1",
        }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let page = format!(
        r#"<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="{}/chat/launch"><input type="hidden" name="token" value="{token}"></form></body></html>"#,
        app.address
    );
    Mock::given(method("GET"))
        .and(path("/course"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/html"))
        .mount(&platform)
        .await;
    let visitor = browser(&driver).await;
    visitor
        .goto(format!("{platform_origin}/course"))
        .await
        .unwrap();
    let page = text_once_it_shows(&visitor, "This conversation is kept in this page only").await;
    assert!(page.contains("Sign out"), "{page}");
    // The same page again: the token was used.
    visitor
        .goto(format!("{platform_origin}/course"))
        .await
        .unwrap();
    text_once_it_shows(&visitor, "could not be accepted").await;
    visitor.quit().await.unwrap();
}

/// A test LTI platform's authentication endpoint: the user is signed in there, so it answers
/// at once with a page that posts the id_token it signs (for the request's nonce) and the
/// state back to the tool, as Moodle and Canvas do. It keeps the last post, for a replay.
struct PlatformSignsIn {
    last: std::sync::Arc<std::sync::Mutex<Option<(String, String)>>>,
}

const LTI_ISSUER: &str = "https://moodle.example.edu";
const LTI_CLIENT: &str = "kVd7wEZwUQiJfS6";

/// A page that posts `fields` to `action` as soon as it loads.
fn auto_post(action: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| format!(r#"<input type="hidden" name="{name}" value="{value}">"#))
        .collect();
    format!(
        r#"<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="{action}">{inputs}</form></body></html>"#
    )
}

impl Respond for PlatformSignsIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q: std::collections::HashMap<String, String> =
            request.url.query_pairs().into_owned().collect();
        let now = time::macros::datetime!(2026-01-01 12:00 UTC).unix_timestamp();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("test-only-key-1".into());
        let id_token = jsonwebtoken::encode(
            &header,
            &json!({
                "iss": LTI_ISSUER, "aud": q["client_id"], "sub": "2", "iat": now,
                "exp": now + 60, "nonce": q["nonce"],
                "https://purl.imsglobal.org/spec/lti/claim/deployment_id": "1",
                "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
                "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
                "https://purl.imsglobal.org/spec/lti/claim/resource_link": { "id": "3" },
            }),
            &jsonwebtoken::EncodingKey::from_rsa_pem(
                include_str!("../../../adapters-system/tests/fixtures/test-only-rsa-private.pem")
                    .as_bytes(),
            )
            .unwrap(),
        )
        .unwrap();
        *self.last.lock().unwrap() = Some((id_token.clone(), q["state"].clone()));
        ResponseTemplate::new(200).set_body_raw(
            auto_post(
                &q["redirect_uri"],
                &[("id_token", &id_token), ("state", &q["state"])],
            ),
            "text/html",
        )
    }
}

/// The operator registers a Moodle for LTI 1.3 in the console; a course page of that Moodle
/// (another origin of this machine, served by wiremock) embeds the tool in an iframe; the
/// login, the platform's sign-in answer and the launch all run inside the frame, and the chat
/// opens there. The launch posted again from another browser is refused.
async fn a_moodle_course_launches_the_chat_over_lti_in_an_iframe() {
    let driver = driver().await;
    let app = spawn_app_with_options(
        &[(
            "ADMIN_PASSWORD_HASH",
            gptgate_testkit::FakePasswords::hash_of("correct horse battery staple")
                .as_str()
                .to_owned(),
        )],
        ServeOptions {
            public_url_is_own_address: true,
            chat_model: Some(std::sync::Arc::new(
                gptgate_testkit::FakeChatModel::default(),
            )),
            ..ServeOptions::default()
        },
    )
    .await;
    let moodle = MockServer::start().await;
    let moodle_origin = format!("http://127.0.0.1:{}", moodle.address().port());
    Mock::given(method("GET"))
        .and(path("/mod/lti/certs.php"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            include_str!("../../../adapters-system/tests/fixtures/test-only-rsa-jwks.json"),
            "application/json",
        ))
        .mount(&moodle)
        .await;
    let last = std::sync::Arc::new(std::sync::Mutex::new(None));
    Mock::given(method("GET"))
        .and(path("/mod/lti/auth.php"))
        .respond_with(PlatformSignsIn { last: last.clone() })
        .mount(&moodle)
        .await;
    let login = format!(
        "{}/lti/login?iss={LTI_ISSUER}&login_hint=2&target_link_uri={}/chat&client_id={LTI_CLIENT}&lti_deployment_id=1",
        app.address, app.address
    );
    let course = format!(
        r#"<!doctype html><html><body><h1>Week 3</h1><iframe id="tool" src="{login}" width="400" height="600"></iframe></body></html>"#
    );
    Mock::given(method("GET"))
        .and(path("/course/view.php"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(course, "text/html"))
        .mount(&moodle)
        .await;

    // The operator registers it.
    let operator = browser(&driver).await;
    operator
        .goto(format!("{}/admin/login", app.address))
        .await
        .unwrap();
    operator
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery staple")
        .await
        .unwrap();
    click(&operator, "#sign-in").await;
    text_once_it_shows(&operator, "Signed in until").await;
    click(&operator, "#platforms").await;
    let page = text_once_it_shows(&operator, "Register an LTI 1.3 platform").await;
    assert!(
        page.contains(&format!("{}/lti/login", app.address)),
        "the tool's URLs are shown: {page}"
    );
    let (auth_url, certs_url) = (
        format!("{moodle_origin}/mod/lti/auth.php"),
        format!("{moodle_origin}/mod/lti/certs.php"),
    );
    for (id, text) in [
        ("lti-name", "Moodle"),
        ("lti-issuer", LTI_ISSUER),
        ("lti-client-id", LTI_CLIENT),
        ("lti-login-url", auth_url.as_str()),
        ("lti-key-set-url", certs_url.as_str()),
        ("lti-deployments", "1"),
        ("lti-origins", moodle_origin.as_str()),
    ] {
        operator
            .find(By::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    click(&operator, "#register-lti").await;
    let page = text_once_it_shows(&operator, "Registered.").await;
    assert!(page.contains(LTI_CLIENT), "{page}");
    let fits = fits_the_window(
        &operator,
        "table#lti-platforms, table#lti-tool, form.profile",
    )
    .await;
    assert!(fits, "the platforms page fits the window");
    operator.quit().await.unwrap();

    // A student opens the course page: the chat opens inside the frame.
    let student = browser(&driver).await;
    student
        .goto(format!("{moodle_origin}/course/view.php"))
        .await
        .unwrap();
    text_once_it_shows(&student, "Week 3").await;
    let frame = student.find(By::Id("tool")).await.unwrap();
    frame.enter_frame().await.unwrap();
    let page = text_once_it_shows(&student, "This conversation is kept in this page only").await;
    assert!(page.contains("Sign out"), "{page}");
    student.quit().await.unwrap();

    // The same launch posted from another browser: refused.
    let (id_token, state) = last.lock().unwrap().clone().expect("the platform signed");
    Mock::given(method("GET"))
        .and(path("/replay"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            auto_post(
                &format!("{}/lti/launch", app.address),
                &[("id_token", &id_token), ("state", &state)],
            ),
            "text/html",
        ))
        .mount(&moodle)
        .await;
    let attacker = browser(&driver).await;
    attacker
        .goto(format!("{moodle_origin}/replay"))
        .await
        .unwrap();
    let page = text_once_it_shows(&attacker, "could not be accepted").await;
    assert!(page.contains("could not be accepted"), "{page}");
    attacker.quit().await.unwrap();
}
