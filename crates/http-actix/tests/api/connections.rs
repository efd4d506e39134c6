//! The connect flow over HTTP, with wiremock standing in for Linear.

use reqwest::{redirect, Method};
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_code, spawn_app_with, TestApp, API_KEY};

struct Flow {
    app: TestApp,
    linear: MockServer,
    browser: reqwest::Client,
}

async fn flow() -> Flow {
    let linear = MockServer::start().await;
    let app = spawn_app_with(&[
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
    ])
    .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {
                "viewer": { "id": "u-1", "name": "Ann Lee", "email": "ann@acme.test" },
                "organization": { "id": "o-1", "name": "Acme", "urlKey": "acme" }
            }
        })))
        .mount(&linear)
        .await;
    Flow {
        app,
        linear,
        browser: reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl Flow {
    async fn gpt(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .app
            .request(method, path)
            .header("x-api-key", API_KEY)
            .header("x-gpt-user-id", "g-ann");
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

    /// Opens the link like a browser; returns the provider URL it redirects to.
    async fn open(&self, auth_url: &str) -> reqwest::Url {
        let local = auth_url.replace("http://localhost:8080", &self.app.address);
        let res = self.browser.get(local).send().await.unwrap();
        assert_eq!(res.status(), 302);
        reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
    }

    async fn callback(&self, query: &str) -> reqwest::Response {
        self.browser
            .get(format!("{}/auth/callback/linear?{query}", self.app.address))
            .send()
            .await
            .unwrap()
    }
}

fn param(url: &reqwest::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
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
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
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
async fn a_link_works_once_and_a_bad_one_gets_a_page_that_says_what_to_do() {
    let f = flow().await;
    let auth_url = f.auth_link("work").await;
    f.open(&auth_url).await;
    let local = auth_url.replace("http://localhost:8080", &f.app.address);
    let res = f.browser.get(local).send().await.unwrap();
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
    let res = f
        .browser
        .get(format!("{}/auth/start", f.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_callback_without_a_valid_state_makes_no_token_request() {
    let f = flow().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&f.linear)
        .await;
    for query in ["code=c", "code=c&state=forged", "code=c&state="] {
        assert_eq!(f.callback(query).await.status(), 400, "{query}");
    }
    let res = f
        .browser
        .get(format!(
            "{}/auth/callback/dropbox?code=c&state=s",
            f.app.address
        ))
        .send()
        .await
        .unwrap();
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
    let body: Value = f
        .gpt(Method::GET, "/api/gpt/accounts", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["accounts"], json!([]));
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
    let body: Value = f
        .gpt(Method::GET, "/api/gpt/accounts", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["accounts"], json!([]));
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

    let other = f
        .app
        .request(Method::DELETE, &format!("/api/gpt/accounts/{id}"))
        .header("x-api-key", API_KEY)
        .header("x-gpt-user-id", "g-bob")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(other, 404).await, "account_not_found");

    let res = f
        .gpt(Method::DELETE, &format!("/api/gpt/accounts/{id}"), None)
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["success"], true);
    let body: Value = f
        .gpt(Method::GET, "/api/gpt/accounts", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["accounts"], json!([]));
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
    store.migrate().await.unwrap();
    let ready = store.clone();
    let served = crate::helpers::serve(
        store,
        Arc::new(move || {
            let s = ready.clone();
            Box::pin(async move { s.ping().await })
        }),
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
    let browser = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let res = browser
        .post(format!("{}/api/gpt/create-auth-link", served.address))
        .header("x-api-key", API_KEY)
        .header("x-gpt-user-id", "g-raw")
        .json(&json!({ "provider": "linear", "label": "work" }))
        .send()
        .await
        .unwrap();
    let link = res.json::<Value>().await.unwrap()["authUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = browser
        .get(link.replace("http://localhost:8080", &served.address))
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let res = browser
        .get(format!(
            "{}/auth/callback/linear?code=c&state={}",
            served.address,
            param(&location, "state")
        ))
        .send()
        .await
        .unwrap();
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
