//! The hourly job on the testkit fakes: one instance at a time runs it; it purges, then keeps
//! alive the grants that die of disuse (Mercury's after 30 days, Google's after six months)
//! by refreshing accounts idle for half that, and leaves the others alone.

use std::sync::Arc;

use gptgate_domain::{
    Account, AccountId, AccountLabel, AccountStatus, Email, Identity, ProviderId, SealedTokens,
    UserId,
};
use gptgate_ports::services::{
    KeepAliveReport, Maintenance, RefreshPorts, Refresher, HOURLY_LEASE,
};
use gptgate_ports::{AccountRepository, Clock, SecretBox, UserRepository};
use gptgate_testkit::{
    FakeClock, FakeOAuthProvider, FakeSecretBox, InMemoryStore, ProviderFailure,
};
use secrecy::SecretString;
use time::Duration;

/// Waits in real time: the fake clock's sleep moves fake time, and a waiter spinning on it
/// would see another instance's lease run out while its refresh is still going.
struct RealTimer;

#[async_trait::async_trait]
impl gptgate_ports::Timer for RealTimer {
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
    clock: FakeClock,
    mercury: Arc<FakeOAuthProvider>,
    linear: Arc<FakeOAuthProvider>,
    user: UserId,
}

async fn harness() -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let user = store
        .find_or_create_user(
            &Identity::email(&Email::parse("ann@example.com").unwrap()),
            UserId::from_random_bytes([1; 16]),
            clock.now(),
        )
        .await
        .unwrap()
        .id;
    Harness {
        store,
        secrets: Arc::new(FakeSecretBox::new("k1")),
        clock,
        mercury: Arc::new(FakeOAuthProvider::new(ProviderId::Mercury, true)),
        linear: Arc::new(FakeOAuthProvider::new(ProviderId::Linear, true)),
        user,
    }
}

impl Harness {
    fn refresher(&self) -> Arc<Refresher> {
        Arc::new(Refresher::new(
            RefreshPorts {
                accounts: self.store.clone(),
                secrets: self.secrets.clone(),
                clock: Arc::new(self.clock.clone()),
                timer: Arc::new(RealTimer),
            },
            vec![self.mercury.clone(), self.linear.clone()],
        ))
    }

    fn maintenance(&self) -> Maintenance {
        Maintenance::new(self.store.clone(), Arc::new(self.clock.clone()))
            .with_refresher(self.refresher())
    }

    /// Account `n` at `provider`, last refreshed `idle` ago, its access token long expired.
    async fn account(&self, n: u8, provider: ProviderId, idle: Duration) -> Account {
        let id = AccountId::from_random_bytes([n; 16]);
        let seal = |column: &str, value: String| {
            self.secrets
                .seal(
                    &SecretString::from(value),
                    &format!("accounts/{id}/{column}"),
                )
                .unwrap()
        };
        let then = self.clock.now() - idle;
        let account = Account {
            id,
            user_id: self.user,
            provider,
            label: AccountLabel::parse(&format!("a{n}")).unwrap(),
            enabled: true,
            status: AccountStatus::Active,
            tokens: SealedTokens {
                access_token: Some(seal("access_token", format!("old-access-{n}"))),
                refresh_token: Some(seal("refresh_token", format!("old-refresh-{n}"))),
                key_id: "k1".into(),
            },
            expires_at: Some(then + Duration::hours(1)),
            scopes: vec![],
            metadata: serde_json::Map::new(),
            created_at: then,
            updated_at: then,
        };
        self.store.upsert_account(&account).await.unwrap()
    }

