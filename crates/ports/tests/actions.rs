//! The action use cases on the testkit fakes: who may act with which account, what is checked
//! before anyone is called, and how refusals, refreshes and provider failures come out.

use std::sync::Arc;

use gptgate_domain::{
    Account, AccountId, AccountLabel, AccountStatus, ChatGptUserId, Identity, LinkPolicy,
    ProviderId, SealedTokens, UserId,
};
use gptgate_ports::services::{
    Actions, ActionsError, Connections, ConnectionsPorts, RefreshPorts, Refresher,
};
use gptgate_ports::{AccountRepository, Clock, SecretBox, UserRepository};
use gptgate_testkit::{
    FakeClock, FakeOAuthProvider, FakeOpaqueTokens, FakeOutcome, FakeProviderActions,
    FakeSecretBox, InMemoryStore, ProviderFailure, SeededRandom,
};
use secrecy::SecretString;
use serde_json::{json, Value};
use time::Duration;

struct Harness {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    oauth: Arc<FakeOAuthProvider>,
    linear: Arc<FakeProviderActions>,
    connections: Arc<Connections>,
    actions: Actions,
    ann: UserId,
    account: Account,
}

async fn user(store: &InMemoryStore, name: &str, n: u8) -> UserId {
    store
        .find_or_create_user(
            &Identity::chatgpt(&ChatGptUserId::parse(name).unwrap()),
            UserId::from_random_bytes([n; 16]),
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .await
        .unwrap()
        .id
}

/// An account of `user` at `provider`, its token `access-0` valid for `left`.
async fn account(
    h: (&InMemoryStore, &FakeSecretBox, &FakeClock),
    user: UserId,
    provider: ProviderId,
    n: u8,
    left: Duration,
) -> Account {
    let (store, secrets, clock) = h;
    let id = AccountId::from_random_bytes([n; 16]);
    let seal = |column: &str, value: &str| {
        secrets
            .seal(
                &SecretString::from(value.to_owned()),
                &format!("accounts/{id}/{column}"),
            )
            .unwrap()
    };
    let now = clock.now();
    let account = Account {
        id,
        user_id: user,
        provider,
        label: AccountLabel::parse("work").unwrap(),
        enabled: true,
        status: AccountStatus::Active,
        tokens: SealedTokens {
            access_token: Some(seal("access_token", "access-0")),
            refresh_token: Some(seal("refresh_token", "refresh-0")),
            key_id: secrets.current_key_id().to_owned(),
        },
        expires_at: Some(now + left),
        scopes: Vec::new(),
        metadata: serde_json::Map::new(),
        created_at: now,
        updated_at: now,
    };
    store.upsert_account(&account).await.unwrap()
}

async fn harness() -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let secrets = Arc::new(FakeSecretBox::default());
    let oauth = Arc::new(FakeOAuthProvider::new(ProviderId::Linear, true));
    let linear = Arc::new(FakeProviderActions::new(ProviderId::Linear));
    let connections = Arc::new(Connections::new(
        ConnectionsPorts {
            accounts: store.clone(),
            users: store.clone(),
            links: store.clone(),
            secrets: secrets.clone(),
            tokens: Arc::new(FakeOpaqueTokens::default()),
            clock: Arc::new(clock.clone()),
            random: Arc::new(SeededRandom::new(5)),
        },
        vec![oauth.clone()],
        LinkPolicy::default(),
        "https://gpt.example.com",
    ));
    let refresher = Arc::new(Refresher::new(
        RefreshPorts {
            accounts: store.clone(),
            secrets: secrets.clone(),
            clock: Arc::new(clock.clone()),
            timer: Arc::new(clock.clone()),
        },
        vec![oauth.clone()],
    ));
    let actions = Actions::new(
        store.clone(),
        refresher,
        connections.clone(),
        vec![linear.clone()],
    );
    let ann = user(&store, "ann", 1).await;
    let account = account(
        (&store, &secrets, &clock),
        ann,
        ProviderId::Linear,
        10,
        Duration::hours(1),
    )
    .await;
    Harness {
        store,
        clock,
        oauth,
        linear,
        connections,
        actions,
        ann,
        account,
    }
}

