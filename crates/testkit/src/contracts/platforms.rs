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

fn lti(n: u8, issuer: &str, client: &str) -> gptgate_domain::LtiPlatform {
    use gptgate_domain::{DeploymentId, LtiClientId, PlatformUrl};
    gptgate_domain::LtiPlatform {
        id: PlatformId::from_random_bytes([100 + n; 16]),
        name: PlatformName::parse(&format!("LTI {n}")).unwrap(),
        issuer: Issuer::parse(issuer).unwrap(),
        client_id: LtiClientId::parse(client).unwrap(),
        login_url: PlatformUrl::parse(&format!("{issuer}/api/lti/authorize_redirect?x={n}"), "l")
            .unwrap(),
        key_set_url: PlatformUrl::parse(&format!("{issuer}/api/lti/security/jwks"), "k").unwrap(),
        deployments: vec![
            DeploymentId::parse(&format!("{n}:b81accac78543cb7cd239f3792bcfdc7c6efeadb")).unwrap(),
            DeploymentId::parse("deployment two").unwrap(),
        ],
        origins: vec![
            EmbeddingOrigin::parse("https://school.instructure.com").unwrap(),
            EmbeddingOrigin::parse(&format!("https://lms{n}.example.edu:8443")).unwrap(),
        ],
        created_at: T0 + Duration::minutes(i64::from(n)),
    }
}

pub async fn lti_registrations_round_trip_one_per_issuer_and_client<S: ?Sized + PlatformStore>(
    store: Arc<S>,
) {
    assert!(store.lti_platforms().await.unwrap().is_empty());
    let canvas = "https://canvas.instructure.com";
    let all = [
        lti(1, canvas, "10000000000001"),
        lti(2, canvas, "10000000000002"),
        lti(3, "https://moodle.example.edu", "10000000000001"),
    ];
    for p in all.iter().rev() {
        store
            .create_lti_platform(p, &audit(AdminAction::PlatformAdded))
            .await
            .unwrap();
    }
    assert_eq!(
        store.lti_platforms().await.unwrap(),
        all,
        "oldest first, whole"
    );
    assert_eq!(
        store
            .lti_platforms_of(&Issuer::parse(canvas).unwrap())
            .await
            .unwrap(),
        all[..2],
        "one issuer, two clients"
    );
    let unknown = Issuer::parse("https://unknown.example.edu").unwrap();
    assert!(store.lti_platforms_of(&unknown).await.unwrap().is_empty());
    // The same issuer and client again is refused, and writes no audit line.
    let again = gptgate_domain::LtiPlatform {
        id: PlatformId::from_random_bytes([99; 16]),
        ..all[0].clone()
    };
    assert!(store
        .create_lti_platform(&again, &audit(AdminAction::PlatformAdded))
        .await
        .is_err());
    assert_eq!(store.admin_actions(10).await.unwrap().len(), 3);
    assert_eq!(store.lti_platforms().await.unwrap(), all);
}

pub async fn embedding_origins_are_read_for_either_kind_and_removal_covers_lti<
    S: ?Sized + PlatformStore,
>(
    store: Arc<S>,
) {
    let signed = platform(
        1,
        StoredLaunchKey::Hs256 {
            sealed: Sealed::from_bytes(vec![1; 40]),
        },
    );
    let lti = lti(2, "https://canvas.instructure.com", "10000000000002");
    store
        .create_platform(&signed, &audit(AdminAction::PlatformAdded))
        .await
        .unwrap();
    store
        .create_lti_platform(&lti, &audit(AdminAction::PlatformAdded))
        .await
        .unwrap();
    assert_eq!(
        store.embedding_origins(signed.id).await.unwrap(),
        signed.origins
    );
    assert_eq!(store.embedding_origins(lti.id).await.unwrap(), lti.origins);
    let nobody = PlatformId::from_random_bytes([42; 16]);
    assert!(store.embedding_origins(nobody).await.unwrap().is_empty());

    let policy = gptgate_domain::ChatPolicy::default();
    let visitor = policy.open(
        gptgate_domain::ChatVisitor::Launched {
            platform: lti.id,
            subject: "student-1".into(),
        },
        gptgate_domain::TokenHash::from_bytes([5; 32]),
        T0,
    );
    store.create_chat_session(&visitor).await.unwrap();
    assert_eq!(
        store.find_chat_session(&visitor.token_hash).await.unwrap(),
        Some(visitor.clone()),
        "an LTI visitor's session counts while the registration stands"
    );
    assert!(store
        .delete_platform(lti.id, &audit(AdminAction::PlatformRemoved))
        .await
        .unwrap());
    assert_eq!(
        store.find_chat_session(&visitor.token_hash).await.unwrap(),
        None
    );
    assert!(store.lti_platforms().await.unwrap().is_empty());
    assert!(store.embedding_origins(lti.id).await.unwrap().is_empty());
    // A session stored after the removal opens nothing either.
    store.create_chat_session(&visitor).await.unwrap_or(());
    assert_eq!(
        store.find_chat_session(&visitor.token_hash).await.unwrap(),
        None
    );
    assert_eq!(store.platforms().await.unwrap(), [signed]);
}
