//! The fault matrix: hostile or broken server behaviours on loopback, one named test
//! each, with the outcome it must give, and every call back within its timeout + 250 ms.
//! Nothing in a result may come from another message id or another address.
//!
//! Bursts stay well under the smallest default kernel receive buffer (Linux charges
//! each datagram about 2.3 KB on loopback): what needs hundreds of datagrams is tested
//! on the state machine in tests/exchange.rs, where nothing can be dropped.

mod common;

use std::time::{Duration, Instant};

use a2s_query::proto::{encode_challenge, encode_rules, split_packet, Challenge, SplitFormat};
use a2s_query::{Client, Error, Limits, Rules};
use common::fake::{Act, Fake};

const TIMEOUT: Duration = Duration::from_millis(600);
const LATE: Duration = Duration::from_millis(250);

fn rule_set(n: usize, tag: &str) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("{tag}_{i}"), "x".repeat(i % 17))).collect()
}

fn rules_reply(n: usize, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode_rules(rule_set(n, tag), &mut out).unwrap();
    out
}

/// The real reply every "value" row expects.
fn real() -> Vec<u8> {
    rules_reply(120, "real")
}

fn split(reply: &[u8], id: u32, compress: bool) -> Vec<Vec<u8>> {
    split_packet(reply, id, SplitFormat::Source, if compress { 150 } else { 700 }, compress).unwrap()
}

fn sends(datagrams: Vec<Vec<u8>>) -> Vec<Act> {
    datagrams.into_iter().map(Act::Send).collect()
}

/// What a row must produce.
enum Outcome {
    /// The real rules, complete.
    Real,
    /// Rules cut short: the first `n` real pairs, flagged truncated.
    Truncated(usize),
    /// The 65 507-byte reply, whole.
    Largest,
    /// An error this predicate accepts.
    Fails(fn(&Error) -> bool),
}

struct Row {
    name: &'static str,
    bind: &'static str,
    limits: Limits,
    script: fn() -> Vec<Act>,
    outcome: Outcome,
}

fn row(name: &'static str, script: fn() -> Vec<Act>, outcome: Outcome) -> Row {
    Row { name, bind: "127.0.0.1:0", limits: Limits::default(), script, outcome }
}

/// Most datagrams one row sends in a burst.
const MAX_BURST: usize = 40;
/// What Linux charges a small datagram's receive buffer on loopback, about.
const DATAGRAM_CHARGE: usize = 2304;

fn sends_checked(datagrams: Vec<Vec<u8>>) -> Vec<Act> {
    assert!(datagrams.len() <= MAX_BURST, "a burst of {} datagrams may overflow the buffer", datagrams.len());
    sends(datagrams)
}

/// Runs one row against a fresh server and client.
fn run(row: Row) {
    let script = row.script;
    let server = Fake::on(row.bind, move |_, _| script());
    let mut client = Client::builder().timeout(TIMEOUT).limits(row.limits).build();
    let started = Instant::now();
    let result = client.rules(server.addr);
    let took = started.elapsed();
    assert!(took < TIMEOUT + LATE, "{}: took {took:?}", row.name);
    // The burst fits in what the kernel granted, with room to spare.
    let granted = client.recv_buffer_size().expect("a socket was opened");
    assert!(granted >= 2 * MAX_BURST * DATAGRAM_CHARGE, "{}: a {granted}-byte receive buffer", row.name);
    check(&row, result);
}

macro_rules! rows {
    ($($test:ident: $row:expr;)*) => {$(
        #[test]
        fn $test() {
            run($row);
        }
    )*};
}

