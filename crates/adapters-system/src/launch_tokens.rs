//! Launch tokens of learning platforms without LTI, verified with `jsonwebtoken` (RustCrypto):
//! the algorithm is the one registered with the platform's key, never the token's say-so (an
//! RS256 public key is never used as an HS256 secret), and `none` is never accepted.

use gptgate_domain::{LaunchClaims, LaunchKey};
use gptgate_ports::{LaunchTokenError, LaunchTokens};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// `aud`, a string or a list of them (RFC 7519 4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    sub: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// The platform-signed launch token verifier.
#[derive(Debug, Default, Clone, Copy)]
pub struct JwtLaunchTokens;

/// Whether `pem` is a public key (and only that): a private key pasted by mistake would be
/// stored unencrypted as if it were public, and every launch would fail.
fn public_pem_ok(pem: &str, labels: &[&str]) -> bool {
    let pem = pem.trim();
    labels.iter().any(|label| {
        pem.starts_with(&format!("-----BEGIN {label}-----"))
            && pem.ends_with(&format!("-----END {label}-----"))
    }) && !pem.contains("PRIVATE")
}

fn decoding(key: &LaunchKey) -> Option<(Algorithm, DecodingKey)> {
    match key {
        LaunchKey::EdDsa { public_pem } if !public_pem_ok(public_pem, &["PUBLIC KEY"]) => None,
        LaunchKey::Rs256 { public_pem }
            if !public_pem_ok(public_pem, &["PUBLIC KEY", "RSA PUBLIC KEY"])
                || !crate::rsa_keys::pem_bits(public_pem).is_some_and(LaunchKey::rsa_size_ok) =>
        {
            None
        }
        LaunchKey::EdDsa { public_pem } => DecodingKey::from_ed_pem(public_pem.as_bytes())
            .ok()
            .map(|k| (Algorithm::EdDSA, k)),
        LaunchKey::Rs256 { public_pem } => DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .ok()
            .map(|k| (Algorithm::RS256, k)),
        LaunchKey::Hs256 { secret } if secret.len() >= LaunchKey::MIN_SECRET => {
            Some((Algorithm::HS256, DecodingKey::from_secret(secret)))
        }
        LaunchKey::Hs256 { .. } => None,
    }
}

