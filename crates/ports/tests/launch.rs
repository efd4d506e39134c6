//! The platform-signed launch on the testkit fakes (the signatures themselves are tested with
//! real keys in gptgate-adapters-system): a registered platform's token opens a 2-hour chat
//! session once; a token of an unknown issuer, signed another way or by another key, for
//! another audience, expired, too long-lived or replayed opens nothing.

use std::sync::Arc;

use gptgate_domain::{
    AdminAction, ChatPolicy, ChatVisitor, LaunchKey, LaunchPolicy, LaunchRefused, PlatformError,
    StoredLaunchKey,
};
use gptgate_ports::services::{
    KeyInput, LaunchError, LaunchPorts, Launches, RegisterPlatformError,
};
use gptgate_ports::{AdminRepository, ChatAccessRepository, Clock, LaunchTokenError, OpaqueTokens};
use gptgate_testkit::{
    FakeClock, FakeLaunchTokens, FakeOpaqueTokens, FakeSecretBox, InMemoryStore, SeededRandom,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::Duration;

const AUDIENCE: &str = "https://gpt.example.com";
const ISSUER: &str = "https://lms.example.edu";
const SECRET: &str = "a random secret shared with the platform, 43 characters+";
const ORIGIN: &str = "https://lms.example.edu";
const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----";

struct Setup {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    launches: Launches,
}

fn setup() -> Setup {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let launches = Launches::new(
        LaunchPorts {
            budgets: store.clone(),
            platforms: store.clone(),
            used: store.clone(),
            sessions: store.clone(),
            tokens: Arc::new(FakeLaunchTokens),
            secrets: Arc::new(FakeSecretBox::default()),
            opaque: Arc::new(FakeOpaqueTokens::default()),
            random: Arc::new(SeededRandom::new(3)),
            clock: Arc::new(clock.clone()),
        },
        LaunchPolicy::default(),
        ChatPolicy::default(),
        &format!("{AUDIENCE}/"),
    );
    Setup {
        store,
        clock,
        launches,
    }
}

fn secret_key() -> LaunchKey {
    LaunchKey::Hs256 {
        secret: SECRET.as_bytes().to_vec(),
    }
}

impl Setup {
    async fn register_hs256(&self) -> gptgate_domain::LaunchPlatform {
        self.launches
            .register(
                "Moodle",
                ISSUER,
                KeyInput::Hs256 {
                    secret: SecretString::from(SECRET.to_owned()),
                },
                &["https://lms.example.edu".into()],
                "10.0.0.9",
            )
            .await
            .unwrap()
    }

    fn claims(&self, jti: &str) -> serde_json::Value {
        let now = self.clock.now().unix_timestamp();
        json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "student-42", "exp": now + 300, "iat": now, "jti": jti })
    }
}

#[tokio::test]
async fn a_registered_platforms_token_opens_a_two_hour_session_once() {
    let s = setup();
    assert_eq!(s.launches.audience(), AUDIENCE);
    let platform = s.register_hs256().await;
    let token = FakeLaunchTokens::sign(&secret_key(), &s.claims("launch-1"));
    let launched = s
        .launches
        .launch(&token, Some(ORIGIN), "10.0.0.1")
        .await
        .unwrap();
    assert_eq!(launched.platform, platform.id);
    assert_eq!(
        launched.session.visitor,
        ChatVisitor::Launched {
            platform: launched.platform,
            subject: "student-42".into()
        }
    );
    assert_eq!(
        launched.session.expires_at - launched.session.created_at,
        Duration::hours(2)
    );
    let hash = FakeOpaqueTokens::default().hash(launched.token.expose_secret());
    assert_eq!(
        s.store.find_chat_session(&hash).await.unwrap(),
        Some(launched.session)
    );
    assert!(matches!(
        s.launches.launch(&token, Some(ORIGIN), "10.0.0.1").await,
        Err(LaunchError::Replayed)
    ));
}

#[tokio::test]
async fn a_shared_secret_is_kept_sealed_and_registrations_are_audited() {
    let s = setup();
    s.register_hs256().await;
    let platforms = s.launches.platforms().await.unwrap();
    let StoredLaunchKey::Hs256 { sealed } = &platforms[0].key else {
        panic!("an HS256 key");
    };
    assert!(!format!("{:?}", sealed.as_bytes()).contains(&format!("{:?}", SECRET.as_bytes())));
    assert!(!String::from_utf8_lossy(sealed.as_bytes()).contains(SECRET));
    assert!(s
        .launches
        .remove(platforms[0].id, "10.0.0.9")
        .await
        .unwrap());
    assert!(!s
        .launches
        .remove(platforms[0].id, "10.0.0.9")
        .await
        .unwrap());
    let actions: Vec<AdminAction> = s
        .store
        .admin_actions(5)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [AdminAction::PlatformRemoved, AdminAction::PlatformAdded]
    );
}

