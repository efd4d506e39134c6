use std::sync::Arc;

use gptgate_domain::TokenBucket;
use gptgate_ports::BucketRepository;
use time::Duration;

use super::fixtures::T0;

/// 40 concurrent takes of 2 tokens from a bucket of 25 get 25 tokens in all; another key's
/// bucket is untouched; a change that returns nothing leaves the instant as it is.
pub async fn buckets_never_overspend_and_keys_are_separate(buckets: Arc<dyn BucketRepository>) {
    let bucket = TokenBucket::per_minute(60, 25).unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let buckets = buckets.clone();
            tokio::spawn(async move {
                let mut granted = 0;
                buckets
                    .update_bucket("api_key:a", &mut |full_at| {
                        let taken = bucket.take(full_at, 2, T0).ok()?;
                        granted = taken.granted;
                        Some(taken.full_at)
                    })
                    .await
                    .map(|()| granted)
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += task.await.unwrap().unwrap();
    }
    assert_eq!(granted, 25);

    let mut seen = None;
    buckets
        .update_bucket("api_key:b", &mut |full_at| {
            seen = Some(full_at);
            None
        })
        .await
        .unwrap();
    assert_eq!(seen, Some(None), "another key starts full");
    buckets
        .update_bucket("api_key:a", &mut |full_at| {
            seen = Some(full_at);
            None
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        Some(Some(T0 + Duration::seconds(25))),
        "and returning nothing kept key a's instant, to the second"
    );
}

/// The same on a whole store: its buckets are kept where every instance on it counts together.
pub async fn a_stores_buckets_never_overspend(store: Arc<dyn crate::Store>) {
    buckets_never_overspend_and_keys_are_separate(store).await;
}
