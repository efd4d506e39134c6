use std::sync::Arc;

use gptgate_domain::{AssistantProfile, ProfileInput};
use time::Duration;

use super::fixtures::T0;
use super::ProfileStore;

fn profile(name: &str, temperature: f32) -> AssistantProfile {
    AssistantProfile::parse(ProfileInput {
        name: name.into(),
        instructions: "Be kind — ünïcode kept.".into(),
        model: "gpt-4o-mini".into(),
        temperature,
        max_output_tokens: 800,
        starters: vec!["Practise ser and estar".into(), "Quiz me".into()],
        allowed_models: vec!["gpt-4o-mini".into(), "llama3.1:8b".into()],
    })
    .unwrap()
}

pub async fn profile_versions_count_up_and_round_trip<S: ?Sized + ProfileStore>(store: Arc<S>) {
    assert!(store.profile_versions(10).await.unwrap().is_empty());
    assert_eq!(store.published_profile().await.unwrap(), None);
    let first = store
        .save_profile_version(&profile("Tutor", 0.7), T0)
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(first.profile, profile("Tutor", 0.7));
    assert_eq!(first.saved_at, T0);
    let second = store
        .save_profile_version(&profile("Tutor v2", 1.3), T0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    assert_eq!(
        store.profile_versions(10).await.unwrap(),
        [second.clone(), first.clone()]
    );
    assert_eq!(
        store.profile_versions(1).await.unwrap(),
        std::slice::from_ref(&second)
    );
    assert_eq!(store.profile_version(1).await.unwrap(), Some(first.clone()));
    assert_eq!(store.profile_version(3).await.unwrap(), None);
    assert_eq!(store.profile_version(u32::MAX).await.unwrap(), None);
}

pub async fn a_published_version_can_be_rolled_back_and_only_saved_ones_publish<
    S: ?Sized + ProfileStore,
>(
    store: Arc<S>,
) {
    assert!(
        !store.publish_profile_version(1, T0).await.unwrap(),
        "none yet"
    );
    let first = store
        .save_profile_version(&profile("Tutor", 0.7), T0)
        .await
        .unwrap();
    let second = store
        .save_profile_version(&profile("Tutor v2", 0.2), T0)
        .await
        .unwrap();
    assert!(store.publish_profile_version(2, T0).await.unwrap());
    assert_eq!(store.published_profile().await.unwrap(), Some(second));
    // Roll back to the first; a version that does not exist changes nothing.
    assert!(store.publish_profile_version(1, T0).await.unwrap());
    assert!(!store.publish_profile_version(9, T0).await.unwrap());
    assert!(!store.publish_profile_version(u32::MAX, T0).await.unwrap());
    assert_eq!(store.published_profile().await.unwrap(), Some(first));
}

pub async fn concurrent_saves_get_distinct_versions<S: ?Sized + ProfileStore>(store: Arc<S>) {
    let saves: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .save_profile_version(&profile(&format!("Tutor {i}"), 0.5), T0)
                    .await
                    .unwrap()
                    .version
            })
        })
        .collect();
    let mut versions = Vec::new();
    for save in saves {
        versions.push(save.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<u32>>());
}
