//! Exporting one's data, on the testkit fakes.

use std::sync::Arc;

use gptgate_domain::{
    ChatGptUserId, ConversationDraft, ConversationInput, Email, Identity, SessionId, SessionPolicy,
    UserId,
};
use gptgate_ports::services::{Conversations, ExportError, ExportPorts, Exports, Users};
use gptgate_ports::{SessionRepository, UserRepository};
use gptgate_testkit::{FakeClock, FakeOpaqueTokens, InMemoryStore, SeededRandom};
use secrecy::ExposeSecret;
use time::Duration;

struct Harness {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    conversations: Conversations,
    exports: Exports,
    ann: UserId,
}

async fn harness() -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let random = Arc::new(SeededRandom::new(4));
    let users = Users::new(store.clone(), Arc::new(clock.clone()), random.clone());
    let ann = users
        .resolve(&Identity::email(&Email::parse("ann@example.com").unwrap()))
        .await
        .unwrap();
    Harness {
        conversations: Conversations::new(store.clone(), Arc::new(clock.clone()), random),
        exports: Exports::new(
            ExportPorts {
                users: store.clone(),
                sessions: store.clone(),
                conversations: store.clone(),
                accounts: store.clone(),
                links: store.clone(),
                tokens: Arc::new(FakeOpaqueTokens::default()),
                clock: Arc::new(clock.clone()),
                budgets: store.clone(),
            },
            "https://gpt.example.com/",
        ),
        store,
        clock,
        ann,
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

fn token_of(url: &str) -> String {
    url.split_once("token=").unwrap().1.to_owned()
}

#[tokio::test]
async fn an_export_holds_everything_stored_about_the_user_and_nothing_of_others() {
    let h = harness().await;
    // More conversations than one page of the export's reads.
    for n in 0..201 {
        h.conversations
            .save(h.ann, draft(&format!("chat {n}")), None)
            .await
            .unwrap();
        h.clock.advance(Duration::seconds(1));
    }
    let bob = h
        .store
        .find_or_create_user(
            &Identity::chatgpt(&ChatGptUserId::parse("bob").unwrap()),
            UserId::from_random_bytes([9; 16]),
            gptgate_ports::Clock::now(&h.clock),
        )
        .await
        .unwrap()
        .id;
    h.conversations
        .save(bob, draft("bob's"), None)
        .await
        .unwrap();
    let policy = SessionPolicy::default();
    let now = gptgate_ports::Clock::now(&h.clock);
    let live = policy.open(SessionId::from_random_bytes([1; 16]), h.ann, now);
    let ended = policy.open(SessionId::from_random_bytes([2; 16]), h.ann, now);
    for s in [&live, &ended] {
        h.store.create_session(s).await.unwrap();
    }
    h.store.revoke_session(ended.id, now).await.unwrap();

    let export = h.exports.export(h.ann).await.unwrap();
    assert_eq!(export.exported_at, now);
    assert_eq!(export.user.id, h.ann);
    assert_eq!(
        export.identities,
        vec![Identity::email(&Email::parse("ann@example.com").unwrap())]
    );
    assert_eq!(export.conversations.len(), 201, "every page read");
    assert_eq!(export.conversations[0].summary, "chat 200", "newest first");
    assert_eq!(export.conversations[200].summary, "chat 0");
    assert!(export.conversations.iter().all(|c| c.user_id == h.ann));
    assert_eq!(export.sessions, vec![live], "active sessions only");
    assert!(export.accounts.is_empty());
}

#[tokio::test]
async fn a_download_link_works_once_and_for_ten_minutes() {
    let h = harness().await;
    h.conversations.save(h.ann, draft("x"), None).await.unwrap();
    assert_eq!(
        h.exports.service_name(),
        "gpt.example.com",
        "as pages name it"
    );
    let link = h.exports.download_link(h.ann).await.unwrap();
    let url = link.url.expose_secret();
    assert!(
        url.starts_with("https://gpt.example.com/me/export/download?token="),
        "{url}"
    );
    assert_eq!(
        link.expires_at,
        gptgate_ports::Clock::now(&h.clock) + Duration::minutes(10)
    );
    h.clock
        .advance(Duration::minutes(10) - Duration::seconds(1));
    let export = h.exports.redeem(&token_of(url)).await.unwrap();
    assert_eq!(export.user.id, h.ann);
    assert_eq!(export.conversations.len(), 1);
    assert!(matches!(
        h.exports.redeem(&token_of(url)).await,
        Err(ExportError::InvalidLink)
    ));

    let late = h.exports.download_link(h.ann).await.unwrap();
    h.clock.advance(Duration::minutes(10));
    assert!(matches!(
        h.exports.redeem(&token_of(late.url.expose_secret())).await,
        Err(ExportError::InvalidLink)
    ));
    assert!(matches!(
        h.exports.redeem("made-up").await,
        Err(ExportError::InvalidLink)
    ));
}

#[tokio::test]
async fn a_deleted_user_has_nothing_to_export() {
    let h = harness().await;
    let link = h.exports.download_link(h.ann).await.unwrap();
    h.store.delete_user(h.ann).await.unwrap();
    assert!(matches!(
        h.exports.export(h.ann).await,
        Err(ExportError::NoSuchUser)
    ));
    assert!(matches!(
        h.exports.redeem(&token_of(link.url.expose_secret())).await,
        Err(ExportError::InvalidLink)
    ));
}

#[tokio::test]
async fn a_user_may_export_five_times_an_hour_and_a_download_is_not_counted_again() {
    let h = harness().await;
    for _ in 0..gptgate_ports::services::EXPORTS_PER_HOUR {
        h.exports.export(h.ann).await.unwrap();
    }
    h.clock.advance(Duration::minutes(20));
    let link = h.exports.download_link(h.ann).await.unwrap();
    match h.exports.export(h.ann).await {
        Err(ExportError::TooMany { retry_after }) => {
            assert_eq!(retry_after, Duration::minutes(40))
        }
        other => panic!("expected the limit, got {other:?}"),
    }
    assert!(
        h.exports
            .redeem(&token_of(link.url.expose_secret()))
            .await
            .is_ok(),
        "the download of an export already counted"
    );
    h.clock.advance(Duration::minutes(40));
    assert!(h.exports.export(h.ann).await.is_ok(), "a new hour");
}
