//! The rules a platform-signed launch token must keep (a learning platform without LTI sends
//! its visitor to the chat with a short-lived JWT it signs): the claims, once the signature is
//! verified by an adapter with the algorithm pinned to the platform's registration. Issued by
//! the registered issuer, for gptgate, to a subject, with an id used once, expiring within
//! [`LaunchPolicy::MAX_LIFETIME`].

use time::{Duration, OffsetDateTime};

/// The claims of a verified launch token, as the adapter read them (`aud` as a list, whether
/// the token held a string or an array; times in seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchClaims {
    pub iss: String,
    pub aud: Vec<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
}

/// A platform's key for its launch tokens, the algorithm pinned with it: a token signed any
/// other way is refused, whatever its header says.
#[derive(Clone, PartialEq, Eq)]
pub enum LaunchKey {
    /// An Ed25519 public key (PEM).
    EdDsa { public_pem: String },
    /// An RSA public key (PEM) of [`LaunchKey::MIN_RSA_BITS`] to [`LaunchKey::MAX_RSA_BITS`],
    /// RS256.
    Rs256 { public_pem: String },
    /// A secret shared with the platform, HS256 (at least [`LaunchKey::MIN_SECRET`] bytes).
    Hs256 { secret: Vec<u8> },
}

impl std::fmt::Debug for LaunchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::EdDsa { .. } => "LaunchKey::EdDsa",
            Self::Rs256 { .. } => "LaunchKey::Rs256",
            Self::Hs256 { .. } => "LaunchKey::Hs256(..)",
        })
    }
}

impl LaunchKey {
    /// The shortest shared secret accepted: 43 characters, what 32 random bytes make in
    /// base64 (`openssl rand -base64 32`); a passphrase shorter than that could be guessed
    /// offline from any token a visitor sees.
    pub const MIN_SECRET: usize = 43;

    /// The smallest RSA modulus accepted, in bits, for a launch platform's key and an LTI
    /// platform's key set alike: 2048 (NIST SP 800-131A; ASVS 4 6.2.x). A smaller key's
    /// signatures could be forged by factoring it.
    pub const MIN_RSA_BITS: u64 = 2048;

    /// The largest: what the RSA implementation verifies with (a larger key would be taken,
    /// then fail every signature).
    pub const MAX_RSA_BITS: u64 = 4096;

    /// Whether an RSA modulus of `bits` is accepted: [`LaunchKey::MIN_RSA_BITS`] to
    /// [`LaunchKey::MAX_RSA_BITS`].
    pub fn rsa_size_ok(bits: u64) -> bool {
        (Self::MIN_RSA_BITS..=Self::MAX_RSA_BITS).contains(&bits)
    }

    /// The algorithm's name in a token's header (`EdDSA`, `RS256`, `HS256`).
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::EdDsa { .. } => "EdDSA",
            Self::Rs256 { .. } => "RS256",
            Self::Hs256 { .. } => "HS256",
        }
    }
}

/// The bit length of a big-endian unsigned integer (an RSA modulus or exponent as a JWK or a
/// DER key carries it): leading zero bytes and bits do not count.
pub fn bit_length(big_endian: &[u8]) -> u64 {
    let Some(first) = big_endian.iter().position(|b| *b != 0) else {
        return 0;
    };
    let significant = (big_endian.len() - first) as u64;
    significant * 8 - u64::from(big_endian[first].leading_zeros())
}

/// Who a launch admits: the platform's user, and the token's id, to be used once (kept until
/// `expires_at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub issuer: String,
    pub subject: String,
    pub token_id: String,
    pub expires_at: OffsetDateTime,
}

/// Why a launch token is refused. Says which rule, never the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaunchRefused {
    #[error("the token was issued by another platform")]
    Issuer,
    #[error("the token is not meant for this server")]
    Audience,
    #[error("the token names no subject (sub) of 1 to 255 characters")]
    Subject,
    #[error("the token has no id (jti) of 1 to 255 characters")]
    TokenId,
    #[error("the token has no expiry (exp)")]
    NoExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token lives longer than 10 minutes")]
    TooLong,
    #[error("the token is not valid yet")]
    NotYet,
}

/// How launch tokens are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchPolicy {
    /// Tolerated difference between the platform's clock and ours.
    pub leeway: Duration,
}

impl Default for LaunchPolicy {
    /// 30 seconds of clock difference.
    fn default() -> Self {
        Self {
            leeway: Duration::seconds(30),
        }
    }
}

