use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

use gptgate_http::config::{Config, Vars};
use gptgate_http::startup::{Application, Environment, Parts, ServeSettings};
use gptgate_ports::Store;
use gptgate_testkit::{FakeClock, InMemoryStore, RecordingMailer, SeededRandom};
use serde_json::{json, Value};

pub const API_KEY: &str = "test-api-key-0123456789abcdefghijklmnop";
pub const OTHER_KEY: &str = "test-api-key-previous-0123456789abcdefg";
pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything a test can see or steer.
#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    pub store: Arc<InMemoryStore>,
    pub mailer: Arc<RecordingMailer>,
    pub clock: FakeClock,
    pub client: reqwest::Client,
}

/// Log lines of every test in this binary, captured for the no-secrets-in-logs test.
pub fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        captured_logs().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            // Everything the server side logs; not the test-side WebDriver client and wiremock
            // servers, which log the URLs and headers they see (connect links, states).
            .with_env_filter("debug,thirtyfour=off,wiremock=off")
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    });
}

pub const TOKEN_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// An app with extra configuration (provider credentials, URL overrides).
pub async fn spawn_app_with(extra: &[(&str, String)]) -> TestApp {
    spawn_app_with_options(extra, ServeOptions::default()).await
}

/// An app with extra configuration and other serving options.
pub async fn spawn_app_with_options(extra: &[(&str, String)], options: ServeOptions) -> TestApp {
    let store = Arc::new(InMemoryStore::new());
    let served = serve_with(store.clone(), extra, options);
    TestApp {
        address: served.address,
        store,
        mailer: served.mailer,
        clock: served.clock,
        client: reqwest::Client::new(),
    }
}

/// What [`serve`] started.
pub struct Served {
    pub address: String,
    pub mailer: Arc<RecordingMailer>,
    pub clock: FakeClock,
}

/// Serves the real application on `store`, on a random port, with the recording mailer, a
/// fake clock and seeded randomness.
pub fn serve(store: Arc<dyn Store>, extra: &[(&str, String)]) -> Served {
    serve_with(store, extra, ServeOptions::default())
}

/// How [`serve_with`] differs from [`serve`].
pub struct ServeOptions {
    pub time_limit: std::time::Duration,
    pub action_time_limit: std::time::Duration,
    /// The public URL is the address actually bound (for a real browser, whose `Origin` must
    /// match it), instead of `http://localhost:8080`.
    pub public_url_is_own_address: bool,
    /// The chat model (else the one `LLM_BASE_URL` names, if set).
    pub chat_model: Option<Arc<dyn gptgate_ports::ChatModel>>,
    pub chat_heartbeat: std::time::Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            time_limit: gptgate_http::startup::REQUEST_TIME_LIMIT,
            action_time_limit: gptgate_http::startup::ACTION_REQUEST_TIME_LIMIT,
            public_url_is_own_address: false,
            chat_model: None,
            chat_heartbeat: gptgate_http::startup::CHAT_HEARTBEAT,
        }
    }
}

