// SPDX-License-Identifier: MPL-2.0
//! Deterministic pseudo-random numbers for tests, benchmarks and synthetic
//! scenes, so a failure reproduces and every run sees the same content and
//! the same loss (a 64-bit linear congruential generator, Knuth's MMIX
//! constants, upper bits out). Not for anything that needs real randomness.

/// The generator; its state is the seed.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next 31 bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() as f64) < p * (1u64 << 31) as f64
    }
}
