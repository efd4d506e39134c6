//! Keeping access tokens usable, on the testkit fakes: refreshed from five minutes before
//! expiry and once after a refusal; one refresh per account however many callers, in one
//! process and across two; rotated refresh tokens stored before use; a dead grant marks the
//! account, a passing failure leaves it.

use std::sync::Arc;

use gptgate_domain::{
    Account, AccountId, AccountLabel, AccountStatus, Identity, ProviderId, SealedTokens, UserId,
};
use gptgate_ports::services::{AccessError, RefreshPorts, Refresher, REFRESH_LEASE};
use gptgate_ports::{AccountRepository, Clock, SecretBox, Timer, UserRepository};
use gptgate_testkit::{
    FakeClock, FakeOAuthProvider, FakeSecretBox, InMemoryStore, ProviderFailure,
};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

/// Waits in real time (the fake clock's sleep moves fake time instead).
struct RealTimer;

#[async_trait::async_trait]
impl Timer for RealTimer {
    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }

    fn spawn(&self, task: gptgate_ports::Task) {
        tokio::spawn(task);
    }
}

struct Harness {
    store: Arc<InMemoryStore>,
    secrets: Arc<FakeSecretBox>,
    provider: Arc<FakeOAuthProvider>,
    clock: FakeClock,
    account: Account,
}

fn refresher(h: &Harness, timer: Arc<dyn Timer>) -> Refresher {
    Refresher::new(
        RefreshPorts {
            accounts: h.store.clone(),
            secrets: h.secrets.clone(),
            clock: Arc::new(h.clock.clone()),
            timer,
        },
        vec![h.provider.clone()],
    )
}

fn seal(
    secrets: &FakeSecretBox,
    id: AccountId,
    column: &str,
    value: &str,
) -> gptgate_domain::Sealed {
    secrets
        .seal(
            &SecretString::from(value.to_owned()),
            &format!("accounts/{id}/{column}"),
        )
        .unwrap()
}

/// A Linear account whose access token `access-0` expires in `left`, with refresh token
/// `refresh-0` (or none).
async fn harness(left: Duration, refresh: Option<&str>) -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let secrets = Arc::new(FakeSecretBox::new("k1"));
    let provider = Arc::new(FakeOAuthProvider::new(ProviderId::Linear, true));
    let clock = FakeClock::new();
    let now = clock.now();
    let user = store
        .find_or_create_user(
            &Identity::email(&gptgate_domain::Email::parse("ann@example.com").unwrap()),
            UserId::from_random_bytes([1; 16]),
            now,
        )
        .await
        .unwrap();
    let id = AccountId::from_random_bytes([2; 16]);
    let account = Account {
        id,
        user_id: user.id,
        provider: ProviderId::Linear,
        label: AccountLabel::parse("work").unwrap(),
        enabled: true,
        status: AccountStatus::Active,
        tokens: SealedTokens {
            access_token: Some(seal(&secrets, id, "access_token", "access-0")),
            refresh_token: refresh.map(|r| seal(&secrets, id, "refresh_token", r)),
            key_id: "k1".into(),
        },
        expires_at: Some(now + left),
        scopes: vec!["read".into()],
        metadata: serde_json::Map::new(),
        created_at: now,
        updated_at: now,
    };
    store.upsert_account(&account).await.unwrap();
    Harness {
        store,
        secrets,
        provider,
        clock,
        account,
    }
}

impl Harness {
    async fn stored(&self) -> Account {
        self.store
            .find_account(self.account.user_id, self.account.id)
            .await
            .unwrap()
            .unwrap()
    }

    fn open(&self, account: &Account, column: &str) -> Option<String> {
        let sealed = match column {
            "access_token" => account.tokens.access_token.as_ref(),
            _ => account.tokens.refresh_token.as_ref(),
        }?;
        Some(
            self.secrets
                .open(sealed, &format!("accounts/{}/{column}", account.id))
                .unwrap()
                .expose_secret()
                .to_owned(),
        )
    }
}