impl LaunchPolicy {
    /// The longest a launch token may live: from now (or from its `iat`) to its `exp`.
    pub const MAX_LIFETIME: Duration = Duration::minutes(10);
    /// The longest subject and token id kept.
    pub const MAX_ID: usize = 255;

    /// The launch `claims` admit at `now`, for a token of `issuer` meant for `audience`, or
    /// the first rule they break.
    pub fn check(
        &self,
        claims: &LaunchClaims,
        issuer: &str,
        audience: &str,
        now: OffsetDateTime,
    ) -> Result<Launch, LaunchRefused> {
        if claims.iss != issuer {
            return Err(LaunchRefused::Issuer);
        }
        if !claims.aud.iter().any(|a| a == audience) {
            return Err(LaunchRefused::Audience);
        }
        let id = |value: &Option<String>| {
            value
                .as_deref()
                .filter(|v| {
                    !v.is_empty()
                        && v.chars().count() <= Self::MAX_ID
                        && !v.chars().any(char::is_control)
                })
                .map(str::to_owned)
        };
        let subject = id(&claims.sub).ok_or(LaunchRefused::Subject)?;
        let token_id = id(&claims.jti).ok_or(LaunchRefused::TokenId)?;
        let at = |seconds: i64| OffsetDateTime::from_unix_timestamp(seconds).ok();
        let expires_at = claims
            .exp
            .map(|exp| at(exp).ok_or(LaunchRefused::TooLong))
            .ok_or(LaunchRefused::NoExpiry)??;
        // Checked: an expiry at the end of time must not overflow.
        if expires_at
            .checked_add(self.leeway)
            .is_some_and(|with_leeway| with_leeway <= now)
        {
            return Err(LaunchRefused::Expired);
        }
        if expires_at > now + Self::MAX_LIFETIME + self.leeway {
            return Err(LaunchRefused::TooLong);
        }
        for start in [claims.iat, claims.nbf].into_iter().flatten() {
            let start = at(start).ok_or(LaunchRefused::NotYet)?;
            if start > now + self.leeway {
                return Err(LaunchRefused::NotYet);
            }
        }
        if let Some(issued) = claims.iat.and_then(at) {
            if expires_at - issued > Self::MAX_LIFETIME {
                return Err(LaunchRefused::TooLong);
            }
        }
        Ok(Launch {
            issuer: issuer.to_owned(),
            subject,
            token_id,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_bit_length_counts_from_the_first_set_bit() {
        assert_eq!(bit_length(&[0x80; 256]), 2048);
        assert_eq!(bit_length(&[0x7f; 256]), 2047);
        let mut padded = vec![0u8];
        padded.extend([0xff; 256]);
        assert_eq!(bit_length(&padded), 2048);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[]), 0);
    }

    #[test]
    fn rsa_keys_of_2048_to_4096_bits_are_accepted() {
        for (bits, ok) in [
            (2047, false),
            (2048, true),
            (4096, true),
            (4097, false),
            (0, false),
        ] {
            assert_eq!(LaunchKey::rsa_size_ok(bits), ok, "{bits}");
        }
    }

    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 09:00 UTC);
    const ISSUER: &str = "https://lms.example.edu";
    const AUDIENCE: &str = "https://gpt.example.com";

    fn claims() -> LaunchClaims {
        let now = NOW.unix_timestamp();
        LaunchClaims {
            iss: ISSUER.into(),
            aud: vec!["other".into(), AUDIENCE.into()],
            sub: Some("student-42".into()),
            exp: Some(now + 300),
            iat: Some(now),
            nbf: None,
            jti: Some("launch-1".into()),
        }
    }

    fn check(claims: &LaunchClaims) -> Result<Launch, LaunchRefused> {
        LaunchPolicy::default().check(claims, ISSUER, AUDIENCE, NOW)
    }

    #[test]
    fn a_keys_algorithm_is_named_as_headers_name_it_and_a_secret_never_shows() {
        let secret = LaunchKey::Hs256 {
            secret: b"0123456789abcdef0123456789abcdef0123456789a".to_vec(),
        };
        assert_eq!(secret.algorithm(), "HS256");
        assert!(!format!("{secret:?}").contains("0123"));
        let pem = |p: &str| p.to_owned();
        assert_eq!(
            LaunchKey::EdDsa {
                public_pem: pem("x")
            }
            .algorithm(),
            "EdDSA"
        );
        assert_eq!(
            LaunchKey::Rs256 {
                public_pem: pem("x")
            }
            .algorithm(),
            "RS256"
        );
        assert_eq!(
            format!(
                "{:?}",
                LaunchKey::Rs256 {
                    public_pem: pem("x")
                }
            ),
            "LaunchKey::Rs256"
        );
        assert_eq!(
            format!(
                "{:?}",
                LaunchKey::EdDsa {
                    public_pem: pem("x")
                }
            ),
            "LaunchKey::EdDsa"
        );
    }

