//! Linear against wiremock, with Linear's real response and error shapes.

use std::collections::BTreeMap;

use gptgate_adapters_oauth::{linear, ProviderConfig};
use gptgate_domain::ProviderId;
use gptgate_ports::{OAuthProvider, ProviderError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REDIRECT: &str = "https://gpt.example.com/auth/callback/linear";

fn config(server: &MockServer) -> ProviderConfig {
    ProviderConfig {
        id: ProviderId::Linear,
        client_id: "client-123".into(),
        client_secret: SecretString::from("secret-456".to_owned()),
        authorize_url: format!("{}/oauth/authorize", server.uri()),
        token_url: format!("{}/oauth/token", server.uri()),
        revoke_url: Some(format!("{}/oauth/revoke", server.uri())),
        api_base_url: server.uri(),
        userinfo_url: None,
        scopes: linear::SCOPES.into(),
    }
}

fn query(url: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn the_authorize_url_carries_client_redirect_scopes_state_and_pkce() {
    let server = MockServer::start().await;
    let provider = linear::provider(&config(&server)).unwrap();
    let auth = provider.authorize("state-abc", REDIRECT);
    assert!(auth
        .url
        .starts_with(&format!("{}/oauth/authorize?", server.uri())));
    let q = query(&auth.url);
    assert_eq!(q["client_id"], "client-123");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["response_type"], "code");
    assert_eq!(
        q["scope"], "read,issues:create,comments:create",
        "comma-separated, as Linear wants"
    );
    assert_eq!(q["state"], "state-abc");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    let verifier = auth.pkce_verifier.unwrap();
    assert!((43..=128).contains(&verifier.expose_secret().len()));
}

#[tokio::test]
async fn a_code_is_exchanged_with_the_verifier_and_the_secret_in_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .and(body_string_contains("code_verifier=the-verifier"))
        .and(body_string_contains("client_id=client-123"))
        .and(body_string_contains("client_secret=secret-456"))
        .and(body_string_contains(
            "redirect_uri=https%3A%2F%2Fgpt.example.com%2Fauth%2Fcallback%2Flinear",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "lin_oauth_access",
            "token_type": "Bearer",
            "expires_in": 86399,
            "scope": "read issues:create comments:create",
            "refresh_token": "lin_oauth_refresh"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let provider = linear::provider(&config(&server)).unwrap();
    let verifier = SecretString::from("the-verifier".to_owned());
    let tokens = provider
        .exchange_code("the-code", Some(&verifier), REDIRECT, &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "lin_oauth_access");
    assert_eq!(
        tokens.refresh_token.unwrap().expose_secret(),
        "lin_oauth_refresh"
    );
    assert_eq!(tokens.expires_in, Some(time::Duration::seconds(86399)));
    assert_eq!(tokens.scopes, ["read", "issues:create", "comments:create"]);
}

#[tokio::test]
async fn an_oauth_error_is_a_rejection_with_the_providers_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "The authorization code is invalid or expired"
        })))
        .mount(&server)
        .await;
    let provider = linear::provider(&config(&server)).unwrap();
    let err = provider
        .exchange_code("old", None, REDIRECT, &BTreeMap::new())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::Rejected { ref code } if code == "invalid_grant"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreadable_answer_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>"))
        .mount(&server)
        .await;
    let provider = linear::provider(&config(&server)).unwrap();
    let err = provider
        .exchange_code("c", None, REDIRECT, &BTreeMap::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn the_identity_comes_from_graphql_viewer_and_organization() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(header("authorization", "Bearer lin_oauth_access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {
                "viewer": { "id": "u-1", "name": "Ann Lee", "email": "ann@acme.test" },
                "organization": { "id": "o-1", "name": "Acme", "urlKey": "acme" }
            }
        })))
        .mount(&server)
        .await;
    let provider = linear::provider(&config(&server)).unwrap();
    let tokens = gptgate_ports::TokenSet {
        access_token: SecretString::from("lin_oauth_access".to_owned()),
        refresh_token: None,
        expires_in: None,
        scopes: vec![],
        metadata: Default::default(),
    };
    let metadata = provider.identify(&tokens).await.unwrap();
    assert_eq!(metadata["email"], "ann@acme.test");
    assert_eq!(metadata["name"], "Ann Lee");
    assert_eq!(metadata["organization"]["name"], "Acme");
    assert!(
        !serde_json::to_string(&metadata)
            .unwrap()
            .contains("lin_oauth"),
        "no token in metadata"
    );
}

#[tokio::test]
async fn a_graphql_error_is_a_rejection() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errors": [{ "message": "Authentication required, not authenticated",
                         "extensions": { "code": "AUTHENTICATION_ERROR" } }]
        })))
        .mount(&server)
        .await;
    let provider = linear::provider(&config(&server)).unwrap();
    let tokens = gptgate_ports::TokenSet {
        access_token: SecretString::from("bad".to_owned()),
        refresh_token: None,
        expires_in: None,
        scopes: vec![],
        metadata: Default::default(),
    };
    let err = provider.identify(&tokens).await.err().unwrap();
    assert!(matches!(err, ProviderError::Rejected { ref code } if code == "AUTHENTICATION_ERROR"));
}

#[tokio::test]
async fn revocation_posts_the_refresh_token_and_200_is_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(body_string_contains("token=lin_oauth_refresh"))
        .and(body_string_contains("token_type_hint=refresh_token"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let provider = linear::provider(&config(&server)).unwrap();
    let outcome = provider
        .revoke(&gptgate_ports::Revocation {
            access_token: Some(SecretString::from("lin_oauth_access".to_owned())),
            refresh_token: Some(SecretString::from("lin_oauth_refresh".to_owned())),
            metadata: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(outcome, gptgate_ports::Revoked::Confirmed);
}
