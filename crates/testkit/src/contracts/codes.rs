use std::sync::Arc;

use gptgate_domain::{CodeHash, CodeRecord, Email};
use time::Duration;

use super::fixtures::{email, T0};
use super::CodeStore;

fn record(email: &Email, hash: u8) -> CodeRecord {
    CodeRecord {
        email: email.clone(),
        code_hash: Some(CodeHash::from_bytes(vec![hash; 32])),
        expires_at: T0 + Duration::minutes(10),
        attempts: 2,
        last_sent_at: T0,
        send_window_started_at: T0 - Duration::minutes(3),
        sends_in_window: 3,
        attempt_window_started_at: T0 - Duration::minutes(7),
        attempts_in_window: 9,
    }
}

pub async fn code_update_of_a_new_email_sees_no_record<S: ?Sized + CodeStore>(store: Arc<S>) {
    let ann = email("ann");
    let mut seen = Some(true);
    store
        .update_code(&ann, &mut |current| {
            seen = Some(current.is_some());
            None
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        Some(false),
        "the change must be called once, with no record"
    );
    assert_eq!(
        store.find_code(&ann).await.unwrap(),
        None,
        "returning None stores nothing"
    );
}

pub async fn code_update_stores_and_replaces_the_record<S: ?Sized + CodeStore>(store: Arc<S>) {
    let ann = email("ann");
    let first = record(&ann, 1);
    store
        .update_code(&ann, &mut |_| Some(first.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.find_code(&ann).await.unwrap(),
        Some(first.clone()),
        "every field round-trips"
    );

    let mut used = first.clone();
    used.code_hash = None;
    used.attempts = 3;
    let mut seen = None;
    store
        .update_code(&ann, &mut |current| {
            seen = current.cloned();
            Some(used.clone())
        })
        .await
        .unwrap();
    assert_eq!(seen, Some(first), "the change sees the stored record");
    assert_eq!(
        store.find_code(&ann).await.unwrap(),
        Some(used),
        "a used code is stored as none"
    );
}

pub async fn code_update_that_returns_nothing_keeps_the_record<S: ?Sized + CodeStore>(
    store: Arc<S>,
) {
    let ann = email("ann");
    let first = record(&ann, 1);
    store
        .update_code(&ann, &mut |_| Some(first.clone()))
        .await
        .unwrap();
    store.update_code(&ann, &mut |_| None).await.unwrap();
    assert_eq!(store.find_code(&ann).await.unwrap(), Some(first));
}

pub async fn code_records_of_different_emails_are_separate<S: ?Sized + CodeStore>(store: Arc<S>) {
    let (ann, bob) = (email("ann"), email("bob"));
    store
        .update_code(&ann, &mut |_| Some(record(&ann, 1)))
        .await
        .unwrap();
    store
        .update_code(&bob, &mut |_| Some(record(&bob, 2)))
        .await
        .unwrap();
    assert_eq!(store.find_code(&ann).await.unwrap(), Some(record(&ann, 1)));
    assert_eq!(store.find_code(&bob).await.unwrap(), Some(record(&bob, 2)));
}

pub async fn code_updates_of_one_email_never_interleave<S: ?Sized + CodeStore>(store: Arc<S>) {
    let ann = email("ann");
    let mut start = record(&ann, 1);
    start.attempts = 0;
    store
        .update_code(&ann, &mut |_| Some(start.clone()))
        .await
        .unwrap();

    const WRITERS: u32 = 40;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            let ann = ann.clone();
            tokio::spawn(async move {
                store
                    .update_code(&ann, &mut |current| {
                        // A store may guess first that there is no record: nothing to count.
                        let mut next = current.cloned()?;
                        next.attempts += 1;
                        Some(next)
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let end = store.find_code(&ann).await.unwrap().unwrap();
    assert_eq!(end.attempts, WRITERS, "no increment may be lost");
}

pub async fn a_code_is_used_up_once_and_only_while_it_is_the_live_one<S: ?Sized + CodeStore>(
    store: Arc<S>,
) {
    let ann = email("ann");
    let hash = |n: u8| CodeHash::from_bytes(vec![n; 32]);
    assert!(!store.use_code(&ann, &hash(1)).await.unwrap(), "no record");
    assert_eq!(store.find_code(&ann).await.unwrap(), None);
    let issued = record(&ann, 1);
    store
        .update_code(&ann, &mut |_| Some(issued.clone()))
        .await
        .unwrap();
    assert!(
        !store.use_code(&ann, &hash(2)).await.unwrap(),
        "another code"
    );
    assert_eq!(store.find_code(&ann).await.unwrap(), Some(issued.clone()));
    // Eight at once with the right hash: one uses it up; nothing else of the record changes.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let ann = ann.clone();
            tokio::spawn(async move { store.use_code(&ann, &hash(1)).await.unwrap() })
        })
        .collect();
    let mut used = 0;
    for task in tasks {
        if task.await.unwrap() {
            used += 1;
        }
    }
    assert_eq!(used, 1);
    assert_eq!(
        store.find_code(&ann).await.unwrap(),
        Some(CodeRecord {
            code_hash: None,
            ..issued.clone()
        })
    );
    // A newer code replaced the one compared: not used up.
    let newer = record(&ann, 3);
    store
        .update_code(&ann, &mut |_| Some(newer.clone()))
        .await
        .unwrap();
    assert!(!store.use_code(&ann, &hash(1)).await.unwrap());
    assert_eq!(store.find_code(&ann).await.unwrap(), Some(newer));
}

pub async fn a_used_code_stays_used_when_a_write_decided_before_lands<S: ?Sized + CodeStore>(
    store: Arc<S>,
) {
    let ann = email("ann");
    let issued = record(&ann, 1);
    store
        .update_code(&ann, &mut |_| Some(issued.clone()))
        .await
        .unwrap();
    // An attempt is being counted: its update read the record (the code still live) and
    // decides; meanwhile the code is used up. Its write must not bring the code back.
    let (read_tx, read_rx) = std::sync::mpsc::channel::<()>();
    let (used_tx, used_rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let (store, ann) = (store.clone(), ann.clone());
        tokio::spawn(async move {
            let mut first = true;
            store
                .update_code(&ann, &mut move |r| {
                    let r = r?;
                    if std::mem::take(&mut first) {
                        let _ = read_tx.send(());
                        // A store that holds a lock while deciding lets the use wait
                        // instead: go on after a while.
                        let _ = used_rx.recv_timeout(std::time::Duration::from_secs(1));
                    }
                    Some(CodeRecord {
                        attempts: r.attempts + 1,
                        ..r.clone()
                    })
                })
                .await
                .unwrap();
        })
    };
    tokio::task::spawn_blocking(move || read_rx.recv())
        .await
        .unwrap()
        .unwrap();
    let hash = CodeHash::from_bytes(vec![1; 32]);
    assert!(store.use_code(&ann, &hash).await.unwrap());
    let _ = used_tx.send(());
    writer.await.unwrap();
    let stored = store.find_code(&ann).await.unwrap().unwrap();
    assert_eq!(stored.code_hash, None, "the used code did not come back");
    assert_eq!(
        stored.attempts,
        issued.attempts + 1,
        "and the attempt was counted"
    );
}