#[tokio::test]
async fn a_token_with_more_than_five_minutes_left_is_used_as_it_is() {
    let h = harness(
        Duration::minutes(5) + Duration::seconds(1),
        Some("refresh-0"),
    )
    .await;
    let access = refresher(&h, Arc::new(h.clock.clone()))
        .access(&h.account)
        .await
        .unwrap();
    assert_eq!(access.token.expose_secret(), "access-0");
    assert!(h.provider.refreshes().is_empty());
}

#[tokio::test]
async fn a_token_with_five_minutes_left_is_refreshed_and_the_new_pair_stored() {
    let h = harness(Duration::minutes(5), Some("refresh-0")).await;
    h.provider.rotate_refresh_tokens();
    let access = refresher(&h, Arc::new(h.clock.clone()))
        .access(&h.account)
        .await
        .unwrap();
    assert_eq!(h.provider.refreshes(), ["refresh-0"]);
    let stored = h.stored().await;
    assert_eq!(
        h.open(&stored, "access_token").unwrap(),
        access.token.expose_secret()
    );
    assert_ne!(access.token.expose_secret(), "access-0");
    let rotated = h.open(&stored, "refresh_token").unwrap();
    assert!(rotated.starts_with("refresh-r"), "{rotated}");
    assert_eq!(stored.expires_at, Some(h.clock.now() + Duration::hours(1)));
    assert_eq!(access.account, stored);
}

#[tokio::test]
async fn rotated_refresh_tokens_are_stored_before_they_are_needed_again() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    h.provider.rotate_refresh_tokens();
    let refresher = refresher(&h, Arc::new(h.clock.clone()));
    for _ in 0..3 {
        let account = h.stored().await;
        refresher.access(&account).await.unwrap();
        h.clock.advance(Duration::hours(1));
    }
    // Each refresh presented the token the previous one handed out (the fake refuses a spent
    // one with invalid_grant).
    let presented = h.provider.refreshes();
    assert_eq!(presented.len(), 3);
    assert_eq!(presented[0], "refresh-0");
    assert_ne!(presented[1], presented[0]);
    assert_ne!(presented[2], presented[1]);
    assert_eq!(h.stored().await.status, AccountStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_callers_share_one_refresh() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    h.provider.rotate_refresh_tokens();
    h.provider
        .delay_refresh(std::time::Duration::from_millis(50));
    let refresher = Arc::new(refresher(&h, Arc::new(RealTimer)));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let refresher = refresher.clone();
            let stale = h.account.clone();
            tokio::spawn(async move { refresher.access(&stale).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(
            task.await
                .unwrap()
                .unwrap()
                .token
                .expose_secret()
                .to_owned(),
        );
    }
    assert_eq!(h.provider.refreshes().len(), 1, "exactly one refresh");
    assert_eq!(
        refresher.queued_accounts(),
        0,
        "the queue went with its last caller"
    );
    tokens.dedup();
    assert_eq!(
        tokens.len(),
        1,
        "all twenty use the one fresh token: {tokens:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_store_share_one_refresh() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    h.provider.rotate_refresh_tokens();
    h.provider
        .delay_refresh(std::time::Duration::from_millis(150));
    // Two refreshers are two server instances: separate in-process queues, one database.
    let instances = [
        Arc::new(refresher(&h, Arc::new(RealTimer))),
        Arc::new(refresher(&h, Arc::new(RealTimer))),
    ];
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let refresher = instances[n % 2].clone();
            let stale = h.account.clone();
            tokio::spawn(async move { refresher.access(&stale).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(h.provider.refreshes().len(), 1, "exactly one refresh");
}

#[tokio::test]
async fn a_lease_held_elsewhere_for_too_long_ends_the_wait() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    let now = h.clock.now();
    // Another instance holds the lease and never ends it (and it is renewed meanwhile).
    assert!(h
        .store
        .take_refresh_lease(h.account.id, now, now + Duration::days(1))
        .await
        .unwrap());
    let err = refresher(&h, Arc::new(h.clock.clone()))
        .access(&h.account)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, AccessError::Busy), "{err:?}");
    assert!(h.clock.now() - now > REFRESH_LEASE * 2);
    assert!(h.provider.refreshes().is_empty());
}

#[tokio::test]
async fn a_dead_grant_marks_the_account_and_later_calls_do_not_ask_again() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    h.provider.fail_refresh(Some(ProviderFailure::GrantRevoked));
    let refresher = refresher(&h, Arc::new(h.clock.clone()));
    let err = refresher.access(&h.account).await.err().unwrap();
    assert!(matches!(err, AccessError::ReauthRequired), "{err:?}");
    let stored = h.stored().await;
    assert_eq!(stored.status, AccountStatus::ReauthRequired);
    let err = refresher.access(&stored).await.err().unwrap();
    assert!(matches!(err, AccessError::ReauthRequired));
    assert_eq!(h.provider.refreshes().len(), 1);
}

