//! Slack and Zoho against wiremock, with their real shapes — including the HTTP-200 errors
//! both send, and Zoho's data centres.

use std::collections::BTreeMap;

use gptgate_adapters_oauth::{slack, zoho, ProviderSettings};
use gptgate_domain::ProviderId;
use gptgate_ports::{OAuthProvider, ProviderError, Revocation};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REDIRECT: &str = "https://gpt.example.com/auth/callback/slack";

fn settings(id: ProviderId, server: &MockServer) -> ProviderSettings {
    ProviderSettings {
        id,
        client_id: "cid".into(),
        client_secret: SecretString::from("csecret".to_owned()),
        authorize_url: Some(format!("{}/oauth/v2/authorize", server.uri())),
        token_url: Some(format!("{}/oauth/v2/token", server.uri())),
        revoke_url: Some(format!("{}/oauth/v2/token/revoke", server.uri())),
        api_base_url: Some(format!("{}/api", server.uri())),
        userinfo_url: None,
        scopes: None,
        accounts_servers: Some(vec![server.uri()]),
    }
}

fn query(url: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn slack_provider(server: &MockServer) -> slack::Slack {
    slack::provider(&settings(ProviderId::Slack, server).resolve(&slack::DEFAULTS)).unwrap()
}

#[tokio::test]
async fn slack_asks_for_comma_separated_bot_scopes() {
    let server = MockServer::start().await;
    let q = query(&slack_provider(&server).authorize("st", REDIRECT).url);
    assert_eq!(q["scope"], "chat:write,channels:read");
    assert_eq!(q["client_id"], "cid");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["state"], "st");
}

#[tokio::test]
async fn slack_keeps_the_bot_token_and_the_team_never_the_user_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .and(body_string_contains("code=slack-code"))
        .and(body_string_contains("client_secret=csecret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "access_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
            "token_type": "bot",
            "scope": "chat:write,channels:read",
            "bot_user_id": "U0KRQLJ9H",
            "app_id": "A0KRD7HC3",
            "team": { "name": "Slack Softball Team", "id": "T9TK3CUKW" },
            "enterprise": null,
            "authed_user": { "id": "U1234", "scope": "", "access_token": "xoxp-1234", "token_type": "user" },
            "refresh_token": "xoxe-1-refresh",
            "expires_in": 43200
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/auth.test"))
        .and(header(
            "authorization",
            "Bearer xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "url": "https://softball.slack.com/", "team": "Slack Softball Team",
            "user": "gptbot", "team_id": "T9TK3CUKW", "user_id": "U0KRQLJ9H", "bot_id": "B0123"
        })))
        .mount(&server)
        .await;
    let provider = slack_provider(&server);
    let set = provider
        .exchange_code("slack-code", None, REDIRECT, &BTreeMap::new())
        .await
        .unwrap();
    assert!(set.access_token.expose_secret().starts_with("xoxb-"));
    assert_eq!(
        set.refresh_token.as_ref().unwrap().expose_secret(),
        "xoxe-1-refresh"
    );
    assert_eq!(set.expires_in, Some(time::Duration::hours(12)));
    assert_eq!(set.scopes, ["chat:write", "channels:read"]);
    assert_eq!(set.metadata["team"]["name"], "Slack Softball Team");
    assert!(
        !serde_json::to_string(&set.metadata)
            .unwrap()
            .contains("xox"),
        "no token in metadata"
    );
    let who = provider.identify(&set).await.unwrap();
    assert_eq!(who["workspaceUrl"], "https://softball.slack.com/");
}

#[tokio::test]
async fn slack_errors_sent_as_http_200_are_rejections() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "ok": false, "error": "invalid_code" })),
        )
        .mount(&server)
        .await;
    let err = slack_provider(&server)
        .exchange_code("bad", None, REDIRECT, &BTreeMap::new())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::Rejected { ref code } if code == "invalid_code"),
        "{err:?}"
    );
}

#[tokio::test]
async fn slack_revokes_with_auth_revoke_and_the_bot_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token/revoke"))
        .and(header("authorization", "Bearer xoxb-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "revoked": true })),
        )
        .expect(1)
        .mount(&server)
        .await;
    slack_provider(&server)
        .revoke(&Revocation {
            access_token: Some(SecretString::from("xoxb-1".to_owned())),
            refresh_token: Some(SecretString::from("xoxe-1".to_owned())),
            metadata: Default::default(),
        })
        .await
        .unwrap();
}

