//! argon2id password hashing (the `argon2` crate, RustCrypto), run on threads of its own.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use gptgate_domain::{NewPassword, PasswordHash};
use gptgate_ports::{InternalError, PasswordHasher};
use secrecy::{ExposeSecret, SecretString};

/// A job for the argon2 threads.
type Job = Box<dyn FnOnce() + Send>;

/// The thread that computes hashes, started on first use, for the life of the process. Each
/// hash takes its parameters' memory (19 MiB at OWASP's floor), kept by the thread for the
/// next one (see [`MEMORY`]): a burst of sign-ins waits its turn instead of taking gigabytes at
/// once, and the process holds one hash's memory once the console or the chat is used.
fn workers() -> &'static std::sync::mpsc::SyncSender<Job> {
    static WORKERS: std::sync::OnceLock<std::sync::mpsc::SyncSender<Job>> =
        std::sync::OnceLock::new();
    WORKERS.get_or_init(|| {
        // One thread: a hash at a time (p=1 hashes use one core each anyway), and one hash's
        // memory kept, not one per core. Sign-ins are rare and their guesses limited.
        let threads = 1;
        // Waiting jobs are bounded too: past this, callers wait to hand theirs over.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(64);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            // A thread that could not start holds no end of the queue; if none did, handing
            // a job over fails and the caller gets no hash (never a hang).
            drop(spawned);
        }
        jobs
    })
}

/// Runs `work` on an argon2 thread; its result, or `None` if it could not run.
async fn on_argon2_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    let jobs = workers().clone();
    // Handing over may wait for room in the queue: off the async threads too.
    tokio::task::spawn_blocking(move || jobs.send(job))
        .await
        .ok()?
        .ok()?;
    result.await.ok()
}

/// argon2id with its default parameters, which are OWASP's (m=19456 KiB, t=2, p=1), and a
/// random salt from the operating system.
#[derive(Debug, Default, Clone, Copy)]
pub struct Argon2Passwords;

thread_local! {
    /// This thread's argon2 memory, kept from one hash to the next. Allocating and freeing it
    /// for every hash (as `Argon2::hash_password` does) grew the process by the whole memory
    /// cost each time: the allocator could not reuse the freed, 64-byte-aligned 19 MiB.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `work` on this thread's argon2 memory, grown to at least `blocks` blocks.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            *memory = vec![Block::new(); blocks];
        }
        work(&mut memory[..blocks])
    })
}

/// `password` hashed with `argon2` and `salt` into `out`, on this thread's memory.
fn hash_into(argon2: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    let blocks = argon2.params().block_count();
    with_memory(blocks, |memory| {
        argon2
            .hash_password_into_with_memory(password, salt, out, memory)
            .is_ok()
    })
}

impl Argon2Passwords {
    /// The hash, on the current thread (the command line, which has no async work to stall).
    pub fn hash_now(password: &NewPassword) -> Result<PasswordHash, InternalError> {
        let failed = |e: String| InternalError::new(format!("argon2: {e}"));
        let mut salt = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .map_err(|_| failed("no randomness for the salt".into()))?;
        let params = Params::default();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        if !hash_into(&argon2, password.as_str().as_bytes(), &salt, &mut out) {
            return Err(failed("the hash could not be computed".into()));
        }
        let phc = Phc {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| failed(e.to_string()))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(e.to_string()))?),
            hash: Some(Output::new(&out).map_err(|e| failed(e.to_string()))?),
        };
        PasswordHash::parse(&phc.to_string()).map_err(InternalError::new)
    }

    /// Whether `password` is the one `hash` (a PHC string) was made from, on the current
    /// thread: the hash's own algorithm, version and parameters, compared in constant time.
    fn verify_now(password: &str, hash: &str) -> bool {
        let Ok(phc) = Phc::new(hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
            return false;
        };
        let version = match phc.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        let Ok(params) = Params::try_from(&phc) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        hash_into(&argon2, password.as_bytes(), salt.as_ref(), &mut out)
            && Output::new(&out).is_ok_and(|computed| computed == *expected)
    }
}

#[async_trait]
impl PasswordHasher for Argon2Passwords {
    async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, InternalError> {
        let password = NewPassword::parse(password.as_str()).map_err(InternalError::new)?;
        on_argon2_thread(move || Self::hash_now(&password))
            .await
            .ok_or_else(|| InternalError::new("the argon2 threads are gone"))?
    }

    async fn verify(&self, password: &SecretString, hash: &PasswordHash) -> bool {
        let password = password.clone();
        let hash = hash.as_str().to_owned();
        on_argon2_thread(move || Self::verify_now(password.expose_secret(), &hash))
            .await
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

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
        // The argon2 crate's own verification agrees (the PHC string is standard).
        let phc = Phc::new(hash.as_str()).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery staple", &phc)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"correct horse battery stapl", &phc)
            .is_err());
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
