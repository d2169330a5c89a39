//! Stateless hashing that derives every generated value from the seed and the record's coordinates.
//!
//! Each value is a pure function of (seed, domain, ids…), so any page can be produced without
//! generating the records before it.

/// SplitMix64 finalizer: a fast, well-mixed 64-bit permutation.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes the seed with a list of coordinates, the first of which names the value's domain.
pub(crate) fn hash(seed: u64, parts: &[u64]) -> u64 {
    let mut h = mix(seed);
    for part in parts {
        h = mix(h ^ part.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    }
    h
}

/// Maps a hash to a float in `[0, 1)`.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Picks one element of a non-empty slice by hash.
pub(crate) fn pick<T: Copy>(h: u64, items: &[T]) -> T {
    items[(h % items.len() as u64) as usize]
}
