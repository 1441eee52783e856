//! Reassembler fed an arbitrary sequence of datagrams: never a panic, and a completed
//! reply never exceeds the byte caps.
#![no_main]

use a2s_query::proto::{Message, Reassembler, SplitFormat};
use a2s_query::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let mut limits = Limits::default();
    limits.max_fragments = 1 + mode % 32;
    limits.max_reply_bytes = 4096;
    limits.max_decompressed_bytes = 8192;
    limits.max_pending_replies = 1 + usize::from(mode >> 6);
    let mut r = Reassembler::new(limits);
    r.set_format(match mode >> 5 & 3 {
        0 => SplitFormat::Auto,
        1 => SplitFormat::Source,
        2 => SplitFormat::SourceWithoutSize,
        _ => SplitFormat::GoldSrc,
    });
    // Datagrams: a length byte, then that many bytes, after a split header the
    // fuzzer does not have to find.
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (body, next) = tail.split_at(len);
        rest = next;
        let mut datagram = vec![0xFE, 0xFF, 0xFF, 0xFF];
        datagram.extend_from_slice(body);
        if let Ok(Some(whole)) = r.push(&datagram) {
            assert!(whole.len() <= limits.max_reply_bytes.max(limits.max_decompressed_bytes));
            let _ = Message::from_reassembled(whole);
        }
        if let Some((got, total)) = r.progress() {
            assert!(got <= total && total <= limits.max_fragments);
        }
    }
});
