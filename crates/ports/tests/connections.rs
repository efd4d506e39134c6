//! The connection use cases on the testkit fakes.

use std::sync::Arc;

use gptgate_domain::{AccountLabel, LinkPolicy, ProviderId, UserId};
use gptgate_ports::services::{Callback, ConnectError, Connections, ConnectionsPorts};
use gptgate_ports::{AccountRepository, SecretBox, UserRepository};
use gptgate_testkit::{
    FakeClock, FakeOAuthProvider, FakeOpaqueTokens, FakeSecretBox, InMemoryStore, SeededRandom,
};
use secrecy::ExposeSecret;
use time::Duration;

struct Harness {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    linear: Arc<FakeOAuthProvider>,
    secrets: Arc<FakeSecretBox>,
    connections: Connections,
    ann: UserId,
}

async fn harness() -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let linear = Arc::new(FakeOAuthProvider::new(ProviderId::Linear, true));
    let secrets = Arc::new(FakeSecretBox::default());
    let connections = Connections::new(
        ConnectionsPorts {
            accounts: store.clone(),
            links: store.clone(),
            secrets: secrets.clone(),
            tokens: Arc::new(FakeOpaqueTokens::default()),
            clock: Arc::new(clock.clone()),
            random: Arc::new(SeededRandom::new(5)),
        },
        vec![linear.clone()],
        LinkPolicy::default(),
        "https://gpt.example.com/",
    );
    let ann = store
        .find_or_create_user(
            &gptgate_domain::Identity::chatgpt(
                &gptgate_domain::ChatGptUserId::parse("ann").unwrap(),
            ),
            UserId::from_random_bytes([1; 16]),
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .await
        .unwrap()
        .id;
    Harness {
        store,
        clock,
        linear,
        secrets,
        connections,
        ann,
    }
}

fn work() -> AccountLabel {
    AccountLabel::parse("work").unwrap()
}

fn token_of(link: &str) -> String {
    link.split_once("token=").unwrap().1.to_owned()
}

fn state_of(url: &str) -> String {
    url.split_once("state=")
        .unwrap()
        .1
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

fn callback(code: &str, state: &str) -> Callback {
    Callback {
        code: Some(code.into()),
        state: Some(state.into()),
        ..Default::default()
    }
}

impl Harness {
    /// A full connect of Linear as `work`, with `code` at the callback.
    async fn connected(&self, code: &str) -> gptgate_domain::Account {
        let state = self.started().await;
        self.connections
            .complete(ProviderId::Linear, callback(code, &state))
            .await
            .unwrap()
    }

    /// Runs create-auth-link and start; returns the state sent to the provider.
    async fn started(&self) -> String {
        let link = self
            .connections
            .create_auth_link(self.ann, ProviderId::Linear, work())
            .await
            .unwrap();
        let url = self.connections.start(&token_of(&link)).await.unwrap();
        state_of(&url)
    }
}

#[tokio::test]
async fn an_auth_link_points_at_start_with_a_fresh_token() {
    let h = harness().await;
    let link = h
        .connections
        .create_auth_link(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    assert!(
        link.starts_with("https://gpt.example.com/auth/start?token="),
        "{link}"
    );
    assert_eq!(h.connections.configured(), vec![ProviderId::Linear]);
    assert_eq!(
        h.connections.redirect_uri(ProviderId::Linear),
        "https://gpt.example.com/auth/callback/linear"
    );
}

#[tokio::test]
async fn an_unconfigured_provider_gets_no_link() {
    let h = harness().await;
    let err = h
        .connections
        .create_auth_link(h.ann, ProviderId::Slack, work())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ConnectError::ProviderNotConfigured(ProviderId::Slack)
    ));
}

