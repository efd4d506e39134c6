use std::sync::Arc;

use gptgate_domain::{SessionId, SessionPolicy};
use time::Duration;

use super::fixtures::{user, user_id, T0};
use super::SessionStore;

pub async fn a_session_round_trips<S: ?Sized + SessionStore>(store: Arc<S>) {
    let ann = user(store.as_ref(), 1).await;
    let session = SessionPolicy::default().open(SessionId::from_random_bytes([1; 16]), ann, T0);
    store.create_session(&session).await.unwrap();
    assert_eq!(store.find_session(session.id).await.unwrap(), Some(session));
    assert_eq!(
        store
            .find_session(SessionId::from_random_bytes([2; 16]))
            .await
            .unwrap(),
        None
    );
}

pub async fn revoking_a_session_keeps_the_first_revocation_time<S: ?Sized + SessionStore>(
    store: Arc<S>,
) {
    let ann = user(store.as_ref(), 1).await;
    let session = SessionPolicy::default().open(SessionId::from_random_bytes([1; 16]), ann, T0);
    store.create_session(&session).await.unwrap();
    let first = T0 + Duration::minutes(1);
    assert!(store.revoke_session(session.id, first).await.unwrap());
    assert!(store
        .revoke_session(session.id, first + Duration::minutes(1))
        .await
        .unwrap());
    let revoked = store.find_session(session.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(first));
    assert!(!store
        .revoke_session(SessionId::from_random_bytes([2; 16]), first)
        .await
        .unwrap());
}

pub async fn a_session_needs_an_existing_user<S: ?Sized + SessionStore>(store: Arc<S>) {
    let session =
        SessionPolicy::default().open(SessionId::from_random_bytes([1; 16]), user_id(42), T0);
    assert!(store.create_session(&session).await.is_err());
    assert_eq!(store.find_session(session.id).await.unwrap(), None);
}