rows! {
    silence: row("silence", Vec::new, Outcome::Fails(|e| matches!(e, Error::Timeout { fragments: None, .. })));
    reply_from_another_port: row(
        "reply from another port",
        || vec![Act::SendFromOtherPort(rules_reply(3, "impostor"))],
        Outcome::Fails(|e| matches!(e, Error::Timeout { .. })),
    );
    junk_then_the_reply: row(
        "junk, then the reply",
        || {
            let mut acts =
                sends_checked(vec![b"hello".to_vec(), vec![0; 64], vec![0xFF; 3], b"\xFD\xFF\xFF\xFFx".to_vec()]);
            acts.push(Act::Send(real()));
            acts
        },
        Outcome::Real,
    );
    junk_flood: Row {
        limits: { let mut limits = Limits::default(); limits.max_stray_datagrams = 8; limits },
        ..row(
            "junk flood",
            || sends_checked((0..12).map(|i| vec![i as u8; 1 + i % 40]).collect()),
            Outcome::Fails(|e| matches!(e, Error::TooManyStrayDatagrams { count: 9 })),
        )
    };
    fragment_flood_of_other_ids_then_the_reply: row(
        "fragment flood of other ids, then the reply",
        || {
            let decoy = rules_reply(120, "decoy");
            let mut burst: Vec<Vec<u8>> = (0..20u32).map(|id| split(&decoy, 1000 + id, false)[1].clone()).collect();
            burst.extend(split(&real(), 7, false));
            sends_checked(burst)
        },
        Outcome::Real,
    );
    other_id_interleaved_with_the_reply: row(
        "other id interleaved with the reply",
        || {
            let decoy = split(&rules_reply(120, "decoy"), 8, false);
            let mine = split(&real(), 7, false);
            let mut burst = Vec::new();
            for (d, m) in decoy.into_iter().skip(1).zip(mine) {
                burst.push(d);
                burst.push(m);
            }
            sends_checked(burst)
        },
        Outcome::Real,
    );
    split_reply_that_never_completes: row(
        "split reply that never completes",
        || {
            let mut f = split(&real(), 7, false);
            f.pop();
            sends_checked(f)
        },
        Outcome::Fails(|e| matches!(e, Error::Timeout { fragments: Some((got, total)), .. } if got + 1 == *total)),
    );
    // A fragment whose total disagrees with its reply's is refused alone: the reply
    // stays one fragment short.
    split_total_changes_mid_reply: row(
        "split total changes mid-reply",
        || {
            let mut f = split(&real(), 7, false);
            f[1][8] += 1;
            sends_checked(f)
        },
        Outcome::Fails(|e| matches!(e, Error::Timeout { fragments: Some((got, total)), .. } if got + 1 == *total)),
    );
    // The same, with the real fragment following: the reply completes.
    bad_total_then_the_real_fragment: row(
        "a fragment with a bad total, then the real one",
        || {
            let f = split(&real(), 7, false);
            let mut bad = f[1].clone();
            bad[8] += 1;
            let mut burst = vec![bad];
            burst.extend(f);
            sends_checked(burst)
        },
        Outcome::Real,
    );
    compressed_reply_with_a_wrong_crc: row(
        "compressed reply with a wrong CRC",
        || {
            let mut f = split(&real(), 7, true);
            f[0][16] ^= 0xFF;
            sends_checked(f)
        },
        Outcome::Fails(|e| matches!(e, Error::Checksum { .. })),
    );
    compressed_reply_with_a_wrong_declared_size: row(
        "compressed reply with a wrong declared size",
        || {
            let mut f = split(&real(), 7, true);
            f[0][12] = f[0][12].wrapping_add(1);
            sends_checked(f)
        },
        Outcome::Fails(|e| matches!(e, Error::SizeMismatch { .. })),
    );
    compressed_reply_declaring_100_mb: row(
        "compressed reply declaring 100 MB",
        || {
            let mut f = split(&real(), 7, true);
            f[0][12..16].copy_from_slice(&(100u32 << 20).to_le_bytes());
            sends_checked(f)
        },
        Outcome::Fails(|e| matches!(e, Error::DecompressedTooLarge { declared: 104_857_600, .. })),
    );
    // Refused alone, as a stray; with nothing better by the deadline, the refusal is
    // what the call reports.
    split_reply_declaring_200_fragments: row(
        "split reply declaring 200 fragments",
        || {
            let mut f = split(&real(), 7, false);
            f[0][8] = 200;
            sends_checked(f)
        },
        Outcome::Fails(|e| matches!(e, Error::TooManyFragments { total: 200, max: 128 })),
    );
    stale_fragment_declaring_200_parts_then_the_reply: row(
        "a stale fragment declaring 200 parts, then the reply",
        || {
            let mut stale = split(&rules_reply(120, "stale"), 3, false)[0].clone();
            stale[8] = 200;
            let mut burst = vec![stale];
            burst.extend(split(&real(), 7, false));
            sends_checked(burst)
        },
        Outcome::Real,
    );
    challenge_storm: row(
        "challenge storm",
        || {
            (0..8u32)
                .map(|i| {
                    let mut c = Vec::new();
                    encode_challenge(Challenge(i.to_le_bytes()), &mut c);
                    Act::Send(c)
                })
                .collect()
        },
        Outcome::Fails(|e| matches!(e, Error::TooManyChallenges { rounds: 5 })),
    );
    truncated_rules_reply: row(
        "truncated rules reply",
        || {
            let mut r = real();
            let cut = r.len() - 5;
            r.truncate(cut);
            vec![Act::Send(r)]
        },
        Outcome::Truncated(119),
    );
    reply_of_the_wrong_type: row(
        "reply of the wrong type",
        || {
            let mut players = Vec::new();
            a2s_query::proto::encode_players::<String>(&[], a2s_query::proto::ShipLayout::Trailing, &mut players)
                .unwrap();
            vec![Act::Send(players)]
        },
        Outcome::Fails(|e| matches!(e, Error::Timeout { .. })),
    );
    empty_datagram_then_the_reply: row("empty datagram, then the reply", || sends_checked(vec![Vec::new(), real()]), Outcome::Real);
    duplicate_fragments_then_the_reply: row(
        "duplicate fragments, then the reply",
        || {
            let f = split(&real(), 7, false);
            let mut burst: Vec<Vec<u8>> = (0..10).map(|_| f[1].clone()).collect();
            burst.extend(f);
            sends_checked(burst)
        },
        Outcome::Real,
    );
    the_largest_datagram_udp_carries: row(
        "the largest datagram UDP carries (65 507 bytes)",
        || vec![Act::Send(largest_reply())],
        Outcome::Largest,
    );
    a_datagram_over_the_byte_limit: Row {
        limits: { let mut limits = Limits::default(); limits.max_reply_bytes = 32 * 1024; limits },
        ..row(
            "a datagram over the byte limit",
            || vec![Act::Send(largest_reply())],
            Outcome::Fails(|e| matches!(e, Error::ReplyTooLarge { max: 32768 })),
        )
    };
    ipv6_server: Row { bind: "[::1]:0", ..row("IPv6 server", || vec![Act::Send(real())], Outcome::Real) };
}

