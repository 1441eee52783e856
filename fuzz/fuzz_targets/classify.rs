//! Datagram classification: a value or an error for any bytes, consistent with them.
#![no_main]

use a2s_query::proto::{encode_challenge, Datagram};

/// The header of a reply in one datagram, and of a fragment (the spec's -1 and -2).
const SINGLE_HEADER: [u8; 4] = [0xFF; 4];
const SPLIT_HEADER: [u8; 4] = [0xFE, 0xFF, 0xFF, 0xFF];
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Datagram::classify(data) {
        Ok(Datagram::Single(m)) => {
            assert!(data.starts_with(&SINGLE_HEADER));
            assert_eq!(data.get(4), Some(&m.kind));
            assert_eq!(m.body.len() + 5, data.len());
        }
        Ok(Datagram::Challenge(c)) => {
            let mut again = Vec::new();
            encode_challenge(c, &mut again);
            assert!(data.starts_with(&again));
        }
        Ok(Datagram::Split(f)) => {
            assert!(data.starts_with(&SPLIT_HEADER));
            assert_eq!(f, data);
        }
        Ok(other) => panic!("a datagram kind this target does not know: {other:?}"),
        Err(_) => assert!(!data.starts_with(&SPLIT_HEADER) || data.len() < 4),
    }
});
