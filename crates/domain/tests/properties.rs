//! Property tests of the parsers that read what callers send (proptest): on any input they
//! answer without panicking, and what they accept survives a second reading unchanged.

use gptgate_domain::{
    AccountLabel, ConversationCursor, ConversationId, Email, EmbeddingOrigin, Issuer, LaunchClaims,
    LaunchPolicy, LoginBinding, LtiClaims, PlatformId, PlatformUrl, VerificationCode,
};
use proptest::prelude::*;
use time::OffsetDateTime;

/// Strings of any characters, and strings close to each parser's alphabet.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,300}",
        "[a-zA-Z0-9.@_+-]{0,80}",
        "[0-9.a-f-]{0,80}",
        "(https?://)?[a-z0-9.:/-]{0,60}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn an_email_is_read_once_and_for_all(raw in text()) {
        if let Ok(email) = Email::parse(&raw) {
            let again = Email::parse(email.as_str()).expect("an accepted address reads again");
            prop_assert_eq!(&again, &email);
            prop_assert!(!email.as_str().chars().any(|c| c.is_ascii_uppercase() || c.is_whitespace()));
            prop_assert!(email.as_str().len() <= 254);
        }
    }

    #[test]
    fn a_label_is_read_once_and_for_all(raw in text()) {
        if let Ok(label) = AccountLabel::parse(&raw) {
            prop_assert_eq!(AccountLabel::parse(label.as_str()), Ok(label.clone()));
            prop_assert!((1..=64).contains(&label.as_str().len()));
        }
    }

    #[test]
    fn a_cursor_never_panics_and_round_trips(raw in text(), micros in any::<i64>(), id in any::<[u8; 16]>()) {
        let _ = ConversationCursor::parse(&raw);
        // Digits far beyond any time: refused, never an overflow.
        let _ = ConversationCursor::parse(&format!("{raw}9999999999999999999999999999999999999.{raw}"));
        let Ok(created_at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000) else {
            return Ok(());
        };
        let cursor = ConversationCursor { created_at, id: ConversationId::from_random_bytes(id) };
        prop_assert_eq!(ConversationCursor::parse(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn codes_origins_issuers_and_urls_never_panic(raw in text()) {
        let _ = VerificationCode::parse(&raw);
        if let Ok(origin) = EmbeddingOrigin::parse(&raw) {
            prop_assert_eq!(EmbeddingOrigin::parse(origin.as_str()), Ok(origin.clone()));
        }
        if let Ok(issuer) = Issuer::parse(&raw) {
            prop_assert_eq!(Issuer::parse(issuer.as_str()), Ok(issuer.clone()));
        }
        if let Ok(url) = PlatformUrl::parse(&raw, "f") {
            prop_assert_eq!(PlatformUrl::parse(url.as_str(), "f"), Ok(url.clone()));
        }
    }

    #[test]
    fn a_login_binding_never_panics_and_round_trips(raw in text(), secret in "[A-Za-z0-9_-]{43}", id in any::<[u8; 16]>(), at in 0i64..4_000_000_000) {
        let _ = LoginBinding::parse(&raw);
        let binding = LoginBinding {
            secret,
            platform: PlatformId::from_random_bytes(id),
            issued_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
        };
        prop_assert_eq!(LoginBinding::parse(&binding.encode()), Some(binding));
    }

    #[test]
    fn token_claims_are_judged_without_panicking_whatever_their_numbers(
        exp in proptest::option::of(any::<i64>()),
        iat in proptest::option::of(any::<i64>()),
        nbf in proptest::option::of(any::<i64>()),
        now in 0i64..4_000_000_000,
    ) {
        let now = OffsetDateTime::from_unix_timestamp(now).unwrap();
        let claims = LaunchClaims {
            iss: "https://lms.example.edu".into(),
            aud: vec!["https://gpt.example.com".into()],
            sub: Some("s".into()),
            exp, iat, nbf,
            jti: Some("j".into()),
        };
        let _ = LaunchPolicy::default().check(&claims, "https://lms.example.edu", "https://gpt.example.com", now);
        let lti = LtiClaims { exp, iat, nbf, ..LtiClaims::default() };
        let platform = lti_platform();
        let _ = gptgate_domain::LtiPolicy::default().check(&lti, &platform, "n", now);
    }
}

fn lti_platform() -> gptgate_domain::LtiPlatform {
    use gptgate_domain::{DeploymentId, LtiClientId, PlatformName};
    gptgate_domain::LtiPlatform {
        id: PlatformId::from_random_bytes([1; 16]),
        name: PlatformName::parse("Moodle").unwrap(),
        issuer: Issuer::parse("https://lms.example.edu").unwrap(),
        client_id: LtiClientId::parse("c").unwrap(),
        login_url: PlatformUrl::parse("https://lms.example.edu/auth", "l").unwrap(),
        key_set_url: PlatformUrl::parse("https://lms.example.edu/jwks", "k").unwrap(),
        deployments: vec![DeploymentId::parse("1").unwrap()],
        origins: vec![EmbeddingOrigin::parse("https://lms.example.edu").unwrap()],
        created_at: OffsetDateTime::UNIX_EPOCH,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever the calls, a bucket never grants more than its burst plus what came back since
    /// the first call, and a refusal always names a wait of at most one token's interval.
    #[test]
    fn a_token_bucket_never_grants_more_than_it_holds(
        per_minute in 1u32..=60_000_000,
        burst in 1u32..=1_000,
        calls in proptest::collection::vec((0i64..5_000_000_000, 0u32..300), 1..200),
    ) {
        let bucket = gptgate_domain::TokenBucket::per_minute(per_minute, burst).unwrap();
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let mut now = t0;
        let mut full_at = None;
        let mut granted: u64 = 0;
        for (advance_ns, want) in calls {
            now += time::Duration::nanoseconds(advance_ns);
            match bucket.take(full_at, want, now) {
                Ok(taken) => {
                    prop_assert!(taken.granted >= 1 && taken.granted <= want.max(1));
                    granted += u64::from(taken.granted);
                    full_at = Some(taken.full_at);
                }
                Err(wait) => {
                    prop_assert!(wait > time::Duration::ZERO && wait <= bucket.refill_every());
                    if let Some(settled) = bucket.settle(full_at, now) {
                        full_at = Some(settled);
                    }
                }
            }
            let came_back = (now - t0).whole_nanoseconds() / bucket.refill_every().whole_nanoseconds();
            prop_assert!(
                i128::from(granted) <= i128::from(burst) + came_back,
                "{} granted, burst {}, {} came back", granted, burst, came_back
            );
        }
    }
}
