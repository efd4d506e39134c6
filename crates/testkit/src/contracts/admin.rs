use std::sync::Arc;

use gptgate_domain::{
    AdminAction, AdminAuditEntry, AdminPolicy, PasswordHash, StoredAdminPassword, TokenHash,
};
use time::Duration;

use super::fixtures::T0;
use super::AdminStore;

fn hash(salt: &str) -> PasswordHash {
    PasswordHash::parse(&format!(
        "$argon2id$v=19$m=19456,t=2,p=1${salt}$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo"
    ))
    .unwrap()
}

fn password(salt: &str, at: time::OffsetDateTime) -> StoredAdminPassword {
    StoredAdminPassword {
        hash: hash(salt),
        changed_at: at,
        replaces: hash("ZW52"),
    }
}

pub async fn an_admin_session_round_trips_and_ends_once<S: ?Sized + AdminStore>(store: Arc<S>) {
    let session = AdminPolicy::default().open(TokenHash::from_bytes([1; 32]), T0);
    store.create_admin_session(&session).await.unwrap();
    assert_eq!(
        store.find_admin_session(&session.token_hash).await.unwrap(),
        Some(session.clone())
    );
    assert!(
        store.create_admin_session(&session).await.is_err(),
        "one session per token"
    );
    let other = TokenHash::from_bytes([2; 32]);
    assert_eq!(store.find_admin_session(&other).await.unwrap(), None);
    assert!(!store.end_admin_session(&other).await.unwrap());
    assert!(store.end_admin_session(&session.token_hash).await.unwrap());
    assert!(!store.end_admin_session(&session.token_hash).await.unwrap());
    assert_eq!(
        store.find_admin_session(&session.token_hash).await.unwrap(),
        None
    );
}

pub async fn replacing_the_admin_password_ends_every_admin_session<S: ?Sized + AdminStore>(
    store: Arc<S>,
) {
    assert_eq!(store.admin_password().await.unwrap(), None, "none set yet");
    let sessions: Vec<_> = (1..=3u8)
        .map(|i| AdminPolicy::default().open(TokenHash::from_bytes([i; 32]), T0))
        .collect();
    for s in &sessions {
        store.create_admin_session(s).await.unwrap();
    }
    let first = password("c2FsdDE", T0 + Duration::minutes(1));
    store
        .replace_admin_password(
            &first,
            &AdminAuditEntry::new(first.changed_at, AdminAction::PasswordChanged, "192.0.2.1"),
        )
        .await
        .unwrap();
    assert_eq!(store.admin_password().await.unwrap(), Some(first));
    for s in &sessions {
        assert_eq!(store.find_admin_session(&s.token_hash).await.unwrap(), None);
    }
    // A session opened afterwards lives until the next change, which replaces the password.
    let later = AdminPolicy::default().open(TokenHash::from_bytes([9; 32]), T0);
    store.create_admin_session(&later).await.unwrap();
    let second = password("c2FsdDI", T0 + Duration::minutes(2));
    store
        .replace_admin_password(
            &second,
            &AdminAuditEntry::new(second.changed_at, AdminAction::PasswordChanged, "192.0.2.2"),
        )
        .await
        .unwrap();
    assert_eq!(store.admin_password().await.unwrap(), Some(second));
    assert_eq!(
        store.find_admin_session(&later.token_hash).await.unwrap(),
        None
    );
    // Forgetting it (the environment's hash changed) ends every session too.
    let last = AdminPolicy::default().open(TokenHash::from_bytes([10; 32]), T0);
    store.create_admin_session(&last).await.unwrap();
    assert!(store.forget_admin_password().await.unwrap());
    assert_eq!(store.admin_password().await.unwrap(), None);
    assert_eq!(
        store.find_admin_session(&last.token_hash).await.unwrap(),
        None
    );
    assert!(
        !store.forget_admin_password().await.unwrap(),
        "nothing left"
    );
    // Each change wrote its audit line with it.
    let audit = store.admin_actions(10).await.unwrap();
    let addresses: Vec<&str> = audit.iter().map(|e| e.address.as_str()).collect();
    assert_eq!(addresses, ["192.0.2.2", "192.0.2.1"]);
}

pub async fn the_audit_log_lists_the_newest_lines_first<S: ?Sized + AdminStore>(store: Arc<S>) {
    assert!(store.admin_actions(10).await.unwrap().is_empty());
    let lines = [
        (T0, AdminAction::SignedIn, "192.0.2.1"),
        (
            T0 + Duration::minutes(2),
            AdminAction::WrongPassword,
            "192.0.2.66",
        ),
        // Two of one instant: the one recorded later comes first.
        (
            T0 + Duration::minutes(1),
            AdminAction::PasswordChanged,
            "192.0.2.1",
        ),
        (
            T0 + Duration::minutes(1),
            AdminAction::SignedOut,
            "2001:db8::1",
        ),
    ];
    for (at, action, address) in lines {
        store
            .record_admin_action(&AdminAuditEntry::new(at, action, address))
            .await
            .unwrap();
    }
    let listed: Vec<(AdminAction, String)> = store
        .admin_actions(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.address))
        .collect();
    assert_eq!(
        listed,
        [
            (AdminAction::WrongPassword, "192.0.2.66".to_owned()),
            (AdminAction::SignedOut, "2001:db8::1".to_owned()),
            (AdminAction::PasswordChanged, "192.0.2.1".to_owned()),
            (AdminAction::SignedIn, "192.0.2.1".to_owned()),
        ]
    );
    let newest = store.admin_actions(1).await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].at, T0 + Duration::minutes(2));
}

