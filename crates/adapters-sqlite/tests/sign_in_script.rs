//! The sign-in script (`src/sessions.rs`) where the contract suite cannot take it: failing
//! mid-way and cut off mid-way, on a database file and in memory. The script holds a
//! transaction on the one writer that only its own last statement ends, so either must leave
//! all of itself or nothing (no user without a session, no used code without one, no session
//! with a live code), and a writer that is not still inside its transaction (the next write
//! would join it, never committed). In memory, the writer must not be closed either: the
//! database goes with its one connection.

use std::time::Duration;

use gptgate_adapters_sqlite::SqliteStore;
use gptgate_domain::{CodeHash, Email, Identity, SessionId, SessionPolicy, UserId};
use gptgate_ports::{
    CodeSignIn, SessionRepository, SignInRepository, Store as _, UserRepository,
    VerificationCodeRepository,
};
use gptgate_testkit::contracts::live_code;
use time::macros::datetime;
use time::OffsetDateTime;

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

/// A store on a database file in `dir`, or in memory.
async fn store(dir: Option<&tempfile::TempDir>) -> SqliteStore {
    let url = match dir {
        Some(dir) => format!("sqlite://{}", dir.path().join("sign-in.db").display()),
        None => "sqlite::memory:".to_owned(),
    };
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn email(n: usize) -> Email {
    Email::parse(&format!("user{n}@example.com")).unwrap()
}

fn user_id(n: usize) -> UserId {
    UserId::from_random_bytes(id_bytes(1, n))
}

fn session_id(n: usize) -> SessionId {
    SessionId::from_random_bytes(id_bytes(2, n))
}

fn id_bytes(kind: u8, n: usize) -> [u8; 16] {
    let mut bytes = [kind; 16];
    bytes[8..].copy_from_slice(&(n as u64).to_be_bytes());
    bytes
}

const HASH: u8 = 7;

fn sign_in(n: usize, session: usize) -> (Email, UserId, SessionId) {
    (email(n), user_id(n), session_id(session))
}

async fn sign_in_with(
    store: &SqliteStore,
    (email, new_user, session_id): &(Email, UserId, SessionId),
) -> Result<Option<gptgate_domain::Session>, gptgate_ports::StorageError> {
    store
        .sign_in_with_code(CodeSignIn {
            email,
            matched: &CodeHash::from_bytes(vec![HASH; 32]),
            new_user: *new_user,
            session_id: *session_id,
            sessions: &SessionPolicy::default(),
            now: T0,
        })
        .await
}

/// What is stored of sign-in `n` (its session numbered `session`), read on the readers: the
/// code used, the user created, the session opened. Each read sees only what was committed.
async fn stored(store: &SqliteStore, n: usize, session: usize) -> (bool, bool, bool) {
    let code = store.find_code(&email(n)).await.unwrap().unwrap();
    let user = store.find_user(user_id(n)).await.unwrap();
    let opened = store.find_session(session_id(session)).await.unwrap();
    (code.code_hash.is_none(), user.is_some(), opened.is_some())
}

/// The whole sign-in or nothing of it.
fn whole_or_nothing(seen: (bool, bool, bool), what: &str) {
    assert!(
        seen == (true, true, true) || seen == (false, false, false),
        "{what}: code used, user created, session opened = {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_fails_mid_way_leaves_nothing_and_the_writer_free() {
    let dir = tempfile::tempdir().unwrap();
    fails_mid_way(store(Some(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_a_script_that_fails_mid_way_leaves_nothing_and_the_writer_free() {
    fails_mid_way(store(None).await).await;
}

async fn fails_mid_way(store: SqliteStore) {
    // Session 1 is taken: the script's session insert, its third write, fails on it, after
    // its user and identity were written.
    let holder = store
        .find_or_create_user(&Identity::email(&email(100)), user_id(100), T0)
        .await
        .unwrap();
    store
        .create_session(&SessionPolicy::default().open(session_id(1), holder.id, T0))
        .await
        .unwrap();
    live_code(&store, &email(1), HASH).await;

    let failed = sign_in_with(&store, &sign_in(1, 1)).await;
    assert!(failed.is_err(), "a taken session id fails: {failed:?}");
    assert_eq!(stored(&store, 1, 2).await, (false, false, false));
    assert_eq!(
        store
            .find_or_create_user(&Identity::email(&email(1)), user_id(99), T0)
            .await
            .unwrap()
            .id,
        user_id(99),
        "the failed script left no holder of the address"
    );

    // The writer is not left in the failed script's transaction: the next sign-in commits.
    live_code(&store, &email(2), HASH).await;
    let next = sign_in_with(&store, &sign_in(2, 2)).await.unwrap();
    assert!(next.is_some());
    assert_eq!(stored(&store, 2, 2).await, (true, true, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_cut_off_at_any_point_leaves_all_of_itself_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    cut_off(store(Some(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_a_script_cut_off_at_any_point_leaves_all_of_itself_or_nothing() {
    cut_off(store(None).await).await;
}

async fn cut_off(store: SqliteStore) {
    // Each sign-in is given a little longer before it is cut off, from nothing at all (its
    // first poll) to more than it needs, so that some are cut off inside the script.
    let tries = 60;
    for n in 0..tries {
        live_code(&store, &email(n), HASH).await;
        let cut_after = Duration::from_micros(25 * n as u64);
        let _ = tokio::time::timeout(cut_after, sign_in_with(&store, &sign_in(n, n))).await;
        // A write after it: committed, whatever the cut left on the writer.
        live_code(&store, &email(tries + n), HASH).await;
        let next = sign_in_with(&store, &sign_in(tries + n, tries + n))
            .await
            .unwrap();
        assert!(next.is_some(), "sign-in {n}: the next one signs in");
        assert_eq!(
            stored(&store, tries + n, tries + n).await,
            (true, true, true),
            "sign-in {n}: the next one is committed"
        );
        whole_or_nothing(stored(&store, n, n).await, &format!("sign-in {n}, cut off"));
    }
}
