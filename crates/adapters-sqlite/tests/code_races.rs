//! The shared code-record SQL (sql/codes.rs) against a race the contract suite cannot stage:
//! between an update's read and its write, the purge deletes the row and a new send re-creates
//! it at version 0, the version the update read. The update must not write its decision, made
//! on the old row, over the new one: it must decide again on the new row.

use gptgate_adapters_sqlite::SqliteStore;
use gptgate_domain::{CodeHash, CodeRecord, Email};
use gptgate_ports::{Store as _, VerificationCodeRepository};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const OLD_SEND: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const NEW_SEND: OffsetDateTime = datetime!(2026-01-03 00:00 UTC);

fn sent_at(email: &Email, at: OffsetDateTime, hash: u8) -> CodeRecord {
    CodeRecord {
        email: email.clone(),
        code_hash: Some(CodeHash::from_bytes(vec![hash; 32])),
        expires_at: at + Duration::minutes(10),
        attempts: 0,
        last_sent_at: at,
        send_window_started_at: at,
        sends_in_window: 1,
        attempt_window_started_at: at,
        attempts_in_window: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_read_a_purged_row_decides_again_on_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("race.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let ann = Email::parse("ann@example.com").unwrap();
    store
        .update_code(&ann, &mut |_| Some(sent_at(&ann, OLD_SEND, 1)))
        .await
        .unwrap();

    let mut seen = Vec::new();
    store
        .update_code(&ann, &mut |current| {
            let current = current.cloned();
            if seen.is_empty() {
                // Between this read and its write: the purge, then a new send, by another
                // process on the same database file.
                let url = url.clone();
                let ann = ann.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let other = SqliteStore::connect(&url).await.unwrap();
                        purge_as_the_hourly_task_does(&other, &ann).await;
                        other
                            .update_code(&ann, &mut |_| Some(sent_at(&ann, NEW_SEND, 2)))
                            .await
                            .unwrap();
                    });
                })
                .join()
                .unwrap();
            }
            seen.push(current.clone());
            // The decision: count an attempt on whatever record was read.
            current.map(|mut record| {
                record.attempts += 1;
                record
            })
        })
        .await
        .unwrap();

    assert_eq!(seen.len(), 2, "decided again after losing the race");
    assert_eq!(seen[0].as_ref().unwrap().last_sent_at, OLD_SEND);
    assert_eq!(seen[1].as_ref().unwrap().last_sent_at, NEW_SEND);
    let stored = store.find_code(&ann).await.unwrap().unwrap();
    assert_eq!(stored.last_sent_at, NEW_SEND, "the new send's row is kept");
    assert_eq!(stored.code_hash, sent_at(&ann, NEW_SEND, 2).code_hash);
    assert_eq!(stored.attempts, 1, "the attempt counted on the new row");
}

/// Deletes `email`'s code record as the hourly purge does (through the store's own port).
async fn purge_as_the_hourly_task_does(store: &SqliteStore, email: &Email) {
    use gptgate_ports::Housekeeping;
    // Everything that ended before a time far in the future: the old record goes.
    let far = datetime!(2100-01-01 00:00 UTC);
    store.purge(far).await.unwrap();
    assert!(store.find_code(email).await.unwrap().is_none());
}