/// The overview counts users, conversations, accounts by provider, status and on/off, and the
/// addresses last sent a code at the start of the day or later.
pub async fn the_overview_counts_what_the_server_holds(store: Arc<dyn super::Store>) {
    use gptgate_domain::{AccountCount, AccountStatus, CodeRecord, ProviderId};

    use super::accounts::account;
    use super::conversations::conversation;
    use super::fixtures::{email, user};

    let empty = store.admin_overview(T0).await.unwrap();
    assert_eq!(empty, gptgate_domain::AdminOverview::default());

    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    for (n, who) in [(1, ann), (2, ann), (3, bob)] {
        store
            .save_conversation(&conversation(who, n, T0))
            .await
            .unwrap();
    }
    let mut off = account(ann, 2, ProviderId::Gmail, "home");
    off.enabled = false;
    let mut gone = account(bob, 3, ProviderId::Gmail, "work");
    gone.status = AccountStatus::ReauthRequired;
    for a in [
        account(ann, 1, ProviderId::Gmail, "work"),
        off,
        gone,
        account(ann, 4, ProviderId::Linear, "work"),
        account(bob, 5, ProviderId::Linear, "work"),
    ] {
        store.upsert_account(&a).await.unwrap();
    }
    // Codes last sent a second before the day began, at its start, and later.
    for (name, at) in [
        ("early", T0 - Duration::seconds(1)),
        ("start", T0),
        ("later", T0 + Duration::hours(3)),
    ] {
        let address = email(name);
        let record = CodeRecord {
            email: address.clone(),
            code_hash: None,
            expires_at: at + Duration::minutes(10),
            attempts: 0,
            last_sent_at: at,
            send_window_started_at: at,
            sends_in_window: 1,
            attempt_window_started_at: at,
            attempts_in_window: 0,
        };
        store
            .update_code(&address, &mut |_| Some(record.clone()))
            .await
            .unwrap();
    }

    let overview = store.admin_overview(T0).await.unwrap();
    assert_eq!(overview.users, 2);
    assert_eq!(overview.conversations, 3);
    assert_eq!(overview.code_addresses, 2);
    let count = |provider, status, enabled, count| AccountCount {
        provider,
        status,
        enabled,
        count,
    };
    assert_eq!(
        overview.accounts,
        [
            count(ProviderId::Gmail, AccountStatus::Active, true, 1),
            count(ProviderId::Gmail, AccountStatus::Active, false, 1),
            count(ProviderId::Gmail, AccountStatus::ReauthRequired, true, 1),
            count(ProviderId::Linear, AccountStatus::Active, true, 2),
        ]
    );
}

pub async fn privacy_settings_default_to_keeping_and_are_replaced<S: ?Sized + AdminStore>(
    store: Arc<S>,
) {
    use gptgate_domain::PrivacySettings;
    assert_eq!(
        store.privacy_settings().await.unwrap(),
        PrivacySettings::default()
    );
    for settings in [
        PrivacySettings::new(30, false).unwrap(),
        PrivacySettings::new(PrivacySettings::MAX_RETENTION_DAYS, true).unwrap(),
        PrivacySettings::default(),
    ] {
        store
            .set_privacy_settings(
                &settings,
                &AdminAuditEntry::new(T0, AdminAction::PrivacyChanged, "192.0.2.1"),
            )
            .await
            .unwrap();
        assert_eq!(store.privacy_settings().await.unwrap(), settings);
    }
    // Each change wrote its audit line with it.
    let audit = store.admin_actions(10).await.unwrap();
    assert_eq!(audit.len(), 3);
    assert!(audit
        .iter()
        .all(|e| e.action == AdminAction::PrivacyChanged));
}

/// Retention deletes every user's conversations last saved before the cutoff, and no other.
pub async fn conversations_last_saved_before_a_time_are_deleted(store: Arc<dyn super::Store>) {
    use super::conversations::conversation;
    use super::fixtures::user;
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let old = conversation(ann, 1, T0 - Duration::seconds(1));
    let edge = conversation(bob, 2, T0);
    let new = conversation(ann, 3, T0 + Duration::days(1));
    for c in [&old, &edge, &new] {
        store.save_conversation(c).await.unwrap();
    }
    assert_eq!(
        store.delete_conversations_saved_before(T0).await.unwrap(),
        1
    );
    assert_eq!(
        store.delete_conversations_saved_before(T0).await.unwrap(),
        0
    );
    let left: Vec<_> = [ann, bob]
        .into_iter()
        .map(|u| store.list_conversations(u, None, 10))
        .collect();
    let mut kept = Vec::new();
    for l in left {
        kept.extend(l.await.unwrap().into_iter().map(|c| c.id));
    }
    kept.sort_by_key(|id| id.as_uuid());
    let mut expected = vec![edge.id, new.id];
    expected.sort_by_key(|id| id.as_uuid());
    assert_eq!(kept, expected);
}
