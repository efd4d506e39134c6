//! The sign-in use cases on the testkit fakes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gptgate_domain::{
    CodeHash, CodePolicy, Email, Identity, SessionPolicy, UserId, VerificationCode,
};
use gptgate_ports::services::{
    AuthenticateError, Authenticated, SendCodeError, SignIn, SignInPorts, SignedIn, VerifyError,
};
use gptgate_ports::{
    CodeHasher, SessionClaims, SessionRepository, SessionTokens, UserRepository,
    VerificationCodeRepository,
};
use gptgate_testkit::{
    FakeClock, FakeCodeHasher, FakeSessionTokens, InMemoryStore, RecordingMailer, SeededRandom,
};
use secrecy::ExposeSecret;
use time::Duration;

/// Counts how many codes are actually compared.
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

struct Harness {
    store: Arc<InMemoryStore>,
    mailer: Arc<RecordingMailer>,
    hasher: Arc<CountingHasher>,
    random: Arc<SeededRandom>,
    clock: FakeClock,
    sign_in: SignIn,
}

fn harness() -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let mailer = Arc::new(RecordingMailer::new());
    let hasher = Arc::new(CountingHasher::default());
    let random = Arc::new(SeededRandom::new(1));
    let clock = FakeClock::new();
    let sign_in = SignIn::new(
        SignInPorts {
            codes: store.clone(),
            users: store.clone(),
            sessions: store.clone(),
            sign_ins: store.clone(),
            mailer: mailer.clone(),
            budgets: store.clone(),
            hasher: hasher.clone(),
            tokens: Arc::new(FakeSessionTokens),
            clock: Arc::new(clock.clone()),
            random: random.clone(),
        },
        CodePolicy::default(),
        SessionPolicy::default(),
    );
    Harness {
        store,
        mailer,
        hasher,
        random,
        clock,
        sign_in,
    }
}

/// The sender (API key id) of the sends in these tests.
const KEY: &str = "key-1";

fn ann() -> Email {
    Email::parse("ann@example.com").unwrap()
}

fn code(digits: &str) -> VerificationCode {
    VerificationCode::parse(digits).unwrap()
}

impl Harness {
    async fn send(&self, email: &Email) -> VerificationCode {
        self.sign_in
            .send_code(email, KEY)
            .await
            .expect("code is sent");
        code(
            &self
                .mailer
                .last_code_for(email.as_str())
                .expect("a code was mailed"),
        )
    }

    /// Ann, signed in.
    async fn signed_in(&self) -> SignedIn {
        let code = self.send(&ann()).await;
        self.sign_in.verify(&ann(), &code).await.unwrap()
    }

    async fn authenticate(&self, s: &SignedIn) -> Result<Authenticated, AuthenticateError> {
        self.sign_in.authenticate(s.token.expose_secret()).await
    }

    fn wrong_code(&self, right: &VerificationCode) -> VerificationCode {
        let n: u32 = right.digits().parse().unwrap();
        code(&format!("{:06}", (n + 1) % 1_000_000))
    }
}

#[tokio::test]
async fn a_code_is_mailed_as_six_digits_valid_for_ten_minutes() {
    let h = harness();
    h.sign_in.send_code(&ann(), KEY).await.unwrap();
    let sent = h.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ann());
    assert_eq!(sent[0].code.len(), 6);
    assert!(sent[0].code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(sent[0].valid_for, Duration::minutes(10));
    let record = h.store_code_record().await;
    assert_ne!(
        record.code_hash.unwrap().as_bytes(),
        sent[0].code.as_bytes(),
        "the code itself is never stored"
    );
}