#[tokio::test]
async fn a_link_works_once_and_for_ten_minutes() {
    let h = harness().await;
    let link = h
        .connections
        .create_auth_link(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    let url = h.connections.start(&token_of(&link)).await.unwrap();
    assert!(url.starts_with("https://linear.provider.test/authorize?state="));
    assert!(matches!(
        h.connections.start(&token_of(&link)).await,
        Err(ConnectError::InvalidLink)
    ));

    let link = h
        .connections
        .create_auth_link(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(10));
    assert!(matches!(
        h.connections.start(&token_of(&link)).await,
        Err(ConnectError::InvalidLink)
    ));
    assert!(matches!(
        h.connections.start("made-up").await,
        Err(ConnectError::InvalidLink)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_starts_with_one_link_give_one_redirect() {
    let h = Arc::new(harness().await);
    let link = h
        .connections
        .create_auth_link(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    let token = token_of(&link);
    let (a, b) = tokio::join!(h.connections.start(&token), h.connections.start(&token));
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1);
}

#[tokio::test]
async fn a_callback_stores_the_account_with_sealed_tokens_and_identity() {
    let h = harness().await;
    let state = h.started().await;
    let account = h
        .connections
        .complete(ProviderId::Linear, callback("code-1", &state))
        .await
        .unwrap();

    let exchanges = h.linear.exchanges();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].0, "code-1");
    assert_eq!(
        exchanges[0].1.as_deref(),
        Some(format!("verifier-for-{state}").as_str()),
        "PKCE verifier from the state"
    );
    assert_eq!(
        exchanges[0].2,
        "https://gpt.example.com/auth/callback/linear"
    );

    assert_eq!(account.label, work());
    assert_eq!(account.metadata["email"], "ann@acme.test");
    assert_eq!(
        account.metadata["team"], "Acme",
        "token-response facts are kept"
    );
    assert_eq!(
        account.expires_at,
        Some(time::macros::datetime!(2026-01-01 13:00 UTC))
    );
    let stored = h.store.list_accounts(h.ann).await.unwrap();
    assert_eq!(stored, vec![account.clone()]);
    let sealed = account.tokens.access_token.unwrap();
    assert!(
        !String::from_utf8_lossy(sealed.as_bytes()).contains("access-1"),
        "not plaintext"
    );
    let context = format!("accounts/{}/access_token", account.id);
    assert_eq!(
        h.secrets.open(&sealed, &context).unwrap().expose_secret(),
        "access-1"
    );
}

#[tokio::test]
async fn a_bad_state_is_refused_before_any_token_request() {
    let h = harness().await;
    let state = h.started().await;
    let cases = [
        (
            "missing",
            Callback {
                code: Some("c".into()),
                ..Default::default()
            },
        ),
        ("unknown", callback("c", "not-a-state")),
    ];
    for (why, cb) in cases {
        assert!(
            matches!(
                h.connections.complete(ProviderId::Linear, cb).await,
                Err(ConnectError::InvalidState)
            ),
            "{why}"
        );
    }
    // For another provider: refused, and the state is spent.
    assert!(matches!(
        h.connections
            .complete(ProviderId::Slack, callback("c", &state))
            .await,
        Err(ConnectError::InvalidState)
    ));
    assert!(matches!(
        h.connections
            .complete(ProviderId::Linear, callback("c", &state))
            .await,
        Err(ConnectError::InvalidState)
    ));
    let expired = h.started().await;
    h.clock.advance(Duration::minutes(10));
    assert!(matches!(
        h.connections
            .complete(ProviderId::Linear, callback("c", &expired))
            .await,
        Err(ConnectError::InvalidState)
    ));
    assert!(
        h.linear.exchanges().is_empty(),
        "the provider was never asked"
    );
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let h = harness().await;
    let state = h.started().await;
    h.connections
        .complete(ProviderId::Linear, callback("c", &state))
        .await
        .unwrap();
    assert!(matches!(
        h.connections
            .complete(ProviderId::Linear, callback("c", &state))
            .await,
        Err(ConnectError::InvalidState)
    ));
    assert_eq!(h.linear.exchanges().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_callbacks_with_one_state_write_one_account() {
    let h = Arc::new(harness().await);
    let state = h.started().await;
    let (a, b) = tokio::join!(
        h.connections
            .complete(ProviderId::Linear, callback("c", &state)),
        h.connections
            .complete(ProviderId::Linear, callback("c", &state)),
    );
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1);
    assert_eq!(h.linear.exchanges().len(), 1);
}

#[tokio::test]
async fn a_declined_consent_stores_nothing() {
    let h = harness().await;
    let state = h.started().await;
    let cb = Callback {
        state: Some(state),
        error: Some("access_denied".into()),
        ..Default::default()
    };
    assert!(matches!(
        h.connections.complete(ProviderId::Linear, cb).await,
        Err(ConnectError::Denied)
    ));
    assert!(h.store.list_accounts(h.ann).await.unwrap().is_empty());
    assert!(h.linear.exchanges().is_empty());
}

#[tokio::test]
async fn a_provider_refusal_stores_nothing() {
    let h = harness().await;
    let state = h.started().await;
    h.linear.reject_with("invalid_grant");
    let err = h
        .connections
        .complete(ProviderId::Linear, callback("c", &state))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Provider(_)));
    assert!(h.store.list_accounts(h.ann).await.unwrap().is_empty());
}

#[tokio::test]
async fn reconnecting_a_label_replaces_tokens_and_keeps_the_refresh_token_if_none_is_sent() {
    let h = harness().await;
    let first = h.connected("c1").await;
    h.connections
        .set_enabled(h.ann, first.id, Some(false))
        .await
        .unwrap();
    h.linear.send_refresh_token(None);
    let second = h.connected("c2").await;
    assert_eq!(second.id, first.id);
    assert!(second.enabled, "enabled again");
    let row = second.id.to_string();
    let access = h
        .secrets
        .open(
            second.tokens.access_token.as_ref().unwrap(),
            &format!("accounts/{row}/access_token"),
        )
        .unwrap();
    let refresh = h
        .secrets
        .open(
            second.tokens.refresh_token.as_ref().unwrap(),
            &format!("accounts/{row}/refresh_token"),
        )
        .unwrap();
    assert_eq!(access.expose_secret(), "access-2");
    assert_eq!(
        refresh.expose_secret(),
        "refresh-1",
        "the stored refresh token is kept"
    );
}

#[tokio::test]
async fn accounts_can_be_toggled_but_not_someone_elses() {
    let h = harness().await;
    let account = h.connected("c").await;
    assert!(!h
        .connections
        .set_enabled(h.ann, account.id, None)
        .await
        .unwrap());
    assert!(h
        .connections
        .set_enabled(h.ann, account.id, None)
        .await
        .unwrap());
    assert!(h
        .connections
        .set_enabled(h.ann, account.id, Some(true))
        .await
        .unwrap());
    let bob = UserId::from_random_bytes([2; 16]);
    assert!(matches!(
        h.connections.set_enabled(bob, account.id, None).await,
        Err(ConnectError::NotFound)
    ));
    assert!(matches!(
        h.connections.disconnect(bob, account.id).await,
        Err(ConnectError::NotFound)
    ));
}

#[tokio::test]
async fn disconnecting_revokes_at_the_provider_then_deletes() {
    let h = harness().await;
    let account = h.connected("c").await;
    h.connections.disconnect(h.ann, account.id).await.unwrap();
    assert_eq!(h.linear.revoked(), vec!["refresh-1".to_owned()]);
    assert!(h.store.list_accounts(h.ann).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_revocation_still_deletes_the_account() {
    let h = harness().await;
    let account = h.connected("c").await;
    h.linear.fail_revocation();
    h.connections.disconnect(h.ann, account.id).await.unwrap();
    assert!(h.store.list_accounts(h.ann).await.unwrap().is_empty());
}

#[tokio::test]
async fn rotating_the_key_reseals_every_account_and_reports_what_no_key_opens() {
    use gptgate_domain::{Sealed, SealedTokens};
    use gptgate_ports::services::RotationReport;

    let h = harness().await;
    let account = h.connected("c").await;
    let mut lost = account.clone();
    lost.id = gptgate_domain::AccountId::from_random_bytes([42; 16]);
    lost.label = AccountLabel::parse("lost").unwrap();
    lost.tokens = SealedTokens {
        access_token: Some(Sealed::from_bytes(b"gone|ctx|00".to_vec())),
        refresh_token: None,
        key_id: "gone".into(),
    };
    h.store.upsert_account(&lost).await.unwrap();

    let rotated = Connections::new(
        ConnectionsPorts {
            accounts: h.store.clone(),
            links: h.store.clone(),
            secrets: Arc::new(FakeSecretBox::rotated("fake-2", &["fake-1"])),
            tokens: Arc::new(FakeOpaqueTokens::default()),
            clock: Arc::new(h.clock.clone()),
            random: Arc::new(SeededRandom::new(6)),
        },
        vec![h.linear.clone()],
        LinkPolicy::default(),
        "https://gpt.example.com",
    );
    assert_eq!(
        rotated.rotate_key().await.unwrap(),
        RotationReport {
            resealed: 1,
            failed: 1
        }
    );
    let stored = h
        .store
        .find_account(h.ann, account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.tokens.key_id, "fake-2");
    let only_new = FakeSecretBox::new("fake-2");
    let row = account.id.to_string();
    let access = only_new
        .open(
            stored.tokens.access_token.as_ref().unwrap(),
            &format!("accounts/{row}/access_token"),
        )
        .unwrap();
    assert_eq!(
        access.expose_secret(),
        "access-1",
        "the old key can now be removed"
    );
    assert_eq!(
        rotated.rotate_key().await.unwrap(),
        RotationReport {
            resealed: 0,
            failed: 1
        },
        "a second run has nothing left but what no key opens, and stops"
    );
}
