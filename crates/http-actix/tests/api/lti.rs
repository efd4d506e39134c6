//! LTI 1.3 over HTTP, driven by a test platform that signs with its own RSA key and serves
//! its key set (wiremock): the operator registers it in the console; its login initiation is
//! answered with an authentication request whose state and nonce this browser keeps; the
//! id_token it posts back opens the chat once. Replays, other browsers, foreign keys, wrong
//! audiences, expired tokens and unregistered issuers open nothing.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{captured_logs, field, param, Browser, TestApp, PUBLIC_URL};

const ISSUER: &str = "https://moodle.example.edu";
const CLIENT: &str = "kVd7wEZwUQiJfS6";
const ORIGIN: &str = "https://moodle.example.edu";
const PRIVATE: &str =
    include_str!("../../../adapters-system/tests/fixtures/test-only-rsa-private.pem");
const OTHER_PRIVATE: &str =
    include_str!("../../../adapters-system/tests/fixtures/test-only-rsa-other-private.pem");
const JWKS: &str = include_str!("../../../adapters-system/tests/fixtures/test-only-rsa-jwks.json");

/// The test clock's time.
fn now() -> i64 {
    time::macros::datetime!(2026-01-01 12:00 UTC).unix_timestamp()
}

struct Platform {
    server: MockServer,
}

impl Platform {
    /// A platform serving its key set at `/certs.php`.
    async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/certs.php"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
            .mount(&server)
            .await;
        Self { server }
    }

    /// `path` on the platform, as `http://localhost:<port>` (http is allowed for localhost).
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.uri()).replace("127.0.0.1", "localhost")
    }

    /// The claims the platform signs for a login's `nonce`.
    fn claims(nonce: &str) -> serde_json::Value {
        json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "2", "iat": now(), "exp": now() + 60,
            "nonce": nonce,
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id": "1",
            "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": format!("{PUBLIC_URL}/chat"),
            "https://purl.imsglobal.org/spec/lti/claim/resource_link": { "id": "3" },
            "name": "Ada Lovelace", "email": "ada@example.edu"
        })
    }

    /// `claims` signed with `key` under the key set's kid.
    fn sign(key: &str, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-only-key-1".into());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
        )
        .unwrap()
    }
}

async fn app() -> TestApp {
    crate::helpers::console_app().await
}

async fn console(app: &TestApp) -> Browser {
    crate::helpers::console_browser(app).await
}