#[tokio::test]
async fn a_passing_failure_leaves_the_account_for_the_next_try() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    let refresher = refresher(&h, Arc::new(h.clock.clone()));
    for failure in [
        ProviderFailure::Unavailable,
        ProviderFailure::Rejected("invalid_client".into()),
    ] {
        h.provider.fail_refresh(Some(failure));
        let err = refresher.access(&h.account).await.err().unwrap();
        assert!(matches!(err, AccessError::Provider(_)), "{err:?}");
        assert_eq!(h.stored().await, h.account, "nothing changed");
    }
    h.provider.fail_refresh(None);
    let access = refresher.access(&h.account).await.unwrap();
    assert_ne!(
        access.token.expose_secret(),
        "access-0",
        "the lease was released"
    );
    assert_eq!(h.provider.refreshes().len(), 3);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_unless_someone_already_replaced_it() {
    let h = harness(Duration::hours(1), Some("refresh-0")).await;
    let refresher = refresher(&h, Arc::new(h.clock.clone()));
    let refused = SecretString::from("access-0".to_owned());
    let first = refresher.after_refusal(&h.account, &refused).await.unwrap();
    assert_ne!(first.token.expose_secret(), "access-0");
    // A second caller refused with the same old token gets the new one, no second refresh.
    let second = refresher.after_refusal(&h.account, &refused).await.unwrap();
    assert_eq!(second.token.expose_secret(), first.token.expose_secret());
    assert_eq!(h.provider.refreshes().len(), 1);
}

#[tokio::test]
async fn without_a_refresh_token_a_valid_token_is_used_and_an_ended_one_needs_reconnecting() {
    let h = harness(Duration::minutes(2), None).await;
    let keeper = refresher(&h, Arc::new(h.clock.clone()));
    let access = keeper.access(&h.account).await.unwrap();
    assert_eq!(
        access.token.expose_secret(),
        "access-0",
        "two minutes left: used"
    );
    assert_eq!(h.stored().await.status, AccountStatus::Active);

    let refused = SecretString::from("access-0".to_owned());
    let err = keeper
        .after_refusal(&h.account, &refused)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, AccessError::ReauthRequired), "{err:?}");
    assert_eq!(h.stored().await.status, AccountStatus::ReauthRequired);
    assert!(h.provider.refreshes().is_empty());

    let h = harness(Duration::ZERO, None).await;
    let err = refresher(&h, Arc::new(h.clock.clone()))
        .access(&h.account)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, AccessError::ReauthRequired),
        "expired: {err:?}"
    );
}