    async fn stored(&self, account: &Account) -> Account {
        self.store
            .find_account(self.user, account.id)
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn grants_idle_for_half_their_life_are_refreshed_and_no_others() {
    let h = harness().await;
    let half = Duration::days(15);
    let over = h
        .account(1, ProviderId::Mercury, half + Duration::seconds(1))
        .await;
    let exactly = h.account(2, ProviderId::Mercury, half).await;
    let linear = h.account(3, ProviderId::Linear, Duration::days(300)).await;
    let report = h.refresher().keep_alive().await.unwrap();
    assert_eq!(
        report,
        KeepAliveReport {
            refreshed: 1,
            ..Default::default()
        }
    );
    assert_eq!(h.mercury.refreshes(), ["old-refresh-1"]);
    assert!(
        h.linear.refreshes().is_empty(),
        "Linear grants do not lapse"
    );
    let refreshed = h.stored(&over).await;
    assert_eq!(refreshed.updated_at, h.clock.now());
    assert_eq!(h.stored(&exactly).await, exactly);
    assert_eq!(h.stored(&linear).await, linear);

    // The next sweep finds nothing to do.
    assert_eq!(
        h.refresher().keep_alive().await.unwrap(),
        KeepAliveReport::default()
    );
    assert_eq!(h.mercury.refreshes().len(), 1);
}

#[tokio::test]
async fn a_dead_grant_is_marked_and_a_passing_failure_is_tried_again_next_time() {
    let h = harness().await;
    let dead = h.account(1, ProviderId::Mercury, Duration::days(20)).await;
    h.mercury.fail_refresh(Some(ProviderFailure::GrantRevoked));
    let report = h.refresher().keep_alive().await.unwrap();
    assert_eq!(report.reauth_required, 1);
    assert_eq!(h.stored(&dead).await.status, AccountStatus::ReauthRequired);

    let flaky = h.account(2, ProviderId::Mercury, Duration::days(20)).await;
    h.mercury.fail_refresh(Some(ProviderFailure::Unavailable));
    let report = h.refresher().keep_alive().await.unwrap();
    assert_eq!(
        report,
        KeepAliveReport {
            failed: 1,
            ..Default::default()
        },
        "a marked account is not tried again"
    );
    assert_eq!(h.stored(&flaky).await, flaky, "left as it was");
    h.mercury.fail_refresh(None);
    assert_eq!(h.refresher().keep_alive().await.unwrap().refreshed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sweeping_at_once_refresh_each_account_once() {
    let h = harness().await;
    for n in 1..=10 {
        h.account(n, ProviderId::Mercury, Duration::days(16)).await;
    }
    let (a, b) = (h.refresher(), h.refresher());
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { a.keep_alive().await.unwrap() }),
        tokio::spawn(async move { b.keep_alive().await.unwrap() }),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(h.mercury.refreshes().len(), 10, "one refresh per account");
    assert_eq!(ra.failed + rb.failed, 0);
    assert!(ra.refreshed + rb.refreshed >= 10);
}

#[tokio::test]
async fn one_instance_runs_the_hourly_job_and_the_next_hour_any_may() {
    let h = harness().await;
    h.account(1, ProviderId::Mercury, Duration::days(16)).await;
    let (first, second) = (h.maintenance(), h.maintenance());
    let report = first.hourly().await.unwrap().expect("the lease was free");
    assert_eq!(report.kept_alive.refreshed, 1);
    assert_eq!(second.hourly().await.unwrap(), None, "held by the first");
    h.clock.advance(HOURLY_LEASE - Duration::microseconds(1));
    assert_eq!(second.hourly().await.unwrap(), None);
    h.clock.advance(Duration::microseconds(1));
    assert!(second.hourly().await.unwrap().is_some());
    assert_eq!(h.mercury.refreshes().len(), 1);
}

#[tokio::test]
async fn without_a_refresher_the_hourly_job_only_purges() {
    let h = harness().await;
    h.account(1, ProviderId::Mercury, Duration::days(16)).await;
    let maintenance = Maintenance::new(h.store.clone(), Arc::new(h.clock.clone()));
    let report = maintenance.hourly().await.unwrap().unwrap();
    assert_eq!(report.kept_alive, KeepAliveReport::default());
    assert!(h.mercury.refreshes().is_empty());
}

#[tokio::test]
async fn every_idle_account_gets_its_try_in_every_sweep_even_when_many_fail() {
    let h = harness().await;
    let n = gptgate_ports::services::KEEP_ALIVE_BATCH + 1;
    for i in 0..n {
        h.account(
            u8::try_from(i).unwrap(),
            ProviderId::Mercury,
            Duration::days(16),
        )
        .await;
    }
    h.mercury.fail_refresh(Some(ProviderFailure::Unavailable));
    let report = h.refresher().keep_alive().await.unwrap();
    assert_eq!(
        report.failed, n as u64,
        "none starved behind the failing ones"
    );
    let report = h.refresher().keep_alive().await.unwrap();
    assert_eq!(report.failed, n as u64, "and tried again next time");
}
