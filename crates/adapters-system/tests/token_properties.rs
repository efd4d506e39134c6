//! Property tests of the token readers that take what browsers and platforms post: on any
//! input, JWT-shaped or not, they answer without panicking, and never accept an unsigned token.

use gptgate_adapters_system::{JwtLaunchTokens, JwtLtiTokens};
use gptgate_domain::{LaunchKey, PlatformKey};
use gptgate_ports::{LaunchTokens, LtiTokens};
use proptest::prelude::*;

const JWKS: &str = include_str!("fixtures/test-only-rsa-jwks.json");
const RSA_PUBLIC: &str = include_str!("fixtures/test-only-rsa-public.pem");

fn key() -> PlatformKey {
    let set: serde_json::Value = serde_json::from_str(JWKS).unwrap();
    let k = &set["keys"][0];
    PlatformKey {
        kid: k["kid"].as_str().unwrap().into(),
        n: k["n"].as_str().unwrap().into(),
        e: k["e"].as_str().unwrap().into(),
    }
}

/// Three base64url pieces of JSON-ish or random bytes, joined by dots, and plain strings.
fn token() -> impl Strategy<Value = String> {
    fn b64(v: Vec<u8>) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }
    let piece = prop_oneof![
        any::<Vec<u8>>().prop_map(b64),
        "\\{\"(alg|kid|iss|aud|crit)\":\"[ -~]{0,20}\"\\}"
            .prop_map(|s: String| b64(s.into_bytes())),
        "[A-Za-z0-9_=+/-]{0,40}",
    ];
    prop_oneof![
        any::<String>(),
        (piece.clone(), piece.clone(), piece).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn no_token_makes_a_reader_panic_or_passes_unsigned(raw in token()) {
        let _ = JwtLtiTokens.peek(&raw);
        prop_assert!(JwtLtiTokens.verify(&raw, &key()).is_err());
        let _ = JwtLaunchTokens.issuer(&raw);
        let rsa = LaunchKey::Rs256 { public_pem: RSA_PUBLIC.into() };
        prop_assert!(JwtLaunchTokens.verify(&raw, &rsa).is_err());
        let secret = LaunchKey::Hs256 { secret: vec![7; 43] };
        prop_assert!(JwtLaunchTokens.verify(&raw, &secret).is_err());
    }
}
