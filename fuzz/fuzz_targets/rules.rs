//! Rules parser: any bytes parse or fail cleanly; the pairs read re-encode to the same
//! pairs, and the allocation never exceeds what the bytes can hold.
#![no_main]

use a2s_query::proto::{Message, Rules};
use a2s_query::{Encoding, Raw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = Rules::parse(body, Encoding::Utf8Strict);
    let Ok(rules) = Rules::parse(body, Raw) else { return };
    assert!(rules.len() <= usize::from(rules.count));
    assert!(rules.len() * 2 <= body.len());
    assert_eq!(rules.truncated, rules.len() < usize::from(rules.count));
    let mut again = Vec::new();
    rules.encode(&mut again).expect("re-encodes");
    let back = Rules::parse(Message::from_reassembled(&again).unwrap().body, Raw).expect("parses");
    assert_eq!(back.entries, rules.entries);
    assert!(!back.truncated);
});
