//! The conversation and user use cases on the testkit fakes.

use std::sync::Arc;

use gptgate_domain::{
    ChatGptUserId, ConversationDraft, ConversationInput, ExternalId, Identity, UserId,
};
use gptgate_ports::services::{Conversations, ConversationsError, Users, PAGE_LIMIT_MAX};
use gptgate_testkit::{FakeClock, InMemoryStore, SeededRandom};
use time::Duration;

struct Harness {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    conversations: Conversations,
    users: Users,
}

fn harness() -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let random = Arc::new(SeededRandom::new(3));
    Harness {
        conversations: Conversations::new(store.clone(), Arc::new(clock.clone()), random.clone()),
        users: Users::new(store.clone(), Arc::new(clock.clone()), random),
        store,
        clock,
    }
}

fn draft(summary: &str) -> ConversationDraft {
    ConversationDraft::parse(ConversationInput {
        summary: Some(summary.into()),
        messages: vec![("user".into(), "hi".into())],
        ..Default::default()
    })
    .unwrap()
}

impl Harness {
    async fn user(&self, name: &str) -> UserId {
        self.users
            .resolve(&Identity::chatgpt(&ChatGptUserId::parse(name).unwrap()))
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn saved_conversations_are_listed_newest_first_in_pages() {
    let h = harness();
    let ann = h.user("ann").await;
    for n in 0..5 {
        h.conversations
            .save(ann, draft(&format!("chat {n}")), None)
            .await
            .unwrap();
        h.clock.advance(Duration::seconds(1));
    }
    let first = h.conversations.list(ann, 2, None).await.unwrap();
    let summaries: Vec<_> = first.items.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries, ["chat 4", "chat 3"]);
    let second = h.conversations.list(ann, 2, first.next).await.unwrap();
    let third = h.conversations.list(ann, 2, second.next).await.unwrap();
    assert_eq!(third.items.len(), 1);
    assert_eq!(third.items[0].summary, "chat 0");
    assert_eq!(third.next, None, "the last page says so");
}

#[tokio::test]
async fn a_page_exactly_full_has_no_next_cursor() {
    let h = harness();
    let ann = h.user("ann").await;
    h.conversations.save(ann, draft("one"), None).await.unwrap();
    h.clock.advance(Duration::seconds(1));
    h.conversations.save(ann, draft("two"), None).await.unwrap();
    let page = h.conversations.list(ann, 2, None).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn page_limits_outside_one_to_fifty_are_refused() {
    let h = harness();
    let ann = h.user("ann").await;
    for limit in [0, PAGE_LIMIT_MAX + 1] {
        assert!(matches!(
            h.conversations.list(ann, limit, None).await,
            Err(ConversationsError::InvalidLimit)
        ));
    }
    assert!(h
        .conversations
        .list(ann, PAGE_LIMIT_MAX, None)
        .await
        .is_ok());
}

#[tokio::test]
async fn saving_the_same_chat_again_updates_it() {
    let h = harness();
    let ann = h.user("ann").await;
    let chat = ExternalId::parse("chat-1").unwrap();
    let first = h
        .conversations
        .save(ann, draft("v1"), Some(chat.clone()))
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(3));
    let second = h
        .conversations
        .save(ann, draft("v2"), Some(chat))
        .await
        .unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(second.updated_at - second.created_at, Duration::minutes(3));
    let page = h.conversations.list(ann, 10, None).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].summary, "v2");
}

