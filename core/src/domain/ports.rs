//! Ports: the few things domain logic needs from the platform — randomness and the clock —
//! as traits, with the production implementation for randomness and fakes for tests.

/// A source of cryptographically secure random bytes.
pub trait Rng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError>;
}

#[derive(Debug, thiserror::Error)]
#[error("the platform random number generator failed")]
pub struct RandomError;

/// The platform CSPRNG (`getrandom`: the OS on native, `crypto.getRandomValues` on Workers).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::getrandom(buf).map_err(|_| RandomError)
    }
}

/// Deterministic bytes for tests: a counter-based stream.
#[derive(Debug, Default)]
pub struct FakeRng(pub u8);

impl Rng for FakeRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        for b in buf.iter_mut() {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}
