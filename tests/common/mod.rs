//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod fake;

use std::path::PathBuf;

use a2s_query::proto::{Datagram, GoldSrcInfo, Info, Message, Player, Players, Reassembler, Rules};
use a2s_query::{Encoding, Limits, Raw};

/// The `i`-th address of 127.0.0.0/8 from 127.0.0.1, on `port`: as many distinct
/// loopback addresses as a test needs (Linux answers on all of them; a farm binds
/// them in the same order, so those past its servers have nobody listening).
pub fn loopback_v4(i: usize, port: u16) -> std::net::SocketAddr {
    let ip = std::net::Ipv4Addr::from(0x7F00_0001 + i as u32);
    std::net::SocketAddr::from((ip, port))
}

/// The vectors folders: `A2S_VECTORS` (several, as `PATH` lists them: recordings of
/// your own beside the shared corpus), else `../shared/vectors` beside the crate.
pub fn vectors_dirs() -> Vec<PathBuf> {
    match std::env::var_os("A2S_VECTORS") {
        Some(list) => std::env::split_paths(&list).collect(),
        None => vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors")],
    }
}

/// The shared vectors folder: the first of [`vectors_dirs`]. `None` (said loudly) when
/// it is missing, unless `A2S_VECTORS_REQUIRED=1`.
pub fn vectors_dir() -> Option<PathBuf> {
    let dir = vectors_dirs().into_iter().next()?;
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("A2S_VECTORS_REQUIRED").as_deref() == Ok("1") {
        panic!("A2S_VECTORS_REQUIRED=1 but the vectors folder {} is missing", dir.display());
    }
    eprintln!("SKIPPED: vectors folder {} not found (set A2S_VECTORS)", dir.display());
    None
}

/// Every case folder below the vectors folder, as "source/case", sorted.
pub fn case_names(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for source in std::fs::read_dir(dir).unwrap() {
        let source = source.unwrap().path();
        if !source.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&source).unwrap() {
            let case = case.unwrap().path();
            if case.join("expected.json").is_file() {
                names.push(case.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    names.sort();
    names
}

/// The datagrams of one case, in arrival order.
pub fn packets(dir: &std::path::Path, name: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0.. {
        match std::fs::read(dir.join(name).join(format!("packet-{i}.bin"))) {
            Ok(p) => out.push(p),
            Err(_) => break,
        }
    }
    out
}

/// Every datagram of every case, in every vectors folder.
pub fn all_packets() -> Vec<Vec<Vec<u8>>> {
    let Some(first) = vectors_dir() else { return Vec::new() };
    let further = vectors_dirs().into_iter().skip(1).filter(|d| d.is_dir());
    std::iter::once(first)
        .chain(further)
        .flat_map(|dir| case_names(&dir).iter().map(|n| packets(&dir, n)).collect::<Vec<_>>())
        .collect()
}

/// Runs a reply's bytes through every parser with every decoder. Returns how many
/// parses succeeded; panics only if the library does.
pub fn parse_everything(message: Message<'_>) -> usize {
    let mut ok = 0;
    ok += usize::from(Info::parse(message, Encoding::Utf8).is_ok());
    ok += usize::from(Info::parse(message, Encoding::Utf8Strict).is_ok());
    ok += usize::from(Info::parse(message, Raw).is_ok());
    ok += usize::from(Players::parse(message.body, Encoding::Latin1).is_ok());
    ok += usize::from(Players::parse(message.body, Raw).is_ok());
    ok += usize::from(Rules::parse(message.body, Encoding::Utf8).is_ok());
    ok += usize::from(Rules::parse(message.body, Encoding::Utf8Strict).is_ok());
    ok += usize::from(message.challenge().is_ok());
    ok
}

/// Feeds datagrams the way a client would (classify, reassemble, parse) and returns how
/// many replies completed. Errors are fine; panics are not.
pub fn drive(datagrams: &[&[u8]], limits: Limits) -> usize {
    let mut r = Reassembler::new(limits);
    let mut completed = 0;
    for d in datagrams {
        match Datagram::classify(d) {
            Ok(Datagram::Single(m)) => {
                parse_everything(m);
                completed += 1;
            }
            Ok(Datagram::Split(f)) => {
                if let Ok(Some(whole)) = r.push(f) {
                    assert!(whole.len() <= limits.max_reply_bytes.max(limits.max_decompressed_bytes));
                    if let Ok(m) = Message::from_reassembled(whole) {
                        parse_everything(m);
                    }
                    completed += 1;
                }
            }
            _ => {}
        }
    }
    completed
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// `n` players with names, scores and times of their own.
pub fn roster(n: usize) -> Vec<Player> {
    (0..n).map(|i| Player::new(format!("player {i}"), i as i32, 60.0 * i as f32)).collect()
}

/// An old server's GoldSrc (`0x6D`) info reply named `name`.
pub fn goldsrc_reply(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut info = GoldSrcInfo::default();
    info.server_name = name.to_string();
    info.encode(&mut out).unwrap();
    out
}

/// Closed UDP ports on loopback, as `(address, guard)`: nothing listens at the address,
/// so the host answers a datagram with ICMP "port unreachable". An IPv4 one is guarded:
/// the guard holds the same port on another address, so no socket bound to a wildcard
/// address (a batch's, a client's) can be given that port meanwhile. The IPv6 one
/// (`::1` is the only IPv6 loopback address) has no guard: see [`taken_meanwhile`].
/// Only the families this machine has.
pub fn closed_ports(v4_addresses: [&str; 2]) -> Vec<(std::net::SocketAddr, Option<std::net::UdpSocket>)> {
    let mut closed = Vec::new();
    for (i, target) in v4_addresses.iter().enumerate() {
        // The guard on 127.202.0.x, the target on the address given.
        let guard = std::net::UdpSocket::bind(format!("127.202.0.{}:0", i + 1)).unwrap();
        let port = guard.local_addr().unwrap().port();
        closed.push((format!("{target}:{port}").parse().unwrap(), Some(guard)));
    }
    if let Ok(socket) = std::net::UdpSocket::bind("[::1]:0") {
        closed.push((socket.local_addr().unwrap(), None));
    }
    closed
}

/// Whether an unguarded closed port was bound by another socket since (then it does
/// not answer "unreachable", and a test must not count that against the code).
pub fn taken_meanwhile(addr: std::net::SocketAddr) -> bool {
    std::net::UdpSocket::bind(addr).is_err()
}
