//! The connect flow over HTTP, with wiremock standing in for Linear.

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    error_code, field, linear_knows_ann, linear_settings, no_token_request, param, spawn_app_with,
    Browser, TestApp, API_KEY,
};

struct Flow {
    app: TestApp,
    linear: MockServer,
    browser: Browser,
    /// Ann's session token (she signed in by email).
    ann: String,
}

async fn flow() -> Flow {
    let linear = MockServer::start().await;
    let app = spawn_app_with(&linear_settings(&linear)).await;
    linear_knows_ann(&linear).await;
    let ann = app.sign_in("ann.lee@example.com").await;
    let browser = Browser::new(&app.address);
    Flow {
        app,
        linear,
        browser,
        ann,
    }
}

/// Linear's token endpoint answers every exchange with these tokens.
async fn tokens_at(linear: &MockServer, access: &str, refresh: &str) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": refresh
        })))
        .mount(linear)
        .await;
}

impl Flow {
    /// A GPT call on behalf of Ann (her session token as Bearer).
    async fn gpt(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        self.gpt_as(&self.ann, method, path, body).await
    }

    async fn gpt_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .app
            .request(method, path)
            .header("x-api-key", API_KEY)
            .header("authorization", format!("Bearer {token}"));
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    async fn auth_link(&self, label: &str) -> String {
        let res = self
            .gpt(
                Method::POST,
                "/api/gpt/create-auth-link",
                Some(json!({ "provider": "linear", "label": label })),
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["authUrl"].as_str().unwrap().to_owned()
    }

    /// Opens the link in the browser and presses Continue; returns the provider URL.
    async fn open(&self, auth_url: &str) -> reqwest::Url {
        self.browser.start(auth_url).await
    }

    async fn callback(&self, query: &str) -> reqwest::Response {
        self.browser.callback("linear", query).await
    }

    async fn accounts(&self) -> Value {
        self.gpt(Method::GET, "/api/gpt/accounts", None)
            .await
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_user_connects_linear_and_the_gpt_sees_the_account_but_never_a_token() {
    let f = flow().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("code=provider-code"))
        .and(body_string_contains("code_verifier="))
        .and(body_string_contains("client_secret=lin-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "lin_access_SECRET", "token_type": "Bearer",
            "expires_in": 86399, "scope": "read", "refresh_token": "lin_refresh_SECRET"
        })))
        .expect(1)
        .mount(&f.linear)
        .await;

    let auth_url = f.auth_link("work").await;
    assert!(
        auth_url.starts_with("http://localhost:8080/auth/start?token="),
        "{auth_url}"
    );
    let provider_url = f.open(&auth_url).await;
    assert_eq!(provider_url.path(), "/oauth/authorize");
    assert_eq!(param(&provider_url, "client_id"), "lin-client");
    assert_eq!(
        param(&provider_url, "redirect_uri"),
        "http://localhost:8080/auth/callback/linear"
    );
    assert_eq!(param(&provider_url, "code_challenge_method"), "S256");
    assert_eq!(
        param(&provider_url, "scope"),
        "read,issues:create,comments:create"
    );
    let state = param(&provider_url, "state");
    assert_eq!(state.len(), 43, "256-bit state");

