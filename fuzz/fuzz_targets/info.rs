//! Info parser: any bytes parse or fail cleanly; what parses re-encodes to the same value.
#![no_main]

use a2s_query::proto::{Info, Message};
use a2s_query::{Encoding, Raw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    // Bias half the inputs to the two info types.
    let kind = match kind % 4 {
        0 => 0x49,
        1 => 0x6D,
        _ => kind,
    };
    let message = Message { kind, body };
    let _ = Info::parse(message, Encoding::Utf8);
    let _ = Info::parse(message, Encoding::Utf8Strict);
    if let Ok(info) = Info::parse(message, Raw) {
        let mut again = Vec::new();
        info.encode(&mut again).expect("a parsed info always re-encodes");
        let back = Info::parse(Message::from_reassembled(&again).unwrap(), Raw).expect("re-encoded info parses");
        assert_eq!(back, info);
    }
});
