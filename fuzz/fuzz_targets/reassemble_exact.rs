//! Differential reassembly: a reply cut by `split_packet` in any layout, compressed or
//! not, with or without its inner header, its fragments shuffled and copied with junk
//! between, must come back exactly once and byte for byte.
#![no_main]

use a2s_query::proto::{split_packet, Reassembler, SplitFormat};
use a2s_query::Limits;
use libfuzzer_sys::fuzz_target;

/// Reply type bytes a server sends.
const TYPES: [u8; 5] = [0x41, 0x44, 0x45, 0x49, 0x6D];

fuzz_target!(|data: &[u8]| {
    let [mode, size_byte, kind, order_seed, rest @ ..] = data else { return };
    let format = match mode & 3 {
        0 => SplitFormat::Source,
        1 => SplitFormat::SourceWithoutSize,
        _ => SplitFormat::GoldSrc,
    };
    let compress = mode & 4 != 0 && format != SplitFormat::GoldSrc;
    // Without the inner FF FF FF FF only the layout tells where payloads start.
    let bare = mode & 8 != 0 && !compress;
    let (body, junk) = rest.split_at(rest.len() * 3 / 4);

    let mut reply = if bare { Vec::new() } else { vec![0xFF; 4] };
    reply.push(TYPES[usize::from(*kind) % TYPES.len()]);
    reply.extend_from_slice(body);
    // No FF bytes past the reply's own header: a payload that holds `FF FF FF FF`
    // where a fragment of another layout would carry its inner header cannot be told
    // apart by any reader.
    let own = if bare { 0 } else { 4 };
    for b in reply.iter_mut().skip(own).filter(|b| **b == 0xFF) {
        *b = 0xFE;
    }
    let size = 16 + usize::from(*size_byte) * 4;
    let Ok(fragments) = split_packet(&reply, 0x0102_0304, format, size, compress) else { return };

    let mut r = Reassembler::new({
        let mut limits = Limits::default();
        limits.max_pending_replies = 4;
        limits
    });
    if bare && format == SplitFormat::SourceWithoutSize {
        // The info reply's hint: the size field cannot be told from the bytes alone.
        r.set_hint(SplitFormat::SourceWithoutSize);
    }

    // Delivery: every fragment once in a shuffled order, some twice, and junk from
    // two other message ids in between.
    let mut order: Vec<usize> = (0..fragments.len()).collect();
    let mut x = u32::from(*order_seed) | 0x100;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as usize
    };
    for i in (1..order.len()).rev() {
        order.swap(i, next() % (i + 1));
    }
    let mut junk = junk.chunks(7);
    let mut done = 0;
    let mut seen = vec![false; fragments.len()];
    for (step, &i) in order.iter().enumerate() {
        if let Some(j) = junk.next() {
            let mut d = vec![0xFE, 0xFF, 0xFF, 0xFF, 9 + (step % 2) as u8, 0, 0, 0];
            d.extend_from_slice(j);
            let _ = r.push(&d);
        }
        for copy in 0..1 + next() % 2 {
            let result = r.push(&fragments[i]).expect("a fragment of a good reply is never refused");
            seen[i] = true;
            if let Some(whole) = result {
                assert_eq!(copy, 0, "a copy completed a reply");
                assert!(seen.iter().all(|&s| s), "completed before every fragment came");
                assert_eq!(whole, &reply[..], "reassembled bytes differ");
                done += 1;
                // Copies that come after the reply start a new one: not this test's.
                break;
            }
        }
        if done > 0 {
            break;
        }
    }
    assert_eq!(done, 1, "completed {done} times");
});