fn zoho_provider(server: &MockServer, allowed: Option<Vec<String>>) -> zoho::Zoho {
    let mut s = settings(ProviderId::Zoho, server);
    s.accounts_servers = allowed;
    zoho::provider(&s.resolve(&zoho::DEFAULTS), s.accounts_servers.as_deref()).unwrap()
}

#[tokio::test]
async fn zoho_asks_for_offline_access_with_consent() {
    let server = MockServer::start().await;
    let q = query(&zoho_provider(&server, None).authorize("st", REDIRECT).url);
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["scope"], zoho::SCOPES);
    assert!(zoho::SCOPES.starts_with("AaaServer.profile.Read,ZohoCRM.modules.leads.CREATE,"));
    assert_eq!(q["response_type"], "code");
}

#[tokio::test]
async fn zoho_uses_the_allowed_accounts_server_of_the_callback_and_keeps_the_api_domain() {
    let dc = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=zoho-code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "1000.access", "refresh_token": "1000.refresh",
            "api_domain": "https://www.zohoapis.eu", "token_type": "Bearer", "expires_in": 3600
        })))
        .expect(1)
        .mount(&dc)
        .await;
    Mock::given(method("GET"))
        .and(path("/oauth/user/info"))
        .and(header("authorization", "Zoho-oauthtoken 1000.access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "First_Name": "Ann", "Email": "ann@zoho.test", "Last_Name": "Lee", "Display_Name": "Ann Lee", "ZUID": 123456
        })))
        .mount(&dc)
        .await;
    let configured = MockServer::start().await;
    let provider = zoho_provider(&configured, Some(vec![configured.uri(), dc.uri()]));
    let callback: BTreeMap<String, String> = [
        ("accounts-server".to_owned(), dc.uri()),
        ("location".to_owned(), "eu".to_owned()),
    ]
    .into();
    let set = provider
        .exchange_code("zoho-code", None, REDIRECT, &callback)
        .await
        .unwrap();
    assert_eq!(set.metadata["apiDomain"], "https://www.zohoapis.eu");
    assert_eq!(set.metadata["accountsServer"], dc.uri());
    assert_eq!(set.metadata["location"], "eu");
    assert_eq!(set.refresh_token.unwrap().expose_secret(), "1000.refresh");
    let set = gptgate_ports::TokenSet {
        access_token: SecretString::from("1000.access".to_owned()),
        refresh_token: None,
        expires_in: None,
        scopes: vec![],
        metadata: [("accountsServer".to_owned(), json!(dc.uri()))]
            .into_iter()
            .collect(),
    };
    let who = provider.identify(&set).await.unwrap();
    assert_eq!(who["email"], "ann@zoho.test");
}

#[tokio::test]
async fn zoho_never_sends_the_secret_to_an_unlisted_accounts_server() {
    let evil = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&evil)
        .await;
    let configured = MockServer::start().await;
    let provider = zoho_provider(&configured, None);
    for server in [
        evil.uri(),
        "https://accounts.zoho.com.evil.test".to_owned(),
        "not a url".to_owned(),
    ] {
        let callback: BTreeMap<String, String> =
            [("accounts-server".to_owned(), server.clone())].into();
        let err = provider
            .exchange_code("c", None, REDIRECT, &callback)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, ProviderError::Rejected { ref code } if code == "untrusted_accounts_server"),
            "{server}: {err:?}"
        );
    }
}

#[tokio::test]
async fn zoho_errors_sent_as_http_200_are_rejections() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "error": "invalid_code" })))
        .mount(&server)
        .await;
    let err = zoho_provider(&server, None)
        .exchange_code("c", None, REDIRECT, &BTreeMap::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ProviderError::Rejected { ref code } if code == "invalid_code"));
}

#[tokio::test]
async fn zoho_revokes_the_refresh_token_at_the_accounts_data_centre() {
    let dc = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token/revoke"))
        .and(query_param("token", "1000.refresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "status": "success" })))
        .expect(1)
        .mount(&dc)
        .await;
    let configured = MockServer::start().await;
    let provider = zoho_provider(&configured, Some(vec![dc.uri()]));
    provider
        .revoke(&Revocation {
            access_token: None,
            refresh_token: Some(SecretString::from("1000.refresh".to_owned())),
            metadata: [("accountsServer".to_owned(), json!(dc.uri()))]
                .into_iter()
                .collect(),
        })
        .await
        .unwrap();
}
