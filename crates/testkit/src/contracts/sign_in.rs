//! The sign-in races, run through the real `SignIn` service on each store: these are the
//! guarantees the atomic `update_code` exists for; and the last step of a sign-in
//! (`SignInRepository::sign_in_with_code`), one step on the stores that can.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gptgate_domain::{
    CodeHash, CodePolicy, Email, Identity, SessionId, SessionPolicy, VerificationCode,
};
use gptgate_ports::services::{SignIn, SignInPorts};
use gptgate_ports::{CodeHasher, CodeSignIn};

use super::fixtures::{email, user_id, T0};
use super::SignInStore;
use crate::{FakeClock, FakeCodeHasher, FakeSessionTokens, RecordingMailer, SeededRandom};

#[derive(Default)]
struct CountingHasher {
    inner: FakeCodeHasher,
    compared: AtomicUsize,
}

impl CodeHasher for CountingHasher {
    fn hash(&self, email: &Email, code: &VerificationCode) -> CodeHash {
        self.inner.hash(email, code)
    }
    fn matches(&self, email: &Email, code: &VerificationCode, hash: &CodeHash) -> bool {
        self.compared.fetch_add(1, Ordering::SeqCst);
        self.inner.matches(email, code, hash)
    }
}

struct Race {
    sign_in: SignIn,
    hasher: Arc<CountingHasher>,
    code: VerificationCode,
}

async fn race<S: ?Sized + SignInStore>(store: Arc<S>) -> Race {
    let mailer = Arc::new(RecordingMailer::new());
    let hasher = Arc::new(CountingHasher::default());
    let (codes, users, sessions, sign_ins) = store.sign_in_ports();
    let sign_in = SignIn::new(
        SignInPorts {
            codes,
            users,
            sessions,
            sign_ins,
            mailer: mailer.clone(),
            budgets: Arc::new(crate::InMemoryStore::new()),
            hasher: hasher.clone(),
            tokens: Arc::new(FakeSessionTokens),
            clock: Arc::new(FakeClock::new()),
            random: Arc::new(SeededRandom::new(11)),
        },
        CodePolicy::default(),
        SessionPolicy::default(),
    );
    sign_in
        .send_code(&email("racer"), "race")
        .await
        .expect("code is sent");
    let digits = mailer
        .last_code_for("racer@example.com")
        .expect("code was mailed");
    Race {
        sign_in,
        hasher,
        code: VerificationCode::parse(&digits).expect("a valid code"),
    }
}

pub async fn of_eight_concurrent_right_codes_exactly_one_signs_in<S: ?Sized + SignInStore>(
    store: Arc<S>,
) {
    let r = Arc::new(race(store).await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { r.sign_in.verify(&email("racer"), &r.code).await })
        })
        .collect();
    let mut sessions = 0;
    for task in tasks {
        if task.await.expect("no panic").is_ok() {
            sessions += 1;
        }
    }
    assert_eq!(sessions, 1);
}

pub async fn of_fifty_concurrent_wrong_codes_at_most_five_are_compared<S: ?Sized + SignInStore>(
    store: Arc<S>,
) {
    let r = Arc::new(race(store).await);
    let right: u32 = r.code.digits().parse().expect("digits");
    let wrong = VerificationCode::parse(&format!("{:06}", (right + 1) % 1_000_000)).expect("code");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let r = r.clone();
            let wrong = wrong.clone();
            tokio::spawn(async move { r.sign_in.verify(&email("racer"), &wrong).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("no panic").is_err());
    }
    let compared = r.hasher.compared.load(Ordering::SeqCst);
    assert!(compared <= 5, "{compared} codes were compared");
    assert!(
        r.sign_in.verify(&email("racer"), &r.code).await.is_err(),
        "the budget is spent: even the right code is refused"
    );
}

/// A live code for `email` whose hash is `hash`.
/// Gives `email` a live code whose hash is `[hash; 32]` (also for a store's own trials).
pub async fn live_code<S: ?Sized + SignInStore>(store: &S, email: &Email, hash: u8) {
    let record = gptgate_domain::CodeRecord {
        email: email.clone(),
        code_hash: Some(CodeHash::from_bytes(vec![hash; 32])),
        expires_at: T0 + time::Duration::minutes(10),
        attempts: 1,
        last_sent_at: T0,
        send_window_started_at: T0,
        sends_in_window: 1,
        attempt_window_started_at: T0,
        attempts_in_window: 1,
    };
    store
        .update_code(email, &mut |_| Some(record.clone()))
        .await
        .unwrap();
}

