use std::sync::Mutex;

use gptgate_ports::{Random, RandomError};

/// A deterministic byte stream (SplitMix64) for repeatable tests. NOT cryptographically secure.
pub struct SeededRandom {
    state: Mutex<u64>,
    failing: std::sync::atomic::AtomicBool,
}

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        Self {
            state: Mutex::new(seed),
            failing: false.into(),
        }
    }

    /// Makes every later call fail, as a broken OS generator would.
    pub fn fail(&self) {
        self.failing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Default for SeededRandom {
    fn default() -> Self {
        Self::new(7)
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RandomError);
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for chunk in buf.chunks_mut(8) {
            let word = Self::next(&mut state).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}