impl Harness {
    async fn post(&self, params: Value) -> Result<Value, ActionsError> {
        self.actions
            .run(
                self.ann,
                ProviderId::Linear,
                "post-note",
                self.account.id,
                &params,
            )
            .await
    }

    fn tokens_used(&self) -> Vec<String> {
        self.linear
            .calls()
            .into_iter()
            .map(|c| c.access_token)
            .collect()
    }
}

fn note() -> Value {
    json!({ "text": "hello" })
}

#[tokio::test]
async fn the_catalog_lists_each_configured_providers_actions() {
    let h = harness().await;
    let catalog = h.actions.catalog();
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0].0, ProviderId::Linear);
    let names: Vec<_> = catalog[0].1.iter().map(|a| a.name).collect();
    assert_eq!(names, ["post-note", "list-notes"]);
}

#[tokio::test]
async fn an_action_runs_with_the_accounts_token_and_returns_the_providers_answer() {
    let h = harness().await;
    h.linear.answer([FakeOutcome::Ok(json!({ "id": "n1" }))]);
    assert_eq!(h.post(note()).await.unwrap(), json!({ "id": "n1" }));
    let calls = h.linear.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].action, "post-note");
    assert_eq!(calls[0].access_token, "access-0");
    assert_eq!(calls[0].params, note());
    assert!(h.oauth.refreshes().is_empty());
}

#[tokio::test]
async fn unknown_providers_actions_and_bad_params_are_refused_before_anything_is_read() {
    let h = harness().await;
    let run = |provider, action: &'static str, params: Value| {
        let h = &h;
        async move {
            h.actions
                .run(h.ann, provider, action, h.account.id, &params)
                .await
        }
    };
    assert!(matches!(
        run(ProviderId::Slack, "post-note", note()).await,
        Err(ActionsError::UnknownProvider)
    ));
    assert!(matches!(
        run(ProviderId::Linear, "delete-everything", note()).await,
        Err(ActionsError::UnknownAction {
            provider: ProviderId::Linear
        })
    ));
    match run(ProviderId::Linear, "post-note", json!({ "text": "" })).await {
        Err(ActionsError::InvalidParams { field, .. }) => assert_eq!(field, "text"),
        other => panic!("{other:?}"),
    }
    match run(
        ProviderId::Linear,
        "post-note",
        json!({ "text": "x", "to": "y" }),
    )
    .await
    {
        Err(ActionsError::InvalidParams { field, .. }) => assert_eq!(field, "to"),
        other => panic!("{other:?}"),
    }
    // The largest accepted and one more.
    assert!(
        run(ProviderId::Linear, "list-notes", json!({ "limit": 10 }))
            .await
            .is_ok()
    );
    assert!(matches!(
        run(ProviderId::Linear, "list-notes", json!({ "limit": 11 })).await,
        Err(ActionsError::InvalidParams { .. })
    ));
    assert_eq!(
        h.linear.calls().len(),
        1,
        "only the valid call reached the provider"
    );
}

#[tokio::test]
async fn another_users_or_another_providers_account_is_not_found() {
    let h = harness().await;
    let bob = user(&h.store, "bob", 2).await;
    let err = h
        .actions
        .run(bob, ProviderId::Linear, "post-note", h.account.id, &note())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ActionsError::AccountNotFound), "{err:?}");

    let slack = account(
        (&h.store, &FakeSecretBox::default(), &h.clock),
        h.ann,
        ProviderId::Slack,
        11,
        Duration::hours(1),
    )
    .await;
    let err = h
        .actions
        .run(h.ann, ProviderId::Linear, "post-note", slack.id, &note())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ActionsError::AccountNotFound), "{err:?}");
    assert!(h.linear.calls().is_empty());
}

#[tokio::test]
async fn a_disabled_account_is_not_used() {
    let h = harness().await;
    h.store
        .set_account_enabled(h.ann, h.account.id, false, h.clock.now())
        .await
        .unwrap();
    assert!(matches!(
        h.post(note()).await,
        Err(ActionsError::AccountDisabled)
    ));
    assert!(h.linear.calls().is_empty());
}