fn session_id(n: u8) -> SessionId {
    SessionId::from_random_bytes([n; 16])
}

async fn sign_in_with<S: ?Sized + SignInStore>(
    store: &S,
    email: &Email,
    hash: u8,
    new_user: u8,
    session: u8,
) -> Option<gptgate_domain::Session> {
    store
        .sign_in_with_code(CodeSignIn {
            email,
            matched: &CodeHash::from_bytes(vec![hash; 32]),
            new_user: user_id(new_user),
            session_id: session_id(session),
            sessions: &SessionPolicy::default(),
            now: T0,
        })
        .await
        .unwrap()
}

pub async fn a_sign_in_with_the_live_code_uses_it_and_opens_a_session_for_a_new_user<
    S: ?Sized + SignInStore,
>(
    store: Arc<S>,
) {
    let ann = email("ann");
    live_code(store.as_ref(), &ann, 7).await;
    let session = sign_in_with(store.as_ref(), &ann, 7, 1, 1)
        .await
        .expect("the live code signs in");
    assert_eq!(session.user_id, user_id(1), "a new user, with the id given");
    assert_eq!(
        session,
        SessionPolicy::default().open(session_id(1), user_id(1), T0)
    );
    assert_eq!(
        store.find_session(session_id(1)).await.unwrap(),
        Some(session)
    );
    let code = store.find_code(&ann).await.unwrap().unwrap();
    assert_eq!(code.code_hash, None, "the code is used up");
    let user = store
        .find_or_create_user(&Identity::email(&ann), user_id(9), T0)
        .await
        .unwrap();
    assert_eq!((user.id, user.created_at), (user_id(1), T0));
    assert_eq!(
        sign_in_with(store.as_ref(), &ann, 7, 2, 2).await,
        None,
        "a used code signs in no more"
    );
    assert_eq!(store.find_session(session_id(2)).await.unwrap(), None);
}

pub async fn a_sign_in_of_a_known_address_opens_a_session_for_its_user<S: ?Sized + SignInStore>(
    store: Arc<S>,
) {
    let ann = email("ann");
    store
        .find_or_create_user(&Identity::email(&ann), user_id(1), T0)
        .await
        .unwrap();
    live_code(store.as_ref(), &ann, 7).await;
    let session = sign_in_with(store.as_ref(), &ann, 7, 2, 1).await.unwrap();
    assert_eq!(session.user_id, user_id(1));
    assert_eq!(
        store
            .find_session(session_id(1))
            .await
            .unwrap()
            .map(|s| s.user_id),
        Some(user_id(1))
    );
    assert_eq!(
        store.find_user(user_id(2)).await.unwrap(),
        None,
        "no user made"
    );
}

pub async fn a_sign_in_with_a_code_no_longer_live_does_nothing<S: ?Sized + SignInStore>(
    store: Arc<S>,
) {
    let ann = email("ann");
    assert_eq!(
        sign_in_with(store.as_ref(), &ann, 7, 1, 1).await,
        None,
        "no code sent"
    );
    live_code(store.as_ref(), &ann, 7).await;
    assert_eq!(
        sign_in_with(store.as_ref(), &ann, 8, 1, 1).await,
        None,
        "another code (replaced since)"
    );
    assert_eq!(store.find_user(user_id(1)).await.unwrap(), None, "no user");
    assert_eq!(
        store.find_session(session_id(1)).await.unwrap(),
        None,
        "no session"
    );
    let code = store.find_code(&ann).await.unwrap().unwrap();
    assert!(code.code_hash.is_some(), "the live code is still live");
}

pub async fn of_eight_concurrent_sign_ins_with_one_code_exactly_one_opens_a_session<
    S: ?Sized + SignInStore,
>(
    store: Arc<S>,
) {
    let ann = email("ann");
    live_code(store.as_ref(), &ann, 7).await;
    let tasks: Vec<_> = (1..=8u8)
        .map(|n| {
            let store = store.clone();
            let ann = ann.clone();
            tokio::spawn(async move { sign_in_with(store.as_ref(), &ann, 7, n, n).await })
        })
        .collect();
    let mut opened = Vec::new();
    for task in tasks {
        opened.extend(task.await.unwrap());
    }
    assert_eq!(opened.len(), 1, "{opened:?}");
    for n in 1..=8u8 {
        let kept = store.find_session(session_id(n)).await.unwrap().is_some();
        assert_eq!(kept, session_id(n) == opened[0].id, "session {n}");
    }
}