impl LaunchTokens for JwtLaunchTokens {
    fn verify(&self, token: &str, key: &LaunchKey) -> Result<LaunchClaims, LaunchTokenError> {
        let (algorithm, decoding) = decoding(key).ok_or(LaunchTokenError::UnusableKey)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| LaunchTokenError::Malformed)?;
        if header.alg != algorithm {
            return Err(LaunchTokenError::WrongAlgorithm);
        }
        // The signature and the algorithm only: the claims are the domain's to judge.
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, &decoding, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => LaunchTokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => LaunchTokenError::WrongAlgorithm,
                _ => LaunchTokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        Ok(LaunchClaims {
            iss: claims.iss,
            aud: match claims.aud {
                Audience::One(aud) => vec![aud],
                Audience::Many(aud) => aud,
            },
            sub: claims.sub,
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            jti: claims.jti,
        })
    }

    fn usable(&self, key: &LaunchKey) -> bool {
        decoding(key).is_some()
    }

    fn issuer(&self, token: &str) -> Option<String> {
        use base64::Engine;
        #[derive(Deserialize)]
        struct Issued {
            iss: String,
        }
        let payload = token.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        serde_json::from_slice::<Issued>(&bytes).ok().map(|i| i.iss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const RSA_PRIVATE: &str = include_str!("../tests/fixtures/test-only-rsa-private.pem");
    const RSA_PUBLIC: &str = include_str!("../tests/fixtures/test-only-rsa-public.pem");
    const ED_PRIVATE: &str = include_str!("../tests/fixtures/test-only-ed25519-private.pem");
    const ED_PUBLIC: &str = include_str!("../tests/fixtures/test-only-ed25519-public.pem");
    const SECRET: &[u8] = b"a random secret shared with the platform, 43 characters+";

    fn claims() -> serde_json::Value {
        json!({
            "iss": "https://lms.example.edu", "aud": "https://gpt.example.com",
            "sub": "student-42", "exp": 1_764_237_000, "iat": 1_764_236_700, "jti": "launch-1"
        })
    }

    fn signed(alg: Algorithm, key: &EncodingKey, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
    }

    fn keys() -> [(Algorithm, EncodingKey, LaunchKey); 3] {
        [
            (
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap(),
                LaunchKey::EdDsa {
                    public_pem: ED_PUBLIC.into(),
                },
            ),
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
                LaunchKey::Rs256 {
                    public_pem: RSA_PUBLIC.into(),
                },
            ),
            (
                Algorithm::HS256,
                EncodingKey::from_secret(SECRET),
                LaunchKey::Hs256 {
                    secret: SECRET.to_vec(),
                },
            ),
        ]
    }

    #[test]
    fn each_kind_of_key_verifies_its_own_tokens_and_reads_the_claims() {
        for (alg, signing, key) in keys() {
            assert!(JwtLaunchTokens.usable(&key));
            let claims = JwtLaunchTokens
                .verify(&signed(alg, &signing, &claims()), &key)
                .unwrap();
            assert_eq!(
                claims,
                LaunchClaims {
                    iss: "https://lms.example.edu".into(),
                    aud: vec!["https://gpt.example.com".into()],
                    sub: Some("student-42".into()),
                    exp: Some(1_764_237_000),
                    iat: Some(1_764_236_700),
                    nbf: None,
                    jti: Some("launch-1".into()),
                },
                "{alg:?}"
            );
        }
        // `aud` as a list; claims left out are read as absent, for the domain to refuse.
        let (_, signing, key) = keys().into_iter().nth(2).unwrap();
        let listed = json!({ "iss": "i", "aud": ["a", "b"] });
        let claims = JwtLaunchTokens
            .verify(&signed(Algorithm::HS256, &signing, &listed), &key)
            .unwrap();
        assert_eq!(claims.aud, ["a", "b"]);
        assert_eq!((claims.sub, claims.exp, claims.jti), (None, None, None));
    }

    #[test]
    fn a_token_signed_another_way_or_by_another_key_is_refused() {
        let all = keys();
        for (_, _, key) in &all {
            for (alg, signing, other) in &all {
                if other == key {
                    continue;
                }
                let token = signed(*alg, signing, &claims());
                assert_eq!(
                    JwtLaunchTokens.verify(&token, key),
                    Err(LaunchTokenError::WrongAlgorithm),
                    "{alg:?} against {key:?}"
                );
            }
        }
        // The classic confusion: the RSA public key used as an HS256 secret.
        let confused = signed(
            Algorithm::HS256,
            &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
            &claims(),
        );
        let rsa = LaunchKey::Rs256 {
            public_pem: RSA_PUBLIC.into(),
        };
        assert_eq!(
            JwtLaunchTokens.verify(&confused, &rsa),
            Err(LaunchTokenError::WrongAlgorithm)
        );
        // Another secret: the signature does not verify.
        let other = signed(
            Algorithm::HS256,
            &EncodingKey::from_secret(b"another secret of forty-three characters or more!"),
            &claims(),
        );
        let hs = LaunchKey::Hs256 {
            secret: SECRET.to_vec(),
        };
        assert_eq!(
            JwtLaunchTokens.verify(&other, &hs),
            Err(LaunchTokenError::BadSignature)
        );
        // alg none, and what is no JWT at all.
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!("{}.{}.", b64(json!({ "alg": "none" })), b64(claims()));
        assert!(JwtLaunchTokens.verify(&none, &hs).is_err());
        for garbage in ["", "a.b.c", "not a token"] {
            assert_eq!(
                JwtLaunchTokens.verify(garbage, &hs),
                Err(LaunchTokenError::Malformed),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn the_issuer_is_read_before_anything_is_verified() {
        let (_, signing, _) = keys().into_iter().nth(2).unwrap();
        let token = signed(Algorithm::HS256, &signing, &claims());
        assert_eq!(
            JwtLaunchTokens.issuer(&token).as_deref(),
            Some("https://lms.example.edu")
        );
        for garbage in ["", "a.b.c", "a.e30.c", "not a token"] {
            assert_eq!(JwtLaunchTokens.issuer(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn an_unusable_key_is_said_so() {
        for key in [
            LaunchKey::EdDsa {
                public_pem: "not a pem".into(),
            },
            LaunchKey::Rs256 {
                public_pem: ED_PUBLIC.into(),
            },
            LaunchKey::Rs256 {
                public_pem: RSA_PRIVATE.into(),
            },
            LaunchKey::EdDsa {
                public_pem: ED_PRIVATE.into(),
            },
            LaunchKey::Hs256 {
                secret: vec![7; 42],
            },
        ] {
            assert!(!JwtLaunchTokens.usable(&key), "{key:?}");
            assert_eq!(
                JwtLaunchTokens.verify("a.b.c", &key),
                Err(LaunchTokenError::UnusableKey)
            );
        }
        assert!(JwtLaunchTokens.usable(&LaunchKey::Hs256 {
            secret: vec![7; 43]
        }));
    }

    #[test]
    fn an_rsa_key_under_2048_bits_is_unusable_even_for_a_token_it_signed() {
        let small_private = include_str!("../tests/fixtures/test-only-rsa-1024-private.pem");
        let small = LaunchKey::Rs256 {
            public_pem: include_str!("../tests/fixtures/test-only-rsa-1024-pkcs1-public.pem")
                .into(),
        };
        let token = signed(
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(small_private.as_bytes()).unwrap(),
            &claims(),
        );
        assert!(!JwtLaunchTokens.usable(&small));
        assert_eq!(
            JwtLaunchTokens.verify(&token, &small),
            Err(LaunchTokenError::UnusableKey)
        );
        // 2047 bits: one under; 2048 (the other fixtures): taken.
        assert!(!JwtLaunchTokens.usable(&LaunchKey::Rs256 {
            public_pem: include_str!("../tests/fixtures/test-only-rsa-2047-public.pem").into(),
        }));
        assert!(JwtLaunchTokens.usable(&LaunchKey::Rs256 {
            public_pem: RSA_PUBLIC.into(),
        }));
        // 4160 bits, over 4096: RSA could not verify with it; said at registration, not at every
        // launch.
        assert!(!JwtLaunchTokens.usable(&LaunchKey::Rs256 {
            public_pem: include_str!("../tests/fixtures/test-only-rsa-4160-public.pem").into(),
        }));
        // Any line length, as jsonwebtoken reads it.
        let one_line = {
            let lines: Vec<&str> = RSA_PUBLIC.trim().lines().collect();
            format!(
                "{}\n{}\n{}",
                lines[0],
                lines[1..lines.len() - 1].concat(),
                lines[lines.len() - 1]
            )
        };
        assert!(JwtLaunchTokens.usable(&LaunchKey::Rs256 {
            public_pem: one_line
        }));
    }
}
