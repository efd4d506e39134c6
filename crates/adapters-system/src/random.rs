use gptgate_ports::{Random, RandomError};
use ring::rand::{SecureRandom, SystemRandom};

/// The operating system's CSPRNG (`getrandom`), through `ring`.
#[derive(Debug, Clone)]
pub struct OsRandom(SystemRandom);

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl OsRandom {
    pub fn new() -> Self {
        Self(SystemRandom::new())
    }
}

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        self.0.fill(buf).map_err(|_| RandomError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_about_a_tenth_start_with_zero() {
        let random: &dyn Random = &OsRandom::new();
        let n = 100_000;
        let mut leading_zero = 0;
        for _ in 0..n {
            let code = random.verification_code().unwrap();
            assert!(code.digits().len() == 6 && code.digits().bytes().all(|b| b.is_ascii_digit()));
            if code.digits().starts_with('0') {
                leading_zero += 1;
            }
        }
        // Expected 10,000; six standard deviations is about 570.
        assert!(
            (9_400..=10_600).contains(&leading_zero),
            "{leading_zero} of {n}"
        );
    }
}
