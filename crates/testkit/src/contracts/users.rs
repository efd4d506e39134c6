use std::sync::Arc;

use gptgate_domain::{ChatGptUserId, ConversationCursor, Identity, SessionId, SessionPolicy};

use super::conversations::conversation;
use super::fixtures::{email, user, user_id, T0};
use super::{SessionStore, Store, UserStore};

pub async fn find_or_create_creates_a_user_once<S: ?Sized + UserStore>(store: Arc<S>) {
    let ann = Identity::email(&email("ann"));
    let created = store
        .find_or_create_user(&ann, user_id(1), T0)
        .await
        .unwrap();
    assert_eq!(created.id, user_id(1));
    assert_eq!(created.created_at, T0);
    let found = store
        .find_or_create_user(&ann, user_id(2), T0)
        .await
        .unwrap();
    assert_eq!(found, created, "the second call finds the first user");
}

pub async fn identities_of_different_kinds_lead_to_different_users<S: ?Sized + UserStore>(
    store: Arc<S>,
) {
    let id = ChatGptUserId::parse("g-1").unwrap();
    let stable = store
        .find_or_create_user(&Identity::chatgpt(&id), user_id(1), T0)
        .await
        .unwrap();
    let ephemeral = store
        .find_or_create_user(&Identity::openai_ephemeral(&id), user_id(2), T0)
        .await
        .unwrap();
    assert_ne!(stable.id, ephemeral.id);
}

pub async fn concurrent_first_sight_of_an_identity_creates_one_user<S: ?Sized + UserStore>(
    store: Arc<S>,
) {
    let identity = Identity::chatgpt(&ChatGptUserId::parse("g-race").unwrap());
    let tasks: Vec<_> = (0..16u8)
        .map(|n| {
            let store = store.clone();
            let identity = identity.clone();
            tokio::spawn(async move {
                store
                    .find_or_create_user(&identity, user_id(n + 1), T0)
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all callers get the same user: {ids:?}");
    // The losers' new users were not left behind, half-made.
    for n in 0..16u8 {
        let kept = store.find_user(user_id(n + 1)).await.unwrap().is_some();
        assert_eq!(kept, user_id(n + 1) == ids[0], "user {}", n + 1);
    }
}

/// A write for a user deleted meanwhile (a request that began before the deletion) is refused
/// as `Gone`, and nothing is written.
pub async fn a_write_for_a_user_deleted_meanwhile_is_gone(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    assert!(store.delete_user(ann).await.unwrap());
    let session = SessionPolicy::default().open(SessionId::from_random_bytes([6; 16]), ann, T0);
    assert!(
        matches!(
            store.create_session(&session).await,
            Err(gptgate_ports::StorageError::Gone(_))
        ),
        "a session"
    );
    assert!(
        matches!(
            store.save_conversation(&conversation(ann, 1, T0)).await,
            Err(gptgate_ports::StorageError::Gone(_))
        ),
        "a conversation"
    );
    assert_eq!(store.find_session(session.id).await.unwrap(), None);
    assert!(store
        .list_conversations(ann, None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn deleting_a_user_deletes_everything_they_own(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let session = SessionPolicy::default().open(SessionId::from_random_bytes([5; 16]), ann, T0);
    store.create_session(&session).await.unwrap();
    store
        .save_conversation(&conversation(ann, 1, T0))
        .await
        .unwrap();
    store
        .save_conversation(&conversation(bob, 2, T0))
        .await
        .unwrap();

    assert!(store.delete_user(ann).await.unwrap(), "the user existed");
    assert_eq!(
        store.find_session(session.id).await.unwrap(),
        None,
        "sessions go"
    );
    let none: Option<ConversationCursor> = None;
    assert!(
        store
            .list_conversations(ann, none, 10)
            .await
            .unwrap()
            .is_empty(),
        "conversations go"
    );
    assert_eq!(
        store.list_conversations(bob, None, 10).await.unwrap().len(),
        1,
        "others' data stays"
    );
    let again = store
        .find_or_create_user(&Identity::email(&email("user1")), user_id(9), T0)
        .await
        .unwrap();
    assert_eq!(
        again.id,
        user_id(9),
        "the identity went too: a new user is created"
    );
    assert!(
        !store.delete_user(ann).await.unwrap(),
        "a second delete finds nobody"
    );
}

pub async fn a_users_email_is_found_and_other_identities_have_none<S: ?Sized + UserStore>(
    store: Arc<S>,
) {
    let ann = store
        .find_or_create_user(&Identity::email(&email("ann")), user_id(1), T0)
        .await
        .unwrap();
    assert_eq!(
        store.find_email(ann.id).await.unwrap(),
        Some(email("ann")),
        "the address, exactly as normalized"
    );
    let gpt = store
        .find_or_create_user(
            &Identity::chatgpt(&ChatGptUserId::parse("g-1").unwrap()),
            user_id(2),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(store.find_email(gpt.id).await.unwrap(), None);
    assert_eq!(
        store.find_email(user_id(9)).await.unwrap(),
        None,
        "no such user"
    );
    store.delete_user(ann.id).await.unwrap();
    assert_eq!(store.find_email(ann.id).await.unwrap(), None);
}

pub async fn a_users_identities_and_active_sessions_are_listed<S: ?Sized + SessionStore>(
    store: Arc<S>,
) {
    use gptgate_domain::{Identity, SessionId};
    let ann = store
        .find_or_create_user(&Identity::email(&email("ann")), user_id(1), T0)
        .await
        .unwrap();
    assert_eq!(store.find_user(ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(store.find_user(user_id(9)).await.unwrap(), None);
    assert_eq!(
        store.identities(ann.id).await.unwrap(),
        vec![Identity::email(&email("ann"))]
    );
    assert!(store.identities(user_id(9)).await.unwrap().is_empty());

    let policy = SessionPolicy::default();
    let first = policy.open(SessionId::from_random_bytes([1; 16]), ann.id, T0);
    let second = policy.open(
        SessionId::from_random_bytes([2; 16]),
        ann.id,
        T0 + time::Duration::minutes(1),
    );
    let revoked = policy.open(SessionId::from_random_bytes([3; 16]), ann.id, T0);
    for s in [&second, &first, &revoked] {
        store.create_session(s).await.unwrap();
    }
    store.revoke_session(revoked.id, T0).await.unwrap();
    let at = T0 + time::Duration::minutes(2);
    assert_eq!(
        store.active_sessions(ann.id, at).await.unwrap(),
        vec![first.clone(), second.clone()],
        "oldest first, the revoked one left out"
    );
    assert_eq!(
        store
            .active_sessions(ann.id, first.expires_at)
            .await
            .unwrap(),
        vec![second],
        "dead from its expiry on"
    );
}
