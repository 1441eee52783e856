//! Rules parser: any bytes parse or fail cleanly; the pairs read re-encode to the same
//! pairs, the allocation never exceeds what the bytes can hold, and text decoded into
//! the shared buffer equals each string decoded on its own.
#![no_main]

use a2s_query::proto::{Message, Rules};
use a2s_query::{Encoding, Raw, TextDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = Rules::parse(body, Encoding::Utf8Strict);
    let Ok(rules) = Rules::parse(body, Raw) else { return };
    for encoding in [Encoding::Utf8, Encoding::Latin1] {
        let text = Rules::parse(body, encoding).expect("lossy decoders never fail");
        assert_eq!(text.len(), rules.len());
        for ((n, v), (raw_n, raw_v)) in text.iter().zip(&rules) {
            assert_eq!(n, encoding.decode(raw_n).unwrap());
            assert_eq!(v, encoding.decode(raw_v).unwrap());
        }
    }
    assert!(rules.len() <= usize::from(rules.count));
    assert!(rules.len() * 2 <= body.len());
    assert_eq!(rules.truncated, rules.len() < usize::from(rules.count));
    let mut again = Vec::new();
    rules.encode(&mut again).expect("re-encodes");
    let back = Rules::parse(Message::from_reassembled(&again).unwrap().body, Raw).expect("parses");
    assert!(back.iter().eq(rules.iter()));
    assert!(!back.truncated);
});
