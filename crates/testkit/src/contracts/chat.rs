use std::sync::Arc;

use gptgate_domain::{
    AdminAction, AdminAuditEntry, ChatPolicy, ChatVisitor, PasswordHash, TeamPassword, TokenHash,
};
use time::Duration;

use super::fixtures::T0;
use super::ChatStore;

fn team_password(salt: &str, at: time::OffsetDateTime) -> TeamPassword {
    TeamPassword {
        hash: PasswordHash::parse(&format!(
            "$argon2id$v=19$m=19456,t=2,p=1${salt}$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo"
        ))
        .unwrap(),
        set_at: at,
    }
}

pub async fn a_chat_session_round_trips_and_ends_once<S: ?Sized + ChatStore>(store: Arc<S>) {
    let session =
        ChatPolicy::default().open(ChatVisitor::Admin, TokenHash::from_bytes([1; 32]), T0);
    store.create_chat_session(&session).await.unwrap();
    assert_eq!(
        store.find_chat_session(&session.token_hash).await.unwrap(),
        Some(session.clone())
    );
    assert!(
        store.create_chat_session(&session).await.is_err(),
        "one session per token"
    );
    let other = TokenHash::from_bytes([2; 32]);
    assert_eq!(store.find_chat_session(&other).await.unwrap(), None);
    assert!(!store.end_chat_session(&other).await.unwrap());
    assert!(store.end_chat_session(&session.token_hash).await.unwrap());
    assert!(!store.end_chat_session(&session.token_hash).await.unwrap());
    assert_eq!(
        store.find_chat_session(&session.token_hash).await.unwrap(),
        None
    );
}

pub async fn setting_or_switching_off_the_team_password_ends_every_team_session<
    S: ?Sized + ChatStore,
>(
    store: Arc<S>,
) {
    assert_eq!(store.team_password().await.unwrap(), None, "none set yet");
    let first = team_password("c2FsdDE", T0 + Duration::minutes(1));
    let admitted_by = |password: &TeamPassword, n: u8| {
        ChatPolicy::default().open(
            ChatVisitor::Team {
                password_set_at: password.set_at,
            },
            TokenHash::from_bytes([n; 32]),
            T0,
        )
    };
    // Sessions of a password not set (yet): never found.
    let sessions: Vec<_> = (1..=3u8).map(|n| admitted_by(&first, n)).collect();
    for s in &sessions {
        store.create_chat_session(s).await.unwrap();
        assert_eq!(store.find_chat_session(&s.token_hash).await.unwrap(), None);
    }
    let admin = ChatPolicy::default().open(ChatVisitor::Admin, TokenHash::from_bytes([99; 32]), T0);
    store.create_chat_session(&admin).await.unwrap();
    store
        .set_team_password(
            Some(&first),
            &AdminAuditEntry::new(first.set_at, AdminAction::TeamPasswordSet, "192.0.2.1"),
        )
        .await
        .unwrap();
    assert_eq!(store.team_password().await.unwrap(), Some(first.clone()));
    for s in &sessions {
        assert_eq!(store.find_chat_session(&s.token_hash).await.unwrap(), None);
    }
    // A rotation replaces it and ends the sessions opened since, even one stored after the
    // rotation by a sign-in that checked the old password before it (the race).
    let later = admitted_by(&first, 9);
    store.create_chat_session(&later).await.unwrap();
    let second = team_password("c2FsdDI", T0 + Duration::minutes(2));
    store
        .set_team_password(
            Some(&second),
            &AdminAuditEntry::new(second.set_at, AdminAction::TeamPasswordSet, "192.0.2.2"),
        )
        .await
        .unwrap();
    assert_eq!(store.team_password().await.unwrap(), Some(second.clone()));
    assert_eq!(
        store.find_chat_session(&later.token_hash).await.unwrap(),
        None
    );
    let raced = admitted_by(&first, 11);
    store.create_chat_session(&raced).await.unwrap();
    assert_eq!(
        store.find_chat_session(&raced.token_hash).await.unwrap(),
        None
    );
    // Switched off: no password, no team session.
    let last = admitted_by(&second, 10);
    store.create_chat_session(&last).await.unwrap();
    assert_eq!(
        store.find_chat_session(&last.token_hash).await.unwrap(),
        Some(last.clone())
    );
    store
        .set_team_password(
            None,
            &AdminAuditEntry::new(
                T0 + Duration::minutes(3),
                AdminAction::TeamPasswordOff,
                "192.0.2.3",
            ),
        )
        .await
        .unwrap();
    assert_eq!(store.team_password().await.unwrap(), None);
    assert_eq!(
        store.find_chat_session(&last.token_hash).await.unwrap(),
        None
    );
    // The admin's chat session lives through all of it.
    assert_eq!(
        store.find_chat_session(&admin.token_hash).await.unwrap(),
        Some(admin)
    );
    let audit: Vec<AdminAction> = store
        .admin_actions(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        audit,
        [
            AdminAction::TeamPasswordOff,
            AdminAction::TeamPasswordSet,
            AdminAction::TeamPasswordSet
        ]
    );
}

pub async fn changing_or_forgetting_the_admin_password_ends_the_admins_chat_sessions_only<
    S: ?Sized + ChatStore,
>(
    store: Arc<S>,
) {
    let password = team_password("c2FsdDE", T0);
    store
        .set_team_password(
            Some(&password),
            &AdminAuditEntry::new(T0, AdminAction::TeamPasswordSet, "192.0.2.1"),
        )
        .await
        .unwrap();
    let team = ChatPolicy::default().open(
        ChatVisitor::Team {
            password_set_at: password.set_at,
        },
        TokenHash::from_bytes([1; 32]),
        T0,
    );
    store.create_chat_session(&team).await.unwrap();
    let admin_hash = |salt: &str| {
        PasswordHash::parse(&format!(
            "$argon2id$v=19$m=19456,t=2,p=1${salt}$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo"
        ))
        .unwrap()
    };
    for round in 0..2u8 {
        let admin = ChatPolicy::default().open(
            ChatVisitor::Admin,
            TokenHash::from_bytes([10 + round; 32]),
            T0,
        );
        store.create_chat_session(&admin).await.unwrap();
        if round == 0 {
            store
                .replace_admin_password(
                    &gptgate_domain::StoredAdminPassword {
                        hash: admin_hash("c2FsdDI"),
                        changed_at: T0,
                        replaces: admin_hash("ZW52"),
                    },
                    &AdminAuditEntry::new(T0, AdminAction::PasswordChanged, "192.0.2.1"),
                )
                .await
                .unwrap();
        } else {
            assert!(store.forget_admin_password().await.unwrap());
        }
        assert_eq!(
            store.find_chat_session(&admin.token_hash).await.unwrap(),
            None
        );
        assert_eq!(
            store.find_chat_session(&team.token_hash).await.unwrap(),
            Some(team.clone()),
            "the team's sessions stay"
        );
    }
}
