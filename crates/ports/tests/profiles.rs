//! The assistant profile use cases on the testkit fakes: a save is a checked new version, not
//! published; publishing and rolling back; an unknown version refused; each change audited.

use std::sync::Arc;

use gptgate_domain::{AdminAction, ProfileError, ProfileInput};
use gptgate_ports::services::{Profiles, ProfilesError};
use gptgate_ports::AdminRepository;
use gptgate_testkit::{FakeClock, InMemoryStore};

fn input(name: &str) -> ProfileInput {
    ProfileInput {
        name: name.into(),
        instructions: "You are a patient Spanish tutor.".into(),
        model: "gpt-4o-mini".into(),
        temperature: 0.7,
        max_output_tokens: 800,
        starters: vec!["Quiz me".into()],
        allowed_models: vec!["gpt-4o-mini".into()],
    }
}

#[tokio::test]
async fn versions_are_saved_checked_published_and_rolled_back_with_an_audit_line_each() {
    let store = Arc::new(InMemoryStore::new());
    let profiles = Profiles::new(store.clone(), store.clone(), Arc::new(FakeClock::new()));
    assert_eq!(profiles.published().await.unwrap(), None);

    let first = profiles.save(input("Tutor"), "192.0.2.1").await.unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(
        profiles.published().await.unwrap(),
        None,
        "a save publishes nothing"
    );
    let mut bad = input("Tutor");
    bad.model = "gpt-5".into();
    assert!(matches!(
        profiles.save(bad, "192.0.2.1").await,
        Err(ProfilesError::Invalid(ProfileError::Model))
    ));
    let second = profiles.save(input("Tutor v2"), "192.0.2.1").await.unwrap();
    assert_eq!(second.version, 2, "a refused save takes no version");

    profiles.publish(2, "192.0.2.1").await.unwrap();
    assert_eq!(profiles.published().await.unwrap(), Some(second));
    profiles.publish(1, "192.0.2.1").await.unwrap();
    assert_eq!(profiles.published().await.unwrap(), Some(first.clone()));
    assert!(matches!(
        profiles.publish(3, "192.0.2.1").await,
        Err(ProfilesError::NoSuchVersion(3))
    ));
    assert_eq!(profiles.version(1).await.unwrap(), Some(first));
    assert_eq!(profiles.versions(10).await.unwrap().len(), 2);

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
            AdminAction::ProfilePublished,
            AdminAction::ProfilePublished,
            AdminAction::ProfileSaved,
            AdminAction::ProfileSaved,
        ]
    );
}