#[tokio::test]
async fn a_user_cannot_delete_another_users_conversation() {
    let h = harness();
    let ann = h.user("ann").await;
    let bob = h.user("bob").await;
    let anns = h
        .conversations
        .save(ann, draft("mine"), None)
        .await
        .unwrap();
    assert!(matches!(
        h.conversations.delete(bob, anns.id).await,
        Err(ConversationsError::NotFound)
    ));
    h.conversations.delete(ann, anns.id).await.unwrap();
    assert!(h
        .conversations
        .list(ann, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn storage_failures_surface_as_storage_errors() {
    let h = harness();
    let ann = h.user("ann").await;
    h.store.set_unavailable(true);
    assert!(matches!(
        h.conversations.save(ann, draft("x"), None).await,
        Err(ConversationsError::Storage(_))
    ));
    assert!(matches!(
        h.conversations.list(ann, 10, None).await,
        Err(ConversationsError::Storage(_))
    ));
}

#[tokio::test]
async fn resolving_an_identity_creates_the_user_once() {
    let h = harness();
    let first = h.user("g-1").await;
    let again = h.user("g-1").await;
    assert_eq!(first, again);
    assert_eq!(h.store.user_count(), 1);
}

#[tokio::test]
async fn deleting_a_user_removes_their_conversations() {
    let h = harness();
    let ann = h.user("ann").await;
    h.conversations.save(ann, draft("x"), None).await.unwrap();
    gptgate_ports::UserRepository::delete_user(h.store.as_ref(), ann)
        .await
        .unwrap();
    assert!(h
        .conversations
        .list(ann, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(h.store.user_count(), 0);
}

#[tokio::test]
async fn the_purge_keeps_a_day_of_grace_after_a_session_ends() {
    use gptgate_domain::{SessionId, SessionPolicy};
    use gptgate_ports::services::Maintenance;
    use gptgate_ports::SessionRepository;

    let h = harness();
    let ann = h.user("ann").await;
    let session = SessionPolicy::default().open(SessionId::from_random_bytes([4; 16]), ann, {
        use gptgate_ports::Clock;
        h.clock.now()
    });
    h.store.create_session(&session).await.unwrap();
    let maintenance = Maintenance::new(h.store.clone(), std::sync::Arc::new(h.clock.clone()));

    h.clock
        .advance(Duration::hours(12) + Duration::hours(24) - Duration::seconds(1));
    assert_eq!(
        maintenance.purge().await.unwrap().sessions,
        0,
        "ended, but within the grace"
    );
    h.clock.advance(Duration::seconds(2));
    assert_eq!(maintenance.purge().await.unwrap().sessions, 1);
    assert!(h.store.find_session(session.id).await.unwrap().is_none());
}

/// A session of `user` opened at the harness's now, stored; its guard at `now`.
async fn guard_of(h: &Harness, user: UserId, n: u8) -> gptgate_domain::SessionGuard {
    use gptgate_ports::SessionRepository;
    let now = gptgate_ports::Clock::now(&h.clock);
    let session = gptgate_domain::SessionPolicy::default().open(
        gptgate_domain::SessionId::from_random_bytes([n; 16]),
        user,
        now,
    );
    h.store.create_session(&session).await.unwrap();
    gptgate_domain::SessionGuard {
        user_id: user,
        session_id: session.id,
        now,
    }
}

#[tokio::test]
async fn a_read_for_a_session_pages_as_a_listing_and_refuses_a_session_gone() {
    use gptgate_ports::services::Reader;
    use gptgate_ports::SessionRepository;
    let h = harness();
    let ann = h.user("ann").await;
    for n in 0..3 {
        h.conversations
            .save(ann, draft(&format!("chat {n}")), None)
            .await
            .unwrap();
        h.clock.advance(Duration::seconds(1));
    }
    let guard = guard_of(&h, ann, 1).await;
    let listed = h.conversations.list(ann, 2, None).await.unwrap();
    assert_eq!(listed.items.len(), 2);
    assert!(listed.next.is_some());
    for reader in [Reader::User(ann), Reader::Session(guard)] {
        let page = h.conversations.read(reader, 2, None).await.unwrap();
        assert_eq!(page.as_ref(), Some(&listed));
        let rest = h
            .conversations
            .read(reader, 2, listed.next)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((rest.items.len(), rest.next), (1, None));
        for limit in [0, PAGE_LIMIT_MAX + 1] {
            assert!(matches!(
                h.conversations.read(reader, limit, None).await,
                Err(ConversationsError::InvalidLimit)
            ));
        }
    }
    h.store
        .revoke_session(guard.session_id, guard.now)
        .await
        .unwrap();
    assert_eq!(
        h.conversations
            .read(Reader::Session(guard), 2, None)
            .await
            .unwrap(),
        None
    );
}
