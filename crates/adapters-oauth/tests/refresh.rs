//! Refreshing tokens (RFC 6749 section 6) at each provider, against wiremock with each
//! provider's real answers: the new access token, a rotated refresh token where the provider
//! rotates, and which refusals mean the grant is gone (the user must connect again) and which
//! are worth a later try.

use gptgate_adapters_oauth::{gmail, linear, mercury, slack, zoho, Defaults, ProviderSettings};
use gptgate_domain::ProviderId;
use gptgate_ports::{OAuthProvider, ProviderError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use time::Duration;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn settings(id: ProviderId, server: &MockServer) -> ProviderSettings {
    ProviderSettings {
        id,
        client_id: "cid".into(),
        client_secret: SecretString::from("csecret".to_owned()),
        authorize_url: Some(format!("{}/authorize", server.uri())),
        token_url: Some(format!("{}/oauth/v2/token", server.uri())),
        revoke_url: None,
        api_base_url: Some(format!("{}/api", server.uri())),
        userinfo_url: None,
        scopes: None,
        accounts_servers: Some(vec![server.uri()]),
    }
}

fn standard(id: ProviderId, server: &MockServer, defaults: &Defaults) -> Box<dyn OAuthProvider> {
    let config = settings(id, server).resolve(defaults);
    match id {
        ProviderId::Gmail => Box::new(gmail::provider(&config).unwrap()),
        ProviderId::Linear => Box::new(linear::provider(&config).unwrap()),
        ProviderId::Mercury => Box::new(mercury::provider(&config).unwrap()),
        other => unreachable!("{other} is not a standard provider"),
    }
}

fn zoho_provider(server: &MockServer) -> zoho::Zoho {
    let s = settings(ProviderId::Zoho, server);
    zoho::provider(&s.resolve(&zoho::DEFAULTS), s.accounts_servers.as_deref()).unwrap()
}

fn refresh_token(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

fn no_metadata() -> Map<String, Value> {
    Map::new()
}

async fn token_endpoint(server: &MockServer, status: u16, body: Value) {
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=old-refresh"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn google_answers_a_new_access_token_and_keeps_the_refresh_token() {
    let server = MockServer::start().await;
    // Google's answer to a refresh: no refresh_token, the old one stays valid.
    token_endpoint(
        &server,
        200,
        json!({
            "access_token": "ya29.a0-fresh", "expires_in": 3599, "token_type": "Bearer",
            "scope": "openid https://www.googleapis.com/auth/gmail.send email",
            "id_token": "eyJ..."
        }),
    )
    .await;
    let google = standard(ProviderId::Gmail, &server, &gmail::DEFAULTS);
    let fresh = google
        .refresh(&refresh_token("old-refresh"), &no_metadata())
        .await
        .unwrap();
    assert_eq!(fresh.access_token.expose_secret(), "ya29.a0-fresh");
    assert!(fresh.refresh_token.is_none(), "the old one is kept");
    assert_eq!(fresh.expires_in, Some(Duration::seconds(3599)));
}

#[tokio::test]
async fn a_revoked_google_grant_is_invalid_grant_and_means_connect_again() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        400,
        json!({ "error": "invalid_grant", "error_description": "Token has been expired or revoked." }),
    )
    .await;
    let google = standard(ProviderId::Gmail, &server, &gmail::DEFAULTS);
    let err = google
        .refresh(&refresh_token("old-refresh"), &no_metadata())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::GrantRevoked { ref code } if code == "invalid_grant"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_misconfigured_client_is_a_rejection_not_a_dead_grant() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        401,
        json!({ "error": "invalid_client", "error_description": "The OAuth client was not found." }),
    )
    .await;
    let google = standard(ProviderId::Gmail, &server, &gmail::DEFAULTS);
    let err = google
        .refresh(&refresh_token("old-refresh"), &no_metadata())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::Rejected { ref code } if code == "invalid_client"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_token_endpoint_down_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .respond_with(
            ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
        )
        .mount(&server)
        .await;
    for (id, defaults) in [
        (ProviderId::Gmail, &gmail::DEFAULTS),
        (ProviderId::Linear, &linear::DEFAULTS),
        (ProviderId::Mercury, &mercury::DEFAULTS),
    ] {
        let provider = standard(id, &server, defaults);
        let err = provider
            .refresh(&refresh_token("old-refresh"), &no_metadata())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, ProviderError::Unavailable(_)),
            "{id}: {err:?}"
        );
    }
}

#[tokio::test]
async fn linear_and_mercury_rotate_the_refresh_token() {
    for (id, defaults) in [
        (ProviderId::Linear, &linear::DEFAULTS),
        (ProviderId::Mercury, &mercury::DEFAULTS),
    ] {
        let server = MockServer::start().await;
        token_endpoint(
            &server,
            200,
            json!({
                "access_token": "fresh-access", "token_type": "Bearer", "expires_in": 86399,
                "refresh_token": "new-refresh", "scope": "read write"
            }),
        )
        .await;
        let provider = standard(id, &server, defaults);
        let fresh = provider
            .refresh(&refresh_token("old-refresh"), &no_metadata())
            .await
            .unwrap();
        assert_eq!(fresh.access_token.expose_secret(), "fresh-access", "{id}");
        assert_eq!(
            fresh
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("new-refresh".to_owned()),
            "{id}"
        );
        assert_eq!(fresh.expires_in, Some(Duration::seconds(86399)), "{id}");
    }
}

