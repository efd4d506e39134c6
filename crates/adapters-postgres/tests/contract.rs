//! The PostgreSQL store passes the shared storage contract, each check on a fresh database. A
//! runner of its own: without a reachable server the checks are reported as ignored (with
//! `CI=true`, as failed), never run against another store.

#[allow(
    dead_code,
    reason = "shared by the direct and the pooled runners, each using its part"
)]
mod support;

mod connections;

use std::process::ExitCode;
use std::sync::Arc;

use gptgate_domain::{CodeHash, CodeRecord, Email, Identity, SessionId, SessionPolicy, UserId};
use gptgate_ports::{
    CodeSignIn, SessionRepository, SignInRepository, Store, UserRepository,
    VerificationCodeRepository,
};
use gptgate_testkit::contracts::storage_contract_checks;
use gptgate_testkit::harness::{async_trial, contract_trials, run};
use gptgate_testkit::TestStore;
use sqlx::Connection;

fn main() -> ExitCode {
    let mut trials = contract_trials(storage_contract_checks(), || async {
        let (store, guard) = support::fresh_database().await;
        TestStore::<dyn Store> {
            store: Arc::new(store),
            guard: Some(Box::new(guard)),
        }
    });
    trials.push(async_trial(
        "migrations_apply_to_an_empty_database_and_again_as_a_no_op",
        || async {
            let (store, guard) = support::empty_database().await;
            store.migrate().await.expect("migrations apply");
            store
                .migrate()
                .await
                .expect("applied migrations are skipped");
            store.ping().await.expect("the store answers");
            drop(guard);
        },
    ));
    trials.push(async_trial(
        "the_limits_counters_are_unlogged_tables",
        || async {
            // A spend must not wait for a log flush while it holds its row (migration
            // 20261127000021): only these two tables, whose loss in a crash is a restart of
            // the limits; everything else is logged.
            let (_store, guard) = support::fresh_database().await;
            let mut conn = sqlx::PgConnection::connect(&guard.url()).await.unwrap();
            let unlogged: Vec<String> = sqlx::query_scalar(
                "SELECT relname::text FROM pg_class JOIN pg_namespace n ON n.oid = relnamespace \
                 WHERE nspname = 'public' AND relkind = 'r' AND relpersistence = 'u' \
                 ORDER BY relname",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert_eq!(unlogged, ["budget_windows", "rate_buckets"]);
            conn.close().await.unwrap();
        },
    ));
    trials.push(async_trial(
        "a_first_sight_that_waited_for_a_concurrent_one_reads_its_user",
        || async {
            // The one-statement claim cannot see a holder committed after it began (it waited
            // for that insert): it reads again, and leaves no user of its own behind.
            let (store, guard) = support::fresh_database().await;
            let store = Arc::new(store);
            let winner = UserId::from_uuid(uuid::Uuid::from_u128(1));
            let loser = UserId::from_uuid(uuid::Uuid::from_u128(2));
            let identity = Identity::email(&Email::parse("race@example.com").unwrap());
            let mut first =
                support::first_sight_held_open(&guard.url(), winner, "race@example.com").await;
            let second = tokio::spawn({
                let store = store.clone();
                let identity = identity.clone();
                async move {
                    store
                        .find_or_create_user(
                            &identity,
                            loser,
                            time::macros::datetime!(2026-01-01 12:00 UTC),
                        )
                        .await
                }
            });
            support::until_one_waits(&guard.url()).await;
            sqlx::query("COMMIT").execute(&mut first).await.unwrap();
            let found = second.await.unwrap().expect("the winner's user");
            assert_eq!(found.id, winner);
            assert!(store.find_user(loser).await.unwrap().is_none());
            drop(store);
            drop(guard);
        },
    ));
    trials.push(async_trial(
        "a_first_send_that_waited_for_a_concurrent_one_decides_on_its_record",
        || async {
            // The one-statement first send cannot see a record committed after it began (its
            // insert waited for that one): it reads the record and decides on it.
            let (store, guard) = support::fresh_database().await;
            let store = Arc::new(store);
            let t0 = time::macros::datetime!(2026-01-01 12:00 UTC);
            let email = Email::parse("race@example.com").unwrap();
            let mut other = sqlx::PgConnection::connect(&guard.url()).await.unwrap();
            let mut first = other.begin().await.unwrap();
            sqlx::query(
                "INSERT INTO verification_codes (email, code_hash, expires_at, attempts, \
                 last_sent_at, send_window_started_at, sends_in_window, \
                 attempt_window_started_at, attempts_in_window, version) \
                 VALUES ('race@example.com', '\\x01', $1, 0, $1, $1, 1, $1, 0, 0)",
            )
            .bind(t0)
            .execute(&mut *first)
            .await
            .unwrap();
            let second = tokio::spawn({
                let store = store.clone();
                let email = email.clone();
                async move {
                    let mut seen = Vec::new();
                    store
                        .update_code(&email, &mut |previous| {
                            seen.push(previous.map(|r| r.sends_in_window));
                            Some(CodeRecord {
                                email: email.clone(),
                                code_hash: Some(CodeHash::from_bytes(vec![2])),
                                expires_at: t0,
                                attempts: 0,
                                last_sent_at: t0,
                                send_window_started_at: t0,
                                sends_in_window: previous.map_or(1, |r| r.sends_in_window + 1),
                                attempt_window_started_at: t0,
                                attempts_in_window: 0,
                            })
                        })
                        .await
                        .map(|()| seen)
                }
            });
            support::until_one_waits(&guard.url()).await;
            first.commit().await.unwrap();
            let seen = second.await.unwrap().expect("the send is stored");
            assert_eq!(
                seen,
                [None, Some(1)],
                "decided first blind, then on the record"
            );
            let stored = store.find_code(&email).await.unwrap().unwrap();
            assert_eq!(stored.sends_in_window, 2);
            assert_eq!(stored.code_hash, Some(CodeHash::from_bytes(vec![2])));
            drop(store);
            drop(guard);
        },
    ));
    trials.push(async_trial(
        "a_sign_in_that_waited_for_a_concurrent_first_sight_opens_its_users_session",
        || async {
            // The one-statement sign-in uses the code, then cannot see the identity's holder
            // committed after it began (its claim waited for that one): it reads the holder
            // and opens the session in statements of their own.
            let (store, guard) = support::fresh_database().await;
            let store = Arc::new(store);
            let t0 = time::macros::datetime!(2026-01-01 12:00 UTC);
            let winner = UserId::from_uuid(uuid::Uuid::from_u128(1));
            let loser = UserId::from_uuid(uuid::Uuid::from_u128(2));
            let email = Email::parse("race@example.com").unwrap();
            let hash = CodeHash::from_bytes(vec![7; 32]);
            let live = CodeRecord {
                email: email.clone(),
                code_hash: Some(hash.clone()),
                expires_at: t0 + time::Duration::minutes(10),
                attempts: 1,
                last_sent_at: t0,
                send_window_started_at: t0,
                sends_in_window: 1,
                attempt_window_started_at: t0,
                attempts_in_window: 1,
            };
            store
                .update_code(&email, &mut |_| Some(live.clone()))
                .await
                .unwrap();
            let mut first =
                support::first_sight_held_open(&guard.url(), winner, "race@example.com").await;
            let second = tokio::spawn({
                let store = store.clone();
                let email = email.clone();
                async move {
                    store
                        .sign_in_with_code(CodeSignIn {
                            email: &email,
                            matched: &hash,
                            new_user: loser,
                            session_id: SessionId::from_random_bytes([3; 16]),
                            sessions: &SessionPolicy::default(),
                            now: t0,
                        })
                        .await
                }
            });
            support::until_one_waits(&guard.url()).await;
            sqlx::query("COMMIT").execute(&mut first).await.unwrap();
            let session = second.await.unwrap().unwrap().expect("signed in");
            assert_eq!(session.user_id, winner);
            let stored = store
                .find_session(SessionId::from_random_bytes([3; 16]))
                .await
                .unwrap();
            assert_eq!(stored.map(|s| s.user_id), Some(winner));
            assert!(store.find_user(loser).await.unwrap().is_none());
            assert_eq!(
                store.find_code(&email).await.unwrap().unwrap().code_hash,
                None
            );
            drop(store);
            drop(guard);
        },
    ));
    trials.extend(connections::trials());
    run(
        support::reachable().and_then(|()| support::prepare_template()),
        trials,
    )
}