#[tokio::test]
async fn registrations_with_bad_fields_or_unusable_keys_are_refused() {
    let s = setup();
    let hs = |secret: &str| KeyInput::Hs256 {
        secret: SecretString::from(secret.to_owned()),
    };
    let register =
        |name: &'static str, issuer: &'static str, key: KeyInput, origin: &'static str| {
            let s = &s;
            async move {
                s.launches
                    .register(name, issuer, key, &[origin.into()], "10.0.0.9")
                    .await
            }
        };
    let ok_origin = "https://lms.example.edu";
    assert!(matches!(
        register("", ISSUER, hs(SECRET), ok_origin).await,
        Err(RegisterPlatformError::Invalid(PlatformError::Name))
    ));
    assert!(matches!(
        register("Moodle", "two words", hs(SECRET), ok_origin).await,
        Err(RegisterPlatformError::Invalid(PlatformError::Issuer))
    ));
    assert!(matches!(
        register("Moodle", ISSUER, hs(SECRET), "http://lms.example.edu").await,
        Err(RegisterPlatformError::Invalid(PlatformError::Origin))
    ));
    assert!(matches!(
        register("Moodle", ISSUER, hs(&"s".repeat(42)), ok_origin).await,
        Err(RegisterPlatformError::UnusableKey)
    ));
    assert!(register(
        "Moodle",
        ISSUER,
        hs(&format!("  {}\n", "s".repeat(43))),
        ok_origin
    )
    .await
    .is_ok());
    assert!(matches!(
        register(
            "Again",
            ISSUER,
            KeyInput::EdDsa {
                public_pem: PEM.into()
            },
            ok_origin
        )
        .await,
        Err(RegisterPlatformError::IssuerTaken)
    ));
    assert!(matches!(
        register(
            "Canvas",
            "https://canvas.example.edu",
            KeyInput::Rs256 {
                public_pem: "not a key".into()
            },
            ok_origin
        )
        .await,
        Err(RegisterPlatformError::UnusableKey)
    ));
    assert!(register(
        "Canvas",
        "https://canvas.example.edu",
        KeyInput::Rs256 {
            public_pem: format!("  {PEM}\n")
        },
        ok_origin
    )
    .await
    .is_ok());
    assert_eq!(s.launches.platforms().await.unwrap().len(), 2);
}

/// What the test's log lines say, while `f` runs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_platform_whose_stored_key_is_no_longer_usable_launches_nobody_and_says_so() {
    // A key registered before a rule tightened (here: stored as it is, past the checks that
    // registration makes today).
    let s = setup();
    let registered = s.register_hs256().await;
    let stale_key = LaunchKey::EdDsa {
        public_pem: "-----BEGIN RSA PUBLIC KEY-----\nMAo=\n-----END RSA PUBLIC KEY-----".into(),
    };
    let stale = gptgate_domain::LaunchPlatform {
        id: gptgate_domain::PlatformId::from_random_bytes([9; 16]),
        issuer: gptgate_domain::Issuer::parse("https://old.example.edu").unwrap(),
        key: StoredLaunchKey::EdDsa {
            public_pem: match &stale_key {
                LaunchKey::EdDsa { public_pem } => public_pem.clone(),
                _ => unreachable!(),
            },
        },
        ..registered
    };
    gptgate_ports::PlatformRepository::create_platform(
        s.store.as_ref(),
        &stale,
        &gptgate_domain::AdminAuditEntry::new(s.clock.now(), AdminAction::SignedIn, "10.0.0.9"),
    )
    .await
    .unwrap();
    let mut claims = s.claims("launch-stale");
    claims["iss"] = json!("https://old.example.edu");
    let token = FakeLaunchTokens::sign(&stale_key, &claims);

    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let refused = s.launches.launch(&token, Some(ORIGIN), "10.0.0.1").await;
    assert!(
        matches!(
            refused,
            Err(LaunchError::Token(LaunchTokenError::UnusableKey))
        ),
        "{refused:?}"
    );
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warned: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("no longer usable"))
        .collect();
    assert_eq!(warned.len(), 1, "{logs}");
    assert!(
        warned[0].contains(&stale.id.to_string()),
        "names the platform"
    );
    assert!(!logs.contains(&token), "never the token");
    // The platform registered the way registration checks today still launches.
    let fresh = FakeLaunchTokens::sign(&secret_key(), &s.claims("launch-fresh"));
    assert!(s
        .launches
        .launch(&fresh, Some(ORIGIN), "10.0.0.1")
        .await
        .is_ok());
}

