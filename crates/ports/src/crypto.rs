//! Crypto ports: keyed hashing of sign-in codes, signed session tokens, sealing secrets at
//! rest, opaque tokens, and the slow hashing of the passwords of the people who run the server.

use async_trait::async_trait;
use gptgate_domain::{
    Audience, CodeHash, Email, NewPassword, PasswordHash, Sealed, SessionId, TokenHash, UserId,
    VerificationCode,
};
use secrecy::SecretString;
use time::OffsetDateTime;

/// Hashes sign-in codes under a server key, so a leaked table cannot be brute-forced offline.
pub trait CodeHasher: Send + Sync {
    /// The keyed hash (HMAC-SHA256 in production) of `email || code`. The same inputs MUST
    /// give the same hash; a code for one email MUST NOT hash like the same code for another.
    fn hash(&self, email: &Email, code: &VerificationCode) -> CodeHash;

    /// Whether `hash` is the hash of `email || code`, compared in constant time.
    fn matches(&self, email: &Email, code: &VerificationCode, hash: &CodeHash) -> bool;
}

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Which face the token is for: every email sign-in's is the API's.
    pub audience: Audience,
}

/// Why a token could not be signed or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is malformed, forged, of another algorithm, issuer or audience, lacks a
    /// required claim, or has expired. Deliberately one variant: callers answer all alike.
    #[error("the session token is invalid or expired")]
    Invalid,
    #[error("the session token could not be signed")]
    Signing,
}

/// Signs and verifies session tokens.
pub trait SessionTokens: Send + Sync {
    /// A signed token carrying `claims`.
    fn sign(&self, claims: &SessionClaims) -> Result<String, TokenError>;

    /// The claims of `token` if it was signed by this server with the one pinned algorithm,
    /// names this server as issuer and audience, carries every required claim, and has not
    /// expired at `now`. Anything else MUST be [`TokenError::Invalid`].
    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<SessionClaims, TokenError>;
}

/// A secret could not be sealed or opened. Deliberately without detail: a wrong key, a wrong
/// context and a modified ciphertext all look the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the value could not be decrypted")]
    Open,
    #[error("the value could not be encrypted")]
    Seal,
}

/// Encrypts small secrets (provider tokens, PKCE verifiers) for storage, bound to where they are
/// stored.
pub trait SecretBox: Send + Sync {
    /// Encrypts `plaintext` under the current key, bound to `context` (for example
    /// `accounts/<id>/refresh_token`). Two seals of the same plaintext MUST differ.
    fn seal(&self, plaintext: &SecretString, context: &str) -> Result<Sealed, SealError>;

    /// Decrypts a value sealed with the same `context` under any known key. A wrong context, an
    /// unknown key or any modified byte MUST be [`SealError::Open`], never a panic.
    fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString, SealError>;

    /// The id of the key that [`seal`](Self::seal) uses now.
    fn current_key_id(&self) -> &str;

    /// The id of the key `sealed` was sealed with, read from the value itself (every sealed
    /// value names its own key); `None` if it is not a value of this box's format.
    fn key_id_of(&self, sealed: &Sealed) -> Option<String>;
}

/// Opaque single-use tokens (onboarding, management, OAuth state): 256 random bits, sent as
/// base64url, stored only as their SHA-256.
pub trait OpaqueTokens: Send + Sync {
    /// A new token and its hash.
    fn mint(&self) -> Result<(SecretString, TokenHash), crate::RandomError>;

    /// The hash under which `token` is stored.
    fn hash(&self, token: &str) -> TokenHash;
}

/// Hashes and checks the passwords of the people who run the server (the admin console's, the
/// team's) with argon2id. Both calls are deliberately slow (tens of milliseconds of CPU and
/// 19 MiB of memory): implementations MUST run them off the async threads.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A new PHC string for `password`, with a fresh random salt and parameters at least
    /// OWASP's floor ([`PasswordHash::parse`] accepts it).
    async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, crate::InternalError>;

    /// Whether `password` is the one `hash` was made from (the hash's own parameters are
    /// used; the comparison is constant-time). A hash that cannot be read is `false`.
    async fn verify(&self, password: &SecretString, hash: &PasswordHash) -> bool;
}

/// Why a launch token's signature was not accepted. Never holds the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaunchTokenError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token is signed with another algorithm than the platform's")]
    WrongAlgorithm,
    #[error("the token's signature does not verify with the platform's key")]
    BadSignature,
    #[error("the platform's key is unusable")]
    UnusableKey,
}

/// Verifies platform-signed launch tokens (JWS compact, the algorithm pinned to the key).
pub trait LaunchTokens: Send + Sync {
    /// The claims of `token` if it is signed by `key` with `key`'s algorithm. The claims are
    /// not judged here ([`gptgate_domain::LaunchPolicy::check`] does that).
    fn verify(
        &self,
        token: &str,
        key: &gptgate_domain::LaunchKey,
    ) -> Result<gptgate_domain::LaunchClaims, LaunchTokenError>;

    /// Whether `key` can verify anything (a PEM that parses, a long enough secret): checked when
    /// a platform is registered.
    fn usable(&self, key: &gptgate_domain::LaunchKey) -> bool;

    /// The `iss` `token` claims, read WITHOUT verifying anything: only to find which platform's
    /// key to verify it with.
    fn issuer(&self, token: &str) -> Option<String>;
}

/// What an id_token says of itself before it is verified: only to find the registration and
/// the key to verify it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtiPeek {
    /// The header's key id.
    pub kid: Option<String>,
    pub iss: String,
    pub aud: Vec<String>,
    pub azp: Option<String>,
}

/// Verifies LTI 1.3 id_tokens (JWS compact, RS256 only).
pub trait LtiTokens: Send + Sync {
    /// The claims of `token` if it is signed with RS256 by `key`. The claims are not judged
    /// here ([`gptgate_domain::LtiPolicy::check`] does that).
    fn verify(
        &self,
        token: &str,
        key: &gptgate_domain::PlatformKey,
    ) -> Result<gptgate_domain::LtiClaims, LaunchTokenError>;

    /// What `token` says of its key and issuer, read WITHOUT verifying anything.
    fn peek(&self, token: &str) -> Option<LtiPeek>;
}

/// Why a platform's key set could not be had. Holds no response body.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("the platform's key set could not be fetched: {0}")]
    Unreachable(String),
    #[error("the platform's key set is not a JSON Web Key Set")]
    Malformed,
}

/// Fetches platforms' public key sets (JWKS) over HTTPS.
#[async_trait]
pub trait KeySets: Send + Sync {
    /// The RS256 signing keys (RSA, 2,048 bits or more, with a `kid`) of the set at `url`;
    /// keys of other kinds are left out.
    async fn fetch(
        &self,
        url: &gptgate_domain::PlatformUrl,
    ) -> Result<Vec<gptgate_domain::PlatformKey>, KeySetError>;
}
