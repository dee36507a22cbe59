//! Key → partition mapping: FNV-1a 32 of the key bytes modulo the partition count.

/// FNV-1a, 32 bit (offset basis 0x811c9dc5, prime 0x01000193).
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The partition a key lands on; an empty key always goes to partition 0.
pub fn for_key(key: &[u8], partitions: u32) -> u32 {
    if key.is_empty() || partitions == 0 {
        return 0;
    }
    fnv1a32(key) % partitions
}

#[cfg(test)]
mod tests {
    use super::for_key;

    #[test]
    fn matches_the_recorded_broker() {
        let cases = [
            ("k1", 1),
            ("k2", 0),
            ("k3", 3),
            ("k4", 2),
            ("b", 1),
            ("c", 2),
        ];
        for (key, partition) in cases {
            assert_eq!(for_key(key.as_bytes(), 4), partition, "key {key}");
        }
        assert_eq!(for_key(b"b", 2), 1);
        assert_eq!(for_key(b"kk", 2), 1);
        assert_eq!(for_key(b"", 7), 0);
    }
}