/// Registers the platform in the console with `key_set_url`: the status and the page after.
async fn register(admin: &Browser, platform: &Platform, key_set_url: &str) -> (u16, String) {
    let csrf = field(&admin.open("/admin/platforms").await.1, "csrf");
    let res = admin
        .post_form_to(
            "/admin/platforms/lti",
            &[
                ("csrf", &csrf),
                ("name", "Moodle"),
                ("issuer", ISSUER),
                ("client_id", CLIENT),
                ("login_url", &platform.url("/auth.php")),
                ("key_set_url", key_set_url),
                ("deployments", "1\r\n"),
                ("origins", ORIGIN),
            ],
        )
        .await;
    if res.status() == 303 {
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        return admin.open(&to).await;
    }
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn registered() -> (TestApp, Platform) {
    let app = app().await;
    let platform = Platform::start().await;
    let admin = console(&app).await;
    let (status, page) = register(&admin, &platform, &platform.url("/certs.php")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Registered.") && page.contains(CLIENT),
        "{page}"
    );
    (app, platform)
}

/// The login initiation a platform sends (GET): the state and nonce of the authentication
/// request it is answered with.
struct Login {
    state: String,
    nonce: String,
    /// The login cookie's value.
    binding: String,
}

async fn log_in(visitor: &Browser, platform: &Platform) -> Login {
    let res = visitor
        .client
        .get(visitor.local("/lti/login"))
        .query(&[
            ("iss", ISSUER),
            ("login_hint", "2"),
            ("target_link_uri", &format!("{PUBLIC_URL}/chat")),
            ("lti_message_hint", "{\"cmid\":3}"),
            ("client_id", CLIENT),
            ("lti_deployment_id", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("Max-Age=300") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let binding = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let to = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(to.as_str().starts_with(&platform.url("/auth.php?")), "{to}");
    assert_eq!(
        param(&to, "redirect_uri"),
        format!("{PUBLIC_URL}/lti/launch")
    );
    assert_eq!(param(&to, "response_mode"), "form_post");
    assert_eq!(param(&to, "lti_message_hint"), "{\"cmid\":3}");
    let (state, nonce) = (param(&to, "state"), param(&to, "nonce"));
    assert!(
        cookie.starts_with(&format!("gptgate-lti-{state}=")),
        "{cookie}"
    );
    assert!(
        !binding.contains(&nonce),
        "the cookie does not hold the nonce"
    );
    Login {
        state,
        nonce,
        binding,
    }
}

/// An id of the shape of a registration's.
fn uuid_like() -> String {
    "0195f1d2-8c1e-7a3b-9f00-3d2c1b0a9e8f".to_owned()
}

/// The platform's form post of `id_token` and `state` to the launch, from its page.
async fn post_launch(visitor: &Browser, id_token: &str, state: &str) -> reqwest::Response {
    visitor
        .client
        .post(visitor.local("/lti/launch"))
        .header("origin", ORIGIN)
        .form(&[("id_token", id_token), ("state", state)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_registered_platform_launches_its_user_into_a_chat_only_it_may_frame() {
    let (app, platform) = registered().await;
    let visitor = Browser::new(&app.address);
    let Login {
        state,
        nonce,
        binding,
    } = log_in(&visitor, &platform).await;
    assert_eq!(state.len(), 43);
    let token = Platform::sign(PRIVATE, &Platform::claims(&nonce));
    let res = post_launch(&visitor, &token, &state).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(res.headers()["location"], "/chat");
    let cookies: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("gptgate-launch=")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("gptgate-lti-{state}=;")) && c.contains("Max-Age=0")),
        "the login's cookie is removed: {cookies:?}"
    );
    let res = visitor.get("/chat").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.ends_with(&format!("frame-ancestors {ORIGIN}")), "{csp}");
    assert!(res.text().await.unwrap().contains("data-csrf"));

    // The same post again, with the login's cookie put back by hand: the nonce is spent.
    let replay = reqwest::Client::new()
        .post(visitor.local("/lti/launch"))
        .header("cookie", format!("gptgate-lti-{state}={binding}"))
        .form(&[("id_token", token.as_str()), ("state", state.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 403);
    assert!(replay
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("gptgate-launch")));
    // And from the browser itself (its cookie is gone).
    let res = post_launch(&visitor, &token, &state).await;
    assert_eq!(res.status(), 403);
    // The refusal shows inside the course's frame: framable, nothing to click, no ChatGPT.
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.ends_with("frame-ancestors *") && csp.contains("form-action 'none'"),
        "{csp}"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("could not be accepted"), "{page}");
    assert!(
        !page.contains("ChatGPT") && !page.contains("<a ") && !page.contains("<form"),
        "{page}"
    );
    // Nothing of the token reached the log.
    // The server's lines (the test's own HTTP client logs its cookies).
    let logs: String = String::from_utf8_lossy(&captured_logs().lock().unwrap())
        .lines()
        .filter(|l| l.contains(" gptgate"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        logs.contains("launched into the chat over LTI"),
        "logged at all"
    );
    for secret in [&token, &nonce, &state] {
        if let Some(at) = logs.find(secret.as_str()) {
            panic!("in the log: {}", &logs[at.saturating_sub(300)..at + 80]);
        }
    }
}

#[tokio::test]
async fn a_launch_finishes_only_in_the_browser_that_started_its_login() {
    let (app, platform) = registered().await;
    let attacker = Browser::new(&app.address);
    let Login { state, nonce, .. } = log_in(&attacker, &platform).await;
    let token = Platform::sign(PRIVATE, &Platform::claims(&nonce));
    // Login CSRF: the attacker's own launch, posted from the victim's browser.
    let victim = Browser::new(&app.address);
    let res = post_launch(&victim, &token, &state).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.headers().get_all("set-cookie").iter().all(|c| c
            .to_str()
            .unwrap()
            .starts_with(&format!("gptgate-lti-{state}=;"))),
        "no session; only the removal of a login cookie the victim never had"
    );
    // The victim's own login does not make the attacker's token theirs.
    let Login {
        state: victims_state,
        nonce: _,
        ..
    } = log_in(&victim, &platform).await;
    assert_eq!(
        post_launch(&victim, &token, &victims_state).await.status(),
        403
    );
    // Whoever holds only the token cannot make the login's cookie: the nonce as its value, or
    // a value of the right shape, is refused.
    for forged in [
        nonce.clone(),
        format!("{}.{}.{}", "A".repeat(43), uuid_like(), now()),
    ] {
        let res = reqwest::Client::new()
            .post(victim.local("/lti/launch"))
            .header("cookie", format!("gptgate-lti-{state}={forged}"))
            .form(&[("id_token", token.as_str()), ("state", state.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{forged}");
    }
    // The refusals spent nothing: the attacker's browser finishes its own launch.
    assert_eq!(post_launch(&attacker, &token, &state).await.status(), 303);
}

#[tokio::test]
async fn foreign_keys_wrong_audiences_and_expired_tokens_are_refused() {
    let (app, platform) = registered().await;
    let visitor = Browser::new(&app.address);
    type Case = fn(&str) -> String;
    let cases: [(&str, Case); 10] = [
        // Signed by a key that is not the platform's, under its kid.
        ("foreign key", |n| {
            Platform::sign(OTHER_PRIVATE, &Platform::claims(n))
        }),
        ("other client", |n| {
            let mut c = Platform::claims(n);
            c["aud"] = json!("another-client");
            Platform::sign(PRIVATE, &c)
        }),
        ("an extra audience", |n| {
            let mut c = Platform::claims(n);
            c["aud"] = json!([CLIENT, "someone-else"]);
            c["azp"] = json!(CLIENT);
            Platform::sign(PRIVATE, &c)
        }),
        ("expired", |n| {
            let mut c = Platform::claims(n);
            c["exp"] = json!(now() - 30);
            Platform::sign(PRIVATE, &c)
        }),
        ("other deployment", |n| {
            let mut c = Platform::claims(n);
            c["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] = json!("2");
            Platform::sign(PRIVATE, &c)
        }),
        ("deep linking", |n| {
            let mut c = Platform::claims(n);
            c["https://purl.imsglobal.org/spec/lti/claim/message_type"] =
                json!("LtiDeepLinkingRequest");
            Platform::sign(PRIVATE, &c)
        }),
        ("another login's nonce", |_| {
            Platform::sign(PRIVATE, &Platform::claims("0123456789abcdef"))
        }),
        ("HS256", |n| {
            let mut hs256 = Header::new(Algorithm::HS256);
            hs256.kid = Some("test-only-key-1".into());
            jsonwebtoken::encode(
                &hs256,
                &Platform::claims(n),
                &EncodingKey::from_secret(b"anything"),
            )
            .unwrap()
        }),
        ("not a JWT", |_| "garbage".to_owned()),
        ("empty", |_| String::new()),
    ];
    for (what, token) in cases {
        // Each refusal ends its login (its cookie goes): a fresh login for each.
        let Login { state, nonce, .. } = log_in(&visitor, &platform).await;
        let res = post_launch(&visitor, &token(&nonce), &state).await;
        assert_eq!(res.status(), 403, "{what}");
        let cookies: Vec<&str> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            cookies.len() == 1 && cookies[0].starts_with(&format!("gptgate-lti-{state}=;")),
            "{what}: only the login's cookie is removed: {cookies:?}"
        );
    }
    // One second inside the leeway still opens.
    let Login { state, nonce, .. } = log_in(&visitor, &platform).await;
    let mut last_second = Platform::claims(&nonce);
    last_second["exp"] = json!(now() - 29);
    let res = post_launch(&visitor, &Platform::sign(PRIVATE, &last_second), &state).await;
    assert_eq!(res.status(), 303);
    // The platform's own error answer is one page too.
    let res = visitor
        .client
        .post(visitor.local("/lti/launch"))
        .form(&[("error", "login_required"), ("state", &state)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn logins_from_unregistered_platforms_or_for_other_sites_are_refused() {
    let (app, platform) = registered().await;
    let visitor = Browser::new(&app.address);
    let target = format!("{PUBLIC_URL}/chat");
    for (what, query) in [
        (
            "unknown issuer",
            vec![
                ("iss", "https://evil.example"),
                ("login_hint", "2"),
                ("target_link_uri", target.as_str()),
            ],
        ),
        (
            "other client",
            vec![
                ("iss", ISSUER),
                ("login_hint", "2"),
                ("target_link_uri", target.as_str()),
                ("client_id", "other"),
            ],
        ),
        (
            "other deployment",
            vec![
                ("iss", ISSUER),
                ("login_hint", "2"),
                ("target_link_uri", target.as_str()),
                ("lti_deployment_id", "9"),
            ],
        ),
        (
            "no login hint",
            vec![("iss", ISSUER), ("target_link_uri", target.as_str())],
        ),
        (
            "foreign target",
            vec![
                ("iss", ISSUER),
                ("login_hint", "2"),
                ("target_link_uri", "https://evil.example/chat"),
            ],
        ),
        ("nothing", vec![]),
    ] {
        let res = visitor
            .client
            .get(visitor.local("/lti/login"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{what}");
        assert!(res.headers().get("location").is_none(), "{what}");
        assert!(res.headers().get("set-cookie").is_none(), "{what}");
        assert!(
            res.text().await.unwrap().contains("cannot open the chat"),
            "{what}"
        );
    }
    // The login may come as a form post too.
    let res = visitor
        .client
        .post(visitor.local("/lti/login"))
        .form(&[
            ("iss", ISSUER),
            ("login_hint", "2"),
            ("target_link_uri", &target),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let to = res.headers()["location"].to_str().unwrap();
    assert!(to.starts_with(&platform.url("/auth.php?")), "{to}");
}

#[tokio::test]
async fn the_console_checks_a_registration_and_reads_its_key_set() {
    let app = app().await;
    let platform = Platform::start().await;
    let admin = console(&app).await;
    let (status, page) = register(&admin, &platform, &platform.url("/missing.json")).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Nothing was registered") && page.contains("404"),
        "{page}"
    );
    let (status, page) = register(&admin, &platform, "http://moodle.example.edu/certs.php").await;
    assert_eq!(status, 422);
    assert!(page.contains("key set URL must be an https://"), "{page}");
    let (status, page) = register(&admin, &platform, &platform.url("/certs.php")).await;
    assert_eq!(status, 200, "{page}");
    for value in [
        format!("{PUBLIC_URL}/lti/login"),
        format!("{PUBLIC_URL}/lti/launch"),
        format!("{PUBLIC_URL}/lti/jwks"),
    ] {
        assert!(page.contains(&value), "the tool's {value} is shown");
    }
    let (status, page) = register(&admin, &platform, &platform.url("/certs.php")).await;
    assert_eq!(status, 422);
    assert!(page.contains("registered already"), "{page}");
    // Without the console's session and CSRF token, a whole registration is refused and
    // nothing is fetched or stored.
    let other = Platform::start().await;
    let stranger = Browser::new(&app.address);
    let res = stranger
        .post_form_to(
            "/admin/platforms/lti",
            &[
                ("csrf", "made-up"),
                ("name", "Evil"),
                ("issuer", "https://evil.example"),
                ("client_id", "1"),
                ("login_url", &other.url("/auth.php")),
                ("key_set_url", &other.url("/certs.php")),
                ("deployments", "1"),
                ("origins", "https://evil.example"),
            ],
        )
        .await;
    assert!(
        matches!(res.status().as_u16(), 303 | 401 | 403),
        "{}",
        res.status()
    );
    assert!(other.server.received_requests().await.unwrap().is_empty());
    let page = admin.open("/admin/platforms").await.1;
    assert!(!page.contains("evil.example"), "nothing registered");
}

#[tokio::test]
async fn removing_the_registration_signs_its_users_out() {
    let (app, platform) = registered().await;
    let visitor = Browser::new(&app.address);
    let Login { state, nonce, .. } = log_in(&visitor, &platform).await;
    let token = Platform::sign(PRIVATE, &Platform::claims(&nonce));
    assert_eq!(post_launch(&visitor, &token, &state).await.status(), 303);
    let admin = console(&app).await;
    let page = admin.open("/admin/platforms").await.1;
    let id = page
        .split("action=\"/admin/platforms/")
        .filter_map(|r| r.split('/').next())
        .find(|id| *id != "lti\"" && id.len() == 36)
        .unwrap()
        .to_owned();
    let res = admin
        .post_form_to(
            &format!("/admin/platforms/{id}/remove"),
            &[("csrf", &field(&page, "csrf"))],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (_, page) = visitor.open("/chat").await;
    assert!(!page.contains("data-csrf"), "signed out: {page}");
    // Its logins are refused from now on.
    let res = visitor
        .client
        .get(visitor.local("/lti/login"))
        .query(&[
            ("iss", ISSUER),
            ("login_hint", "2"),
            ("target_link_uri", PUBLIC_URL),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn the_tools_key_set_is_empty() {
    let app = app().await;
    let res = reqwest::get(format!("{}/lti/jwks", app.address))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, json!({ "keys": [] }));
}
