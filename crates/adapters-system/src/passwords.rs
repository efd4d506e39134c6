//! argon2id password hashing (the `argon2` crate, RustCrypto), run on tokio's blocking threads.

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::Argon2;
use async_trait::async_trait;
use gptgate_domain::{NewPassword, PasswordHash};
use gptgate_ports::{InternalError, PasswordHasher};
use secrecy::{ExposeSecret, SecretString};

/// How many hashes are computed at once in this process: one per CPU. Each takes its
/// parameters' memory (19 MiB at OWASP's floor), so a burst of sign-ins waits its turn instead
/// of taking gigabytes at once.
fn slots() -> std::sync::Arc<tokio::sync::Semaphore> {
    static SLOTS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    SLOTS
        .get_or_init(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            std::sync::Arc::new(tokio::sync::Semaphore::new(cpus))
        })
        .clone()
}

/// argon2id with its default parameters, which are OWASP's (m=19456 KiB, t=2, p=1), and a
/// random salt from the operating system.
#[derive(Debug, Default, Clone, Copy)]
pub struct Argon2Passwords;

impl Argon2Passwords {
    /// The hash, on the current thread (the command line, which has no async work to stall).
    pub fn hash_now(password: &NewPassword) -> Result<PasswordHash, InternalError> {
        let phc = Argon2::default()
            .hash_password(password.as_str().as_bytes())
            .map_err(|e| InternalError::new(e.to_string()))?;
        PasswordHash::parse(&phc.to_string()).map_err(InternalError::new)
    }

    fn verify_now(password: &str, hash: &str) -> bool {
        Phc::new(hash).is_ok_and(|phc| {
            Argon2::default()
                .verify_password(password.as_bytes(), &phc)
                .is_ok()
        })
    }
}

#[async_trait]
impl PasswordHasher for Argon2Passwords {
    async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, InternalError> {
        let password = NewPassword::parse(password.as_str()).map_err(InternalError::new)?;
        let slot = slots().acquire_owned().await.map_err(InternalError::new)?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            Self::hash_now(&password)
        })
        .await
        .map_err(InternalError::new)?
    }

    async fn verify(&self, password: &SecretString, hash: &PasswordHash) -> bool {
        let password = password.clone();
        let hash = hash.as_str().to_owned();
        let Ok(slot) = slots().acquire_owned().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            Self::verify_now(password.expose_secret(), &hash)
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let password = NewPassword::parse("correct horse battery staple").unwrap();
        let hash = Argon2Passwords.hash(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            Argon2Passwords
                .verify(&secret("correct horse battery staple"), &hash)
                .await
        );
        assert!(
            !Argon2Passwords
                .verify(&secret("correct horse battery stapl"), &hash)
                .await
        );
        let again = Argon2Passwords.hash(&password).await.unwrap();
        assert_ne!(hash, again, "a fresh salt each time");
    }

    #[tokio::test]
    async fn a_hash_made_elsewhere_with_stronger_parameters_verifies_and_garbage_does_not() {
        // Stronger parameters than ours (m=65536, t=3, p=2), as an operator's own tool may
        // choose: the hash's own parameters are used.
        let password = NewPassword::parse("correct horse battery staple").unwrap();
        let strong = {
            use argon2::{Algorithm, Params, Version};
            let params = Params::new(65_536, 3, 2, None).unwrap();
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(password.as_str().as_bytes())
                .unwrap()
                .to_string()
        };
        let strong = PasswordHash::parse(&strong).unwrap();
        assert!(
            Argon2Passwords
                .verify(&secret("correct horse battery staple"), &strong)
                .await
        );
        let garbled = PasswordHash::parse(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo",
        )
        .unwrap();
        assert!(
            !Argon2Passwords
                .verify(&secret("correct horse battery staple"), &garbled)
                .await
        );
    }
}
