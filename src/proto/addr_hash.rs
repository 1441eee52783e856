//! The hashes of the engine's tables. Keyed by server address (looked up for every
//! datagram, so cheap): seeded at random, so a list of addresses chosen to collide in
//! the table cannot be prepared in advance (a server list can come from anyone). Keyed
//! by the crate's own ids (counters no one else chooses): one multiplication.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// A map keyed by server address (or host), hashed with [`AddrState`].
pub(crate) type AddrMap<K, V> = HashMap<K, V, AddrState>;

/// A fresh [`AddrMap`], with its own random keys.
pub(crate) fn addr_map<K, V>() -> AddrMap<K, V> {
    HashMap::with_hasher(AddrState::new())
}

/// Hashes the crate's own query ids (a counter, never chosen by a server): one
/// multiplication, spreading consecutive ids over the table (Fibonacci hashing).
#[derive(Debug, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by the crate's own ids (query ids, the async client's tokens).
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Two random 64-bit keys, drawn once per table from the standard library's source
/// of random hash keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddrState {
    start: u64,
    multiplier: u64,
}

impl AddrState {
    fn new() -> Self {
        let random = RandomState::new();
        // An odd multiplier keeps every bit of the word in the product.
        AddrState { start: random.hash_one(0u8), multiplier: random.hash_one(1u8) | 1 }
    }
}

impl BuildHasher for AddrState {
    type Hasher = AddrHasher;

    fn build_hasher(&self) -> AddrHasher {
        AddrHasher { state: self.start, multiplier: self.multiplier }
    }
}

/// Each word written is folded in with one keyed 64x64->128-bit multiplication, its
/// high and low halves xored: an address (a family, 4 or 16 bytes, a port) costs a few
/// multiplications where SipHash costs some hundred instructions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddrHasher {
    state: u64,
    multiplier: u64,
}

impl AddrHasher {
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(self.multiplier);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        // One more round, so the last word reaches every bit (the table reads the top
        // seven bits and the low ones).
        let mut last = *self;
        last.mix(0x9E37_79B9_7F4A_7C15);
        last.state
    }

    fn write(&mut self, bytes: &[u8]) {
        // The length first, so that runs of other lengths (and other splits of one
        // run) differ whatever their last word's padding.
        self.mix(bytes.len() as u64);
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (to, from) in word.iter_mut().zip(chunk) {
                *to = *from;
            }
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64);
        self.mix((n >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    #[test]
    fn addresses_that_differ_hash_apart() {
        let state = AddrState::new();
        let mut seen = HashSet::new();
        for host in 0..=255u8 {
            for port in [27015u16, 27016, 27017, 2303] {
                let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, host)), port);
                let v6 =
                    SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, u16::from(host))), port);
                assert!(seen.insert(state.hash_one(v4)), "{v4} collided");
                assert!(seen.insert(state.hash_one(v6)), "{v6} collided");
            }
        }
        assert_eq!(seen.len(), 2 * 256 * 4);
    }

    #[test]
    fn the_same_address_hashes_the_same_and_tables_differ() {
        let (a, b) = (AddrState::new(), AddrState::new());
        let addr: SocketAddr = "192.0.2.7:27015".parse().unwrap();
        assert_eq!(a.hash_one(addr), a.hash_one(addr));
        assert_ne!(a.hash_one(addr), b.hash_one(addr), "two tables drew the same keys");
    }

    #[test]
    fn byte_runs_split_differently_hash_apart() {
        let state = AddrState::new();
        let hash = |parts: &[&[u8]]| {
            let mut h = state.build_hasher();
            for p in parts {
                h.write(p);
            }
            h.finish()
        };
        assert_ne!(hash(&[b"ab", b"c"]), hash(&[b"a", b"bc"]));
        // A short last word and a full one that pads alike.
        assert_ne!(hash(&[b"abcdefg"]), hash(&[b"abcdefg\0"]));
        for last in 0..=255u8 {
            assert_ne!(hash(&[b"abcdefg"]), hash(&[&[b'a', b'b', b'c', b'd', b'e', b'f', b'g', last]]));
        }
    }
}
