//! Player parser: any bytes parse or fail cleanly; a plain list re-encodes to the same
//! players, and never more entries than the bytes can hold.
#![no_main]

use a2s_query::proto::{encode_players, Message, Players, ShipLayout};
use a2s_query::{Encoding, Raw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = Players::parse(body, Encoding::Utf8);
    let Ok(list) = Players::parse(body, Raw) else { return };
    // Each entry takes at least 10 bytes.
    assert!(list.entries.len() * 10 <= body.len());
    if list.ship_layout.is_some() || list.entries.len() > 255 {
        return;
    }
    let mut again = Vec::new();
    encode_players(&list.entries, ShipLayout::Trailing, &mut again).expect("re-encodes");
    let back = Players::parse(Message::from_reassembled(&again).unwrap().body, Raw).expect("parses");
    assert_eq!(back.entries.len(), list.entries.len());
    for (a, b) in back.entries.iter().zip(&list.entries) {
        assert_eq!(
            (a.index, &a.name, a.score, a.duration.to_bits()),
            (b.index, &b.name, b.score, b.duration.to_bits())
        );
    }
});
