//! The connection use cases on the testkit fakes.

use std::sync::Arc;

use gptgate_domain::{AccountLabel, LinkPolicy, ProviderId, UserId};
use gptgate_ports::services::{
    Callback, ConnectError, ConnectPreview, Connections, ConnectionsPorts, Erased, LinkOwner,
    RotationReport,
};
use gptgate_ports::{AccountRepository, Clock, OAuthProvider, SecretBox, UserRepository};
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
    tokens: Arc<FakeOpaqueTokens>,
    connections: Connections,
    ann: UserId,
}

/// The connection service on `h`'s store and clock, with other providers or another key.
fn connections_on(
    store: &Arc<InMemoryStore>,
    clock: &FakeClock,
    tokens: &Arc<FakeOpaqueTokens>,
    providers: Vec<Arc<dyn OAuthProvider>>,
    secrets: Arc<dyn SecretBox>,
) -> Connections {
    Connections::new(
        ConnectionsPorts {
            accounts: store.clone(),
            users: store.clone(),
            links: store.clone(),
            secrets,
            tokens: tokens.clone(),
            clock: Arc::new(clock.clone()),
            random: Arc::new(SeededRandom::new(5)),
        },
        providers,
        LinkPolicy::default(),
        "https://gpt.example.com/",
    )
}