    let res = f
        .callback(&format!("code=provider-code&state={state}"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let html = res.text().await.unwrap();
    assert!(html.contains("Connected Linear (work)"), "{html}");
    assert!(html.contains("return to ChatGPT"));

    let res = f.gpt(Method::GET, "/api/gpt/accounts", None).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let listed_by_body: Value = f
        .app
        .post("/api/gpt/accounts/list", &json!({ "token": f.ann }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed_by_body,
        serde_json::from_str::<Value>(&text).unwrap(),
        "a GPT carrying the token in the body sees the same accounts"
    );
    assert!(!text.contains("SECRET"), "no token in the answer: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let account = &body["accounts"][0];
    assert_eq!(account["provider"], "linear");
    assert_eq!(account["label"], "work");
    assert_eq!(account["enabled"], true);
    assert_eq!(account["status"], "active");
    assert_eq!(account["metadata"]["email"], "ann@acme.test");
    assert_eq!(account["metadata"]["organization"]["name"], "Acme");

    // As stored: AES-GCM ciphertext under key k1, no plaintext.
    let stored = f.app.store.all_accounts_for_tests();
    assert_eq!(stored.len(), 1);
    for a in stored {
        for sealed in [
            a.tokens.access_token.unwrap(),
            a.tokens.refresh_token.unwrap(),
        ] {
            assert!(!String::from_utf8_lossy(sealed.as_bytes()).contains("SECRET"));
        }
        assert_eq!(a.tokens.key_id, "k1");
    }

    // Nothing secret reached the logs: not the tokens, the state, nor the link's token.
    let logs = String::from_utf8(crate::helpers::captured_logs().lock().unwrap().clone()).unwrap();
    let link_token = auth_url.split_once("token=").unwrap().1;
    for secret in [
        "lin_access_SECRET",
        "lin_refresh_SECRET",
        "lin-secret",
        state.as_str(),
        link_token,
    ] {
        let lines: Vec<&str> = logs.lines().collect();
        let line = lines
            .iter()
            .position(|l| l.contains(secret))
            .map(|i| lines[i.saturating_sub(3)..=i].join("\n"));
        assert!(line.is_none(), "{secret:?} appears in the logs: {line:?}");
    }
    assert!(
        logs.contains("account connected"),
        "the flow was logged at all"
    );

    // The callback cannot be replayed: no second token request (expect(1) above).
    let res = f
        .callback(&format!("code=provider-code&state={state}"))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn the_link_opens_a_confirmation_page_that_changes_nothing() {
    let f = flow().await;
    let auth_url = f.auth_link("work").await;
    for _ in 0..2 {
        // People, link previewers and mail scanners may open it any number of times.
        let res = f.browser.get(&auth_url).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(
            res.headers()["referrer-policy"],
            "same-origin",
            "the form's POST keeps its Origin"
        );
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        let html = res.text().await.unwrap();
        assert!(html.contains("Connect Linear?"), "{html}");
        assert!(html.contains("<dd>work</dd>"), "the label: {html}");
        assert!(
            html.contains("your gptgate account (a***@example.com)"),
            "whose account, masked: {html}"
        );
        assert!(!html.contains("ann.lee@"), "never the whole address");
        // Relative, so a public URL with a path (behind a proxy) posts to its own /auth/start.
        assert!(html.contains("method=\"post\" action=\"start\""));
        assert!(html.contains("if someone else sent it to you, close this page"));
    }
    assert_eq!(f.accounts().await["accounts"], json!([]));
    let provider_url = f.open(&auth_url).await;
    assert_eq!(
        provider_url.path(),
        "/oauth/authorize",
        "the link still works"
    );
}

#[tokio::test]
async fn a_link_asked_for_by_a_chatgpt_identity_says_so() {
    let f = flow().await;
    let res = f
        .app
        .request(Method::POST, "/api/gpt/create-auth-link")
        .header("x-api-key", API_KEY)
        .header("openai-ephemeral-user-id", "eph-1")
        .json(&json!({ "provider": "linear", "label": "work" }))
        .send()
        .await
        .unwrap();
    let link = res.json::<Value>().await.unwrap()["authUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, html) = f.browser.open(&link).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("the ChatGPT account that asked for this link"),
        "{html}"
    );
}

#[tokio::test]
async fn continue_without_the_pages_token_or_from_another_site_is_refused_and_the_link_survives() {
    let f = flow().await;
    no_token_request(&f.linear).await;
    let auth_url = f.auth_link("work").await;
    let (_, html) = f.browser.open(&auth_url).await;
    let token = field(&html, "token");
    let csrf = field(&html, "csrf");
    let post = |origin: Option<&'static str>, fields: Vec<(&'static str, String)>| {
        let mut req = f
            .browser
            .client
            .post(f.browser.local("/auth/start"))
            .form(&fields);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    let ours = Some("http://localhost:8080");
    let cases = [
        ("no CSRF token", ours, vec![("token", token.clone())]),
        (
            "a wrong CSRF token",
            ours,
            vec![("token", token.clone()), ("csrf", "x".repeat(43))],
        ),
        (
            "a foreign Origin",
            Some("https://evil.example"),
            vec![("token", token.clone()), ("csrf", csrf.clone())],
        ),
        (
            "an opaque Origin",
            Some("null"),
            vec![("token", token.clone()), ("csrf", csrf.clone())],
        ),
    ];
    for (why, origin, fields) in cases {
        let res = post(origin, fields).await.unwrap();
        assert_eq!(res.status(), 403, "{why}");
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{why}: no flow cookie"
        );
        assert!(
            res.text().await.unwrap().contains("could not be verified"),
            "{why}"
        );
    }
    // Another browser's token: fetched by an attacker in their own browser.
    let attacker = Browser::new(&f.app.address);
    let (_, attackers_page) = attacker.open(&auth_url).await;
    let res = f
        .browser
        .post_form(&[("token", &token), ("csrf", &field(&attackers_page, "csrf"))])
        .await;
    assert_eq!(res.status(), 403, "a token bound to another browser");
    // A request with no cookie at all (a cross-site form in a browser that blocks cookies).
    let res = reqwest::Client::new()
        .post(f.browser.local("/auth/start"))
        .form(&[("token", token.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no pre-session cookie");

    let provider_url = f.open(&auth_url).await;
    assert_eq!(
        provider_url.path(),
        "/oauth/authorize",
        "the link was not used up"
    );
}

#[tokio::test]
async fn a_link_works_once_and_a_bad_one_gets_a_page_that_says_what_to_do() {
    let f = flow().await;
    let auth_url = f.auth_link("work").await;
    let (_, page) = f.browser.open(&auth_url).await;
    let (token, csrf) = (field(&page, "token"), field(&page, "csrf"));
    f.open(&auth_url).await;
    for res in [
        f.browser.get(&auth_url).await,
        f.browser
            .post_form(&[("token", &token), ("csrf", &csrf)])
            .await,
        f.browser.get("/auth/start").await,
    ] {
        assert_eq!(res.status(), 400);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("Ask the GPT for a new link"));
    }
}

#[tokio::test]
async fn the_flow_finishes_only_in_the_browser_that_started_it() {
    let f = flow().await;
    no_token_request(&f.linear).await;
    // The attacker asks for a link for their own gptgate user, presses Continue in their own
    // browser, and sends the provider URL (with its state) to the victim.
    let mallory = f.app.sign_in("mallory@example.com").await;
    let res = f
        .gpt_as(
            &mallory,
            Method::POST,
            "/api/gpt/create-auth-link",
            Some(json!({ "provider": "linear", "label": "loot" })),
        )
        .await;
    let link = res.json::<Value>().await.unwrap()["authUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let attacker = Browser::new(&f.app.address);
    let provider_url = attacker.start(&link).await;
    let state = param(&provider_url, "state");

    // The victim approves at the provider; their browser comes back with a code.
    let victim = Browser::new(&f.app.address);
    let res = victim
        .callback("linear", &format!("code=victims-code&state={state}"))
        .await;
    assert_eq!(res.status(), 403);
    let html = res.text().await.unwrap();
    assert!(html.contains("started in another browser"), "{html}");
    assert!(html.contains("ask the GPT for a new link"), "{html}");

    // The state is burnt: not even the attacker's own browser can use it now.
    let res = attacker
        .callback("linear", &format!("code=attackers-code&state={state}"))
        .await;
    assert_eq!(res.status(), 400);
    let accounts: Value = f
        .gpt_as(&mallory, Method::GET, "/api/gpt/accounts", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        accounts["accounts"],
        json!([]),
        "nothing filed under the attacker"
    );
}

#[tokio::test]
async fn the_nonce_cookie_is_http_only_lax_and_lives_ten_minutes_then_is_cleared() {
    let f = flow().await;
    tokens_at(&f.linear, "a", "r").await;
    let res = f.browser.continue_from(&f.auth_link("work").await).await;
    assert_eq!(res.status(), 303);
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let nonce = cookies
        .iter()
        .find(|c| c.starts_with("gptgate-connect-"))
        .unwrap_or_else(|| panic!("a flow cookie: {cookies:?}"));
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(nonce.contains(attribute), "{attribute} in {nonce}");
    }
    assert!(
        !nonce.contains("Secure"),
        "plain http in development: no Secure, no __Host-"
    );
    let provider_url = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let res = f
        .callback(&format!("code=c&state={}", param(&provider_url, "state")))
        .await;
    assert_eq!(res.status(), 200);
    let cleared = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cleared.starts_with("gptgate-connect-") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[tokio::test]
async fn two_flows_in_one_browser_each_keep_their_own_nonce() {
    let f = flow().await;
    tokens_at(&f.linear, "a", "r").await;
    let work = f.open(&f.auth_link("work").await).await;
    let home = f.open(&f.auth_link("home").await).await;
    for provider_url in [home, work] {
        let res = f
            .callback(&format!("code=c&state={}", param(&provider_url, "state")))
            .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(f.accounts().await["accounts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_callback_without_a_valid_state_makes_no_token_request() {
    let f = flow().await;
    no_token_request(&f.linear).await;
    for query in ["code=c", "code=c&state=forged", "code=c&state="] {
        assert_eq!(f.callback(query).await.status(), 400, "{query}");
    }
    let res = f.browser.callback("dropbox", "code=c&state=s").await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_declined_consent_says_so_and_stores_nothing() {
    let f = flow().await;
    let provider_url = f.open(&f.auth_link("work").await).await;
    let state = param(&provider_url, "state");
    let res = f
        .callback(&format!(
            "error=access_denied&error_description=User+denied&state={state}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Nothing was connected"));
    assert_eq!(f.accounts().await["accounts"], json!([]));
}

#[tokio::test]
async fn a_provider_error_at_the_token_endpoint_is_a_502_page_and_nothing_is_stored() {
    let f = flow().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_grant" })))
        .mount(&f.linear)
        .await;
    let provider_url = f.open(&f.auth_link("work").await).await;
    let res = f
        .callback(&format!("code=c&state={}", param(&provider_url, "state")))
        .await;
    assert_eq!(res.status(), 502);
    assert_eq!(f.accounts().await["accounts"], json!([]));
}

#[tokio::test]
async fn accounts_can_be_toggled_and_disconnected_with_revocation() {
    let f = flow().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "a", "token_type": "Bearer", "expires_in": 60, "refresh_token": "r-1"
        })))
        .mount(&f.linear)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(body_string_contains("token=r-1"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&f.linear)
        .await;
    let provider_url = f.open(&f.auth_link("work").await).await;
    f.callback(&format!("code=c&state={}", param(&provider_url, "state")))
        .await;
    let body: Value = f
        .gpt(Method::GET, "/api/gpt/accounts", None)
        .await
        .json()
        .await
        .unwrap();
    let id = body["accounts"][0]["id"].as_str().unwrap().to_owned();

    let res = f
        .gpt(
            Method::POST,
            &format!("/api/gpt/accounts/{id}/toggle"),
            None,
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "id": id, "enabled": false })
    );
    let res = f
        .gpt(
            Method::POST,
            &format!("/api/gpt/accounts/{id}/toggle"),
            Some(json!({ "enabled": true })),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["enabled"], true);

    let bob = f.app.sign_in("bob@example.com").await;
    for (method, path) in [
        (Method::DELETE, format!("/api/gpt/accounts/{id}")),
        (Method::POST, format!("/api/gpt/accounts/{id}/toggle")),
    ] {
        let other = f.gpt_as(&bob, method, &path, None).await;
        assert_eq!(error_code(other, 404).await, "account_not_found");
    }

    let res = f
        .gpt(Method::DELETE, &format!("/api/gpt/accounts/{id}"), None)
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["success"], true);
    assert_eq!(f.accounts().await["accounts"], json!([]));
}

#[tokio::test]
async fn bad_link_requests_get_clear_errors() {
    let f = flow().await;
    let cases = [
        (
            json!({ "provider": "dropbox", "label": "x" }),
            400,
            "unknown_provider",
        ),
        (
            json!({ "provider": "slack", "label": "x" }),
            400,
            "provider_not_configured",
        ),
        (
            json!({ "provider": "linear", "label": "no spaces" }),
            422,
            "invalid_label",
        ),
        (json!({ "provider": "linear" }), 422, "invalid_field"),
    ];
    for (body, status, code) in cases {
        let res = f
            .gpt(
                Method::POST,
                "/api/gpt/create-auth-link",
                Some(body.clone()),
            )
            .await;
        assert_eq!(error_code(res, status).await, code, "{body}");
    }
    let res = f
        .gpt(Method::POST, "/api/gpt/accounts/not-a-uuid/toggle", None)
        .await;
    assert_eq!(error_code(res, 404).await, "account_not_found");
}

#[tokio::test]
async fn a_management_link_is_handed_out() {
    let f = flow().await;
    let res = f
        .gpt(Method::POST, "/api/gpt/create-management-link", None)
        .await;
    let body: Value = res.json().await.unwrap();
    assert!(body["managementUrl"]
        .as_str()
        .unwrap()
        .starts_with("http://localhost:8080/integrations?token="));
}

#[tokio::test]
async fn on_sqlite_the_stored_row_holds_no_plaintext_token() {
    use gptgate_adapters_sqlite::SqliteStore;
    use std::sync::Arc;

    let linear = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "PLAIN-ACCESS-TOKEN", "token_type": "Bearer",
            "expires_in": 3600, "refresh_token": "PLAIN-REFRESH-TOKEN"
        })))
        .mount(&linear)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "viewer": { "id": "u", "name": "Ann", "email": "ann@acme.test" }, "organization": null }
        })))
        .mount(&linear)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("raw.db").display());
    let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
    gptgate_ports::Store::migrate(store.as_ref()).await.unwrap();
    let served = crate::helpers::serve(
        store,
        &[
            ("LINEAR_CLIENT_ID", "lin-client".to_owned()),
            ("LINEAR_CLIENT_SECRET", "lin-secret".to_owned()),
            (
                "LINEAR_AUTHORIZE_URL",
                format!("{}/oauth/authorize", linear.uri()),
            ),
            ("LINEAR_TOKEN_URL", format!("{}/oauth/token", linear.uri())),
            ("LINEAR_API_BASE_URL", linear.uri()),
        ],
    );
    let browser = Browser::new(&served.address);
    let res = browser
        .client
        .post(format!("{}/api/gpt/create-auth-link", served.address))
        .header("x-api-key", API_KEY)
        .header("openai-ephemeral-user-id", "eph-raw")
        .json(&json!({ "provider": "linear", "label": "work" }))
        .send()
        .await
        .unwrap();
    let link = res.json::<Value>().await.unwrap()["authUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let location = browser.start(&link).await;
    let res = browser
        .callback(
            "linear",
            &format!("code=c&state={}", param(&location, "state")),
        )
        .await;
    assert_eq!(res.status(), 200);

    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(Vec<u8>, Vec<u8>, String, String)> =
        sqlx::query_as("SELECT access_token, refresh_token, key_id, metadata FROM accounts")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    let (access, refresh, key_id, metadata) = &rows[0];
    for column in [access, refresh] {
        let text = String::from_utf8_lossy(column);
        assert!(!text.contains("PLAIN"), "ciphertext only: {text}");
    }
    assert_eq!(key_id, "k1");
    assert!(metadata.contains("ann@acme.test") && !metadata.contains("PLAIN"));
    let states: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_states")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(states, 0, "the state was consumed");
}

