use std::sync::Arc;

use gptgate_domain::{
    AdminAction, AdminAuditEntry, EmbeddingOrigin, Issuer, LaunchPlatform, PlatformId,
    PlatformName, Sealed, StoredLaunchKey,
};
use time::Duration;

use super::fixtures::T0;
use super::PlatformStore;

fn platform(n: u8, key: StoredLaunchKey) -> LaunchPlatform {
    LaunchPlatform {
        id: PlatformId::from_random_bytes([n; 16]),
        name: PlatformName::parse(&format!("Platform {n}")).unwrap(),
        issuer: Issuer::parse(&format!("https://lms{n}.example.edu")).unwrap(),
        key,
        origins: vec![
            EmbeddingOrigin::parse(&format!("https://lms{n}.example.edu")).unwrap(),
            EmbeddingOrigin::parse("https://courses.example.edu:8443").unwrap(),
        ],
        created_at: T0 + Duration::minutes(i64::from(n)),
    }
}

fn audit(action: AdminAction) -> AdminAuditEntry {
    AdminAuditEntry::new(T0, action, "192.0.2.1")
}

pub async fn platforms_round_trip_with_each_kind_of_key<S: ?Sized + PlatformStore>(store: Arc<S>) {
    assert!(store.platforms().await.unwrap().is_empty());
    let all = [
        platform(
            1,
            StoredLaunchKey::EdDsa {
                public_pem:
                    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
                        .into(),
            },
        ),
        platform(
            2,
            StoredLaunchKey::Rs256 {
                public_pem: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n".into(),
            },
        ),
        platform(
            3,
            StoredLaunchKey::Hs256 {
                sealed: Sealed::from_bytes(vec![0, 1, 2, 255]),
            },
        ),
    ];
    for p in all.iter().rev() {
        store
            .create_platform(p, &audit(AdminAction::PlatformAdded))
            .await
            .unwrap();
    }
    assert_eq!(store.platforms().await.unwrap(), all, "oldest first, whole");
    for p in &all {
        assert_eq!(
            store.platform_by_issuer(&p.issuer).await.unwrap().as_ref(),
            Some(p)
        );
    }
    let unknown = Issuer::parse("https://unknown.example.edu").unwrap();
    assert_eq!(store.platform_by_issuer(&unknown).await.unwrap(), None);
}

pub async fn an_issuer_is_registered_once_and_removed_with_its_audit_line<
    S: ?Sized + PlatformStore,
>(
    store: Arc<S>,
) {
    let first = platform(
        1,
        StoredLaunchKey::Hs256 {
            sealed: Sealed::from_bytes(vec![9; 40]),
        },
    );
    store
        .create_platform(&first, &audit(AdminAction::PlatformAdded))
        .await
        .unwrap();
    let same_issuer = LaunchPlatform {
        id: PlatformId::from_random_bytes([7; 16]),
        ..first.clone()
    };
    assert!(store
        .create_platform(&same_issuer, &audit(AdminAction::PlatformAdded))
        .await
        .is_err());
    assert!(store
        .delete_platform(first.id, &audit(AdminAction::PlatformRemoved))
        .await
        .unwrap());
    assert!(!store
        .delete_platform(first.id, &audit(AdminAction::PlatformRemoved))
        .await
        .unwrap());
    assert_eq!(store.platform_by_issuer(&first.issuer).await.unwrap(), None);
    let actions: Vec<AdminAction> = store
        .admin_actions(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [AdminAction::PlatformRemoved, AdminAction::PlatformAdded],
        "one line each; the refused duplicate and second removal wrote none"
    );
}

pub async fn removing_a_platform_ends_the_sessions_of_the_visitors_it_sent<
    S: ?Sized + PlatformStore,
>(
    store: Arc<S>,
) {
    let key = |n| StoredLaunchKey::Hs256 {
        sealed: Sealed::from_bytes(vec![n; 40]),
    };
    let (moodle, canvas) = (platform(1, key(1)), platform(2, key(2)));
    for p in [&moodle, &canvas] {
        store
            .create_platform(p, &audit(AdminAction::PlatformAdded))
            .await
            .unwrap();
    }
    let policy = gptgate_domain::ChatPolicy::default();
    let sent_by = |p: &LaunchPlatform, n: u8| {
        policy.open(
            gptgate_domain::ChatVisitor::Launched {
                platform: p.id,
                subject: format!("student-{n}"),
            },
            gptgate_domain::TokenHash::from_bytes([n; 32]),
            T0,
        )
    };
    let (a, b) = (sent_by(&moodle, 1), sent_by(&canvas, 2));
    let admin = policy.open(
        gptgate_domain::ChatVisitor::Admin,
        gptgate_domain::TokenHash::from_bytes([3; 32]),
        T0,
    );
    for s in [&a, &b, &admin] {
        store.create_chat_session(s).await.unwrap();
    }
    assert_eq!(
        store.find_chat_session(&a.token_hash).await.unwrap(),
        Some(a.clone()),
        "a launched visitor's session round-trips"
    );
    assert!(store
        .delete_platform(moodle.id, &audit(AdminAction::PlatformRemoved))
        .await
        .unwrap());
    assert_eq!(store.find_chat_session(&a.token_hash).await.unwrap(), None);
    // A launch that read the platform before its removal and stores its session after: the
    // session opens nothing.
    let late = sent_by(&moodle, 9);
    store.create_chat_session(&late).await.unwrap();
    assert_eq!(
        store.find_chat_session(&late.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_chat_session(&b.token_hash).await.unwrap(),
        Some(b)
    );
    assert_eq!(
        store.find_chat_session(&admin.token_hash).await.unwrap(),
        Some(admin)
    );
}
