use std::collections::HashSet;
use std::sync::Arc;

use gptgate_domain::{
    Conversation, ConversationId, Exercise, ExternalId, Message, Role, Session, SessionGuard,
    SessionId, SessionPolicy, UserId,
};
use time::{Duration, OffsetDateTime};

use super::fixtures::{user, T0};
use super::ConversationStore;

/// Conversation `n` of `user`, created at `at`.
pub fn conversation(user: UserId, n: u8, at: OffsetDateTime) -> Conversation {
    Conversation {
        id: ConversationId::from_random_bytes([n; 16]),
        user_id: user,
        external_id: None,
        title: Some(format!("Chat {n}")),
        summary: format!("Summary {n} — ünïcode kept"),
        messages: vec![
            Message {
                role: Role::User,
                content: "Hola, ¿qué tal?".into(),
            },
            Message {
                role: Role::Assistant,
                content: "Muy bien.\nNew line and \"quotes\".".into(),
            },
        ],
        raw_text: vec!["User: Hola".into()],
        exercises: vec![
            Exercise {
                name: "Greetings".into(),
                score: 100,
                notes: Some("perfect".into()),
            },
            Exercise {
                name: "Numbers".into(),
                score: 0,
                notes: None,
            },
        ],
        created_at: at,
        updated_at: at,
    }
}

fn external(id: &str) -> Option<ExternalId> {
    Some(ExternalId::parse(id).unwrap())
}

pub async fn a_conversation_round_trips_with_every_field<S: ?Sized + ConversationStore>(
    store: Arc<S>,
) {
    let ann = user(store.as_ref(), 1).await;
    let mut saved = conversation(ann, 1, T0);
    saved.external_id = external("chat-1");
    assert_eq!(store.save_conversation(&saved).await.unwrap(), saved);
    let mut bare = conversation(ann, 2, T0 + Duration::seconds(1));
    bare.title = None;
    bare.messages.clear();
    bare.raw_text.clear();
    bare.exercises.clear();
    assert_eq!(store.save_conversation(&bare).await.unwrap(), bare);
    assert_eq!(
        store.list_conversations(ann, None, 10).await.unwrap(),
        vec![bare, saved]
    );
}

pub async fn saving_with_the_same_external_id_updates_the_earlier_save<
    S: ?Sized + ConversationStore,
>(
    store: Arc<S>,
) {
    let ann = user(store.as_ref(), 1).await;
    let mut first = conversation(ann, 1, T0);
    first.external_id = external("chat-1");
    store.save_conversation(&first).await.unwrap();

    let later = T0 + Duration::minutes(5);
    let mut second = conversation(ann, 2, later);
    second.external_id = external("chat-1");
    second.summary = "Updated summary".into();
    let stored = store.save_conversation(&second).await.unwrap();

    assert_eq!(stored.id, first.id, "the id of the first save is kept");
    assert_eq!(stored.created_at, T0, "created_at is kept");
    assert_eq!(stored.updated_at, later);
    assert_eq!(stored.summary, "Updated summary");
    assert_eq!(
        store.list_conversations(ann, None, 10).await.unwrap(),
        vec![stored]
    );
}

pub async fn external_ids_are_scoped_to_their_user<S: ?Sized + ConversationStore>(store: Arc<S>) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let mut a = conversation(ann, 1, T0);
    a.external_id = external("chat-1");
    let mut b = conversation(bob, 2, T0);
    b.external_id = external("chat-1");
    store.save_conversation(&a).await.unwrap();
    assert_eq!(store.save_conversation(&b).await.unwrap().id, b.id);
    assert_eq!(
        store.list_conversations(ann, None, 10).await.unwrap(),
        vec![a]
    );
}

pub async fn concurrent_saves_of_one_chat_leave_one_conversation<S: ?Sized + ConversationStore>(
    store: Arc<S>,
) {
    let ann = user(store.as_ref(), 1).await;
    let tasks: Vec<_> = (1..=8u8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut c = conversation(ann, n, T0 + Duration::seconds(n.into()));
                c.external_id = external("same-chat");
                store.save_conversation(&c).await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().expect("no save fails").id);
    }
    assert_eq!(ids.len(), 1, "every save lands on the same conversation");
    assert_eq!(
        store.list_conversations(ann, None, 10).await.unwrap().len(),
        1
    );
}

