//! Answers no provider should send, for every provider.
//!
//! Whatever `expires_in` a provider sends (negative, huge, a float, a string, garbage), no
//! adapter panics: the lenient ones (Slack, Zoho) read what they can, the `oauth2`-crate ones
//! (Gmail, Linear, Mercury) refuse what the crate cannot read, and the range is clamped later
//! by `gptgate_domain::token_expiry`. And a token endpoint that redirects is never followed.

use std::collections::BTreeMap;

use gptgate_adapters_oauth::ProviderSettings;
use gptgate_domain::{token_expiry, ProviderId, MAX_TOKEN_LIFETIME};
use gptgate_ports::ProviderError;
use secrecy::SecretString;
use serde_json::{json, Value};
use time::{macros::datetime, Duration};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn settings(id: ProviderId, server: &MockServer) -> ProviderSettings {
    ProviderSettings {
        id,
        client_id: "cid".into(),
        client_secret: SecretString::from("csecret".to_owned()),
        authorize_url: Some(format!("{}/authorize", server.uri())),
        token_url: Some(format!("{}/token", server.uri())),
        revoke_url: Some(format!("{}/revoke", server.uri())),
        api_base_url: Some(format!("{}/api", server.uri())),
        userinfo_url: Some(format!("{}/userinfo", server.uri())),
        scopes: None,
        accounts_servers: Some(vec![server.uri()]),
    }
}

/// The provider's own success shape, with `expires_in` as given.
fn token_response(id: ProviderId, expires_in: &Value) -> Value {
    match id {
        ProviderId::Slack => json!({
            "ok": true, "access_token": "xoxb-1", "token_type": "bot",
            "team": { "id": "T1", "name": "Acme" }, "expires_in": expires_in
        }),
        ProviderId::Zoho => json!({
            "access_token": "1000.a", "api_domain": "https://www.zohoapis.com",
            "token_type": "Bearer", "expires_in": expires_in
        }),
        _ => json!({ "access_token": "a", "token_type": "Bearer", "expires_in": expires_in }),
    }
}

async fn exchange(id: ProviderId, expires_in: &Value) -> Result<Option<Duration>, ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_response(id, expires_in)))
        .mount(&server)
        .await;
    let provider = gptgate_adapters_oauth::build(&settings(id, &server)).unwrap();
    let callback: BTreeMap<String, String> = [("accounts-server".to_owned(), server.uri())].into();
    let verifier = SecretString::from("v".repeat(43));
    provider
        .exchange_code(
            "code",
            Some(&verifier),
            "https://gpt.example.com/cb",
            &callback,
        )
        .await
        .map(|tokens| tokens.expires_in)
}

#[tokio::test]
async fn slack_and_zoho_read_any_expires_in_and_the_expiry_stays_sane() {
    let now = datetime!(2026-01-01 00:00 UTC);
    for id in [ProviderId::Slack, ProviderId::Zoho] {
        let cases = [
            (json!(-1), Some(now)),
            (json!(1e18), Some(now + MAX_TOKEN_LIFETIME)),
            (
                json!(1_000_000_000_000_000_000_i64),
                Some(now + MAX_TOKEN_LIFETIME),
            ),
            (json!("3600"), Some(now + Duration::hours(1))),
            (json!("abc"), None),
            (json!(null), None),
        ];
        for (value, expected) in cases {
            let lifetime = exchange(id, &value)
                .await
                .unwrap_or_else(|e| panic!("{id} with {value}: {e}"));
            assert_eq!(
                lifetime.map(|d| token_expiry(now, d)),
                expected,
                "{id} with expires_in {value}"
            );
        }
    }
}

#[tokio::test]
async fn the_oauth2_crate_providers_refuse_what_they_cannot_read_and_never_panic() {
    let now = datetime!(2026-01-01 00:00 UTC);
    for id in [ProviderId::Gmail, ProviderId::Linear, ProviderId::Mercury] {
        let huge = exchange(id, &json!(1_000_000_000_000_000_000_u64))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            huge.map(|d| token_expiry(now, d)),
            Some(now + MAX_TOKEN_LIFETIME),
            "{id}: a huge lifetime is cut to the maximum"
        );
        for value in [json!(-1), json!(1e18), json!("abc")] {
            match exchange(id, &value).await {
                Err(ProviderError::Unavailable(_)) => {}
                other => panic!("{id} with {value}: expected an unreadable answer, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_token_endpoint_that_redirects_is_not_followed() {
    for id in ProviderId::ALL {
        let server = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(
                ResponseTemplate::new(307)
                    .insert_header("location", format!("{}/steal", elsewhere.uri())),
            )
            .mount(&server)
            .await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_json(token_response(id, &json!(60))))
            .expect(0)
            .mount(&elsewhere)
            .await;
        let provider = gptgate_adapters_oauth::build(&settings(id, &server)).unwrap();
        let callback: BTreeMap<String, String> =
            [("accounts-server".to_owned(), server.uri())].into();
        let verifier = SecretString::from("v".repeat(43));
        let result = provider
            .exchange_code(
                "code",
                Some(&verifier),
                "https://gpt.example.com/cb",
                &callback,
            )
            .await;
        assert!(result.is_err(), "{id}: a redirect is an error, not a token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 5)]
async fn a_revocation_gives_up_within_its_time_limit() {
    use gptgate_ports::{Revocation, REVOKE_TIME_LIMIT};
    let tasks: Vec<_> = ProviderId::ALL
        .into_iter()
        .map(|id| {
            tokio::spawn(async move {
                let server = MockServer::start().await;
                // An answer that comes, but later than the limit (and sooner than the 10 s
                // every other provider call may take).
                Mock::given(method("POST"))
                    .and(path("/revoke"))
                    .respond_with(
                        ResponseTemplate::new(200)
                            .set_body_json(json!({ "ok": true, "revoked": true }))
                            .set_delay(REVOKE_TIME_LIMIT + std::time::Duration::from_secs(2)),
                    )
                    .mount(&server)
                    .await;
                let provider = gptgate_adapters_oauth::build(&settings(id, &server)).unwrap();
                let mut metadata = serde_json::Map::new();
                metadata.insert("accountsServer".into(), json!(server.uri()));
                let result = provider
                    .revoke(&Revocation {
                        access_token: Some(SecretString::from("access".to_owned())),
                        refresh_token: Some(SecretString::from("refresh".to_owned())),
                        metadata,
                    })
                    .await;
                (id, result)
            })
        })
        .collect();
    for task in tasks {
        let (id, result) = task.await.unwrap();
        match result {
            Err(ProviderError::Unavailable(_)) => {}
            other => panic!("{id}: expected to give up, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_revocation_without_the_token_a_provider_needs_says_it_was_not_attempted() {
    use gptgate_ports::{Revocation, Revoked};
    for id in ProviderId::ALL {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true })))
            .expect(0)
            .mount(&server)
            .await;
        let provider = gptgate_adapters_oauth::build(&settings(id, &server)).unwrap();
        let outcome = provider
            .revoke(&Revocation {
                access_token: None,
                refresh_token: None,
                metadata: serde_json::Map::new(),
            })
            .await
            .unwrap();
        assert_eq!(outcome, Revoked::NotAttempted, "{id}");
    }
}