/// [`serve`] with other options.
pub fn serve_with(
    store: Arc<dyn Store>,
    extra: &[(&str, String)],
    options: ServeOptions,
) -> Served {
    init_logs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let public_url = if options.public_url_is_own_address {
        address.clone()
    } else {
        PUBLIC_URL.to_owned()
    };
    let mut vars: Vars = [
        ("PUBLIC_URL", public_url.as_str()),
        ("GPT_API_KEY", &*format!("{API_KEY},{OTHER_KEY}")),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef-test"),
        ("TOKEN_ENCRYPTION_KEY", TOKEN_KEY),
        ("BODY_LIMIT_BYTES", &BODY_LIMIT.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), v.clone());
    }
    let config = Config::load(&vars, &SeededRandom::new(1)).expect("test configuration loads");
    let mailer = Arc::new(RecordingMailer::new());
    let clock = FakeClock::new();
    // The binary's own wiring (`Application::build` calls `build_from` with production parts).
    let application = Application::build_from(
        &config,
        Parts {
            listener,
            store,
            env: Environment {
                mailer: mailer.clone(),
                clock: Arc::new(clock.clone()),
                timer: Arc::new(clock.clone()),
                random: Arc::new(SeededRandom::new(2)),
                passwords: Arc::new(gptgate_testkit::FakePasswords::default()),
                chat_model: options.chat_model.clone().or_else(|| {
                    gptgate_http::startup::chat_model(&config).expect("the chat model builds")
                }),
            },
        },
        ServeSettings {
            time_limit: options.time_limit,
            action_time_limit: options.action_time_limit,
            workers: Some(1),
            chat_heartbeat: options.chat_heartbeat,
        },
    )
    .expect("the application builds");
    tokio::spawn(application.run_until_stopped());
    Served {
        address,
        mailer,
        clock,
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("x-api-key", API_KEY)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    /// The JSON answer to `GET path`.
    pub async fn get_json(&self, path: &str) -> Value {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn send_code(&self, email: &str) -> String {
        let res = self
            .post("/auth/send-link", &json!({ "email": email }))
            .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        self.mailer
            .last_code_for(&email.trim().to_lowercase())
            .expect("a code was mailed")
    }

    /// Signs `email` in and returns the session token.
    pub async fn sign_in(&self, email: &str) -> String {
        let code = self.send_code(email).await;
        let res = self
            .post(
                "/auth/verify-email",
                &json!({ "email": email, "code": code }),
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }
}

/// Asserts the one error shape and returns the code.
pub async fn error_code(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status(), status);
    assert!(res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only `error`: {body}");
    assert_eq!(
        body["error"].get("retryAfter").is_some(),
        status == 429,
        "retryAfter with every 429 and only then: {body}"
    );
    body["error"]["code"].as_str().unwrap().to_owned()
}

/// The public URL the test apps are configured with; links carry it.
pub const PUBLIC_URL: &str = "http://localhost:8080";

/// A browser for the connect pages: its own cookie jar, no redirects followed, and on form
/// posts the headers a real browser sends for a same-origin form (`Origin`, `Sec-Fetch-Site`).
pub struct Browser {
    pub client: reqwest::Client,
    address: String,
    /// The `Origin` its forms are posted from: the server's public URL.
    origin: String,
}

impl Browser {
    pub fn new(address: &str) -> Self {
        Self::with_origin(address, PUBLIC_URL)
    }

    /// A browser for a server whose public URL is its own address
    /// ([`ServeOptions::public_url_is_own_address`]).
    pub fn at_own_address(address: &str) -> Self {
        Self::with_origin(address, address)
    }

    fn with_origin(address: &str, origin: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
            address: address.to_owned(),
            origin: origin.to_owned(),
        }
    }

    /// `url` (a link on the public URL, or a path) on the test server.
    pub fn local(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.address)
        } else {
            url.replace(PUBLIC_URL, &self.address)
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(self.local(url)).send().await.unwrap()
    }

    /// Opens a connect link: the status and the page.
    pub async fn open(&self, link: &str) -> (u16, String) {
        let res = self.get(link).await;
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Posts the confirmation form with `fields`, as a same-origin browser form would.
    pub async fn post_form(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        self.post_form_to("/auth/start", fields).await
    }

    /// Posts a form of ours to `path` with `fields`, as a same-origin browser form would.
    pub async fn post_form_to(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.local(path))
            .header("origin", &self.origin)
            .header("sec-fetch-site", "same-origin")
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Opens the link and presses Continue: the answer to the form's POST.
    pub async fn continue_from(&self, link: &str) -> reqwest::Response {
        let (status, html) = self.open(link).await;
        assert_eq!(status, 200, "{html}");
        let token = field(&html, "token");
        let csrf = field(&html, "csrf");
        self.post_form(&[("token", &token), ("csrf", &csrf)]).await
    }

    /// Opens the link, presses Continue, and returns the provider URL it is sent to.
    pub async fn start(&self, link: &str) -> reqwest::Url {
        let res = self.continue_from(link).await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
    }

    /// The provider's redirect back to `/auth/callback/{provider}?{query}`.
    pub async fn callback(&self, provider: &str, query: &str) -> reqwest::Response {
        self.get(&format!("/auth/callback/{provider}?{query}"))
            .await
    }
}

/// The value of the hidden form field `name` in `html`.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A query parameter of `url`.
pub fn param(url: &reqwest::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The settings that point Linear at `linear` (wiremock).
pub fn linear_settings(linear: &wiremock::MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("LINEAR_CLIENT_ID", "lin-client".to_owned()),
        ("LINEAR_CLIENT_SECRET", "lin-secret".to_owned()),
        (
            "LINEAR_AUTHORIZE_URL",
            format!("{}/oauth/authorize", linear.uri()),
        ),
        ("LINEAR_TOKEN_URL", format!("{}/oauth/token", linear.uri())),
        (
            "LINEAR_REVOKE_URL",
            format!("{}/oauth/revoke", linear.uri()),
        ),
        ("LINEAR_API_BASE_URL", linear.uri()),
    ]
}

/// Linear's GraphQL API answers who the account is, as Linear does.
pub async fn linear_knows_ann(linear: &wiremock::MockServer) {
    use wiremock::matchers::{method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "data": {
                    "viewer": { "id": "u-1", "name": "Ann Lee", "email": "ann@acme.test" },
                    "organization": { "id": "o-1", "name": "Acme", "urlKey": "acme" }
                }
            })),
        )
        .mount(linear)
        .await;
}