pub async fn listing_pages_newest_first_without_gaps_or_repeats<S: ?Sized + ConversationStore>(
    store: Arc<S>,
) {
    let ann = user(store.as_ref(), 1).await;
    // Seven conversations; three share a creation time, so the id breaks the tie.
    let times = [0, 1, 2, 2, 2, 3, 4];
    let mut all = Vec::new();
    for (n, offset) in times.iter().enumerate() {
        let c = conversation(ann, n as u8 + 1, T0 + Duration::seconds(*offset));
        store.save_conversation(&c).await.unwrap();
        all.push(c);
    }
    all.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));

    let mut seen = Vec::new();
    let mut after = None;
    // Seven in pages of three is three pages and an empty one; a store that repeats items
    // would page forever, so the walk stops after five and the comparison below fails.
    for _ in 0..5 {
        let page = store.list_conversations(ann, after, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.cursor());
        seen.extend(page);
    }
    assert_eq!(seen, all);
}

pub async fn a_user_lists_only_their_own_conversations<S: ?Sized + ConversationStore>(
    store: Arc<S>,
) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    store
        .save_conversation(&conversation(ann, 1, T0))
        .await
        .unwrap();
    let bobs = conversation(bob, 2, T0);
    store.save_conversation(&bobs).await.unwrap();
    assert_eq!(
        store.list_conversations(bob, None, 10).await.unwrap(),
        vec![bobs]
    );
}

pub async fn deleting_another_users_conversation_finds_nothing<S: ?Sized + ConversationStore>(
    store: Arc<S>,
) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let anns = conversation(ann, 1, T0);
    store.save_conversation(&anns).await.unwrap();
    assert!(!store.delete_conversation(bob, anns.id).await.unwrap());
    assert_eq!(
        store.list_conversations(ann, None, 10).await.unwrap().len(),
        1
    );
    assert!(store.delete_conversation(ann, anns.id).await.unwrap());
    assert!(
        !store.delete_conversation(ann, anns.id).await.unwrap(),
        "already gone"
    );
    assert!(store
        .list_conversations(ann, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A guard admitting `session` for `user` at `now`.
fn guard(session: &Session, user: UserId, now: OffsetDateTime) -> SessionGuard {
    SessionGuard {
        user_id: user,
        session_id: session.id,
        now,
    }
}

pub async fn a_guarded_page_is_read_only_while_its_session_admits_it<
    S: ?Sized + ConversationStore,
>(
    store: Arc<S>,
) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    for n in 1..=3 {
        let at = T0 + Duration::seconds(i64::from(n));
        store
            .save_conversation(&conversation(ann, n, at))
            .await
            .unwrap();
    }
    let policy = SessionPolicy::default();
    let anns = policy.open(SessionId::from_random_bytes([1; 16]), ann, T0);
    let bobs = policy.open(SessionId::from_random_bytes([2; 16]), bob, T0);
    for s in [&anns, &bobs] {
        store.create_session(s).await.unwrap();
    }
    let page = |g: SessionGuard, after, limit| {
        let store = store.clone();
        async move {
            store
                .list_conversations_in_session(&g, after, limit)
                .await
                .unwrap()
        }
    };
    // While the session admits the read (to its last microsecond): the same pages as read
    // without a guard, first and after a cursor.
    let first_two = store.list_conversations(ann, None, 2).await.unwrap();
    let cursor = first_two[1].cursor();
    for now in [
        T0,
        anns.expires_at - Duration::microseconds(1),
        anns.expires_at - Duration::nanoseconds(1),
    ] {
        let g = guard(&anns, ann, now);
        assert_eq!(
            page(g, None, 10).await,
            Some(store.list_conversations(ann, None, 10).await.unwrap())
        );
        assert_eq!(page(g, None, 2).await, Some(first_two.clone()));
        let rest = page(g, Some(cursor), 10).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(
            rest,
            store
                .list_conversations(ann, Some(cursor), 10)
                .await
                .unwrap()
        );
        // Nothing left after the last: an empty page, not a refusal.
        assert_eq!(page(g, Some(rest[0].cursor()), 10).await, Some(vec![]));
    }
    assert_eq!(
        page(guard(&bobs, bob, T0), None, 10).await,
        Some(vec![]),
        "nothing saved: an empty page"
    );
    // Refused: at its expiry, another user's session claimed (either way), an unknown
    // session, a revoked one.
    for now in [anns.expires_at, anns.expires_at + Duration::nanoseconds(1)] {
        assert_eq!(page(guard(&anns, ann, now), None, 10).await, None);
    }
    assert_eq!(page(guard(&bobs, ann, T0), None, 10).await, None);
    assert_eq!(page(guard(&anns, bob, T0), None, 10).await, None);
    let unknown = policy.open(SessionId::from_random_bytes([3; 16]), ann, T0);
    assert_eq!(page(guard(&unknown, ann, T0), None, 10).await, None);
    store
        .revoke_session(anns.id, T0 + Duration::minutes(1))
        .await
        .unwrap();
    for now in [T0, T0 + Duration::minutes(2)] {
        assert_eq!(page(guard(&anns, ann, now), None, 10).await, None);
        assert_eq!(page(guard(&anns, ann, now), Some(cursor), 10).await, None);
    }
}