#[tokio::test]
async fn every_bad_token_opens_nothing() {
    let s = setup();
    s.register_hs256().await;
    let now = s.clock.now().unix_timestamp();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut claims = s.claims("launch-x");
        f(&mut claims);
        FakeLaunchTokens::sign(&secret_key(), &claims)
    };
    let other_key = LaunchKey::Hs256 {
        secret: b"another secret of forty-three characters or more!".to_vec(),
    };
    let cases: Vec<(String, &str)> = vec![
        ("not a token".into(), "malformed"),
        (
            FakeLaunchTokens::sign(
                &secret_key(),
                &json!({ "iss": "https://other.example", "aud": AUDIENCE }),
            ),
            "unknown issuer",
        ),
        (
            FakeLaunchTokens::sign(&other_key, &s.claims("launch-x")),
            "another key",
        ),
        (
            FakeLaunchTokens::sign(
                &LaunchKey::Rs256 {
                    public_pem: PEM.into(),
                },
                &s.claims("launch-x"),
            ),
            "another algorithm",
        ),
        (
            with(&|c| c["aud"] = json!("https://elsewhere.example")),
            "another audience",
        ),
        (with(&|c| c["exp"] = json!(now - 30)), "expired"),
        (with(&|c| c["exp"] = json!(now + 631)), "too long"),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            "no jti",
        ),
    ];
    for (token, why) in &cases {
        let refused = s.launches.launch(token, Some(ORIGIN), "10.0.0.1").await;
        let expected = match *why {
            "malformed" => matches!(
                refused,
                Err(LaunchError::Token(LaunchTokenError::Malformed))
            ),
            "unknown issuer" => matches!(refused, Err(LaunchError::UnknownIssuer)),
            "another key" => matches!(
                refused,
                Err(LaunchError::Token(LaunchTokenError::BadSignature))
            ),
            "another algorithm" => matches!(
                refused,
                Err(LaunchError::Token(LaunchTokenError::WrongAlgorithm))
            ),
            "another audience" => {
                matches!(refused, Err(LaunchError::Refused(LaunchRefused::Audience)))
            }
            "expired" => matches!(refused, Err(LaunchError::Refused(LaunchRefused::Expired))),
            "too long" => matches!(refused, Err(LaunchError::Refused(LaunchRefused::TooLong))),
            "no jti" => matches!(refused, Err(LaunchError::Refused(LaunchRefused::TokenId))),
            _ => unreachable!(),
        };
        assert!(expected, "{why}: {:?}", refused.err());
    }
    // None of them spent the id: the good token with that id still opens a session.
    assert!(s
        .launches
        .launch(
            &FakeLaunchTokens::sign(&secret_key(), &s.claims("launch-x")),
            Some(ORIGIN),
            "10.0.0.1"
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn of_eight_concurrent_launches_with_one_token_one_opens_a_session() {
    let s = Arc::new(setup());
    s.register_hs256().await;
    let token = FakeLaunchTokens::sign(&secret_key(), &s.claims("launch-race"));
    let tries = (0..8).map(|_| {
        let s = s.clone();
        let token = token.clone();
        tokio::spawn(async move {
            s.launches
                .launch(&token, Some(ORIGIN), "10.0.0.1")
                .await
                .is_ok()
        })
    });
    let opened = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(opened, 1);
}

#[tokio::test]
async fn a_launch_from_a_page_the_platform_did_not_list_opens_nothing_and_spends_nothing() {
    let s = setup();
    s.register_hs256().await;
    let token = FakeLaunchTokens::sign(&secret_key(), &s.claims("launch-o"));
    for origin in [
        None,
        Some("https://evil.example"),
        Some("https://lms.example.edu.evil.example"),
        Some("http://lms.example.edu"),
        Some("null"),
    ] {
        assert!(
            matches!(
                s.launches.launch(&token, origin, "10.0.0.1").await,
                Err(LaunchError::OriginNotAllowed)
            ),
            "{origin:?}"
        );
    }
    // The listed origin, as browsers send it (any letter case of the host is the same origin).
    assert!(s
        .launches
        .launch(&token, Some("https://LMS.example.edu"), "10.0.0.1")
        .await
        .is_ok());
}

#[tokio::test]
async fn a_shared_secret_is_refused_without_a_lasting_encryption_key() {
    let s = setup();
    let launches = Launches::new(
        LaunchPorts {
            budgets: s.store.clone(),
            platforms: s.store.clone(),
            used: s.store.clone(),
            sessions: s.store.clone(),
            tokens: Arc::new(FakeLaunchTokens),
            secrets: Arc::new(FakeSecretBox::default()),
            opaque: Arc::new(FakeOpaqueTokens::default()),
            random: Arc::new(SeededRandom::new(4)),
            clock: Arc::new(s.clock.clone()),
        },
        LaunchPolicy::default(),
        ChatPolicy::default(),
        AUDIENCE,
    )
    .without_lasting_seal();
    let secret = KeyInput::Hs256 {
        secret: SecretString::from(SECRET.to_owned()),
    };
    assert!(matches!(
        launches
            .register("Moodle", ISSUER, secret, &[ORIGIN.into()], "10.0.0.9")
            .await,
        Err(RegisterPlatformError::NoEncryptionKey)
    ));
    let public = KeyInput::EdDsa {
        public_pem: PEM.into(),
    };
    assert!(launches
        .register("Moodle", ISSUER, public, &[ORIGIN.into()], "10.0.0.9")
        .await
        .is_ok());
}

#[tokio::test]
async fn a_shared_secret_is_trimmed_and_a_pem_is_never_taken_for_one() {
    let s = setup();
    let hs = |secret: String| KeyInput::Hs256 {
        secret: SecretString::from(secret),
    };
    assert!(matches!(
        s.launches
            .register(
                "Moodle",
                ISSUER,
                hs(format!("{PEM}{}", "x".repeat(43))),
                &[ORIGIN.into()],
                "10.0.0.9"
            )
            .await,
        Err(RegisterPlatformError::UnusableKey)
    ));
    s.launches
        .register(
            "Moodle",
            ISSUER,
            hs(format!("\n {SECRET} \n")),
            &[ORIGIN.into()],
            "10.0.0.9",
        )
        .await
        .unwrap();
    let token = FakeLaunchTokens::sign(&secret_key(), &s.claims("launch-t"));
    assert!(s
        .launches
        .launch(&token, Some(ORIGIN), "10.0.0.1")
        .await
        .is_ok());
}

#[tokio::test]
async fn a_used_token_id_is_kept_as_long_as_the_token_could_be_accepted() {
    use gptgate_ports::Housekeeping;
    let s = setup();
    s.register_hs256().await;
    let token = FakeLaunchTokens::sign(&secret_key(), &s.claims("launch-kept"));
    s.launches
        .launch(&token, Some(ORIGIN), "10.0.0.1")
        .await
        .unwrap();
    // A purge of everything that ended before the token's expiry (plus its leeway, less a
    // second) must keep the id: the token would still be accepted until then.
    let expiry = s.clock.now() + Duration::seconds(300) + LaunchPolicy::default().leeway;
    s.store.purge(expiry - Duration::seconds(1)).await.unwrap();
    assert!(matches!(
        s.launches.launch(&token, Some(ORIGIN), "10.0.0.1").await,
        Err(LaunchError::Replayed)
    ));
}

#[tokio::test]
async fn a_shared_secret_is_sealed_for_its_platform_only() {
    use gptgate_ports::SecretBox;
    let s = setup();
    s.register_hs256().await;
    let platform = s.launches.platforms().await.unwrap().remove(0);
    let StoredLaunchKey::Hs256 { sealed } = &platform.key else {
        panic!("an HS256 key");
    };
    let secrets = FakeSecretBox::default();
    let context = format!("launch_platforms/{}/secret", platform.id);
    assert_eq!(
        secrets.open(sealed, &context).unwrap().expose_secret(),
        SECRET
    );
    assert!(secrets
        .open(sealed, "launch_platforms/other/secret")
        .is_err());
}

#[tokio::test]
async fn launches_are_limited_per_address_at_the_edge() {
    let s = setup();
    s.register_hs256().await;
    for n in 0..300 {
        // Bad tokens count too: the budget is spent before any work.
        let refused = s
            .launches
            .launch("not a token", Some(ORIGIN), "10.0.0.7")
            .await;
        assert!(matches!(refused, Err(LaunchError::Token(_))), "{n}");
    }
    let token = FakeLaunchTokens::sign(&secret_key(), &s.claims("launch-limit"));
    let Err(LaunchError::TooMany { retry_after }) =
        s.launches.launch(&token, Some(ORIGIN), "10.0.0.7").await
    else {
        panic!("the 301st launch of a minute from one address is refused");
    };
    assert_eq!(retry_after, Duration::minutes(1));
    assert!(s
        .launches
        .launch(&token, Some(ORIGIN), "10.0.0.8")
        .await
        .is_ok());
}

#[tokio::test]
async fn a_platforms_origins_frame_its_visitors_chat_and_nothing_once_it_is_gone() {
    let s = setup();
    s.register_hs256().await;
    let platform = s.launches.platforms().await.unwrap().remove(0);
    let origins = s.launches.embedding_origins(platform.id).await.unwrap();
    let shown: Vec<&str> = origins.iter().map(|o| o.as_str()).collect();
    assert_eq!(shown, [ORIGIN]);
    s.launches.remove(platform.id, "10.0.0.9").await.unwrap();
    assert!(s
        .launches
        .embedding_origins(platform.id)
        .await
        .unwrap()
        .is_empty());
}
