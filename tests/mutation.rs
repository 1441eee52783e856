//! A seeded mutation test on stable Rust, run by `cargo test`: from every capture and
//! every kind of encoded reply, at least 200 000 mutated datagram sets go through
//! classification, reassembly and every parser. None may panic, and every completed
//! reply stays within the limits (checked in `common::drive`).

mod common;

use a2s_query::proto::{
    encode_challenge, encode_players, encode_rules, split_packet, Challenge, GoldSrcInfo, Info, Player, ShipLayout,
    SourceInfo, SplitFormat, TheShip,
};
use a2s_query::Limits;
use common::Rng;

const MUTANTS: usize = 200_000;

/// Datagram sets to mutate: every capture, and encoded replies of every kind, whole
/// and split in every layout.
fn seeds() -> Vec<Vec<Vec<u8>>> {
    let mut out = common::all_packets();
    let mut replies = Vec::new();
    let source: SourceInfo = {
        let mut info = SourceInfo::default();
        info.server_name = "mutant".into();
        info.keywords = Some("a,b".into());
        info.port = Some(1);
        info.steam_id = Some(2);
        info.stv_port = Some(3);
        info.stv_name = Some("tv".into());
        info.game_id = Some(4);
        info
    };
    let mut buf = Vec::new();
    source.encode(&mut buf).unwrap();
    replies.push(buf);
    let ship: SourceInfo = {
        let mut info = SourceInfo::default();
        info.app_id = 2400;
        info.the_ship = Some(TheShip { mode: 1, witnesses: 2, duration: 3 });
        info
    };
    let mut buf = Vec::new();
    ship.encode(&mut buf).unwrap();
    replies.push(buf);
    let goldsrc: GoldSrcInfo = {
        let mut info = GoldSrcInfo::default();
        info.is_mod = true;
        info.mod_website = Some("w".into());
        info.mod_download = Some("d".into());
        info.mod_version = Some(1);
        info.mod_size = Some(2);
        info.multiplayer_only = Some(true);
        info.uses_custom_dll = Some(false);
        info
    };
    let mut buf = Vec::new();
    Info::GoldSrc(goldsrc).encode(&mut buf).unwrap();
    replies.push(buf);
    let players: Vec<Player> = (0..40)
        .map(|i| {
            let mut player = Player::new(format!("p{i}"), 1, 2.0);
            player.index = i;
            player
        })
        .collect();
    let ship_players: Vec<Player> = players.iter().take(8).cloned().map(|p| p.with_ship(1, 2)).collect();
    for (list, layout) in [(&players, ShipLayout::Trailing), (&ship_players, ShipLayout::Interleaved)] {
        let mut buf = Vec::new();
        encode_players(list, layout, &mut buf).unwrap();
        replies.push(buf);
    }
    let mut rules = Vec::new();
    encode_rules((0..120).map(|i| (format!("r{i}"), format!("{i}"))), &mut rules).unwrap();
    replies.push(rules.clone());
    let mut challenge = Vec::new();
    encode_challenge(Challenge([1, 2, 3, 4]), &mut challenge);
    replies.push(challenge);
    for r in &replies {
        out.push(vec![r.clone()]);
    }
    for (format, compress) in [
        (SplitFormat::Source, false),
        (SplitFormat::SourceWithoutSize, false),
        (SplitFormat::GoldSrc, false),
        (SplitFormat::Source, true),
        (SplitFormat::SourceWithoutSize, true),
    ] {
        out.push(split_packet(&rules, 9, format, 200, compress).unwrap());
    }
    out
}

/// Offsets of the fields mutations aim at: split header (total, number, size,
/// declared size, CRC) and the first counts and type bytes of a reply.
const HOT: [usize; 12] = [4, 5, 6, 8, 9, 10, 11, 12, 13, 16, 20, 21];

fn mutate_datagram(d: &mut Vec<u8>, rng: &mut Rng) {
    let extreme = [0x00, 0xFF, 0x7F, 0x80, 0x01];
    match rng.below(9) {
        0 => {
            let len = rng.below(d.len() + 1);
            d.truncate(len);
        }
        1 => {
            if !d.is_empty() {
                let bit = rng.below(d.len() * 8);
                d[bit / 8] ^= 1 << (bit % 8);
            }
        }
        2 => {
            let at = rng.below(d.len() + 1);
            let n = 1 + rng.below(8);
            for _ in 0..n {
                d.insert(at, rng.next_u64() as u8);
            }
        }
        3 => {
            if !d.is_empty() {
                let at = rng.below(d.len());
                let n = (1 + rng.below(16)).min(d.len() - at);
                d.drain(at..at + n);
            }
        }
        4 => {
            // A count or length field set to an extreme, 1, 2 or 4 bytes wide.
            if !d.is_empty() {
                let at = if rng.below(2) == 0 { HOT[rng.below(HOT.len())] } else { rng.below(d.len()) };
                let width = [1, 2, 4][rng.below(3)];
                let v = extreme[rng.below(extreme.len())];
                for b in d.iter_mut().skip(at).take(width) {
                    *b = v;
                }
            }
        }
        5 => {
            // Absurd split totals and numbers.
            if d.len() > 10 {
                d[8] = [0, 1, 255, 0x0F, 0xF0][rng.below(5)];
                d[9] = rng.next_u64() as u8;
            }
        }
        6 => {
            // The compressed flag with a huge or tiny declared size.
            if d.len() > 20 {
                d[7] |= 0x80;
                let size: u32 = [0, 1, u32::MAX, 0x7FFF_FFFF, 100 << 20][rng.below(5)];
                d[12..16].copy_from_slice(&size.to_le_bytes());
            }
        }
        7 => {
            let n = rng.below(64);
            d.extend((0..n).map(|_| rng.next_u64() as u8));
        }
        _ => {
            if !d.is_empty() {
                let at = rng.below(d.len());
                d[at] = rng.next_u64() as u8;
            }
        }
    }
}

fn mutate_set(set: &mut Vec<Vec<u8>>, rng: &mut Rng) {
    for _ in 0..1 + rng.below(3) {
        match rng.below(6) {
            0 if set.len() > 1 => {
                let i = rng.below(set.len());
                set.remove(i);
            }
            1 => {
                let i = rng.below(set.len());
                let dup = set[i].clone();
                set.insert(rng.below(set.len() + 1), dup);
            }
            2 => rng.shuffle(set),
            _ => {
                let i = rng.below(set.len());
                mutate_datagram(&mut set[i], rng);
            }
        }
    }
}

#[test]
fn two_hundred_thousand_mutants_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 10);
    let mut tight = Limits::default();
    tight.max_fragments = 8;
    tight.max_reply_bytes = 3000;
    tight.max_decompressed_bytes = 4000;
    tight.max_pending_replies = 2;
    let mut rng = Rng::new(0xA25_2026);
    let mut completed = 0;
    for i in 0..MUTANTS {
        let mut set = seeds[i % seeds.len()].clone();
        mutate_set(&mut set, &mut rng);
        let datagrams: Vec<&[u8]> = set.iter().map(Vec::as_slice).collect();
        let limits = if i % 4 == 0 { tight } else { Limits::default() };
        completed += common::drive(&datagrams, limits);
    }
    // The mutants are not all rejected: many still reach the parsers.
    assert!(completed > MUTANTS / 4, "only {completed} mutants completed a reply");
}