#[tokio::test]
async fn an_account_deleted_meanwhile_or_a_provider_no_longer_configured_is_said() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    h.store
        .delete_account(h.account.user_id, h.account.id)
        .await
        .unwrap();
    let err = refresher(&h, Arc::new(h.clock.clone()))
        .access(&h.account)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, AccessError::NotFound), "{err:?}");

    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    let no_providers = Refresher::new(
        RefreshPorts {
            accounts: h.store.clone(),
            secrets: h.secrets.clone(),
            clock: Arc::new(h.clock.clone()),
            timer: Arc::new(h.clock.clone()),
        },
        vec![],
    );
    let err = no_providers.access(&h.account).await.err().unwrap();
    assert!(
        matches!(err, AccessError::ProviderNotConfigured(ProviderId::Linear)),
        "{err:?}"
    );
    let now = h.clock.now();
    assert!(
        h.store
            .take_refresh_lease(h.account.id, now, now + REFRESH_LEASE)
            .await
            .unwrap(),
        "the lease was released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_queue_lives_while_its_refresh_runs_and_goes_after() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    h.provider
        .delay_refresh(std::time::Duration::from_millis(200));
    let refresher = Arc::new(refresher(&h, Arc::new(RealTimer)));
    let running = {
        let refresher = refresher.clone();
        let stale = h.account.clone();
        tokio::spawn(async move { refresher.access(&stale).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(refresher.queued_accounts(), 1, "in flight");
    running.await.unwrap().unwrap();
    assert_eq!(refresher.queued_accounts(), 0, "gone with its only caller");
}

/// The store as another instance leaves it: just before our lease is taken, that instance
/// refreshes the account (rotating its refresh token) and releases its own lease.
struct RefreshedElsewhereFirst {
    inner: Arc<InMemoryStore>,
    /// Written just before our lease is taken.
    fresh: std::sync::Mutex<Option<gptgate_ports::RefreshOutcome>>,
    /// Written just before our refresh's outcome is.
    fresh_before_end: std::sync::Mutex<Option<gptgate_ports::RefreshOutcome>>,
}

#[async_trait::async_trait]
impl AccountRepository for RefreshedElsewhereFirst {
    async fn upsert_account(&self, a: &Account) -> Result<Account, gptgate_ports::StorageError> {
        self.inner.upsert_account(a).await
    }
    async fn list_accounts(&self, u: UserId) -> Result<Vec<Account>, gptgate_ports::StorageError> {
        self.inner.list_accounts(u).await
    }
    async fn list_accounts_in_session(
        &self,
        guard: &gptgate_domain::SessionGuard,
    ) -> Result<Option<Vec<Account>>, gptgate_ports::StorageError> {
        self.inner.list_accounts_in_session(guard).await
    }
    async fn find_account(
        &self,
        u: UserId,
        id: AccountId,
    ) -> Result<Option<Account>, gptgate_ports::StorageError> {
        self.inner.find_account(u, id).await
    }
    async fn set_account_enabled(
        &self,
        u: UserId,
        id: AccountId,
        enabled: bool,
        now: time::OffsetDateTime,
    ) -> Result<bool, gptgate_ports::StorageError> {
        self.inner.set_account_enabled(u, id, enabled, now).await
    }
    async fn replace_tokens(
        &self,
        id: AccountId,
        t: &SealedTokens,
        now: time::OffsetDateTime,
    ) -> Result<bool, gptgate_ports::StorageError> {
        self.inner.replace_tokens(id, t, now).await
    }
    async fn reseal_tokens(
        &self,
        id: AccountId,
        old: &SealedTokens,
        new: &SealedTokens,
        now: time::OffsetDateTime,
    ) -> Result<bool, gptgate_ports::StorageError> {
        self.inner.reseal_tokens(id, old, new, now).await
    }
    async fn take_refresh_lease(
        &self,
        id: AccountId,
        now: time::OffsetDateTime,
        until: time::OffsetDateTime,
    ) -> Result<bool, gptgate_ports::StorageError> {
        let elsewhere = self.fresh.lock().unwrap().take();
        if let Some(outcome) = elsewhere {
            assert!(self.inner.take_refresh_lease(id, now, until).await?);
            self.inner.end_refresh(id, &outcome, now).await?;
        }
        self.inner.take_refresh_lease(id, now, until).await
    }
    async fn end_refresh(
        &self,
        id: AccountId,
        o: &gptgate_ports::RefreshOutcome,
        now: time::OffsetDateTime,
    ) -> Result<bool, gptgate_ports::StorageError> {
        let elsewhere = self.fresh_before_end.lock().unwrap().take();
        if let Some(outcome) = elsewhere {
            self.inner.end_refresh(id, &outcome, now).await?;
        }
        self.inner.end_refresh(id, o, now).await
    }
    async fn accounts_idle_since(
        &self,
        p: ProviderId,
        before: time::OffsetDateTime,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, gptgate_ports::StorageError> {
        self.inner
            .accounts_idle_since(p, before, after, limit)
            .await
    }
    async fn accounts_page(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, gptgate_ports::StorageError> {
        self.inner.accounts_page(after, limit).await
    }
    async fn delete_account(
        &self,
        u: UserId,
        id: AccountId,
    ) -> Result<bool, gptgate_ports::StorageError> {
        self.inner.delete_account(u, id).await
    }
}

/// New tokens `access-B` / `refresh-B`, as another instance's refresh stores them.
fn refreshed_elsewhere(h: &Harness) -> gptgate_ports::RefreshOutcome {
    gptgate_ports::RefreshOutcome::Refreshed {
        tokens: SealedTokens {
            access_token: Some(seal(&h.secrets, h.account.id, "access_token", "access-B")),
            refresh_token: Some(seal(&h.secrets, h.account.id, "refresh_token", "refresh-B")),
            key_id: "k1".into(),
        },
        expires_at: Some(h.clock.now() + Duration::hours(1)),
        metadata: serde_json::Map::new(),
    }
}

fn refresher_on(h: &Harness, store: Arc<RefreshedElsewhereFirst>) -> Refresher {
    Refresher::new(
        RefreshPorts {
            accounts: store,
            secrets: h.secrets.clone(),
            clock: Arc::new(h.clock.clone()),
            timer: Arc::new(h.clock.clone()),
        },
        vec![h.provider.clone()],
    )
}

#[tokio::test]
async fn a_refresh_finished_elsewhere_just_before_our_lease_is_used_not_repeated() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    h.provider.rotate_refresh_tokens();
    let now = h.clock.now();
    let store = Arc::new(RefreshedElsewhereFirst {
        inner: h.store.clone(),
        fresh: std::sync::Mutex::new(Some(refreshed_elsewhere(&h))),
        fresh_before_end: std::sync::Mutex::new(None),
    });
    let access = refresher_on(&h, store).access(&h.account).await.unwrap();
    assert_eq!(access.token.expose_secret(), "access-B");
    assert!(
        h.provider.refreshes().is_empty(),
        "the spent refresh token was not presented"
    );
    let stored = h.stored().await;
    assert_eq!(stored.status, AccountStatus::Active);
    assert_eq!(h.open(&stored, "refresh_token").unwrap(), "refresh-B");
    // Our lease was released: a later refresh can take it at once.
    assert!(h
        .store
        .take_refresh_lease(h.account.id, now, now + REFRESH_LEASE)
        .await
        .unwrap());
}

#[tokio::test]
async fn a_refusal_that_crossed_a_refresh_elsewhere_does_not_mark_the_healthy_account() {
    let h = harness(Duration::minutes(1), Some("refresh-0")).await;
    // The provider refuses refresh-0: another instance spent it, and stores its new pair
    // just before our refusal is written.
    h.provider.fail_refresh(Some(ProviderFailure::GrantRevoked));
    let store = Arc::new(RefreshedElsewhereFirst {
        inner: h.store.clone(),
        fresh: std::sync::Mutex::new(None),
        fresh_before_end: std::sync::Mutex::new(Some(refreshed_elsewhere(&h))),
    });
    let access = refresher_on(&h, store).access(&h.account).await.unwrap();
    assert_eq!(access.token.expose_secret(), "access-B");
    let stored = h.stored().await;
    assert_eq!(stored.status, AccountStatus::Active);
    assert_eq!(h.open(&stored, "refresh_token").unwrap(), "refresh-B");
}
