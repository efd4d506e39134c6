//! The console's API keys on the testkit fakes: made with a name and shown once (`gpk_`, only
//! the hash stored), accepted from memory for five seconds after a lookup, revoked at once on
//! this instance and within five seconds on another, uses written in batches.

use std::sync::Arc;

use gptgate_domain::{AdminAction, ApiKeyName};
use gptgate_ports::services::{ApiKeyPorts, ApiKeys, KEY_CACHE_TTL};
use gptgate_ports::{AdminRepository, ApiKeyRepository, Clock, OpaqueTokens};
use gptgate_testkit::{FakeClock, FakeOpaqueTokens, InMemoryStore, SeededRandom};
use secrecy::ExposeSecret;
use time::Duration;

fn keys(store: &Arc<InMemoryStore>, clock: &FakeClock) -> ApiKeys {
    ApiKeys::new(ApiKeyPorts {
        store: store.clone(),
        tokens: Arc::new(FakeOpaqueTokens::default()),
        random: Arc::new(SeededRandom::new(7)),
        clock: Arc::new(clock.clone()),
    })
}

fn name(n: &str) -> ApiKeyName {
    ApiKeyName::parse(n).unwrap()
}

#[tokio::test]
async fn a_key_is_made_shown_once_and_stored_as_its_hash_only() {
    let (store, clock) = (Arc::new(InMemoryStore::new()), FakeClock::new());
    let keys = keys(&store, &clock);
    let made = keys
        .create(name("Spanish tutor GPT"), "10.0.0.9")
        .await
        .unwrap();
    let key = made.key.expose_secret().to_owned();
    assert!(key.starts_with("gpk_") && key.len() > 30, "{key}");
    assert_eq!(made.stored.hash, FakeOpaqueTokens::default().hash(&key));
    assert_eq!(made.stored.created_at, clock.now());
    let listed = keys.list().await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&made.stored));
    assert!(
        !format!("{listed:?}").contains(&key[4..]),
        "the key is never stored"
    );
    let audit = store.admin_actions(5).await.unwrap();
    assert_eq!(audit[0].action, AdminAction::ApiKeyCreated);
    assert_eq!(audit[0].address, "10.0.0.9");
    clock.advance(Duration::seconds(1));
    let other = keys.create(name("staging"), "10.0.0.9").await.unwrap();
    assert_ne!(other.key.expose_secret(), key);
    assert_eq!(keys.list().await.unwrap()[0].id, other.stored.id);
}

#[tokio::test]
async fn only_an_active_console_key_is_accepted() {
    let (store, clock) = (Arc::new(InMemoryStore::new()), FakeClock::new());
    let keys = keys(&store, &clock);
    let made = keys.create(name("ci"), "10.0.0.9").await.unwrap();
    let key = made.key.expose_secret().to_owned();
    assert_eq!(keys.accept(&key).await.unwrap(), Some(made.stored.id));
    assert_eq!(keys.accept("gpk_made-up").await.unwrap(), None);
    assert_eq!(
        keys.accept(&key[4..]).await.unwrap(),
        None,
        "no prefix, no key"
    );
    assert!(keys.revoke(made.stored.id, "10.0.0.9").await.unwrap());
    assert_eq!(
        keys.accept(&key).await.unwrap(),
        None,
        "refused at once on the instance that revoked it"
    );
    assert!(!keys.revoke(made.stored.id, "10.0.0.9").await.unwrap());
    let audit = store.admin_actions(5).await.unwrap();
    assert_eq!(audit[0].action, AdminAction::ApiKeyRevoked);
}

#[tokio::test]
async fn another_instance_refuses_a_revoked_key_within_five_seconds() {
    let (store, clock) = (Arc::new(InMemoryStore::new()), FakeClock::new());
    let (here, there) = (keys(&store, &clock), keys(&store, &clock));
    let made = here.create(name("ci"), "10.0.0.9").await.unwrap();
    let key = made.key.expose_secret().to_owned();
    assert!(there.accept(&key).await.unwrap().is_some());
    here.revoke(made.stored.id, "10.0.0.9").await.unwrap();
    clock.advance(KEY_CACHE_TTL - Duration::milliseconds(1));
    assert!(
        there.accept(&key).await.unwrap().is_some(),
        "remembered for at most the cache's time"
    );
    clock.advance(Duration::milliseconds(1));
    assert_eq!(there.accept(&key).await.unwrap(), None);
    assert_eq!(KEY_CACHE_TTL, Duration::seconds(5), "the documented time");
}

