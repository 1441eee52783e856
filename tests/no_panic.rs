//! Every prefix of every captured datagram, and every single-byte corruption of it,
//! goes through classification, reassembly and every parser: a value or an error,
//! never a panic.

mod common;

use a2s_query::Limits;

/// Replacement values tried at every byte position: zero, all ones, the low and high
/// bit flipped, and off-by-one both ways. Every value 0..=255 is tried too on the
/// first 16 bytes, where headers, counts and type bytes live.
fn corruptions(original: u8, position: usize) -> Vec<u8> {
    if position < 16 {
        return (0..=255).filter(|&v| v != original).collect();
    }
    let mut v = vec![0x00, 0xFF, original ^ 0x01, original ^ 0x80, original.wrapping_add(1), original.wrapping_sub(1)];
    v.retain(|&x| x != original);
    v.dedup();
    v
}

/// The case's datagrams with datagram `which` replaced by `replacement`.
fn with_replaced<'a>(packets: &'a [Vec<u8>], which: usize, replacement: &'a [u8]) -> Vec<&'a [u8]> {
    packets.iter().enumerate().map(|(i, p)| if i == which { replacement } else { &p[..] }).collect()
}

#[test]
fn every_prefix_parses_or_errors() {
    let cases = common::all_packets();
    let mut runs = 0;
    for packets in &cases {
        // The intact case completes.
        let all: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        assert_eq!(common::drive(&all, Limits::default()), 1);
        for (i, p) in packets.iter().enumerate() {
            for len in 0..p.len() {
                let datagrams = with_replaced(packets, i, &p[..len]);
                common::drive(&datagrams, Limits::default());
                runs += 1;
            }
        }
    }
    if !cases.is_empty() {
        assert!(runs > 25_000, "only {runs} prefixes");
    }
}

#[test]
fn every_single_byte_corruption_parses_or_errors() {
    let cases = common::all_packets();
    let mut runs = 0;
    let mut completed = 0;
    for packets in &cases {
        for (i, p) in packets.iter().enumerate() {
            let mut bad = p.clone();
            for pos in 0..p.len() {
                for v in corruptions(p[pos], pos) {
                    bad[pos] = v;
                    let datagrams = with_replaced(packets, i, &bad);
                    completed += common::drive(&datagrams, Limits::default());
                    runs += 1;
                }
                bad[pos] = p[pos];
            }
        }
    }
    if !cases.is_empty() {
        assert!(runs > 150_000, "only {runs} corruptions");
        // Most corruptions still make a reply (they hit string bytes).
        assert!(completed > runs / 2, "{completed} of {runs}");
    }
}
