//! The admin console's sign-in on the testkit fakes: off without a configured password; the
//! right password opens an 8-hour session; wrong ones are limited per address (10 per 15
//! minutes) and from everywhere (100 an hour), counted atomically before the (slow) check;
//! changing the password ends every session; a new ADMIN_PASSWORD_HASH resets the console's.

use std::sync::Arc;

use gptgate_domain::{AdminPolicy, NewPassword, PasswordHash};
use gptgate_ports::services::{AdminAuthError, AdminConsole, AdminLoginError, AdminPorts};
use gptgate_testkit::{FakeClock, FakeOpaqueTokens, FakePasswords, InMemoryStore};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

const PASSWORD: &str = "correct horse battery staple";

struct Console {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    passwords: Arc<FakePasswords>,
    console: AdminConsole,
}

fn console_with(
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    configured: Option<PasswordHash>,
) -> Console {
    let passwords = Arc::new(FakePasswords::default());
    let console = AdminConsole::new(
        AdminPorts {
            store: store.clone(),
            passwords: passwords.clone(),
            tokens: Arc::new(FakeOpaqueTokens::default()),
            budgets: store.clone(),
            clock: Arc::new(clock.clone()),
        },
        AdminPolicy::default(),
        configured,
    );
    Console {
        store,
        clock,
        passwords,
        console,
    }
}

fn console() -> Console {
    console_with(
        Arc::new(InMemoryStore::new()),
        FakeClock::new(),
        Some(FakePasswords::hash_of(PASSWORD)),
    )
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[tokio::test]
async fn without_a_configured_password_there_is_no_console() {
    let c = console_with(Arc::new(InMemoryStore::new()), FakeClock::new(), None);
    assert!(!c.console.is_on());
    assert!(matches!(
        c.console.log_in(&secret(PASSWORD), "10.0.0.1").await,
        Err(AdminLoginError::Off)
    ));
    assert!(matches!(
        c.console.session("anything").await,
        Err(AdminAuthError::Off)
    ));
    assert_eq!(c.passwords.verifications(), 0);
}

#[tokio::test]
async fn the_right_password_opens_a_session_of_eight_hours_exactly() {
    let c = console();
    assert!(c.console.is_on());
    let token = c
        .console
        .log_in(&secret(PASSWORD), "10.0.0.1")
        .await
        .unwrap();
    c.clock.advance(Duration::hours(8) - Duration::seconds(1));
    assert!(c.console.session(token.expose_secret()).await.is_ok());
    c.clock.advance(Duration::seconds(1));
    assert!(matches!(
        c.console.session(token.expose_secret()).await,
        Err(AdminAuthError::NotSignedIn)
    ));
    // Signing out ends a session at once; an unknown token is no session.
    let token = c
        .console
        .log_in(&secret(PASSWORD), "10.0.0.1")
        .await
        .unwrap();
    c.console
        .log_out(token.expose_secret(), "10.0.0.1")
        .await
        .unwrap();
    for t in [token.expose_secret(), "never-issued", ""] {
        assert!(matches!(
            c.console.session(t).await,
            Err(AdminAuthError::NotSignedIn)
        ));
    }
}

#[tokio::test]
async fn ten_wrong_passwords_from_an_address_lock_it_for_the_rest_of_fifteen_minutes() {
    let c = console();
    // Right passwords do not count.
    for _ in 0..20 {
        c.console
            .log_in(&secret(PASSWORD), "10.0.0.1")
            .await
            .unwrap();
    }
    for _ in 0..10 {
        assert!(matches!(
            c.console.log_in(&secret("guess"), "10.0.0.1").await,
            Err(AdminLoginError::WrongPassword)
        ));
    }
    c.clock.advance(Duration::minutes(5));
    let verified = c.passwords.verifications();
    match c.console.log_in(&secret(PASSWORD), "10.0.0.1").await {
        Err(AdminLoginError::TooMany { retry_after }) => {
            assert_eq!(retry_after, Duration::minutes(10))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.passwords.verifications(),
        verified,
        "refused before the slow check"
    );
    // Another address is not locked; this one is again when its window ends.
    c.console
        .log_in(&secret(PASSWORD), "10.0.0.2")
        .await
        .unwrap();
    c.clock.advance(Duration::minutes(10));
    c.console
        .log_in(&secret(PASSWORD), "10.0.0.1")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_hundred_wrong_passwords_an_hour_from_everywhere_lock_every_address() {
    let c = console();
    for i in 0..100 {
        let address = format!("10.0.{}.{}", i / 10, i % 10);
        assert!(matches!(
            c.console.log_in(&secret("guess"), &address).await,
            Err(AdminLoginError::WrongPassword)
        ));
    }
    assert!(matches!(
        c.console.log_in(&secret(PASSWORD), "192.0.2.7").await,
        Err(AdminLoginError::TooMany { .. })
    ));
    c.clock.advance(Duration::hours(1));
    // The refusal took nothing from the new address: it still has all ten guesses.
    for _ in 0..10 {
        assert!(matches!(
            c.console.log_in(&secret("guess"), "192.0.2.7").await,
            Err(AdminLoginError::WrongPassword)
        ));
    }
    c.console
        .log_in(&secret(PASSWORD), "192.0.2.8")
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_guesses_from_one_address_are_checked_ten_times_at_most() {
    let c = Arc::new(console());
    let guesses: Vec<_> = (0..30)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.console
                    .log_in(&secret(&format!("guess {i}")), "10.0.0.9")
                    .await
            })
        })
        .collect();
    let mut too_many = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Err(AdminLoginError::WrongPassword) => {}
            Err(AdminLoginError::TooMany { .. }) => too_many += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(too_many, 20);
    assert_eq!(c.passwords.verifications(), 10);
}

