//! The rate limits on fakes: exact at the burst's edge, shared by instances on one store,
//! cheap for busy buckets, exact for quiet ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use gptgate_domain::TokenBucket;
use gptgate_ports::limits::BucketChange;
use gptgate_ports::services::{
    Limit, RateLimitError, RateLimitSettings, RateLimits, LEASE_LIFETIME, MEMORY_SWEEP_AT,
};
use gptgate_ports::{BucketRepository, Clock, StorageError};
use gptgate_testkit::{FakeClock, InMemoryStore};
use time::{Duration, OffsetDateTime};

/// The store, counting the updates that reach it.
struct Counted {
    store: Arc<InMemoryStore>,
    updates: AtomicUsize,
}

#[async_trait]
impl BucketRepository for Counted {
    async fn update_bucket(
        &self,
        key: &str,
        change: &mut BucketChange<'_>,
    ) -> Result<(), StorageError> {
        self.updates.fetch_add(1, Ordering::SeqCst);
        self.store.update_bucket(key, change).await
    }
}

impl Counted {
    fn updates(&self) -> usize {
        self.updates.load(Ordering::SeqCst)
    }

    async fn full_at(&self, key: &str) -> Option<OffsetDateTime> {
        let mut seen = None;
        self.store
            .update_bucket(key, &mut |full_at| {
                seen = full_at;
                None
            })
            .await
            .unwrap();
        seen
    }
}

struct World {
    store: Arc<Counted>,
    clock: FakeClock,
}

impl World {
    fn new() -> Self {
        Self {
            store: Arc::new(Counted {
                store: Arc::new(InMemoryStore::new()),
                updates: AtomicUsize::new(0),
            }),
            clock: FakeClock::new(),
        }
    }

    /// An instance with `per_user` as its per-user bucket (the others off).
    fn instance(&self, per_user: TokenBucket) -> RateLimits {
        RateLimits::new(
            self.store.clone(),
            Arc::new(self.clock.clone()),
            RateLimitSettings {
                per_user: Some(per_user),
                ..RateLimitSettings::off()
            },
        )
    }
}

fn bucket(per_minute: u32, burst: u32) -> TokenBucket {
    TokenBucket::per_minute(per_minute, burst).unwrap()
}

async fn admitted(limits: &RateLimits, subject: &str, calls: usize) -> usize {
    let mut n = 0;
    for _ in 0..calls {
        if limits.admit(Limit::User, subject).await.is_ok() {
            n += 1;
        }
    }
    n
}

