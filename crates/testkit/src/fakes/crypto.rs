use gptgate_domain::{CodeHash, Email, SessionId, UserId, VerificationCode};
use gptgate_ports::{CodeHasher, SessionClaims, SessionTokens, TokenError};
use time::OffsetDateTime;

/// A transparent, keyless "hash" (`email|code` bytes). Only for tests.
#[derive(Default)]
pub struct FakeCodeHasher;

impl CodeHasher for FakeCodeHasher {
    fn hash(&self, email: &Email, code: &VerificationCode) -> CodeHash {
        CodeHash::from_bytes(format!("{email}|{}", code.digits()).into_bytes())
    }

    fn matches(&self, email: &Email, code: &VerificationCode, hash: &CodeHash) -> bool {
        self.hash(email, code) == *hash
    }
}

/// Unsigned, readable tokens (`fake.<user>.<session>.<iat>.<exp>.<audience>`). Only for tests.
#[derive(Default)]
pub struct FakeSessionTokens;

impl SessionTokens for FakeSessionTokens {
    fn sign(&self, c: &SessionClaims) -> Result<String, TokenError> {
        Ok(format!(
            "fake.{}.{}.{}.{}.{}",
            c.user_id,
            c.session_id,
            c.issued_at.unix_timestamp(),
            c.expires_at.unix_timestamp(),
            c.audience.as_str()
        ))
    }

    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<SessionClaims, TokenError> {
        let parts: Vec<&str> = token.split('.').collect();
        let ["fake", user, session, iat, exp, audience] = parts.as_slice() else {
            return Err(TokenError::Invalid);
        };
        let at = |s: &str| {
            s.parse::<i64>()
                .ok()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .ok_or(TokenError::Invalid)
        };
        let claims = SessionClaims {
            user_id: user.parse::<UserId>().map_err(|_| TokenError::Invalid)?,
            session_id: session
                .parse::<SessionId>()
                .map_err(|_| TokenError::Invalid)?,
            issued_at: at(iat)?,
            expires_at: at(exp)?,
            audience: gptgate_domain::Audience::parse(audience).ok_or(TokenError::Invalid)?,
        };
        if now >= claims.expires_at {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

/// A transparent "secret box": values are hex-encoded and tagged with their context and key
/// id, so tests can see binding errors. Only for tests.
pub struct FakeSecretBox {
    key_id: String,
    /// Older key ids this box still opens.
    old: Vec<String>,
}

impl FakeSecretBox {
    pub fn new(key_id: &str) -> Self {
        Self {
            key_id: key_id.to_owned(),
            old: Vec::new(),
        }
    }

    /// A box sealing with `key_id` that still opens values of `old` keys.
    pub fn rotated(key_id: &str, old: &[&str]) -> Self {
        Self {
            key_id: key_id.to_owned(),
            old: old.iter().map(|k| (*k).to_owned()).collect(),
        }
    }
}

impl Default for FakeSecretBox {
    fn default() -> Self {
        Self::new("fake-1")
    }
}

impl gptgate_ports::SecretBox for FakeSecretBox {
    fn seal(
        &self,
        plaintext: &secrecy::SecretString,
        context: &str,
    ) -> Result<gptgate_domain::Sealed, gptgate_ports::SealError> {
        use secrecy::ExposeSecret;
        let hex: String = plaintext
            .expose_secret()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(gptgate_domain::Sealed::from_bytes(
            format!("{}|{context}|{hex}", self.key_id).into_bytes(),
        ))
    }

    fn open(
        &self,
        sealed: &gptgate_domain::Sealed,
        context: &str,
    ) -> Result<secrecy::SecretString, gptgate_ports::SealError> {
        let text =
            std::str::from_utf8(sealed.as_bytes()).map_err(|_| gptgate_ports::SealError::Open)?;
        let mut parts = text.splitn(3, '|');
        let (Some(key), Some(ctx), Some(hex)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(gptgate_ports::SealError::Open);
        };
        let known = key == self.key_id || self.old.iter().any(|k| k == key);
        if !known || ctx != context || hex.len() % 2 != 0 {
            return Err(gptgate_ports::SealError::Open);
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| gptgate_ports::SealError::Open)?;
        String::from_utf8(bytes)
            .map(secrecy::SecretString::from)
            .map_err(|_| gptgate_ports::SealError::Open)
    }

    fn current_key_id(&self) -> &str {
        &self.key_id
    }

    fn key_id_of(&self, sealed: &gptgate_domain::Sealed) -> Option<String> {
        let text = std::str::from_utf8(sealed.as_bytes()).ok()?;
        text.split_once('|').map(|(key, _)| key.to_owned())
    }
}

/// Opaque tokens from a counter, hashed by a simple reversible scheme. Only for tests.
#[derive(Default)]
pub struct FakeOpaqueTokens {
    counter: std::sync::atomic::AtomicU64,
}

impl gptgate_ports::OpaqueTokens for FakeOpaqueTokens {
    fn mint(
        &self,
    ) -> Result<(secrecy::SecretString, gptgate_domain::TokenHash), gptgate_ports::RandomError>
    {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let token = format!("tok{n:040}");
        let hash = self.hash(&token);
        Ok((secrecy::SecretString::from(token), hash))
    }

    fn hash(&self, token: &str) -> gptgate_domain::TokenHash {
        // FNV-1a under four seeds: every output byte depends on every input byte.
        let mut out = [0u8; 32];
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (i as u64);
            for b in token.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            chunk.copy_from_slice(&h.to_le_bytes());
        }
        gptgate_domain::TokenHash::from_bytes(out)
    }
}

/// A fast, transparent stand-in for argon2id: the "hash" carries the password in hex (so it
/// parses as a PHC string at OWASP's floor) behind a counter as its salt, so two hashes of one
/// password differ. Counts its calls. Only for tests.
#[derive(Default)]
pub struct FakePasswords {
    made: std::sync::atomic::AtomicU32,
    verified: std::sync::atomic::AtomicU32,
}

impl FakePasswords {
    /// How many passwords were compared with a hash.
    pub fn verifications(&self) -> u32 {
        self.verified.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The hash of `password` as [`PasswordHasher::hash`] would make it (salt `0`).
    pub fn hash_of(password: &str) -> gptgate_domain::PasswordHash {
        Self::with_salt(password, 0)
    }

    fn with_salt(password: &str, salt: u32) -> gptgate_domain::PasswordHash {
        let hex: String = password.bytes().map(|b| format!("{b:02x}")).collect();
        gptgate_domain::PasswordHash::parse(&format!(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA{salt}$x{hex}"
        ))
        .expect("a fake hash parses")
    }
}

#[async_trait::async_trait]
impl gptgate_ports::PasswordHasher for FakePasswords {
    async fn hash(
        &self,
        password: &gptgate_domain::NewPassword,
    ) -> Result<gptgate_domain::PasswordHash, gptgate_ports::InternalError> {
        let salt = self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Ok(Self::with_salt(password.as_str(), salt))
    }

    async fn verify(
        &self,
        password: &secrecy::SecretString,
        hash: &gptgate_domain::PasswordHash,
    ) -> bool {
        use secrecy::ExposeSecret;
        self.verified
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let hex: String = password
            .expose_secret()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        hash.as_str().ends_with(&format!("$x{hex}"))
    }
}