#[tokio::test]
async fn uses_are_counted_in_memory_and_written_in_one_batch() {
    let (store, clock) = (Arc::new(InMemoryStore::new()), FakeClock::new());
    let keys = keys(&store, &clock);
    let (a, b) = (
        keys.create(name("a"), "10.0.0.9").await.unwrap(),
        keys.create(name("b"), "10.0.0.9").await.unwrap(),
    );
    clock.advance(Duration::minutes(1));
    keys.accept(a.key.expose_secret()).await.unwrap();
    clock.advance(Duration::minutes(1));
    let last = clock.now();
    keys.accept(a.key.expose_secret()).await.unwrap();
    // Listed with its last use before anything is written.
    let listed = keys.list().await.unwrap();
    let used = |id| listed.iter().find(|k| k.id == id).unwrap().last_used_at;
    assert_eq!(used(a.stored.id), Some(last));
    assert_eq!(used(b.stored.id), None);
    assert_eq!(
        store
            .find_api_key(&a.stored.hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        None,
        "nothing written per request"
    );
    assert_eq!(keys.flush_uses().await.unwrap(), 1);
    assert_eq!(
        store
            .find_api_key(&a.stored.hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(last)
    );
    assert_eq!(keys.flush_uses().await.unwrap(), 0, "nothing new");
}

/// The store, counting the reads the key check makes.
struct Counting {
    inner: Arc<InMemoryStore>,
    lists: std::sync::atomic::AtomicUsize,
    finds: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl ApiKeyRepository for Counting {
    async fn create_api_key(
        &self,
        key: &gptgate_domain::StoredApiKey,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<(), gptgate_ports::StorageError> {
        self.inner.create_api_key(key, audit).await
    }
    async fn api_keys(
        &self,
    ) -> Result<Vec<gptgate_domain::StoredApiKey>, gptgate_ports::StorageError> {
        self.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.api_keys().await
    }
    async fn find_api_key(
        &self,
        hash: &gptgate_domain::TokenHash,
    ) -> Result<Option<gptgate_domain::StoredApiKey>, gptgate_ports::StorageError> {
        self.finds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.find_api_key(hash).await
    }
    async fn revoke_api_key(
        &self,
        id: gptgate_domain::ApiKeyId,
        at: time::OffsetDateTime,
        audit: &gptgate_domain::AdminAuditEntry,
    ) -> Result<bool, gptgate_ports::StorageError> {
        self.inner.revoke_api_key(id, at, audit).await
    }
    async fn record_api_key_uses(
        &self,
        uses: &[(gptgate_domain::ApiKeyId, time::OffsetDateTime)],
    ) -> Result<(), gptgate_ports::StorageError> {
        self.inner.record_api_key_uses(uses).await
    }
}

#[tokio::test]
async fn made_up_keys_never_reach_the_store_and_the_active_keys_are_read_once_per_five_seconds() {
    let (store, clock) = (Arc::new(InMemoryStore::new()), FakeClock::new());
    let made = keys(&store, &clock)
        .create(name("made elsewhere"), "10.0.0.9")
        .await
        .unwrap();
    let counting = Arc::new(Counting {
        inner: store.clone(),
        lists: Default::default(),
        finds: Default::default(),
    });
    let here = ApiKeys::new(ApiKeyPorts {
        store: counting.clone(),
        tokens: Arc::new(FakeOpaqueTokens::default()),
        random: Arc::new(SeededRandom::new(8)),
        clock: Arc::new(clock.clone()),
    });
    let checks = (0..100).map(|n| {
        let here = &here;
        async move { here.accept(&format!("gpk_made-up-{n}")).await.unwrap() }
    });
    let answers = futures::future::join_all(checks).await;
    assert!(answers.iter().all(Option::is_none));
    assert_eq!(
        here.accept(made.key.expose_secret()).await.unwrap(),
        Some(made.stored.id),
        "a key made on another instance"
    );
    let count = |n: &std::sync::atomic::AtomicUsize| n.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(count(&counting.lists), 1, "one reading for all of them");
    assert_eq!(count(&counting.finds), 0, "no lookup per key");
    clock.advance(KEY_CACHE_TTL);
    here.accept("gpk_made-up").await.unwrap();
    assert_eq!(count(&counting.lists), 2, "read again after five seconds");
}
