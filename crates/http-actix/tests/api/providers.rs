//! The whole connect flow over HTTP for each provider, with wiremock answering as that provider
//! does (including Slack's and Zoho's HTTP-200 errors).

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{spawn_app_with, Browser, TestApp, API_KEY};

struct Provider {
    app: TestApp,
    server: MockServer,
    name: &'static str,
}

async fn provider(name: &'static str, prefix: &str) -> Provider {
    let server = MockServer::start().await;
    let uri = server.uri();
    let app = spawn_app_with(&[
        (&*format!("{prefix}_CLIENT_ID"), "cid".to_owned()),
        (&*format!("{prefix}_CLIENT_SECRET"), "csecret".to_owned()),
        (
            &*format!("{prefix}_AUTHORIZE_URL"),
            format!("{uri}/authorize"),
        ),
        (&*format!("{prefix}_TOKEN_URL"), format!("{uri}/token")),
        (&*format!("{prefix}_REVOKE_URL"), format!("{uri}/revoke")),
        (&*format!("{prefix}_API_BASE_URL"), format!("{uri}/api")),
        ("GOOGLE_USERINFO_URL", format!("{uri}/userinfo")),
        ("ZOHO_ACCOUNTS_SERVERS", uri.clone()),
    ])
    .await;
    Provider { app, server, name }
}

impl Provider {
    /// Link, start, the provider's redirect back with `extra` query parameters; returns the
    /// callback's status and page, and the accounts the GPT then sees.
    async fn connect(&self, extra: &str) -> (u16, String, Value) {
        let browser = Browser::new(&self.app.address);
        let gpt = |m: Method, p: &str| {
            self.app
                .request(m, p)
                .header("x-api-key", API_KEY)
                .header("openai-ephemeral-user-id", "eph-1")
        };
        let link: Value = gpt(Method::POST, "/api/gpt/create-auth-link")
            .json(&json!({ "provider": self.name, "label": "work" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let location = browser.start(link["authUrl"].as_str().unwrap()).await;
        let q: std::collections::BTreeMap<String, String> =
            location.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "cid");
        assert_eq!(
            q["redirect_uri"],
            format!("http://localhost:8080/auth/callback/{}", self.name)
        );
        let res = browser
            .callback(
                self.name,
                &format!("code=the-code&state={}{extra}", q["state"]),
            )
            .await;
        let status = res.status().as_u16();
        let page = res.text().await.unwrap();
        let accounts = gpt(Method::GET, "/api/gpt/accounts")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (status, page, accounts)
    }
}

#[tokio::test]
async fn gmail_connects_over_http() {
    let p = provider("gmail", "GOOGLE").await;
    Mock::given(method("POST")).and(path("/token")).and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.x", "expires_in": 3599, "refresh_token": "1//r",
            "scope": "openid email https://www.googleapis.com/auth/gmail.send", "token_type": "Bearer"
        })))
        .mount(&p.server).await;
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "sub": "1", "email": "ann@gmail.test", "email_verified": true }),
        ))
        .mount(&p.server)
        .await;
    let (status, page, accounts) = p.connect("&scope=openid+email").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Connected Gmail (work)"));
    assert_eq!(
        accounts["accounts"][0]["metadata"]["email"],
        "ann@gmail.test"
    );
}

#[tokio::test]
async fn slack_connects_over_http_and_its_http_200_errors_are_refusals() {
    let p = provider("slack", "SLACK").await;
    Mock::given(method("POST")).and(path("/token")).and(body_string_contains("code=the-code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "access_token": "xoxb-1", "token_type": "bot", "scope": "chat:write,channels:read",
            "bot_user_id": "U1", "app_id": "A1", "team": { "id": "T1", "name": "Acme" },
            "authed_user": { "id": "U2" }
        })))
        .up_to_n_times(1)
        .mount(&p.server).await;
    Mock::given(method("POST")).and(path("/api/auth.test")).and(header("authorization", "Bearer xoxb-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "url": "https://acme.slack.com/", "team": "Acme", "team_id": "T1", "user_id": "U1", "bot_id": "B1"
        })))
        .mount(&p.server).await;
    let (status, page, accounts) = p.connect("").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(accounts["accounts"][0]["metadata"]["team"]["name"], "Acme");

    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "ok": false, "error": "invalid_code" })),
        )
        .mount(&p.server)
        .await;
    let (status, page, _) = p.connect("").await;
    assert_eq!(status, 502, "{page}");
}

#[tokio::test]
async fn zoho_connects_over_http_through_the_callbacks_data_centre() {
    let p = provider("zoho", "ZOHO").await;
    Mock::given(method("POST")).and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "1000.a", "refresh_token": "1000.r", "api_domain": "https://www.zohoapis.eu",
            "token_type": "Bearer", "expires_in": 3600
        })))
        .mount(&p.server).await;
    Mock::given(method("GET"))
        .and(path("/oauth/user/info"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({ "Email": "ann@zoho.test", "Display_Name": "Ann", "ZUID": 1 }),
            ),
        )
        .mount(&p.server)
        .await;
    let extra = format!("&location=eu&accounts-server={}", p.server.uri());
    let (status, page, accounts) = p.connect(&extra).await;
    assert_eq!(status, 200, "{page}");
    let metadata = &accounts["accounts"][0]["metadata"];
    assert_eq!(metadata["email"], "ann@zoho.test");
    assert_eq!(metadata["apiDomain"], "https://www.zohoapis.eu");
    assert_eq!(metadata["location"], "eu");
}

#[tokio::test]
async fn zoho_refuses_a_callback_naming_an_unlisted_accounts_server() {
    let p = provider("zoho", "ZOHO").await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&p.server)
        .await;
    let (status, _, accounts) = p
        .connect("&accounts-server=https%3A%2F%2Fevil.example.com")
        .await;
    assert_eq!(status, 502);
    assert_eq!(accounts["accounts"], json!([]));
}

#[tokio::test]
async fn mercury_connects_over_http() {
    let p = provider("mercury", "MERCURY").await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "m-a", "refresh_token": "m-r", "expires_in": 3599,
            "scope": "read offline_access", "token_type": "bearer"
        })))
        .mount(&p.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "accounts": [{ "id": "1", "name": "Checking ••1234", "legalBusinessName": "Acme LLC" }]
        })))
        .mount(&p.server)
        .await;
    let (status, page, accounts) = p.connect("").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(accounts["accounts"][0]["metadata"]["business"], "Acme LLC");
}