#[tokio::test]
async fn changing_the_password_ends_every_session_and_the_old_one_stops_working() {
    let c = console();
    let mine = c
        .console
        .log_in(&secret(PASSWORD), "10.0.0.1")
        .await
        .unwrap();
    let other = c
        .console
        .log_in(&secret(PASSWORD), "10.0.0.2")
        .await
        .unwrap();
    let new = NewPassword::parse("a much better passphrase").unwrap();
    assert!(matches!(
        c.console
            .change_password(&secret("not it"), &new, "10.0.0.1")
            .await,
        Err(AdminLoginError::WrongPassword)
    ));
    assert!(c.console.session(mine.expose_secret()).await.is_ok());
    c.console
        .change_password(&secret(PASSWORD), &new, "10.0.0.1")
        .await
        .unwrap();
    for t in [&mine, &other] {
        assert!(matches!(
            c.console.session(t.expose_secret()).await,
            Err(AdminAuthError::NotSignedIn)
        ));
    }
    assert!(matches!(
        c.console.log_in(&secret(PASSWORD), "10.0.0.1").await,
        Err(AdminLoginError::WrongPassword)
    ));
    let kept = c
        .console
        .log_in(&secret("a much better passphrase"), "10.0.0.1")
        .await
        .unwrap();

    // The operator forgot it (or fears it leaked) and puts a new hash in ADMIN_PASSWORD_HASH:
    // that one opens the console, the console's is forgotten, and no session survives.
    let reset = console_with(
        c.store.clone(),
        c.clock.clone(),
        Some(FakePasswords::hash_of("the operator's reset password")),
    );
    assert!(matches!(
        reset.console.session(kept.expose_secret()).await,
        Err(AdminAuthError::NotSignedIn)
    ));
    let operator = reset
        .console
        .log_in(&secret("the operator's reset password"), "10.0.0.1")
        .await
        .unwrap();
    assert!(matches!(
        reset
            .console
            .log_in(&secret("a much better passphrase"), "10.0.0.1")
            .await,
        Err(AdminLoginError::WrongPassword)
    ));
    // (Each test console counts its tokens from one: signed out before the next console.)
    reset
        .console
        .log_out(operator.expose_secret(), "10.0.0.1")
        .await
        .unwrap();
    let audit = reset.console.audit(50).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == gptgate_domain::AdminAction::PasswordReset)
            .count(),
        1,
        "recorded once"
    );
    // Putting the first hash back does not bring the console's password back.
    let back = console_with(
        c.store.clone(),
        c.clock.clone(),
        Some(FakePasswords::hash_of(PASSWORD)),
    );
    back.console
        .log_in(&secret(PASSWORD), "10.0.0.3")
        .await
        .unwrap();
    assert!(matches!(
        back.console
            .log_in(&secret("a much better passphrase"), "10.0.0.3")
            .await,
        Err(AdminLoginError::WrongPassword)
    ));
}