async fn harness() -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let linear = Arc::new(FakeOAuthProvider::new(ProviderId::Linear, true));
    let secrets = Arc::new(FakeSecretBox::default());
    let tokens = Arc::new(FakeOpaqueTokens::default());
    let connections = connections_on(
        &store,
        &clock,
        &tokens,
        vec![linear.clone()],
        secrets.clone(),
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
        tokens,
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

/// A flow as the browser that started it sees it.
struct Flow {
    state: String,
    nonce: String,
}

impl Harness {
    /// The hash under which a token (a state) is stored.
    fn tokens_hash(&self, token: &str) -> gptgate_domain::TokenHash {
        gptgate_ports::OpaqueTokens::hash(self.tokens.as_ref(), token)
    }

    /// The connection service on this harness's store, clock and tokens, with other
    /// providers or another key.
    fn connections_with(
        &self,
        providers: Vec<Arc<dyn OAuthProvider>>,
        secrets: Arc<dyn SecretBox>,
    ) -> Connections {
        connections_on(&self.store, &self.clock, &self.tokens, providers, secrets)
    }

    /// A full connect of Linear as `work`, with `code` at the callback.
    async fn connected(&self, code: &str) -> gptgate_domain::Account {
        self.connected_by(&self.connections, code).await
    }

    async fn connected_by(&self, connections: &Connections, code: &str) -> gptgate_domain::Account {
        let flow = self.started_by(connections).await;
        connections
            .complete(
                ProviderId::Linear,
                callback(code, &flow.state),
                Some(&flow.nonce),
            )
            .await
            .unwrap()
    }

    /// Runs create-auth-link and start; returns the state sent to the provider and the nonce
    /// the starting browser holds.
    async fn started(&self) -> Flow {
        self.started_by(&self.connections).await
    }

    async fn started_by(&self, connections: &Connections) -> Flow {
        let link = connections
            .create_auth_link(self.ann, ProviderId::Linear, work())
            .await
            .unwrap();
        let started = connections.start(&token_of(&link)).await.unwrap();
        Flow {
            state: state_of(&started.provider_url),
            nonce: started.browser_nonce.expose_secret().to_owned(),
        }
    }

    async fn complete(
        &self,
        cb: Callback,
        flow: &Flow,
    ) -> Result<gptgate_domain::Account, ConnectError> {
        self.connections
            .complete(ProviderId::Linear, cb, Some(&flow.nonce))
            .await
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
    let started = h.connections.start(&token_of(&link)).await.unwrap();
    assert!(started
        .provider_url
        .starts_with("https://linear.provider.test/authorize?state="));
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
async fn a_link_can_be_previewed_any_number_of_times_without_being_used() {
    let h = harness().await;
    let link = h
        .connections
        .create_auth_link(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    let expected = ConnectPreview {
        provider: ProviderId::Linear,
        label: work(),
        owner: LinkOwner::ChatGpt,
    };
    for _ in 0..3 {
        assert_eq!(
            h.connections.preview(&token_of(&link)).await.unwrap(),
            expected
        );
    }
    h.clock
        .advance(Duration::minutes(10) - Duration::seconds(1));
    assert!(
        h.connections.start(&token_of(&link)).await.is_ok(),
        "still usable"
    );
    assert!(
        matches!(
            h.connections.preview(&token_of(&link)).await,
            Err(ConnectError::InvalidLink)
        ),
        "used"
    );
    assert!(matches!(
        h.connections.preview("made-up").await,
        Err(ConnectError::InvalidLink)
    ));
    let late = h
        .connections
        .create_auth_link(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(10));
    assert!(
        matches!(
            h.connections.preview(&token_of(&late)).await,
            Err(ConnectError::InvalidLink)
        ),
        "expired"
    );
}

#[tokio::test]
async fn the_preview_names_a_signed_in_user_by_their_masked_email() {
    let h = harness().await;
    let bob = h
        .store
        .find_or_create_user(
            &gptgate_domain::Identity::email(
                &gptgate_domain::Email::parse("Bob.Stone@Example.com").unwrap(),
            ),
            UserId::from_random_bytes([2; 16]),
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .await
        .unwrap()
        .id;
    let link = h
        .connections
        .create_auth_link(bob, ProviderId::Linear, work())
        .await
        .unwrap();
    assert_eq!(
        h.connections.preview(&token_of(&link)).await.unwrap().owner,
        LinkOwner::Email("b***@example.com".into())
    );
}

#[tokio::test]
async fn a_link_for_a_provider_no_longer_configured_is_left_unused() {
    let h = harness().await;
    let link = h
        .connections
        .create_auth_link(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    let without_linear = h.connections_with(vec![], h.secrets.clone());
    for result in [
        without_linear.preview(&token_of(&link)).await.map(|_| ()),
        without_linear.start(&token_of(&link)).await.map(|_| ()),
    ] {
        assert!(matches!(
            result,
            Err(ConnectError::ProviderNotConfigured(ProviderId::Linear))
        ));
    }
    assert!(
        h.connections.start(&token_of(&link)).await.is_ok(),
        "the link was not used up"
    );
}

#[tokio::test]
async fn a_start_binds_the_flow_to_a_fresh_nonce_named_after_its_state() {
    let h = harness().await;
    let a = h.started().await;
    let b = h.started().await;
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(
        a.nonce, a.state,
        "the nonce is not the state, which the provider sees"
    );
    let link = h
        .connections
        .create_auth_link(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    let started = h.connections.start(&token_of(&link)).await.unwrap();
    assert_eq!(
        started.flow_id,
        h.connections.flow_id(&state_of(&started.provider_url))
    );
    assert_eq!(started.flow_id.len(), 16);
    assert_ne!(started.flow_id, h.connections.flow_id(&a.state));
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused_before_any_token_request_and_burns_the_state() {
    let h = harness().await;
    let attackers = h.started().await;
    let victims_other_flow = h.started().await;
    for nonce in [
        None,
        Some(""),
        Some(victims_other_flow.nonce.as_str()),
        Some("forged"),
    ] {
        let flow = h.started().await;
        assert!(
            matches!(
                h.connections
                    .complete(ProviderId::Linear, callback("c", &flow.state), nonce)
                    .await,
                Err(ConnectError::WrongBrowser)
            ),
            "{nonce:?}"
        );
        assert!(
            matches!(
                h.complete(callback("c", &flow.state), &flow).await,
                Err(ConnectError::InvalidState)
            ),
            "the state is burnt: even its own browser cannot use it now"
        );
    }
    // The attacker's state, completed in the victim's browser (holding another nonce).
    assert!(matches!(
        h.connections
            .complete(
                ProviderId::Linear,
                callback("victims-code", &attackers.state),
                Some(&victims_other_flow.nonce)
            )
            .await,
        Err(ConnectError::WrongBrowser)
    ));
    assert!(
        h.linear.exchanges().is_empty(),
        "the provider was never asked"
    );
    assert!(h.store.list_accounts(h.ann).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_callback_stores_the_account_with_sealed_tokens_and_identity() {
    let h = harness().await;
    let flow = h.started().await;
    let state = flow.state.clone();
    let account = h.complete(callback("code-1", &state), &flow).await.unwrap();

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
async fn any_expires_in_a_provider_sends_gives_a_sane_expiry() {
    let h = harness().await;
    let now = time::macros::datetime!(2026-01-01 12:00 UTC);
    let cases = [
        (Some(Duration::seconds(-3600)), Some(now)),
        (
            Some(Duration::MAX),
            Some(now + gptgate_domain::MAX_TOKEN_LIFETIME),
        ),
        (
            Some(Duration::seconds(1_000_000_000_000_000_000)),
            Some(now + gptgate_domain::MAX_TOKEN_LIFETIME),
        ),
        (Some(Duration::MIN), Some(now)),
        (None, None),
    ];
    for (lifetime, expected) in cases {
        h.linear.send_expires_in(lifetime);
        let account = h.connected("c").await;
        assert_eq!(account.expires_at, expected, "{lifetime:?}");
    }
}

#[tokio::test]
async fn a_bad_state_is_refused_before_any_token_request() {
    let h = harness().await;
    let flow = h.started().await;
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
            matches!(h.complete(cb, &flow).await, Err(ConnectError::InvalidState)),
            "{why}"
        );
    }
    // For another provider: refused, and the state is spent.
    assert!(matches!(
        h.connections
            .complete(
                ProviderId::Slack,
                callback("c", &flow.state),
                Some(&flow.nonce)
            )
            .await,
        Err(ConnectError::InvalidState)
    ));
    assert!(matches!(
        h.complete(callback("c", &flow.state), &flow).await,
        Err(ConnectError::InvalidState)
    ));
    let expired = h.started().await;
    h.clock.advance(Duration::minutes(10));
    assert!(matches!(
        h.complete(callback("c", &expired.state), &expired).await,
        Err(ConnectError::InvalidState)
    ));
    let no_code = h.started().await;
    assert!(matches!(
        h.complete(
            Callback {
                state: Some(no_code.state.clone()),
                code: Some(String::new()),
                ..Default::default()
            },
            &no_code
        )
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
    let flow = h.started().await;
    h.complete(callback("c", &flow.state), &flow).await.unwrap();
    assert!(matches!(
        h.complete(callback("c", &flow.state), &flow).await,
        Err(ConnectError::InvalidState)
    ));
    assert_eq!(h.linear.exchanges().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_callbacks_with_one_state_write_one_account() {
    let h = Arc::new(harness().await);
    let flow = h.started().await;
    let (a, b) = tokio::join!(
        h.complete(callback("c", &flow.state), &flow),
        h.complete(callback("c", &flow.state), &flow),
    );
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1);
    assert_eq!(h.linear.exchanges().len(), 1);
}

#[tokio::test]
async fn a_declined_consent_stores_nothing() {
    let h = harness().await;
    let flow = h.started().await;
    let cb = Callback {
        state: Some(flow.state.clone()),
        error: Some("access_denied".into()),
        ..Default::default()
    };
    assert!(matches!(
        h.complete(cb, &flow).await,
        Err(ConnectError::Denied)
    ));
    assert!(h.store.list_accounts(h.ann).await.unwrap().is_empty());
    assert!(h.linear.exchanges().is_empty());
}

#[tokio::test]
async fn a_provider_refusal_stores_nothing() {
    let h = harness().await;
    let flow = h.started().await;
    h.linear.reject_with("invalid_grant");
    let err = h
        .complete(callback("c", &flow.state), &flow)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Provider(_)));
    assert!(h.store.list_accounts(h.ann).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_reconnect_that_fails_after_the_exchange_stores_nothing_and_revokes_nothing() {
    let h = harness().await;
    let before = h.connected("c1").await;
    let flow = h.started().await;
    h.linear.fail_identify();
    let err = h
        .complete(callback("c2", &flow.state), &flow)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Provider(_)));
    assert_eq!(h.linear.exchanges().len(), 2);
    assert!(
        h.linear.revoked().is_empty(),
        "a revocation could end the grant the stored connection still uses"
    );
    assert_eq!(
        h.store.list_accounts(h.ann).await.unwrap(),
        vec![before],
        "the stored connection is as it was"
    );
}

#[tokio::test]
async fn a_reconnect_succeeds_when_the_kept_refresh_token_no_longer_opens() {
    let h = harness().await;
    h.connected("c1").await;
    let new_key_only = h.connections_with(
        vec![h.linear.clone()],
        Arc::new(FakeSecretBox::new("fake-2")),
    );
    h.linear.send_refresh_token(None);
    let again = h.connected_by(&new_key_only, "c2").await;
    assert_eq!(
        again.tokens.refresh_token, None,
        "dropped, not a failed connect"
    );
    assert!(again.tokens.access_token.is_some());
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
async fn erasing_a_user_revokes_every_account_first_then_deletes_everything() {
    let h = harness().await;
    h.connected("c1").await;
    let flow = h.started().await;
    let link = h
        .connections
        .create_auth_link(
            h.ann,
            ProviderId::Linear,
            AccountLabel::parse("home").unwrap(),
        )
        .await
        .unwrap();
    h.linear.send_refresh_token(Some("refresh-home"));
    let home = h.connections.start(&token_of(&link)).await.unwrap();
    h.connections
        .complete(
            ProviderId::Linear,
            callback("c2", &state_of(&home.provider_url)),
            Some(home.browser_nonce.expose_secret()),
        )
        .await
        .unwrap();
    h.linear.fail_revocation();

    assert_eq!(
        h.connections.erase_user(h.ann).await.unwrap(),
        Erased {
            accounts: 2,
            revoked: 0
        },
        "deleted though no revocation succeeded, and said so"
    );
    let mut revoked = h.linear.revoked();
    revoked.sort();
    assert_eq!(
        revoked,
        vec!["refresh-1".to_owned(), "refresh-home".to_owned()],
        "each account, though revocation failed"
    );
    assert!(h.store.list_accounts(h.ann).await.unwrap().is_empty());
    assert_eq!(h.store.user_count(), 0, "the user is gone");
    assert!(
        matches!(
            h.complete(callback("c", &flow.state), &flow).await,
            Err(ConnectError::InvalidState)
        ),
        "and their flows in progress"
    );
    assert!(matches!(
        h.connections.erase_user(h.ann).await,
        Err(ConnectError::NotFound)
    ));
}

#[tokio::test]
async fn erasing_a_user_without_accounts_revokes_nothing() {
    let h = harness().await;
    assert_eq!(
        h.connections.erase_user(h.ann).await.unwrap(),
        Erased {
            accounts: 0,
            revoked: 0
        }
    );
    assert!(h.linear.revoked().is_empty());
}

#[tokio::test]
async fn a_revocation_the_provider_did_not_attempt_is_not_counted() {
    let h = harness().await;
    h.connected("c").await;
    h.linear.revoke_nothing();
    assert_eq!(
        h.connections.erase_user(h.ann).await.unwrap(),
        Erased {
            accounts: 1,
            revoked: 0
        }
    );
}

#[tokio::test]
async fn erasing_counts_only_the_revocations_the_provider_confirmed() {
    use gptgate_domain::{Sealed, SealedTokens};

    let h = harness().await;
    h.connected("c").await;
    // An account no configured key opens: nothing to revoke with.
    let mut lost = h.connected("c2").await;
    lost.id = gptgate_domain::AccountId::from_random_bytes([42; 16]);
    lost.label = AccountLabel::parse("lost").unwrap();
    lost.tokens = SealedTokens {
        access_token: Some(Sealed::from_bytes(b"gone|ctx|00".to_vec())),
        refresh_token: None,
        key_id: "gone".into(),
    };
    h.store.upsert_account(&lost).await.unwrap();
    // An account with a refresh token only (its access token was never stored).
    let mut refresh_only = h.connected("c3").await;
    refresh_only.id = gptgate_domain::AccountId::from_random_bytes([43; 16]);
    refresh_only.label = AccountLabel::parse("refresh-only").unwrap();
    let context = format!("accounts/{}/refresh_token", refresh_only.id);
    refresh_only.tokens = SealedTokens {
        access_token: None,
        refresh_token: Some(
            h.secrets
                .seal(
                    &secrecy::SecretString::from("refresh-only".to_owned()),
                    &context,
                )
                .unwrap(),
        ),
        key_id: "fake-1".into(),
    };
    h.store.upsert_account(&refresh_only).await.unwrap();
    assert_eq!(
        h.connections.erase_user(h.ann).await.unwrap(),
        Erased {
            accounts: 3,
            revoked: 2
        }
    );
    let mut revoked = h.linear.revoked();
    revoked.sort();
    assert_eq!(
        revoked,
        vec!["refresh-1".to_owned(), "refresh-only".to_owned()],
        "the provider was asked for each account a key opens"
    );
}

#[tokio::test]
async fn rotating_the_key_reseals_every_account_and_reports_what_no_key_opens() {
    use gptgate_domain::{Sealed, SealedTokens};

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

    let rotated = h.connections_with(
        vec![h.linear.clone()],
        Arc::new(FakeSecretBox::rotated("fake-2", &["fake-1"])),
    );
    assert_eq!(
        rotated.rotate_key().await.unwrap(),
        RotationReport {
            resealed: 1,
            failed: 1,
            ..Default::default()
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
            failed: 1,
            ..Default::default()
        },
        "a second run has nothing left but what no key opens, and stops"
    );
}

#[tokio::test]
async fn after_a_reconnect_and_a_rotation_the_old_key_can_go_and_everything_still_opens() {
    let h = harness().await;
    // Connected under k1 ("fake-1"); a flow is also in progress under k1.
    let first = h.connected("c1").await;
    let pending = h.started().await;
    // The operator adds k2 in front; the user reconnects, and the provider sends no new
    // refresh token.
    let k2_first = h.connections_with(
        vec![h.linear.clone()],
        Arc::new(FakeSecretBox::rotated("fake-2", &["fake-1"])),
    );
    h.linear.send_refresh_token(None);
    let again = h.connected_by(&k2_first, "c2").await;
    assert_eq!(again.id, first.id);
    let report = k2_first.rotate_key().await.unwrap();
    assert_eq!(
        report,
        RotationReport {
            resealed: 0,
            failed: 0,
            flows_resealed: 1,
            flows_failed: 0
        },
        "the reconnect already sealed everything under k2; the pending flow's verifier was not"
    );
    // k1 removed.
    let only_k2 = Arc::new(FakeSecretBox::new("fake-2"));
    let k2_only = h.connections_with(vec![h.linear.clone()], only_k2.clone());
    let stored = h
        .store
        .find_account(h.ann, first.id)
        .await
        .unwrap()
        .unwrap();
    let row = first.id.to_string();
    for (column, expected) in [("access_token", "access-2"), ("refresh_token", "refresh-1")] {
        let sealed = if column == "access_token" {
            stored.tokens.access_token.as_ref()
        } else {
            stored.tokens.refresh_token.as_ref()
        };
        let plain = only_k2
            .open(sealed.unwrap(), &format!("accounts/{row}/{column}"))
            .unwrap_or_else(|_| panic!("{column} opens with k2 alone"));
        assert_eq!(plain.expose_secret(), expected);
    }
    k2_only
        .complete(
            ProviderId::Linear,
            callback("c3", &pending.state),
            Some(&pending.nonce),
        )
        .await
        .expect("the flow started under k1 finishes under k2 alone");
    let verifier = h.linear.exchanges().last().unwrap().1.clone();
    assert_eq!(verifier, Some(format!("verifier-for-{}", pending.state)));
}

#[tokio::test]
async fn a_pending_flow_whose_verifier_no_key_opens_is_reported_and_left_to_expire() {
    use gptgate_ports::LinkTokenRepository;
    let h = harness().await;
    let flow = h.started().await;
    // The verifier is sealed for its state row: pinned here, the rotation relies on it.
    let hash = h.tokens_hash(&flow.state);
    let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let pending = h.store.oauth_states_page(None, 10).await.unwrap();
    let verifier = h
        .secrets
        .open(
            pending[0].pkce_verifier.as_ref().unwrap(),
            &format!("oauth_states/{hex}/pkce_verifier"),
        )
        .unwrap();
    assert_eq!(
        verifier.expose_secret(),
        format!("verifier-for-{}", flow.state)
    );
    let unknown_key = h.connections_with(
        vec![h.linear.clone()],
        Arc::new(FakeSecretBox::new("fake-9")),
    );
    assert_eq!(
        unknown_key.rotate_key().await.unwrap(),
        RotationReport {
            resealed: 0,
            failed: 0,
            flows_resealed: 0,
            flows_failed: 1
        }
    );
}

#[tokio::test]
async fn rotation_judges_each_value_by_the_key_it_names_not_by_the_row() {
    use gptgate_domain::SealedTokens;

    let h = harness().await;
    let account = h.connected("c").await;
    // A row written by an older version: it says k2, but its refresh token is under k1.
    let k2 = FakeSecretBox::rotated("fake-2", &["fake-1"]);
    let row = account.id.to_string();
    let mixed = SealedTokens {
        access_token: Some(
            k2.seal(
                &secrecy::SecretString::from("access-1".to_owned()),
                &format!("accounts/{row}/access_token"),
            )
            .unwrap(),
        ),
        refresh_token: account.tokens.refresh_token.clone(),
        key_id: "fake-2".into(),
    };
    h.store
        .replace_tokens(account.id, &mixed, h.clock.now())
        .await
        .unwrap();
    let rotated = h.connections_with(vec![h.linear.clone()], Arc::new(k2));
    assert_eq!(rotated.rotate_key().await.unwrap().resealed, 1);
    let stored = h
        .store
        .find_account(h.ann, account.id)
        .await
        .unwrap()
        .unwrap();
    let refresh = FakeSecretBox::new("fake-2")
        .open(
            stored.tokens.refresh_token.as_ref().unwrap(),
            &format!("accounts/{row}/refresh_token"),
        )
        .unwrap();
    assert_eq!(refresh.expose_secret(), "refresh-1");
}

#[tokio::test]
async fn a_management_link_opens_a_session_until_the_link_expires() {
    let h = harness().await;
    let link = h.connections.create_management_link(h.ann).await.unwrap();
    assert!(
        link.starts_with("https://gpt.example.com/integrations?token="),
        "{link}"
    );
    let token = token_of(&link);
    let opened = h.clock.now();
    let session = h.connections.management_session(&token).await.unwrap();
    assert_eq!(session.user, h.ann);
    assert_eq!(session.expires_at, opened + Duration::hours(1));
    assert_eq!(session.remaining, Duration::hours(1));
    // Opening it again works (the page is reloaded, or the link opened in a second tab).
    h.clock
        .advance(Duration::hours(1) - Duration::microseconds(1));
    assert!(h.connections.management_session(&token).await.is_ok());
    h.clock.advance(Duration::microseconds(1));
    assert!(matches!(
        h.connections.management_session(&token).await,
        Err(ConnectError::InvalidLink)
    ));
    assert!(matches!(
        h.connections.management_session("not-a-token").await,
        Err(ConnectError::InvalidLink)
    ));
    assert!(matches!(
        h.connections.management_session("").await,
        Err(ConnectError::InvalidLink)
    ));
}

#[tokio::test]
async fn signing_out_ends_the_management_link_at_once() {
    let h = harness().await;
    let link = h.connections.create_management_link(h.ann).await.unwrap();
    let token = token_of(&link);
    assert!(h.connections.management_session(&token).await.is_ok());
    h.connections.end_management_session(&token).await.unwrap();
    assert!(matches!(
        h.connections.management_session(&token).await,
        Err(ConnectError::InvalidLink)
    ));
    // Signing out twice (two tabs) is no error.
    h.connections.end_management_session(&token).await.unwrap();
}

#[tokio::test]
async fn a_signed_in_user_starts_a_connect_in_one_step_bound_to_their_browser() {
    let h = harness().await;
    let started = h
        .connections
        .start_for(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    let state = state_of(&started.provider_url);
    // Another browser (no nonce) cannot finish it.
    assert!(matches!(
        h.connections
            .complete(ProviderId::Linear, callback("code-1", &state), None)
            .await,
        Err(ConnectError::WrongBrowser)
    ));
    let started = h
        .connections
        .start_for(h.ann, ProviderId::Linear, work())
        .await
        .unwrap();
    let account = h
        .connections
        .complete(
            ProviderId::Linear,
            callback("code-2", &state_of(&started.provider_url)),
            Some(started.browser_nonce.expose_secret()),
        )
        .await
        .unwrap();
    assert_eq!((account.user_id, account.label), (h.ann, work()));
    assert!(matches!(
        h.connections
            .start_for(h.ann, ProviderId::Gmail, work())
            .await,
        Err(ConnectError::ProviderNotConfigured(ProviderId::Gmail))
    ));
}

#[tokio::test]
async fn the_owner_is_said_by_masked_email_or_as_the_chatgpt_account() {
    let h = harness().await;
    assert_eq!(
        h.connections.owner(h.ann).await.unwrap(),
        LinkOwner::ChatGpt
    );
    let email = gptgate_domain::Email::parse("bob.smith@example.com").unwrap();
    let bob = h
        .store
        .find_or_create_user(
            &gptgate_domain::Identity::email(&email),
            UserId::from_random_bytes([2; 16]),
            h.clock.now(),
        )
        .await
        .unwrap()
        .id;
    assert_eq!(
        h.connections.owner(bob).await.unwrap(),
        LinkOwner::Email(email.masked())
    );
}

#[tokio::test]
async fn a_browser_session_from_a_sign_in_may_grant_and_a_links_may_not() {
    let h = harness().await;
    let (token, lasts) = h.connections.open_browser_session(h.ann).await.unwrap();
    assert_eq!(lasts, Duration::hours(1));
    let session = h
        .connections
        .management_session(token.expose_secret())
        .await
        .unwrap();
    assert_eq!((session.user, session.signed_in), (h.ann, true));
    let link = h.connections.create_management_link(h.ann).await.unwrap();
    let from_link = h
        .connections
        .management_session(&token_of(&link))
        .await
        .unwrap();
    assert_eq!((from_link.user, from_link.signed_in), (h.ann, false));
}

#[tokio::test]
async fn accounts_are_read_for_a_user_or_under_a_session_that_is_still_good() {
    use gptgate_ports::services::Reader;
    use gptgate_ports::SessionRepository;
    let h = harness().await;
    let account = h.connected("code-1").await;
    let now = h.clock.now();
    let session = gptgate_domain::SessionPolicy::default().open(
        gptgate_domain::SessionId::from_random_bytes([1; 16]),
        h.ann,
        now,
    );
    h.store.create_session(&session).await.unwrap();
    let guard = gptgate_domain::SessionGuard {
        user_id: h.ann,
        session_id: session.id,
        now,
    };
    for reader in [Reader::User(h.ann), Reader::Session(guard)] {
        let read = h.connections.read_accounts(reader).await.unwrap().unwrap();
        assert_eq!(
            read.iter().map(|a| a.id).collect::<Vec<_>>(),
            vec![account.id]
        );
    }
    h.store.revoke_session(session.id, now).await.unwrap();
    assert_eq!(
        h.connections
            .read_accounts(Reader::Session(guard))
            .await
            .unwrap(),
        None
    );
}
