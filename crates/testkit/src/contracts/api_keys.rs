use std::sync::Arc;

use gptgate_domain::{AdminAction, AdminAuditEntry, ApiKeyId, ApiKeyName, StoredApiKey, TokenHash};
use time::Duration;

use super::fixtures::T0;
use super::ApiKeyStore;

fn key(n: u8, created_at: time::OffsetDateTime) -> StoredApiKey {
    StoredApiKey {
        id: ApiKeyId::from_random_bytes([n; 16]),
        name: ApiKeyName::parse(&format!("key {n}")).unwrap(),
        hash: TokenHash::from_bytes([n; 32]),
        created_at,
        revoked_at: None,
        last_used_at: None,
    }
}

fn audit(action: AdminAction) -> AdminAuditEntry {
    AdminAuditEntry::new(T0, action, "192.0.2.1")
}

pub async fn api_keys_are_listed_newest_first_found_by_hash_and_unique<S: ?Sized + ApiKeyStore>(
    store: Arc<S>,
) {
    assert!(store.api_keys().await.unwrap().is_empty());
    let (older, newer) = (key(1, T0), key(2, T0 + Duration::minutes(1)));
    for k in [&older, &newer] {
        store
            .create_api_key(k, &audit(AdminAction::ApiKeyCreated))
            .await
            .unwrap();
    }
    assert_eq!(
        store.api_keys().await.unwrap(),
        [newer.clone(), older.clone()]
    );
    assert_eq!(
        store.find_api_key(&older.hash).await.unwrap(),
        Some(older.clone())
    );
    assert_eq!(
        store
            .find_api_key(&TokenHash::from_bytes([9; 32]))
            .await
            .unwrap(),
        None
    );
    let same_hash = StoredApiKey {
        id: ApiKeyId::from_random_bytes([3; 16]),
        ..older.clone()
    };
    assert!(
        store
            .create_api_key(&same_hash, &audit(AdminAction::ApiKeyCreated))
            .await
            .is_err(),
        "one key per hash"
    );
    let actions: Vec<AdminAction> = store
        .admin_actions(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [AdminAction::ApiKeyCreated, AdminAction::ApiKeyCreated]
    );
}

pub async fn an_api_key_is_revoked_once_with_its_audit_line<S: ?Sized + ApiKeyStore>(
    store: Arc<S>,
) {
    let k = key(1, T0);
    store
        .create_api_key(&k, &audit(AdminAction::ApiKeyCreated))
        .await
        .unwrap();
    let at = T0 + Duration::hours(1);
    assert!(store
        .revoke_api_key(k.id, at, &audit(AdminAction::ApiKeyRevoked))
        .await
        .unwrap());
    assert!(!store
        .revoke_api_key(
            k.id,
            at + Duration::hours(1),
            &audit(AdminAction::ApiKeyRevoked)
        )
        .await
        .unwrap());
    assert!(!store
        .revoke_api_key(
            ApiKeyId::from_random_bytes([7; 16]),
            at,
            &audit(AdminAction::ApiKeyRevoked)
        )
        .await
        .unwrap());
    let found = store.find_api_key(&k.hash).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(at), "the first revocation's time");
    assert!(!found.is_active());
    let revocations = store
        .admin_actions(10)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == AdminAction::ApiKeyRevoked)
        .count();
    assert_eq!(revocations, 1, "one line, for the one revocation");
}

pub async fn recorded_uses_keep_the_latest_time<S: ?Sized + ApiKeyStore>(store: Arc<S>) {
    let (a, b) = (key(1, T0), key(2, T0));
    for k in [&a, &b] {
        store
            .create_api_key(k, &audit(AdminAction::ApiKeyCreated))
            .await
            .unwrap();
    }
    store.record_api_key_uses(&[]).await.unwrap();
    let later = T0 + Duration::minutes(5);
    store
        .record_api_key_uses(&[(a.id, later), (ApiKeyId::from_random_bytes([8; 16]), later)])
        .await
        .unwrap();
    // An older batch arriving late does not move the time back.
    store
        .record_api_key_uses(&[(a.id, T0 + Duration::minutes(1)), (b.id, T0)])
        .await
        .unwrap();
    let used = |k: &StoredApiKey| {
        let store = store.clone();
        let hash = k.hash.clone();
        async move {
            store
                .find_api_key(&hash)
                .await
                .unwrap()
                .unwrap()
                .last_used_at
        }
    };
    assert_eq!(used(&a).await, Some(later));
    assert_eq!(used(&b).await, Some(T0));
}