impl Harness {
    async fn store_code_record(&self) -> gptgate_domain::CodeRecord {
        use gptgate_ports::VerificationCodeRepository;
        self.store.find_code(&ann()).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn the_right_code_signs_the_user_in_with_a_working_token() {
    let h = harness();
    let sent = h.send(&ann()).await;
    let signed_in = h.sign_in.verify(&ann(), &sent).await.unwrap();
    assert_eq!(signed_in.expires_at, h.clock_now() + Duration::hours(12));
    let who = h.authenticate(&signed_in).await.unwrap();
    assert_eq!(who.user_id, signed_in.user_id);
    assert_eq!(who.session_id, signed_in.session_id);
}

impl Harness {
    fn clock_now(&self) -> time::OffsetDateTime {
        use gptgate_ports::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn a_browser_sign_in_finds_the_user_once_per_code_and_opens_no_api_session() {
    let h = harness();
    let first = h.signed_in().await;
    h.clock.advance(Duration::minutes(1));
    let sent = h.send(&ann()).await;
    let user = h.sign_in.verify_user(&ann(), &sent).await.unwrap();
    assert_eq!(user, first.user_id, "the same address, the same user");
    assert_eq!(h.store.user_count(), 1);
    assert_eq!(
        h.store
            .active_sessions(user, h.clock_now())
            .await
            .unwrap()
            .len(),
        1,
        "only the API sign-in's session"
    );
    assert!(
        matches!(
            h.sign_in.verify_user(&ann(), &sent).await,
            Err(VerifyError::InvalidCode)
        ),
        "the code is used up"
    );
}

#[tokio::test]
async fn signing_in_twice_gives_the_same_user_and_two_sessions() {
    let h = harness();
    let first = h.signed_in().await;
    h.clock.advance(Duration::minutes(1));
    let second = h.signed_in().await;
    assert_eq!(first.user_id, second.user_id);
    assert_ne!(first.session_id, second.session_id);
    assert_eq!(h.store.user_count(), 1);
}

#[tokio::test]
async fn wrong_expired_used_and_unsent_codes_get_the_same_error() {
    let h = harness();
    let sent = h.send(&ann()).await;
    let wrong = h.wrong_code(&sent);
    assert!(matches!(
        h.sign_in.verify(&ann(), &wrong).await,
        Err(VerifyError::InvalidCode)
    ));

    let unsent = Email::parse("nobody@example.com").unwrap();
    assert!(matches!(
        h.sign_in.verify(&unsent, &sent).await,
        Err(VerifyError::InvalidCode)
    ));

    h.sign_in.verify(&ann(), &sent).await.unwrap();
    assert!(
        matches!(
            h.sign_in.verify(&ann(), &sent).await,
            Err(VerifyError::InvalidCode)
        ),
        "a used code cannot be used again"
    );
}

#[tokio::test]
async fn a_code_is_valid_until_just_before_ten_minutes() {
    let h = harness();
    let sent = h.send(&ann()).await;
    h.clock
        .advance(Duration::minutes(10) - Duration::seconds(1));
    assert!(h.sign_in.verify(&ann(), &sent).await.is_ok());

    let h = harness();
    let sent = h.send(&ann()).await;
    h.clock.advance(Duration::minutes(10));
    assert!(matches!(
        h.sign_in.verify(&ann(), &sent).await,
        Err(VerifyError::InvalidCode)
    ));
}

#[tokio::test]
async fn a_code_for_one_email_does_not_work_for_another() {
    let h = harness();
    let bob = Email::parse("bob@example.com").unwrap();
    let anns = h.send(&ann()).await;
    h.send(&bob).await;
    assert!(matches!(
        h.sign_in.verify(&bob, &anns).await,
        Err(VerifyError::InvalidCode)
    ));
}

#[tokio::test]
async fn a_new_code_replaces_the_old_one() {
    let h = harness();
    let old = h.send(&ann()).await;
    h.clock.advance(Duration::seconds(61));
    let new = h.send(&ann()).await;
    assert_ne!(old, new, "the seeded generator gives a different code");
    assert!(matches!(
        h.sign_in.verify(&ann(), &old).await,
        Err(VerifyError::InvalidCode)
    ));
    assert!(h.sign_in.verify(&ann(), &new).await.is_ok());
}

#[tokio::test]
async fn a_resend_within_sixty_seconds_is_refused_and_nothing_is_mailed() {
    let h = harness();
    h.send(&ann()).await;
    h.clock.advance(Duration::seconds(59));
    match h.sign_in.send_code(&ann(), KEY).await {
        Err(SendCodeError::CoolingDown { retry_after }) => {
            assert_eq!(retry_after, Duration::seconds(1))
        }
        other => panic!("expected a cooldown, got {other:?}"),
    }
    assert_eq!(h.mailer.sent().len(), 1);
    h.clock.advance(Duration::seconds(1));
    assert!(h.sign_in.send_code(&ann(), KEY).await.is_ok());
}

#[tokio::test]
async fn the_sixth_code_within_an_hour_is_refused() {
    let h = harness();
    for _ in 0..5 {
        h.send(&ann()).await;
        h.clock.advance(Duration::minutes(2));
    }
    match h.sign_in.send_code(&ann(), KEY).await {
        Err(SendCodeError::TooManyCodes { retry_after }) => {
            assert_eq!(retry_after, Duration::minutes(50))
        }
        other => panic!("expected the hourly limit, got {other:?}"),
    }
    assert_eq!(h.mailer.sent().len(), 5);
}

#[tokio::test]
async fn after_five_wrong_attempts_even_the_right_code_is_refused() {
    let h = harness();
    let sent = h.send(&ann()).await;
    let wrong = h.wrong_code(&sent);
    for _ in 0..5 {
        assert!(matches!(
            h.sign_in.verify(&ann(), &wrong).await,
            Err(VerifyError::InvalidCode)
        ));
    }
    assert!(matches!(
        h.sign_in.verify(&ann(), &sent).await,
        Err(VerifyError::TooManyAttempts { .. })
    ));
}

#[tokio::test]
async fn a_store_that_asks_each_decision_twice_changes_nothing_in_the_outcome() {
    // SQL stores update code records optimistically and ask again after a lost race: only
    // the last answer may count, whatever the first one concluded.
    let h = harness();
    h.store.set_racing(true);
    let sent = h.send(&ann()).await;
    assert!(matches!(
        h.sign_in.send_code(&ann(), KEY).await,
        Err(SendCodeError::CoolingDown { .. })
    ));
    assert_eq!(h.mailer.sent().len(), 1);
    let wrong = h.wrong_code(&sent);
    for _ in 0..4 {
        assert!(matches!(
            h.sign_in.verify(&ann(), &wrong).await,
            Err(VerifyError::InvalidCode)
        ));
    }
    let record = h.store.find_code(&ann()).await.unwrap().unwrap();
    assert_eq!(record.attempts, 4, "each attempt counted once");
    assert!(h.sign_in.verify(&ann(), &sent).await.is_ok());
    assert!(matches!(
        h.sign_in.verify(&ann(), &sent).await,
        Err(VerifyError::InvalidCode)
    ));
}

#[tokio::test]
async fn a_code_record_that_vanishes_while_an_attempt_is_counted_compares_nothing() {
    let h = harness();
    let sent = h.send(&ann()).await;
    h.store.vanish_code_record_after(0);
    assert!(matches!(
        h.sign_in.verify(&ann(), &sent).await,
        Err(VerifyError::InvalidCode)
    ));
    assert_eq!(h.hasher.compared.load(Ordering::SeqCst), 0);
    assert_eq!(h.store.user_count(), 0, "nobody signed in");
}

#[tokio::test]
async fn a_code_record_that_vanishes_while_the_code_is_consumed_signs_nobody_in() {
    let h = harness();
    let sent = h.send(&ann()).await;
    // The attempt is counted; the consume loses its race to a deletion.
    h.store.vanish_code_record_after(1);
    assert!(matches!(
        h.sign_in.verify(&ann(), &sent).await,
        Err(VerifyError::InvalidCode)
    ));
    assert_eq!(h.store.user_count(), 0, "nobody signed in");
}

#[tokio::test]
async fn resending_does_not_reset_the_hourly_attempt_budget() {
    let h = harness();
    for _ in 0..4 {
        let sent = h.send(&ann()).await;
        let wrong = h.wrong_code(&sent);
        for _ in 0..5 {
            assert!(matches!(
                h.sign_in.verify(&ann(), &wrong).await,
                Err(VerifyError::InvalidCode)
            ));
        }
        h.clock.advance(Duration::seconds(61));
    }
    let fresh = h.send(&ann()).await;
    assert!(matches!(
        h.sign_in.verify(&ann(), &fresh).await,
        Err(VerifyError::TooManyAttempts { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_fifty_concurrent_wrong_submissions_at_most_five_are_compared() {
    let h = Arc::new(harness());
    let sent = h.send(&ann()).await;
    let wrong = h.wrong_code(&sent);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let h = h.clone();
            let wrong = wrong.clone();
            tokio::spawn(async move { h.sign_in.verify(&ann(), &wrong).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_err());
    }
    assert!(h.hasher.compared.load(Ordering::SeqCst) <= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_eight_concurrent_right_submissions_exactly_one_gets_a_token() {
    let h = Arc::new(harness());
    let sent = h.send(&ann()).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let h = h.clone();
            let sent = sent.clone();
            tokio::spawn(async move { h.sign_in.verify(&ann(), &sent).await })
        })
        .collect();
    let mut tokens = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            tokens += 1;
        }
    }
    assert_eq!(tokens, 1);
}

#[tokio::test]
async fn a_mail_failure_is_reported() {
    let h = harness();
    h.mailer.set_failing(true);
    assert!(matches!(
        h.sign_in.send_code(&ann(), KEY).await,
        Err(SendCodeError::Mail(_))
    ));
}

#[tokio::test]
async fn an_unavailable_store_is_reported_not_hidden() {
    let h = harness();
    let sent = h.send(&ann()).await;
    h.store.set_unavailable(true);
    h.clock.advance(Duration::minutes(2));
    assert!(matches!(
        h.sign_in.send_code(&ann(), KEY).await,
        Err(SendCodeError::Storage(_))
    ));
    assert!(matches!(
        h.sign_in.verify(&ann(), &sent).await,
        Err(VerifyError::Storage(_))
    ));
}

#[tokio::test]
async fn a_failing_random_generator_sends_no_code() {
    let h = harness();
    h.random.fail();
    assert!(matches!(
        h.sign_in.send_code(&ann(), KEY).await,
        Err(SendCodeError::Internal(_))
    ));
    assert!(h.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_token_is_refused_after_logout() {
    let h = harness();
    let signed_in = h.signed_in().await;
    h.sign_in.logout(signed_in.session_id).await.unwrap();
    assert!(matches!(
        h.authenticate(&signed_in).await,
        Err(AuthenticateError::InvalidToken)
    ));
}

#[tokio::test]
async fn a_token_is_refused_once_its_session_expires() {
    let h = harness();
    let signed_in = h.signed_in().await;
    h.clock.advance(Duration::hours(12) - Duration::seconds(1));
    assert!(h.authenticate(&signed_in).await.is_ok());
    h.clock.advance(Duration::seconds(1));
    assert!(h.authenticate(&signed_in).await.is_err());
}

#[tokio::test]
async fn a_token_is_refused_once_its_user_is_deleted() {
    let h = harness();
    let signed_in = h.signed_in().await;
    h.store.delete_user(signed_in.user_id).await.unwrap();
    assert!(matches!(
        h.authenticate(&signed_in).await,
        Err(AuthenticateError::InvalidToken)
    ));
}

#[tokio::test]
async fn a_token_naming_another_user_for_a_real_session_is_refused() {
    let h = harness();
    let signed_in = h.signed_in().await;
    let forged = FakeSessionTokens
        .sign(&SessionClaims {
            user_id: UserId::from_random_bytes([3; 16]),
            session_id: signed_in.session_id,
            issued_at: h.clock_now(),
            expires_at: h.clock_now() + Duration::hours(1),
            audience: gptgate_domain::Audience::Api,
        })
        .unwrap();
    assert!(matches!(
        h.sign_in.authenticate(&forged).await,
        Err(AuthenticateError::InvalidToken)
    ));
    assert!(matches!(
        h.sign_in.authenticate("garbage").await,
        Err(AuthenticateError::InvalidToken)
    ));
}

#[tokio::test]
async fn a_verified_email_becomes_the_users_identity() {
    let h = harness();
    let signed_in = h.signed_in().await;
    let found = h
        .store
        .find_or_create_user(
            &Identity::email(&ann()),
            UserId::from_random_bytes([9; 16]),
            h.clock_now(),
        )
        .await
        .unwrap();
    assert_eq!(found.id, signed_in.user_id);
}

fn email(name: &str) -> Email {
    Email::parse(&format!("{name}@example.com")).unwrap()
}

#[tokio::test]
async fn a_sender_may_cause_its_hourly_budget_of_emails_and_not_one_more() {
    let mut h = harness();
    h.sign_in = h
        .sign_in
        .with_mail_budget(gptgate_domain::BudgetPolicy::hourly(3));
    for n in 0..3 {
        h.sign_in
            .send_code(&email(&format!("u{n}")), KEY)
            .await
            .unwrap();
    }
    h.clock.advance(Duration::minutes(15));
    match h.sign_in.send_code(&email("u3"), KEY).await {
        Err(SendCodeError::BudgetExhausted { retry_after }) => {
            assert_eq!(retry_after, Duration::minutes(45))
        }
        other => panic!("expected the budget to be spent, got {other:?}"),
    }
    assert_eq!(
        h.mailer.last_code_for("u3@example.com"),
        None,
        "nothing mailed"
    );
    assert!(
        h.store.find_code(&email("u3")).await.unwrap().is_none(),
        "nothing stored"
    );
    h.sign_in
        .send_code(&email("u3"), "key-2")
        .await
        .expect("another key has its own budget");
    h.clock.advance(Duration::minutes(45));
    h.sign_in
        .send_code(&email("u4"), KEY)
        .await
        .expect("a new hour, a new budget");
}

#[tokio::test]
async fn a_send_the_address_rules_refuse_costs_the_sender_nothing() {
    let mut h = harness();
    h.sign_in = h
        .sign_in
        .with_mail_budget(gptgate_domain::BudgetPolicy::hourly(2));
    h.sign_in.send_code(&ann(), KEY).await.unwrap();
    for _ in 0..5 {
        assert!(matches!(
            h.sign_in.send_code(&ann(), KEY).await,
            Err(SendCodeError::CoolingDown { .. })
        ));
    }
    h.sign_in
        .send_code(&email("bob"), KEY)
        .await
        .expect("the refused sends were given back");
    assert!(matches!(
        h.sign_in.send_code(&email("carol"), KEY).await,
        Err(SendCodeError::BudgetExhausted { .. })
    ));
}

#[tokio::test]
async fn a_token_for_the_mcp_face_is_refused_by_the_api_and_the_other_way_round() {
    let h = harness();
    let signed_in = h.signed_in().await;
    let as_mcp = FakeSessionTokens
        .sign(&SessionClaims {
            user_id: signed_in.user_id,
            session_id: signed_in.session_id,
            issued_at: h.clock_now(),
            expires_at: h.clock_now() + Duration::hours(1),
            audience: gptgate_domain::Audience::Mcp,
        })
        .unwrap();
    assert!(matches!(
        h.sign_in.authenticate(&as_mcp).await,
        Err(AuthenticateError::InvalidToken)
    ));
    assert!(h
        .sign_in
        .authenticate_for(&as_mcp, gptgate_domain::Audience::Mcp)
        .await
        .is_ok());
    assert!(matches!(
        h.sign_in
            .authenticate_for(
                signed_in.token.expose_secret(),
                gptgate_domain::Audience::Mcp
            )
            .await,
        Err(AuthenticateError::InvalidToken)
    ));
}
