//! Deterministic pseudo-random numbers for the crate's unit tests, so a
//! failure reproduces (a 64-bit linear congruential generator, Knuth's
//! MMIX constants, upper bits out).

/// The generator; its state is the seed.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    /// The next 31 bits.
    pub(crate) fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}