/// The user of `session` connects Linear (`work`) through the browser flow in `browser`;
/// Linear hands out `lin_access_1`, valid one hour, and refresh token `lin_refresh_1`. Returns
/// the account id.
pub async fn connect_linear(
    app: &TestApp,
    browser: &Browser,
    linear: &wiremock::MockServer,
    session: &str,
) -> String {
    use wiremock::matchers::{body_string_contains, method, path};
    linear_knows_ann(linear).await;
    wiremock::Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "lin_access_1", "token_type": "Bearer", "expires_in": 3600,
                "refresh_token": "lin_refresh_1", "scope": "read"
            })),
        )
        .mount(linear)
        .await;
    let res = app
        .post(
            "/api/gpt/create-auth-link",
            &serde_json::json!({ "token": session, "provider": "linear", "label": "work" }),
        )
        .await;
    let link: serde_json::Value = res.json().await.unwrap();
    let provider_url = browser.start(link["authUrl"].as_str().unwrap()).await;
    let state = param(&provider_url, "state");
    let res = browser
        .callback("linear", &format!("code=c&state={state}"))
        .await;
    assert_eq!(res.status(), 200);
    let accounts: serde_json::Value = app
        .post(
            "/api/gpt/accounts/list",
            &serde_json::json!({ "token": session }),
        )
        .await
        .json()
        .await
        .unwrap();
    accounts["accounts"][0]["id"].as_str().unwrap().to_owned()
}

/// Linear's GraphQL answer to any operation containing `operation`, when called with `token`.
pub async fn graphql(
    linear: &wiremock::MockServer,
    operation: &str,
    token: &str,
    status: u16,
    body: serde_json::Value,
) {
    use wiremock::matchers::{body_string_contains, header, method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains(operation))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(wiremock::ResponseTemplate::new(status).set_body_json(body))
        .with_priority(1)
        .mount(linear)
        .await;
}

/// Linear's token endpoint must not be called (checked when `linear` is dropped).
pub async fn no_token_request(linear: &wiremock::MockServer) {
    use wiremock::matchers::{method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .expect(0)
        .mount(linear)
        .await;
}

/// The admin password of [`console_app`].
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// An app with the admin console on ([`ADMIN_PASSWORD`]) and a fake chat model.
pub async fn console_app() -> TestApp {
    spawn_app_with_options(
        &[(
            "ADMIN_PASSWORD_HASH",
            gptgate_testkit::FakePasswords::hash_of(ADMIN_PASSWORD)
                .as_str()
                .to_owned(),
        )],
        ServeOptions {
            chat_model: Some(Arc::new(gptgate_testkit::FakeChatModel::default())),
            ..ServeOptions::default()
        },
    )
    .await
}

/// A browser signed in to `app`'s console.
pub async fn console_browser(app: &TestApp) -> Browser {
    let browser = Browser::new(&app.address);
    let csrf = field(&browser.open("/admin/login").await.1, "csrf");
    let res = browser
        .post_form_to(
            "/admin/login",
            &[("csrf", &csrf), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303);
    browser
}