#[tokio::test]
async fn an_account_to_reconnect_answers_a_fresh_connect_link_for_its_label() {
    let h = harness().await;
    h.oauth.fail_refresh(Some(ProviderFailure::GrantRevoked));
    h.clock.advance(Duration::minutes(56));
    let url = match h.post(note()).await {
        Err(ActionsError::ReauthRequired { auth_url }) => auth_url,
        other => panic!("{other:?}"),
    };
    assert!(
        url.starts_with("https://gpt.example.com/auth/start?token="),
        "{url}"
    );
    let token = url.split("token=").nth(1).unwrap();
    let preview = h.connections.preview(token).await.unwrap();
    assert_eq!(
        (preview.provider, preview.label.as_str()),
        (ProviderId::Linear, "work")
    );
    let stored = h
        .store
        .find_account(h.ann, h.account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, AccountStatus::ReauthRequired);
    // Later calls do not ask the provider again.
    assert!(matches!(
        h.post(note()).await,
        Err(ActionsError::ReauthRequired { .. })
    ));
    assert_eq!(h.oauth.refreshes().len(), 1);
    assert!(h.linear.calls().is_empty());
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_the_call() {
    let h = harness().await;
    h.clock.advance(Duration::minutes(55));
    h.post(note()).await.unwrap();
    assert_eq!(h.oauth.refreshes(), ["refresh-0"]);
    let used = h.tokens_used();
    assert_eq!(used.len(), 1);
    assert_ne!(used[0], "access-0");
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_call_retried_once() {
    let h = harness().await;
    h.linear.answer([
        FakeOutcome::Unauthorized,
        FakeOutcome::Ok(json!({ "id": "n2" })),
    ]);
    assert_eq!(h.post(note()).await.unwrap(), json!({ "id": "n2" }));
    let used = h.tokens_used();
    assert_eq!(used.len(), 2);
    assert_eq!(used[0], "access-0");
    assert_ne!(used[1], "access-0");
    assert_eq!(h.oauth.refreshes().len(), 1);
}

#[tokio::test]
async fn a_token_refused_twice_is_not_tried_a_third_time() {
    let h = harness().await;
    h.linear
        .answer([FakeOutcome::Unauthorized, FakeOutcome::Unauthorized]);
    assert!(matches!(
        h.post(note()).await,
        Err(ActionsError::ReauthRequired { .. })
    ));
    assert_eq!(h.linear.calls().len(), 2, "one retry, never more");
    assert_eq!(h.oauth.refreshes().len(), 1);
}

#[tokio::test]
async fn provider_failures_come_out_as_what_they_are() {
    let h = harness().await;
    h.linear.answer([
        FakeOutcome::RateLimited(Some(Duration::seconds(30))),
        FakeOutcome::Conflict("not_in_channel"),
        FakeOutcome::Rejected("invalid_team"),
        FakeOutcome::Unavailable,
    ]);
    assert!(matches!(
        h.post(note()).await,
        Err(ActionsError::RateLimited { retry_after: Some(d) }) if d == Duration::seconds(30)
    ));
    assert!(matches!(
        h.post(note()).await,
        Err(ActionsError::Conflict { ref code, .. }) if code == "not_in_channel"
    ));
    assert!(matches!(
        h.post(note()).await,
        Err(ActionsError::ProviderRejected { ref code, .. }) if code == "invalid_team"
    ));
    assert!(matches!(
        h.post(note()).await,
        Err(ActionsError::ProviderUnavailable)
    ));
    let stored = h
        .store
        .find_account(h.ann, h.account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, h.account, "nothing stored changed");
}

#[tokio::test]
async fn a_refresh_that_fails_for_now_calls_nobody_and_changes_nothing() {
    let h = harness().await;
    h.oauth.fail_refresh(Some(ProviderFailure::Unavailable));
    h.clock.advance(Duration::minutes(58));
    assert!(matches!(
        h.post(note()).await,
        Err(ActionsError::ProviderUnavailable)
    ));
    assert!(h.linear.calls().is_empty());
    let stored = h
        .store
        .find_account(h.ann, h.account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, AccountStatus::Active);
}
