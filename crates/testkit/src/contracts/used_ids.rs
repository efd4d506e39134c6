use std::sync::Arc;

use time::Duration;

use super::fixtures::T0;
use super::UsedIdStore;

pub async fn an_id_is_used_once_per_issuer<S: ?Sized + UsedIdStore>(store: Arc<S>) {
    let until = T0 + Duration::minutes(10);
    assert!(store
        .use_once("https://a.example", "jti-1", until)
        .await
        .unwrap());
    assert!(
        !store
            .use_once("https://a.example", "jti-1", until)
            .await
            .unwrap(),
        "a replay"
    );
    assert!(
        store
            .use_once("https://b.example", "jti-1", until)
            .await
            .unwrap(),
        "another issuer's id of the same name"
    );
    assert!(store
        .use_once("https://a.example", "jti-2", until)
        .await
        .unwrap());
}

pub async fn of_eight_concurrent_uses_of_one_id_one_is_first<S: ?Sized + UsedIdStore>(
    store: Arc<S>,
) {
    let until = T0 + Duration::minutes(10);
    let uses = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.use_once("https://a.example", "jti-race", until).await })
    });
    let firsts = futures::future::join_all(uses)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap().as_ref().unwrap())
        .count();
    assert_eq!(firsts, 1);
}
