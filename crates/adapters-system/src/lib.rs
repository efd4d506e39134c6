//! System adapters: the operating system's clock and CSPRNG, and the crypto ports built on
//! `ring` (HMAC-SHA256 code hashing, HKDF key separation) and `jsonwebtoken` (HS256 session
//! tokens; platform-signed launch tokens), AES-256-GCM sealing of secrets at rest
//! (`ring::aead`), and argon2id password hashing (`argon2`) on a thread of its own. `pem` and
//! `rsa` only read an RSA public key's size (`rsa_keys`), before jsonwebtoken verifies with it.

mod budgets;
mod clock;
mod code_hasher;
mod keys;
mod launch_tokens;
mod lti_tokens;
mod opaque_tokens;
mod passwords;
mod random;
mod rsa_keys;
mod secret_box;
mod session_tokens;

pub use budgets::{InProcessBuckets, InProcessBudgets};
pub use clock::{SystemClock, TokioTimer};
pub use code_hasher::HmacCodeHasher;
pub use keys::{KeyError, ServerKeys, MIN_SECRET_BYTES};
pub use launch_tokens::JwtLaunchTokens;
pub use lti_tokens::JwtLtiTokens;
pub use opaque_tokens::Sha256OpaqueTokens;
pub use passwords::Argon2Passwords;
pub use random::OsRandom;
pub use secret_box::{AesGcmSecretBox, KeyRingError};
pub use session_tokens::JwtSessionTokens;
