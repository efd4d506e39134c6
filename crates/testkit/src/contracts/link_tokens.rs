use std::sync::Arc;

use gptgate_domain::{
    AccountLabel, ManagementToken, OAuthState, OnboardingToken, ProviderId, Sealed, TokenHash,
    UserId,
};
use time::Duration;

use super::fixtures::{user, T0};
use super::Store;

pub fn onboarding(user: UserId, n: u8) -> OnboardingToken {
    OnboardingToken {
        hash: TokenHash::from_bytes([n; 32]),
        user_id: user,
        provider: ProviderId::Slack,
        label: AccountLabel::parse("work").unwrap(),
        expires_at: T0 + Duration::minutes(10),
        used_at: None,
        created_at: T0,
    }
}

pub fn oauth_state(user: UserId, n: u8, verifier: Option<Sealed>) -> OAuthState {
    OAuthState {
        hash: TokenHash::from_bytes([n; 32]),
        user_id: user,
        provider: ProviderId::Linear,
        label: AccountLabel::parse("eng").unwrap(),
        pkce_verifier: verifier,
        browser: TokenHash::from_bytes([n.wrapping_add(100); 32]),
        redirect_uri: "https://gpt.example.com/auth/callback/linear".into(),
        expires_at: T0 + Duration::minutes(10),
        created_at: T0,
    }
}

pub async fn an_onboarding_token_is_consumed_once_and_never_after_expiry(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let token = onboarding(ann, 1);
    store.create_onboarding_token(&token).await.unwrap();
    let at = T0 + Duration::minutes(10) - Duration::seconds(1);
    let consumed = store
        .consume_onboarding_token(&token.hash, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(consumed.used_at, Some(at));
    assert_eq!(
        OnboardingToken {
            used_at: None,
            ..consumed
        },
        token,
        "every field round-trips"
    );
    assert_eq!(
        store
            .consume_onboarding_token(&token.hash, at)
            .await
            .unwrap(),
        None,
        "used"
    );

    let late = onboarding(ann, 2);
    store.create_onboarding_token(&late).await.unwrap();
    let expiry = T0 + Duration::minutes(10);
    assert_eq!(
        store
            .consume_onboarding_token(&late.hash, expiry)
            .await
            .unwrap(),
        None,
        "expired"
    );
    let unknown = TokenHash::from_bytes([99; 32]);
    assert_eq!(
        store.consume_onboarding_token(&unknown, T0).await.unwrap(),
        None
    );
}

pub async fn concurrent_consumers_of_one_onboarding_token_get_it_once(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let token = onboarding(ann, 1);
    store.create_onboarding_token(&token).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let hash = token.hash.clone();
            tokio::spawn(async move { store.consume_onboarding_token(&hash, T0).await })
        })
        .collect();
    let mut got = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_some() {
            got += 1;
        }
    }
    assert_eq!(got, 1);
}

pub async fn a_management_token_is_found_until_it_expires(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let token = ManagementToken {
        hash: TokenHash::from_bytes([5; 32]),
        user_id: ann,
        expires_at: T0 + Duration::hours(1),
        created_at: T0,
        signed_in: true,
    };
    store.create_management_token(&token).await.unwrap();
    let link = ManagementToken {
        hash: TokenHash::from_bytes([6; 32]),
        signed_in: false,
        ..token.clone()
    };
    store.create_management_token(&link).await.unwrap();
    assert_eq!(
        store.find_management_token(&link.hash, T0).await.unwrap(),
        Some(link),
        "whether it was signed in round-trips"
    );
    let before = T0 + Duration::hours(1) - Duration::seconds(1);
    assert_eq!(
        store
            .find_management_token(&token.hash, before)
            .await
            .unwrap(),
        Some(token.clone())
    );
    assert_eq!(
        store
            .find_management_token(&token.hash, before)
            .await
            .unwrap(),
        Some(token.clone()),
        "reusable"
    );
    assert_eq!(
        store
            .find_management_token(&token.hash, T0 + Duration::hours(1))
            .await
            .unwrap(),
        None
    );
    // Signing out deletes it: gone at once, and only once.
    assert!(store.delete_management_token(&token.hash).await.unwrap());
    assert_eq!(
        store
            .find_management_token(&token.hash, before)
            .await
            .unwrap(),
        None
    );
    assert!(!store.delete_management_token(&token.hash).await.unwrap());
}