#[tokio::test]
async fn a_store_that_is_down_is_an_error_not_a_wrong_password() {
    let c = console();
    let token = c
        .console
        .log_in(&secret(PASSWORD), "10.0.0.1")
        .await
        .unwrap();
    c.store.set_unavailable(true);
    assert!(matches!(
        c.console.log_in(&secret(PASSWORD), "10.0.0.1").await,
        Err(AdminLoginError::Storage(_))
    ));
    assert!(matches!(
        c.console.session(token.expose_secret()).await,
        Err(AdminAuthError::Storage(_))
    ));
}

#[tokio::test]
async fn the_audit_log_says_who_did_what_from_where_and_never_a_password() {
    use gptgate_domain::AdminAction;
    let c = console();
    assert!(matches!(
        c.console
            .log_in(&secret("hunter2 hunter2"), "192.0.2.66")
            .await,
        Err(AdminLoginError::WrongPassword)
    ));
    c.clock.advance(Duration::seconds(1));
    let token = c
        .console
        .log_in(&secret(PASSWORD), "192.0.2.1")
        .await
        .unwrap();
    c.clock.advance(Duration::seconds(1));
    let new = NewPassword::parse("a much better passphrase").unwrap();
    c.console
        .change_password(&secret(PASSWORD), &new, "192.0.2.1")
        .await
        .unwrap();
    c.clock.advance(Duration::seconds(1));
    let again = c
        .console
        .log_in(&secret("a much better passphrase"), "192.0.2.1")
        .await
        .unwrap();
    c.clock.advance(Duration::seconds(1));
    c.console
        .log_out(again.expose_secret(), "192.0.2.1")
        .await
        .unwrap();
    // Signing out of a session that has ended records nothing.
    c.console
        .log_out(token.expose_secret(), "192.0.2.1")
        .await
        .unwrap();
    // Refused before any check (locked out): not recorded, so a flood cannot fill the log.
    for _ in 0..12 {
        let _ = c.console.log_in(&secret("guess"), "198.51.100.9").await;
    }
    let audit = c.console.audit(100).await.unwrap();
    let lines: Vec<(AdminAction, &str)> = audit
        .iter()
        .map(|e| (e.action, e.address.as_str()))
        .collect();
    assert_eq!(lines.len(), 5 + 10);
    assert_eq!(
        lines[10..],
        [
            (AdminAction::SignedOut, "192.0.2.1"),
            (AdminAction::SignedIn, "192.0.2.1"),
            (AdminAction::PasswordChanged, "192.0.2.1"),
            (AdminAction::SignedIn, "192.0.2.1"),
            (AdminAction::WrongPassword, "192.0.2.66"),
        ]
    );
    assert!(lines[..10]
        .iter()
        .all(|l| *l == (AdminAction::WrongPassword, "198.51.100.9")));
}

#[tokio::test]
async fn the_overview_counts_codes_sent_since_midnight_utc() {
    use gptgate_domain::{CodeRecord, Email};
    use gptgate_ports::VerificationCodeRepository;
    let c = console();
    // The fake clock starts at 12:00 UTC: a code at 00:00 counts, one at 23:59:59 the day
    // before does not.
    let midnight = c.clock.now_at_midnight();
    for (name, at) in [
        ("before", midnight - Duration::seconds(1)),
        ("at", midnight),
    ] {
        let email = Email::parse(&format!("{name}@example.com")).unwrap();
        let record = CodeRecord {
            email: email.clone(),
            code_hash: None,
            expires_at: at + Duration::minutes(10),
            attempts: 0,
            last_sent_at: at,
            send_window_started_at: at,
            sends_in_window: 1,
            attempt_window_started_at: at,
            attempts_in_window: 0,
        };
        c.store
            .update_code(&email, &mut |_| Some(record.clone()))
            .await
            .unwrap();
    }
    assert_eq!(c.console.overview().await.unwrap().code_addresses, 1);
}

trait Midnight {
    fn now_at_midnight(&self) -> time::OffsetDateTime;
}

