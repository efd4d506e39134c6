//! Google (Gmail) and Mercury against wiremock, with their real response and error shapes.

use std::collections::BTreeMap;

use gptgate_adapters_oauth::{gmail, mercury, Defaults, ProviderSettings};
use gptgate_domain::ProviderId;
use gptgate_ports::{OAuthProvider, ProviderError, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn settings(id: ProviderId, server: &MockServer) -> ProviderSettings {
    ProviderSettings {
        id,
        client_id: "cid".into(),
        client_secret: SecretString::from("csecret".to_owned()),
        authorize_url: Some(format!("{}/authorize", server.uri())),
        token_url: Some(format!("{}/token", server.uri())),
        revoke_url: Some(format!("{}/revoke", server.uri())),
        api_base_url: Some(format!("{}/api/v1", server.uri())),
        userinfo_url: Some(format!("{}/userinfo", server.uri())),
        scopes: None,
        accounts_servers: None,
    }
}

fn query(url: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn tokens(access: &str) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(access.to_owned()),
        refresh_token: None,
        expires_in: None,
        scopes: vec![],
        metadata: Default::default(),
    }
}

fn resolve(
    id: ProviderId,
    server: &MockServer,
    d: &Defaults,
) -> gptgate_adapters_oauth::ProviderConfig {
    settings(id, server).resolve(d)
}

#[tokio::test]
async fn google_asks_for_offline_access_with_consent_and_pkce() {
    let server = MockServer::start().await;
    let google = gmail::provider(&resolve(ProviderId::Gmail, &server, &gmail::DEFAULTS)).unwrap();
    let auth = google.authorize("st", "https://gpt.example.com/auth/callback/gmail");
    let q = query(&auth.url);
    assert_eq!(
        q["access_type"], "offline",
        "without it Google sends no refresh token"
    );
    assert_eq!(q["prompt"], "consent");
    assert_eq!(
        q["scope"],
        "openid email https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.readonly"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(auth.pkce_verifier.is_some());
}

#[tokio::test]
async fn google_exchanges_a_code_and_reads_the_userinfo() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("client_secret=csecret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.a0-access", "expires_in": 3599,
            "refresh_token": "1//0g-refresh",
            "scope": "openid https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/userinfo.email",
            "token_type": "Bearer", "id_token": "eyJhbGciOi.jwt.sig"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .and(header("authorization", "Bearer ya29.a0-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sub": "1100", "email": "ann@gmail.test", "email_verified": true, "picture": "https://x"
        })))
        .mount(&server)
        .await;
    let google = gmail::provider(&resolve(ProviderId::Gmail, &server, &gmail::DEFAULTS)).unwrap();
    let verifier = SecretString::from("v".repeat(43));
    let set = google
        .exchange_code(
            "4/0A-code",
            Some(&verifier),
            "https://gpt.example.com/auth/callback/gmail",
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        set.refresh_token.as_ref().unwrap().expose_secret(),
        "1//0g-refresh"
    );
    assert_eq!(set.scopes.len(), 3);
    let who = google.identify(&set).await.unwrap();
    assert_eq!(who["email"], "ann@gmail.test");
    assert_eq!(who["emailVerified"], true);
}

#[tokio::test]
async fn google_errors_are_rejections() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "Bad Request"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_token", "error_description": "Invalid Credentials"
        })))
        .mount(&server)
        .await;
    let google = gmail::provider(&resolve(ProviderId::Gmail, &server, &gmail::DEFAULTS)).unwrap();
    let err = google
        .exchange_code("c", None, "https://x.test/cb", &BTreeMap::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ProviderError::Rejected { ref code } if code == "invalid_grant"));
    let err = google.identify(&tokens("expired")).await.err().unwrap();
    assert!(matches!(err, ProviderError::Rejected { ref code } if code == "invalid_token"));
}

#[tokio::test]
async fn google_revocation_posts_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(body_string_contains("token=1%2F%2F0g-refresh"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let google = gmail::provider(&resolve(ProviderId::Gmail, &server, &gmail::DEFAULTS)).unwrap();
    google
        .revoke(&gptgate_ports::Revocation {
            access_token: None,
            refresh_token: Some(SecretString::from("1//0g-refresh".to_owned())),
            metadata: Default::default(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn mercury_uses_basic_auth_and_asks_for_offline_access() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header_exists("authorization"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "merc-access", "expires_in": 3599, "refresh_token": "merc-refresh",
            "scope": "read offline_access", "token_type": "bearer"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "accounts": [
                { "id": "a1", "name": "Mercury Checking ••1234", "legalBusinessName": "Acme LLC", "status": "active" },
                { "id": "a2", "name": "Mercury Savings ••9876", "legalBusinessName": "Acme LLC", "status": "active" }
            ]
        })))
        .mount(&server)
        .await;
    let provider =
        mercury::provider(&resolve(ProviderId::Mercury, &server, &mercury::DEFAULTS)).unwrap();
    let q = query(&provider.authorize("st", "https://x.test/cb").url);
    assert_eq!(q["scope"], "read offline_access");
    let set = provider
        .exchange_code("c", None, "https://x.test/cb", &BTreeMap::new())
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let token_request = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    let auth = token_request
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        auth.starts_with("Basic "),
        "client credentials by HTTP Basic"
    );
    assert!(
        !String::from_utf8_lossy(&token_request.body).contains("csecret"),
        "not in the body"
    );
    let who = provider.identify(&set).await.unwrap();
    assert_eq!(who["business"], "Acme LLC");
    assert_eq!(who["accounts"].as_array().unwrap().len(), 2);
}