fn retry_after(result: Result<(), RateLimitError>) -> Duration {
    match result {
        Err(RateLimitError::TooMany { limit, retry_after }) => {
            assert_eq!(limit, Limit::User);
            retry_after
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_burst_is_let_through_and_one_more_call_is_refused_until_a_token_is_due() {
    let world = World::new();
    let limits = world.instance(bucket(120, 60));
    assert_eq!(admitted(&limits, "u1", 60).await, 60);
    let wait = retry_after(limits.admit(Limit::User, "u1").await);
    assert_eq!(wait, Duration::milliseconds(500));
    world.clock.advance(Duration::milliseconds(499));
    assert_eq!(
        retry_after(limits.admit(Limit::User, "u1").await),
        Duration::milliseconds(1)
    );
    world.clock.advance(Duration::milliseconds(1));
    limits.admit(Limit::User, "u1").await.unwrap();
    retry_after(limits.admit(Limit::User, "u1").await);
}

#[tokio::test]
async fn a_refusal_is_answered_from_memory_until_a_token_is_due() {
    let world = World::new();
    let limits = world.instance(bucket(60, 5));
    assert_eq!(admitted(&limits, "u1", 5).await, 5);
    retry_after(limits.admit(Limit::User, "u1").await);
    let before = world.store.updates();
    for _ in 0..100 {
        retry_after(limits.admit(Limit::User, "u1").await);
    }
    assert_eq!(
        world.store.updates(),
        before,
        "a flood of refusals costs no store update"
    );
    world.clock.advance(Duration::seconds(1));
    limits.admit(Limit::User, "u1").await.unwrap();
    assert_eq!(world.store.updates(), before + 1);
}

#[tokio::test]
async fn a_busy_bucket_costs_a_few_store_updates_and_stays_exact() {
    let world = World::new();
    let limits = world.instance(bucket(60_000, 1_000));
    assert_eq!(RateLimits::lease_size(&bucket(60_000, 1_000)), 100);
    assert_eq!(admitted(&limits, "u1", 1_000).await, 1_000);
    retry_after(limits.admit(Limit::User, "u1").await);
    // Leases of 1, 2, 4 ... 64 (127 tokens), eight of 100, one of the last 73, the refusal.
    assert_eq!(world.store.updates(), 7 + 8 + 1 + 1);
}

#[tokio::test]
async fn a_quiet_bucket_leases_one_token_at_a_time() {
    let world = World::new();
    // One token every 10 s, 60 at most: 6 per lease when busy.
    let limits = world.instance(bucket(6, 60));
    for _ in 0..30 {
        limits.admit(Limit::User, "u1").await.unwrap();
        world.clock.advance(Duration::seconds(2));
    }
    // Each call took exactly one token: full again 30 x 10 s after the first call.
    let start = FakeClock::new().now();
    assert_eq!(
        world.store.full_at("user:u1").await,
        Some(start + Duration::seconds(300))
    );
}

#[tokio::test]
async fn tokens_leased_and_unspent_expire_with_their_lease() {
    let world = World::new();
    let limits = world.instance(bucket(6, 60));
    // Leases of 1, 2, 4: six calls leave one token of the last.
    assert_eq!(admitted(&limits, "u1", 6).await, 6);
    let updates = world.store.updates();
    assert_eq!(updates, 3);
    limits.admit(Limit::User, "u1").await.unwrap();
    assert_eq!(world.store.updates(), updates, "the lease's last token");
    limits.admit(Limit::User, "u1").await.unwrap();
    assert_eq!(world.store.updates(), updates + 1, "a new lease of 6");
    world
        .clock
        .advance(LEASE_LIFETIME - Duration::nanoseconds(1));
    limits.admit(Limit::User, "u1").await.unwrap();
    assert_eq!(world.store.updates(), updates + 1, "still the lease");
    world.clock.advance(Duration::nanoseconds(1));
    limits.admit(Limit::User, "u1").await.unwrap();
    assert_eq!(
        world.store.updates(),
        updates + 2,
        "the lease ended: the store is asked again"
    );
}

#[tokio::test]
async fn instances_on_one_store_never_spend_more_than_the_bucket_together() {
    let world = World::new();
    let a = world.instance(bucket(60, 100));
    let b = world.instance(bucket(60, 100));
    let mut total = 0;
    for _ in 0..150 {
        total += admitted(&a, "u1", 1).await + admitted(&b, "u1", 1).await;
    }
    assert!(total <= 100, "{total} calls let through");
    // Each instance may hold back at most one lease it has not spent.
    assert!(total >= 100 - 2 * 10, "{total} calls let through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_of_one_instance_never_overspend() {
    let world = World::new();
    let limits = Arc::new(world.instance(bucket(60, 50)));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let limits = limits.clone();
            tokio::spawn(async move { limits.admit(Limit::User, "u1").await.is_ok() })
        })
        .collect();
    let mut n = 0;
    for task in tasks {
        n += usize::from(task.await.unwrap());
    }
    assert!(n <= 50, "{n}");
    assert!(n >= 50 - 5, "{n}");
}

#[tokio::test]
async fn buckets_are_per_limit_and_per_subject() {
    let world = World::new();
    let limits = RateLimits::new(
        world.store.clone(),
        Arc::new(world.clock.clone()),
        RateLimitSettings {
            per_api_key: Some(bucket(60, 2)),
            per_user: Some(bucket(60, 3)),
            per_address: Some(bucket(60, 1)),
        },
    );
    for _ in 0..2 {
        limits.admit(Limit::ApiKey, "x").await.unwrap();
    }
    assert!(matches!(
        limits.admit(Limit::ApiKey, "x").await,
        Err(RateLimitError::TooMany {
            limit: Limit::ApiKey,
            ..
        })
    ));
    limits.admit(Limit::ApiKey, "y").await.unwrap();
    for _ in 0..3 {
        limits.admit(Limit::User, "x").await.unwrap();
    }
    retry_after(limits.admit(Limit::User, "x").await);
    limits.admit(Limit::Address, "x").await.unwrap();
    assert!(matches!(
        limits.admit(Limit::Address, "x").await,
        Err(RateLimitError::TooMany {
            limit: Limit::Address,
            ..
        })
    ));
}

#[tokio::test]
async fn a_limit_that_is_off_lets_everything_through_without_the_store() {
    let world = World::new();
    let limits = RateLimits::new(
        world.store.clone(),
        Arc::new(world.clock.clone()),
        RateLimitSettings::off(),
    );
    for limit in [Limit::ApiKey, Limit::User, Limit::Address] {
        assert_eq!(
            (0..1_000)
                .filter(|_| futures::executor::block_on(limits.admit(limit, "x")).is_ok())
                .count(),
            1_000
        );
    }
    assert_eq!(world.store.updates(), 0);
}

#[tokio::test]
async fn the_store_failing_is_said_not_taken_for_a_limit() {
    let world = World::new();
    let limits = world.instance(bucket(60, 10));
    world.store.store.set_unavailable(true);
    assert!(matches!(
        limits.admit(Limit::User, "u1").await,
        Err(RateLimitError::Storage(StorageError::Unavailable(_)))
    ));
    world.store.store.set_unavailable(false);
    limits.admit(Limit::User, "u1").await.unwrap();
}

#[test]
fn leases_are_a_tenth_of_the_burst_between_one_and_a_hundred() {
    for (burst, lease) in [
        (1, 1),
        (19, 1),
        (20, 2),
        (999, 99),
        (1_000, 100),
        (1_010, 100),
    ] {
        assert_eq!(
            RateLimits::lease_size(&bucket(60, burst)),
            lease,
            "burst {burst}"
        );
    }
}

#[test]
fn the_documented_defaults() {
    let d = RateLimitSettings::defaults();
    assert_eq!(d.per_api_key, Some(bucket(6_000, 600)));
    assert_eq!(d.per_user, Some(bucket(120, 60)));
    assert_eq!(d.per_address, Some(bucket(120, 60)));
}

#[tokio::test]
async fn addresses_of_one_ipv6_64_share_a_bucket_and_a_mapped_ipv4_is_its_ipv4() {
    let world = World::new();
    let limits = RateLimits::new(
        world.store.clone(),
        Arc::new(world.clock.clone()),
        RateLimitSettings {
            per_address: Some(bucket(60, 2)),
            ..RateLimitSettings::off()
        },
    );
    limits
        .admit(Limit::Address, "2001:db8:1:2::1")
        .await
        .unwrap();
    limits
        .admit(Limit::Address, "2001:db8:1:2:ffff::9")
        .await
        .unwrap();
    assert!(matches!(
        limits
            .admit(Limit::Address, "2001:db8:1:2:dead:beef:0:1")
            .await,
        Err(RateLimitError::TooMany {
            limit: Limit::Address,
            ..
        })
    ));
    limits
        .admit(Limit::Address, "2001:db8:1:3::1")
        .await
        .unwrap();
    limits.admit(Limit::Address, "192.0.2.7").await.unwrap();
    limits
        .admit(Limit::Address, "::ffff:192.0.2.7")
        .await
        .unwrap();
    assert!(limits.admit(Limit::Address, "192.0.2.7").await.is_err());
}

#[tokio::test]
async fn a_bucket_kept_under_a_slower_setting_refills_under_the_new_one() {
    let world = World::new();
    // An old setting (1 a minute) left the bucket full in 3 minutes; the new one (1 a second,
    // 2 at once) would be full in 2 s at most.
    let old = world.instance(bucket(1, 1_000_000));
    for _ in 0..3 {
        old.admit(Limit::User, "u1").await.unwrap();
    }
    let new = world.instance(bucket(60, 2));
    for _ in 0..5 {
        retry_after(new.admit(Limit::User, "u1").await);
    }
    world.clock.advance(Duration::seconds(2));
    let fresh = world.instance(bucket(60, 2));
    fresh.admit(Limit::User, "u1").await.unwrap();
}

#[tokio::test]
async fn memory_is_swept_of_ended_leases_past_its_size_at_most_once_a_second() {
    let world = World::new();
    let limits = world.instance(bucket(60, 10));
    for i in 0..3 {
        limits
            .admit(Limit::User, &format!("early-{i}"))
            .await
            .unwrap();
    }
    world.clock.advance(Duration::seconds(2));
    limits.admit(Limit::User, "small").await.unwrap();
    assert_eq!(limits.remembered(Limit::User), 4, "no sweep below the size");
    for i in 0..MEMORY_SWEEP_AT - 4 {
        limits.admit(Limit::User, &format!("s-{i}")).await.unwrap();
    }
    assert_eq!(limits.remembered(Limit::User), MEMORY_SWEEP_AT);
    world.clock.advance(Duration::milliseconds(1_500));
    limits.admit(Limit::User, "live").await.unwrap();
    world.clock.advance(Duration::milliseconds(500));
    // Every lease but "live"'s ended (a second after it was taken): swept, "live" kept.
    limits.admit(Limit::User, "new").await.unwrap();
    assert_eq!(limits.remembered(Limit::User), 2);
    for i in 0..MEMORY_SWEEP_AT {
        limits.admit(Limit::User, &format!("t-{i}")).await.unwrap();
    }
    world.clock.advance(Duration::milliseconds(999));
    limits.admit(Limit::User, "same-second").await.unwrap();
    assert_eq!(
        limits.remembered(Limit::User),
        MEMORY_SWEEP_AT + 3,
        "one sweep a second at the most"
    );
}

#[tokio::test]
async fn tokens_left_in_an_ended_lease_are_not_carried_into_the_next() {
    let world = World::new();
    let limits = world.instance(bucket(6, 60));
    // Leases of 1, then 2: one token left in the second.
    limits.admit(Limit::User, "u1").await.unwrap();
    limits.admit(Limit::User, "u1").await.unwrap();
    assert_eq!(world.store.updates(), 2);
    world.clock.advance(LEASE_LIFETIME);
    // The lease ended: a new one of 1 from the store, and its token is the only one held.
    limits.admit(Limit::User, "u1").await.unwrap();
    limits.admit(Limit::User, "u1").await.unwrap();
    assert_eq!(
        world.store.updates(),
        4,
        "the ended lease's token was not spent"
    );
}

#[tokio::test]
async fn a_lease_ending_at_the_sweep_is_swept() {
    let world = World::new();
    let limits = world.instance(bucket(60, 10));
    for i in 0..MEMORY_SWEEP_AT {
        limits.admit(Limit::User, &format!("s-{i}")).await.unwrap();
    }
    world.clock.advance(LEASE_LIFETIME);
    limits.admit(Limit::User, "next").await.unwrap();
    assert_eq!(limits.remembered(Limit::User), 1);
}

/// The store behind a gate: updates wait at it while it is shut; it counts how many are in
/// the store at once.
struct Gated {
    counted: Arc<Counted>,
    open: tokio::sync::watch::Sender<bool>,
    inside: AtomicUsize,
    most_inside: AtomicUsize,
}

#[async_trait]
impl BucketRepository for Gated {
    async fn update_bucket(
        &self,
        key: &str,
        change: &mut BucketChange<'_>,
    ) -> Result<(), StorageError> {
        let inside = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_inside.fetch_max(inside, Ordering::SeqCst);
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        let result = self.counted.update_bucket(key, change).await;
        self.inside.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl Gated {
    /// Until `n` updates wait inside (the test's calls got that far).
    async fn until_inside(&self, n: usize) {
        while self.inside.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }
}

/// An instance over a gated store (open), its user's leases of 1 and then 2 already spent
/// (the next is of 4).
async fn gated_instance(world: &World) -> (Arc<Gated>, Arc<RateLimits>) {
    let gated = Arc::new(Gated {
        counted: world.store.clone(),
        open: tokio::sync::watch::Sender::new(true),
        inside: AtomicUsize::new(0),
        most_inside: AtomicUsize::new(0),
    });
    let limits = Arc::new(RateLimits::new(
        gated.clone(),
        Arc::new(world.clock.clone()),
        RateLimitSettings {
            per_user: Some(bucket(600, 1_000)),
            ..RateLimitSettings::off()
        },
    ));
    for _ in 0..3 {
        limits.admit(Limit::User, "u1").await.unwrap();
    }
    assert_eq!(world.store.updates(), 2);
    (gated, limits)
}

fn spawn_calls(limits: &Arc<RateLimits>, calls: usize) -> Vec<tokio::task::JoinHandle<bool>> {
    spawn_calls_of(limits, "u1", calls)
}

fn spawn_calls_of(
    limits: &Arc<RateLimits>,
    subject: &'static str,
    calls: usize,
) -> Vec<tokio::task::JoinHandle<bool>> {
    (0..calls)
        .map(|_| {
            let limits = limits.clone();
            tokio::spawn(async move { limits.admit(Limit::User, subject).await.is_ok() })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_of_one_instance_wait_for_one_lease_between_them() {
    let world = World::new();
    let (gated, limits) = gated_instance(&world).await;
    gated.open.send_replace(false);
    // Ten calls at once while the next lease is being taken: one call takes it, the nine
    // others wait for it rather than queue on the bucket's row in the store.
    let calls = spawn_calls(&limits, 10);
    gated.until_inside(1).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        gated.inside.load(Ordering::SeqCst),
        1,
        "one call in the store"
    );
    gated.open.send_replace(true);
    for call in calls {
        assert!(call.await.unwrap());
    }
    assert_eq!(gated.most_inside.load(Ordering::SeqCst), 1);
    // The lease of 4 served four calls; the six others came out of the next one, of 8.
    assert_eq!(world.store.updates(), 4);
    let start = FakeClock::new().now();
    assert_eq!(
        world.store.full_at("user:u1").await,
        Some(start + Duration::milliseconds(1_500)),
        "3 + 4 + 8 tokens, a tenth of a second each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dropped_while_taking_a_lease_leaves_no_one_waiting() {
    let world = World::new();
    let (gated, limits) = gated_instance(&world).await;
    gated.open.send_replace(false);
    let first = spawn_calls(&limits, 1).remove(0);
    gated.until_inside(1).await;
    assert_eq!(limits.waiting_for_lease(Limit::User, "u1"), 0);
    let second = spawn_calls(&limits, 1).remove(0);
    for _ in 0..1000 {
        if limits.waiting_for_lease(Limit::User, "u1") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(
        limits.waiting_for_lease(Limit::User, "u1"),
        1,
        "the second call waits for the first's lease"
    );
    // The call taking the lease is dropped (its client went away): the one waiting for that
    // lease takes it over instead of waiting for ever.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    gated.open.send_replace(true);
    let second = tokio::time::timeout(std::time::Duration::from_secs(10), second)
        .await
        .expect("the waiting call went on");
    assert!(second.unwrap());
    assert_eq!(world.store.updates(), 3, "one lease, the second call's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_waiting_for_a_lease_the_store_failed_try_the_store_themselves() {
    let world = World::new();
    let (gated, limits) = gated_instance(&world).await;
    gated.open.send_replace(false);
    let calls = spawn_calls(&limits, 3);
    gated.until_inside(1).await;
    world.store.store.set_unavailable(true);
    gated.open.send_replace(true);
    // Each call got the store's answer (here a failure), none was left waiting.
    for call in calls {
        assert!(!call.await.unwrap());
    }
    world.store.store.set_unavailable(false);
    assert!(limits.admit(Limit::User, "u1").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_failed_or_was_dropped_leaves_nothing_the_sweep_cannot_remove() {
    let world = World::new();
    let (gated, limits) = gated_instance(&world).await;
    // One subject's lease fails in the store; another's call is dropped while it is taken.
    world.store.store.set_unavailable(true);
    assert!(limits.admit(Limit::User, "failed").await.is_err());
    world.store.store.set_unavailable(false);
    gated.open.send_replace(false);
    let dropped = spawn_calls_of(&limits, "dropped", 1).remove(0);
    gated.until_inside(1).await;
    dropped.abort();
    assert!(dropped.await.unwrap_err().is_cancelled());
    gated.open.send_replace(true);
    assert_eq!(limits.remembered(Limit::User), 3, "u1, failed, dropped");
    // Past the sweep's size, seconds later: the three are swept (none says anything any
    // more: u1's lease ended, the two others hold no lease and none in flight).
    world.clock.advance(Duration::seconds(2));
    for i in 0..MEMORY_SWEEP_AT - 2 {
        limits.admit(Limit::User, &format!("s-{i}")).await.unwrap();
    }
    assert_eq!(limits.remembered(Limit::User), MEMORY_SWEEP_AT - 2);
}

#[tokio::test]
async fn a_refusal_in_force_is_said_without_spending_or_asking_the_store() {
    let world = World::new();
    let limits = world.instance(bucket(60, 1));
    assert!(
        limits.refused(Limit::User, "u1").is_ok(),
        "nothing known yet"
    );
    limits.admit(Limit::User, "u1").await.unwrap();
    assert!(limits.refused(Limit::User, "u1").is_ok(), "not refused yet");
    let _ = retry_after(limits.admit(Limit::User, "u1").await);
    let updates = world.store.updates();
    world.clock.advance(Duration::milliseconds(400));
    for _ in 0..3 {
        assert_eq!(
            retry_after(limits.refused(Limit::User, "u1")),
            Duration::milliseconds(600)
        );
    }
    assert!(limits.refused(Limit::User, "u2").is_ok(), "another user");
    assert!(
        limits.refused(Limit::ApiKey, "u1").is_ok(),
        "another limit (off)"
    );
    assert_eq!(world.store.updates(), updates, "nothing asked of the store");
    world.clock.advance(Duration::milliseconds(600));
    assert!(limits.refused(Limit::User, "u1").is_ok(), "a token is due");
    assert!(
        limits.admit(Limit::User, "u1").await.is_ok(),
        "and nothing was spent"
    );
}

#[tokio::test]
async fn refusals_are_swept_once_they_end_and_kept_while_in_force() {
    let world = World::new();
    let limits = world.instance(bucket(60, 1));
    // Refused until 1 s from now, and (half a second later) until 1.5 s from now.
    limits.admit(Limit::User, "r-end").await.unwrap();
    let _ = retry_after(limits.admit(Limit::User, "r-end").await);
    world.clock.advance(Duration::milliseconds(500));
    limits.admit(Limit::User, "r-live").await.unwrap();
    let _ = retry_after(limits.admit(Limit::User, "r-live").await);
    world.clock.advance(Duration::milliseconds(500));
    // The sweep, at the instant the first refusal ends: it goes, the other stays.
    for i in 0..MEMORY_SWEEP_AT - 1 {
        limits.admit(Limit::User, &format!("s-{i}")).await.unwrap();
    }
    assert_eq!(limits.remembered(Limit::User), MEMORY_SWEEP_AT);
    assert_eq!(
        retry_after(limits.refused(Limit::User, "r-live")),
        Duration::milliseconds(500)
    );
}
