//! FNV-1a, with no dependencies: `build.rs` includes this file too, to hash xtask's sources.

/// FNV-1a: stable across Rust versions, unlike `DefaultHasher`, and enough for a stamp.
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds `bytes` and a separator, so that `("ab", "c")` and `("a", "bc")` differ.
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes.iter().chain(&[0xff]) {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn of(bytes: &[u8]) -> u64 {
        let mut hash = Fnv::default();
        hash.write(bytes);
        hash.0
    }
}