/// Rules whose reply is a single datagram of exactly 65 507 bytes: the most one IPv4
/// UDP datagram holds (a 69 KB datagram cannot be sent at all; Rust servers send up to
/// this).
fn largest_pairs() -> Vec<(String, String)> {
    let size = |pairs: &[(String, String)]| {
        let mut out = Vec::new();
        encode_rules(pairs.iter().map(|(a, b)| (a, b)), &mut out).unwrap();
        out.len()
    };
    let mut pairs = rule_set(3000, "big");
    while size(&pairs) > 65_000 {
        pairs.pop();
    }
    let pad = 65_507 - size(&pairs) - "pad".len() - 2;
    pairs.push(("pad".to_string(), "p".repeat(pad)));
    pairs
}

fn largest_reply() -> Vec<u8> {
    let mut out = Vec::new();
    encode_rules(largest_pairs(), &mut out).unwrap();
    assert_eq!(out.len(), 65_507);
    out
}

fn check(row: &Row, result: Result<Rules, Error>) {
    let name = row.name;
    match (&row.outcome, result) {
        (Outcome::Real, Ok(rules)) => {
            assert_eq!(Vec::from(&rules), rule_set(120, "real"), "{name}");
            assert!(!rules.truncated, "{name}");
        }
        (Outcome::Truncated(n), Ok(rules)) => {
            assert_eq!(Vec::from(&rules), rule_set(120, "real")[..*n].to_vec(), "{name}");
            assert_eq!(rules.count, 120, "{name}");
            assert!(rules.truncated, "{name}");
        }
        (Outcome::Largest, Ok(rules)) => {
            assert_eq!(Vec::from(&rules), largest_pairs(), "{name}");
            assert!(!rules.truncated, "{name}");
        }
        (Outcome::Fails(ok), Err(e)) => assert!(ok(&e), "{name}: wrong error: {e:?}"),
        (_, Ok(rules)) => panic!("{name}: expected an error, got {} rules", rules.len()),
        (_, Err(e)) => panic!("{name}: expected a value, got {e}"),
    }
}

/// An error given to several callers is copied whole: an OS error keeps its code, the
/// others every field.
#[test]
fn errors_clone_with_their_details() {
    let os = Error::Io(std::io::Error::from_raw_os_error(111));
    let copy = os.clone();
    assert!(matches!(&copy, Error::Io(e) if e.raw_os_error() == Some(111)));
    assert_eq!(copy.to_string(), os.to_string());
    let custom = Error::Resolve(std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"));
    let copy = custom.clone();
    assert!(matches!(&copy, Error::Resolve(e) if e.kind() == std::io::ErrorKind::NotFound));
    assert_eq!(copy.to_string(), custom.to_string());
    let limit = Error::TooManyFragments { total: 200, max: 64 };
    assert!(matches!(limit.clone(), Error::TooManyFragments { total: 200, max: 64 }));
}