#[tokio::test]
async fn slack_rotates_with_oauth_v2_access_and_a_spent_token_means_connect_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=old-refresh"))
        .and(body_string_contains("client_secret=csecret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "app_id": "A0KRD7HC3", "authed_user": { "id": "U1234" },
            "scope": "chat:write,channels:read", "token_type": "bot",
            "access_token": "xoxe.xoxb-1-fresh", "bot_user_id": "U0KRQLJ9H",
            "refresh_token": "xoxe-1-new-refresh", "expires_in": 43200,
            "team": { "id": "T9TK3CUKW", "name": "Slack Softball Team" },
            "enterprise": null, "is_enterprise_install": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    let slack =
        slack::provider(&settings(ProviderId::Slack, &server).resolve(&slack::DEFAULTS)).unwrap();
    let fresh = slack
        .refresh(&refresh_token("old-refresh"), &no_metadata())
        .await
        .unwrap();
    assert_eq!(fresh.access_token.expose_secret(), "xoxe.xoxb-1-fresh");
    assert_eq!(
        fresh.refresh_token.unwrap().expose_secret(),
        "xoxe-1-new-refresh"
    );
    assert_eq!(fresh.expires_in, Some(Duration::hours(12)));

    // A spent (or revoked) refresh token: HTTP 200 with ok:false.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "ok": false, "error": "invalid_refresh_token" })),
        )
        .mount(&server)
        .await;
    let slack =
        slack::provider(&settings(ProviderId::Slack, &server).resolve(&slack::DEFAULTS)).unwrap();
    let err = slack
        .refresh(&refresh_token("old-refresh"), &no_metadata())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::GrantRevoked { ref code } if code == "invalid_refresh_token"),
        "{err:?}"
    );
}

#[tokio::test]
async fn zoho_refreshes_at_the_accounts_data_centre_and_keeps_the_refresh_token() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        200,
        json!({
            "access_token": "1000.fresh", "api_domain": "https://www.zohoapis.eu",
            "token_type": "Bearer", "expires_in": 3600
        }),
    )
    .await;
    let zoho = zoho_provider(&server);
    let mut metadata = Map::new();
    metadata.insert("accountsServer".into(), json!(server.uri()));
    let fresh = zoho
        .refresh(&refresh_token("old-refresh"), &metadata)
        .await
        .unwrap();
    assert_eq!(fresh.access_token.expose_secret(), "1000.fresh");
    assert!(fresh.refresh_token.is_none());
    assert_eq!(fresh.metadata["apiDomain"], "https://www.zohoapis.eu");
}

#[tokio::test]
async fn a_dead_zoho_grant_is_invalid_code_sent_as_http_200() {
    let server = MockServer::start().await;
    token_endpoint(&server, 200, json!({ "error": "invalid_code" })).await;
    let zoho = zoho_provider(&server);
    let mut metadata = Map::new();
    metadata.insert("accountsServer".into(), json!(server.uri()));
    let err = zoho
        .refresh(&refresh_token("old-refresh"), &metadata)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::GrantRevoked { ref code } if code == "invalid_code"),
        "{err:?}"
    );
}

#[tokio::test]
async fn zoho_never_sends_a_refresh_token_to_an_unlisted_accounts_server() {
    let server = MockServer::start().await;
    let zoho = zoho_provider(&server);
    let mut metadata = Map::new();
    metadata.insert("accountsServer".into(), json!("https://accounts.evil.test"));
    let err = zoho
        .refresh(&refresh_token("old-refresh"), &metadata)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::Rejected { ref code } if code == "untrusted_accounts_server"),
        "{err:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_client_authenticates_as_each_provider_wants() {
    // Mercury: HTTP Basic; Google and Linear: the secret in the form.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .and(header("authorization", "Basic Y2lkOmNzZWNyZXQ="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "a", "token_type": "Bearer", "expires_in": 60
        })))
        .expect(1)
        .mount(&server)
        .await;
    standard(ProviderId::Mercury, &server, &mercury::DEFAULTS)
        .refresh(&refresh_token("old-refresh"), &no_metadata())
        .await
        .unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .and(body_string_contains("client_secret=csecret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "a", "token_type": "Bearer", "expires_in": 60
        })))
        .expect(2)
        .mount(&server)
        .await;
    for (id, defaults) in [
        (ProviderId::Gmail, &gmail::DEFAULTS),
        (ProviderId::Linear, &linear::DEFAULTS),
    ] {
        standard(id, &server, defaults)
            .refresh(&refresh_token("old-refresh"), &no_metadata())
            .await
            .unwrap();
    }
}