impl Midnight for FakeClock {
    fn now_at_midnight(&self) -> time::OffsetDateTime {
        gptgate_ports::Clock::now(self).replace_time(time::Time::MIDNIGHT)
    }
}

#[tokio::test]
async fn zero_retention_refuses_every_save_and_retention_deletes_at_its_exact_age() {
    use gptgate_domain::{ConversationDraft, ConversationInput, Identity, PrivacySettings, UserId};
    use gptgate_ports::services::{Conversations, ConversationsError, Maintenance};
    use gptgate_ports::UserRepository;
    use gptgate_testkit::SeededRandom;

    let c = console();
    let conversations = Conversations::new(
        c.store.clone(),
        Arc::new(c.clock.clone()),
        Arc::new(SeededRandom::new(1)),
    )
    .with_privacy(c.store.clone());
    let ann = c
        .store
        .find_or_create_user(
            &Identity::email(&gptgate_domain::Email::parse("ann@example.com").unwrap()),
            UserId::from_random_bytes([1; 16]),
            c.clock.now_at_midnight(),
        )
        .await
        .unwrap()
        .id;
    let draft = |summary: &str| {
        ConversationDraft::parse(ConversationInput {
            title: None,
            summary: Some(summary.to_owned()),
            messages: vec![],
            raw_text: vec![],
            exercises: vec![],
        })
        .unwrap()
    };
    assert_eq!(
        c.console.privacy().await.unwrap(),
        PrivacySettings::default()
    );
    c.console
        .set_privacy(&PrivacySettings::new(0, true).unwrap(), "192.0.2.1")
        .await
        .unwrap();
    assert_eq!(
        c.console.privacy().await.unwrap(),
        PrivacySettings::new(0, true).unwrap()
    );
    assert!(matches!(
        conversations.save(ann, draft("kept?"), None).await,
        Err(ConversationsError::StorageDisabled)
    ));
    assert!(conversations
        .list(ann, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());

    // Thirty days' retention: one saved 30 days and a second ago goes, one of exactly 30
    // days stays.
    c.console
        .set_privacy(&PrivacySettings::new(30, false).unwrap(), "192.0.2.1")
        .await
        .unwrap();
    conversations
        .save(ann, draft("oldest"), None)
        .await
        .unwrap();
    c.clock.advance(Duration::seconds(1));
    conversations.save(ann, draft("edge"), None).await.unwrap();
    c.clock.advance(Duration::days(30));
    let maintenance = Maintenance::new(c.store.clone(), Arc::new(c.clock.clone()))
        .with_retention(c.store.clone());
    assert_eq!(maintenance.expire_conversations().await.unwrap(), 1);
    let left = conversations.list(ann, 10, None).await.unwrap().items;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].summary, "edge");
    // Keeping everything again deletes nothing; without settings, nothing either.
    c.console
        .set_privacy(&PrivacySettings::default(), "192.0.2.1")
        .await
        .unwrap();
    c.clock.advance(Duration::days(365));
    assert_eq!(maintenance.expire_conversations().await.unwrap(), 0);
    let plain = Maintenance::new(c.store.clone(), Arc::new(c.clock.clone()));
    assert_eq!(plain.expire_conversations().await.unwrap(), 0);
    let audit = c.console.audit(10).await.unwrap();
    assert!(audit
        .iter()
        .all(|e| e.action == gptgate_domain::AdminAction::PrivacyChanged));
    assert_eq!(audit.len(), 3);
}

#[tokio::test]
async fn the_addresses_of_one_ipv6_network_share_ten_guesses() {
    let c = console();
    for i in 0..10 {
        assert!(matches!(
            c.console
                .log_in(&secret("guess"), &format!("2001:db8:7:7::{i:x}"))
                .await,
            Err(AdminLoginError::WrongPassword)
        ));
    }
    assert!(matches!(
        c.console
            .log_in(&secret(PASSWORD), "2001:db8:7:7:ffff::1")
            .await,
        Err(AdminLoginError::TooMany { .. })
    ));
    // The next /64 has its own.
    c.console
        .log_in(&secret(PASSWORD), "2001:db8:7:8::1")
        .await
        .unwrap();
    // The audit log keeps each whole address.
    let audit = c.console.audit(20).await.unwrap();
    assert!(audit.iter().any(|e| e.address == "2001:db8:7:7::9"));
}