    #[test]
    fn a_good_launch_names_its_subject_token_and_expiry() {
        assert_eq!(
            check(&claims()),
            Ok(Launch {
                issuer: ISSUER.into(),
                subject: "student-42".into(),
                token_id: "launch-1".into(),
                expires_at: NOW + Duration::minutes(5),
            })
        );
    }

    #[test]
    fn issuer_audience_subject_and_id_are_required() {
        let with = |f: &dyn Fn(&mut LaunchClaims)| {
            let mut c = claims();
            f(&mut c);
            check(&c)
        };
        assert_eq!(
            with(&|c| c.iss = "https://evil.example".into()),
            Err(LaunchRefused::Issuer)
        );
        assert_eq!(
            with(&|c| c.aud = vec!["other".into()]),
            Err(LaunchRefused::Audience)
        );
        assert_eq!(with(&|c| c.aud = vec![]), Err(LaunchRefused::Audience));
        assert_eq!(with(&|c| c.sub = None), Err(LaunchRefused::Subject));
        assert_eq!(
            with(&|c| c.sub = Some(String::new())),
            Err(LaunchRefused::Subject)
        );
        assert_eq!(
            with(&|c| c.sub = Some("a\nb".into())),
            Err(LaunchRefused::Subject)
        );
        assert_eq!(
            with(&|c| c.sub = Some("s".repeat(256))),
            Err(LaunchRefused::Subject)
        );
        assert!(with(&|c| c.sub = Some("s".repeat(255))).is_ok());
        assert_eq!(with(&|c| c.jti = None), Err(LaunchRefused::TokenId));
        assert_eq!(
            with(&|c| c.jti = Some("j".repeat(256))),
            Err(LaunchRefused::TokenId)
        );
        assert!(with(&|c| c.jti = Some("j".repeat(255))).is_ok());
    }

    #[test]
    fn the_expiry_is_required_and_at_most_ten_minutes_away_at_its_edges() {
        let now = NOW.unix_timestamp();
        let with = |exp: Option<i64>, iat: Option<i64>| {
            check(&LaunchClaims {
                exp,
                iat,
                ..claims()
            })
        };
        assert_eq!(with(None, None), Err(LaunchRefused::NoExpiry));
        // Expired: the leeway's last second still accepted, the next refused.
        assert!(with(Some(now - 29), Some(now - 60)).is_ok());
        assert_eq!(
            with(Some(now - 30), Some(now - 60)),
            Err(LaunchRefused::Expired)
        );
        // Ten minutes (and the leeway) from now at most.
        assert!(with(Some(now + 600), None).is_ok());
        assert!(with(Some(now + 630), None).is_ok());
        assert_eq!(with(Some(now + 631), None), Err(LaunchRefused::TooLong));
        // Ten minutes from its iat at most.
        assert!(with(Some(now + 600), Some(now)).is_ok());
        assert!(
            with(Some(now + 601), Some(now + 1)).is_ok(),
            "600 s from its iat"
        );
        assert_eq!(
            with(Some(now + 602), Some(now + 1)),
            Err(LaunchRefused::TooLong)
        );
        assert_eq!(with(Some(i64::MAX), None), Err(LaunchRefused::TooLong));
        // The last second time can hold: refused, no overflow.
        let last = time::macros::datetime!(9999-12-31 23:59:59 UTC).unix_timestamp();
        assert_eq!(with(Some(last), None), Err(LaunchRefused::TooLong));
    }

    #[test]
    fn a_token_from_the_future_is_refused_beyond_the_leeway() {
        let now = NOW.unix_timestamp();
        let with = |iat: Option<i64>, nbf: Option<i64>| {
            check(&LaunchClaims {
                iat,
                nbf,
                exp: Some(now + 300),
                ..claims()
            })
        };
        assert!(with(Some(now + 30), None).is_ok());
        assert_eq!(with(Some(now + 31), None), Err(LaunchRefused::NotYet));
        assert!(with(None, Some(now + 30)).is_ok());
        assert_eq!(with(None, Some(now + 31)), Err(LaunchRefused::NotYet));
        assert_eq!(with(None, Some(i64::MAX)), Err(LaunchRefused::NotYet));
    }
}