pub async fn an_oauth_state_is_taken_once_and_never_after_expiry(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let with_verifier = oauth_state(ann, 1, Some(Sealed::from_bytes(vec![1, 2, 3])));
    let without = oauth_state(ann, 2, None);
    store.create_oauth_state(&with_verifier).await.unwrap();
    store.create_oauth_state(&without).await.unwrap();
    assert_eq!(
        store
            .take_oauth_state(&with_verifier.hash, T0)
            .await
            .unwrap(),
        Some(with_verifier.clone())
    );
    assert_eq!(
        store
            .take_oauth_state(&with_verifier.hash, T0)
            .await
            .unwrap(),
        None,
        "replayed"
    );
    let expiry = T0 + Duration::minutes(10);
    assert_eq!(
        store.take_oauth_state(&without.hash, expiry).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.take_oauth_state(&without.hash, T0).await.unwrap(),
        None,
        "and removed"
    );
}

pub async fn concurrent_callbacks_with_one_state_take_it_once(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let state = oauth_state(ann, 1, None);
    store.create_oauth_state(&state).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let hash = state.hash.clone();
            tokio::spawn(async move { store.take_oauth_state(&hash, T0).await })
        })
        .collect();
    let mut got = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_some() {
            got += 1;
        }
    }
    assert_eq!(got, 1);
}

pub async fn an_onboarding_token_can_be_looked_at_without_using_it(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let token = onboarding(ann, 1);
    store.create_onboarding_token(&token).await.unwrap();
    let last = T0 + Duration::minutes(10) - Duration::seconds(1);
    for _ in 0..3 {
        assert_eq!(
            store
                .find_onboarding_token(&token.hash, last)
                .await
                .unwrap(),
            Some(token.clone()),
            "looking changes nothing"
        );
    }
    assert_eq!(
        store
            .find_onboarding_token(&token.hash, T0 + Duration::minutes(10))
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert!(store
        .consume_onboarding_token(&token.hash, last)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .find_onboarding_token(&token.hash, last)
            .await
            .unwrap(),
        None,
        "used"
    );
    assert_eq!(
        store
            .find_onboarding_token(&TokenHash::from_bytes([99; 32]), T0)
            .await
            .unwrap(),
        None,
        "unknown"
    );
}

pub async fn pending_states_are_scanned_in_pages_and_their_verifier_replaced(
    store: Arc<dyn Store>,
) {
    let ann = user(store.as_ref(), 1).await;
    for n in [3u8, 1, 2] {
        store
            .create_oauth_state(&oauth_state(ann, n, Some(Sealed::from_bytes(vec![n]))))
            .await
            .unwrap();
    }
    let first = store.oauth_states_page(None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|s| s.hash.clone()).collect::<Vec<_>>(),
        vec![
            TokenHash::from_bytes([1; 32]),
            TokenHash::from_bytes([2; 32])
        ],
        "ordered by hash"
    );
    assert_eq!(
        first[0],
        oauth_state(ann, 1, Some(Sealed::from_bytes(vec![1]))),
        "every field"
    );
    let rest = store
        .oauth_states_page(Some(first[1].hash.clone()), 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].hash, TokenHash::from_bytes([3; 32]));
    assert!(store
        .oauth_states_page(Some(rest[0].hash.clone()), 2)
        .await
        .unwrap()
        .is_empty());

    let again = Sealed::from_bytes(vec![7, 7]);
    assert!(store
        .replace_pkce_verifier(&rest[0].hash, &again)
        .await
        .unwrap());
    let taken = store
        .take_oauth_state(&rest[0].hash, T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.pkce_verifier, Some(again.clone()));
    assert!(
        !store
            .replace_pkce_verifier(&rest[0].hash, &again)
            .await
            .unwrap(),
        "gone"
    );
}

pub async fn an_export_link_is_consumed_once_and_never_after_expiry(store: Arc<dyn Store>) {
    use gptgate_domain::ExportLink;
    let ann = user(store.as_ref(), 1).await;
    let link = ExportLink {
        hash: TokenHash::from_bytes([7; 32]),
        user_id: ann,
        expires_at: T0 + ExportLink::TTL,
        used_at: None,
        created_at: T0,
    };
    store.create_export_link(&link).await.unwrap();
    let last = T0 + ExportLink::TTL - Duration::seconds(1);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let hash = link.hash.clone();
            tokio::spawn(async move { store.consume_export_link(&hash, last).await })
        })
        .collect();
    let mut got = Vec::new();
    for task in tasks {
        if let Some(l) = task.await.unwrap().unwrap() {
            got.push(l);
        }
    }
    assert_eq!(
        got,
        vec![ExportLink {
            used_at: Some(last),
            ..link.clone()
        }],
        "exactly one, every field round-tripped"
    );
    let late = ExportLink {
        hash: TokenHash::from_bytes([8; 32]),
        ..link
    };
    store.create_export_link(&late).await.unwrap();
    assert_eq!(
        store
            .consume_export_link(&late.hash, late.expires_at)
            .await
            .unwrap(),
        None,
        "expired"
    );
    store.delete_user(ann).await.unwrap();
    assert_eq!(
        store.consume_export_link(&late.hash, T0).await.unwrap(),
        None,
        "gone with the user"
    );
}