#[tokio::test]
async fn deleting_my_data_revokes_every_connected_account_first() {
    let f = flow().await;
    tokens_at(&f.linear, "a", "r-9").await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(body_string_contains("token=r-9"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&f.linear)
        .await;
    for label in ["work", "home"] {
        let provider_url = f.open(&f.auth_link(label).await).await;
        f.callback(&format!("code=c&state={}", param(&provider_url, "state")))
            .await;
    }
    let res = f.app.post("/me/delete", &json!({ "token": f.ann })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["accountsDisconnected"], 2);
    assert_eq!(body["revokedAtProvider"], 2);
    let res = f.gpt(Method::GET, "/api/gpt/accounts", None).await;
    assert_eq!(
        error_code(res, 401).await,
        "invalid_token",
        "the user is gone"
    );
}

#[tokio::test]
async fn toggle_delete_and_list_read_the_session_token_from_the_body() {
    let f = flow().await;
    tokens_at(&f.linear, "a", "r").await;
    let provider_url = f.open(&f.auth_link("work").await).await;
    f.callback(&format!("code=c&state={}", param(&provider_url, "state")))
        .await;
    let listed: Value = f
        .app
        .post("/api/gpt/accounts/list", &json!({ "token": f.ann }))
        .await
        .json()
        .await
        .unwrap();
    let id = listed["accounts"][0]["id"].as_str().unwrap().to_owned();
    let res = f
        .app
        .post(
            &format!("/api/gpt/accounts/{id}/toggle"),
            &json!({ "token": f.ann, "enabled": false }),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["enabled"], false);
    let res = f
        .app
        .post(
            &format!("/api/gpt/accounts/{id}/delete"),
            &json!({ "token": f.ann }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = f.app.post("/api/gpt/accounts/list", &json!({})).await;
    assert_eq!(
        error_code(res, 401).await,
        "not_signed_in",
        "the key alone is nobody"
    );
    let res = f
        .app
        .post("/api/gpt/accounts/list", &json!({ "token": "forged" }))
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
}

#[tokio::test]
async fn providers_that_do_not_answer_cannot_stop_a_deletion() {
    use crate::helpers::{spawn_app_with_options, ServeOptions};
    let linear = MockServer::start().await;
    let app = spawn_app_with_options(
        &linear_settings(&linear),
        ServeOptions {
            // Three revocations one after the other would need 9 s.
            time_limit: std::time::Duration::from_secs(6),
            ..ServeOptions::default()
        },
    )
    .await;
    linear_knows_ann(&linear).await;
    tokens_at(&linear, "a", "r").await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(8)))
        .mount(&linear)
        .await;
    let ann = app.sign_in("ann@example.com").await;
    let browser = Browser::new(&app.address);
    for label in ["a", "b", "c"] {
        let res = app
            .post(
                "/api/gpt/create-auth-link",
                &json!({ "token": ann, "provider": "linear", "label": label }),
            )
            .await;
        let link = res.json::<Value>().await.unwrap()["authUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let provider_url = browser.start(&link).await;
        let res = browser
            .callback(
                "linear",
                &format!("code=c&state={}", param(&provider_url, "state")),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app.post("/me/delete", &json!({ "token": ann })).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["accountsDisconnected"], 3);
    assert_eq!(body["revokedAtProvider"], 0);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("3 of them could not be revoked"),
        "{body}"
    );
    assert_eq!(app.store.user_count(), 0, "deleted all the same");
}
