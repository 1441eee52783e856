//! `cargo bench`: parsing, reassembly and loopback round trips, each next to the
//! baseline it is judged against, measured in the same run.
//!
//! - `parse/*`: the codec on encoded replies and on the shared captures, and
//!   `parse/rules_100_byte_at_a_time`, a reader that copies strings one byte at a time
//!   (as the slower peers do), for the ratio.
//! - `reassemble/*`: a 6-fragment reply, plain and bzip2.
//! - `loopback/*`: queries against an in-process responder, next to `floor_*`, a bare
//!   `std::net::UdpSocket` doing the same exchange with the same datagrams.

use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use a2s_query::proto::{
    encode_players, encode_rules, split_packet, Datagram, GoldSrcInfo, Info, Message, Player, Players, Query,
    Reassembler, Rules, RulesView, ShipLayout, SourceInfo, SplitFormat,
};
use a2s_query::server::{Responder, Running};
use a2s_query::{Client, Encoding};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn source_info() -> SourceInfo {
    let mut info = SourceInfo::default();
    info.protocol = 17;
    info.server_name = "Benchmark Server | 24/7 de_dust2 | Ünïcode".into();
    info.map_name = "de_dust2".into();
    info.folder = "csgo".into();
    info.game = "Counter-Strike 2".into();
    info.app_id = 730;
    info.player_count = 20;
    info.max_players = 32;
    info.version = "1.40.2.1".into();
    info.port = Some(27015);
    info.steam_id = Some(90_178_123_456_789_012);
    info.keywords = Some("secure,valve,empty".into());
    info.game_id = Some(730);
    info
}

fn goldsrc_info() -> GoldSrcInfo {
    let mut info = GoldSrcInfo::default();
    info.address = "192.0.2.10:27015".into();
    info.server_name = "Classic CS 1.6".into();
    info.map_name = "de_nuke".into();
    info.folder = "cstrike".into();
    info.game = "Counter-Strike".into();
    info.is_mod = true;
    info.mod_website = Some("www.counter-strike.net".into());
    info.mod_download = Some(String::new());
    info.mod_version = Some(1);
    info.mod_size = Some(184_000_000);
    info.multiplayer_only = Some(false);
    info.uses_custom_dll = Some(true);
    info
}

fn roster(n: usize) -> Vec<Player> {
    (0..n).map(|i| Player::new(format!("player_name_{i:02}"), i as i32, 100.0 * i as f32)).collect()
}

fn rule_set(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("sm_plugin_{i:04}_version"), format!("1.{}.{}", i % 7, i % 13))).collect()
}

fn encoded(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

/// A reader in the style of the slower peers: every string copied one byte at a time
/// into a growing buffer, then decoded. The baseline for the rules ratio.
mod byte_at_a_time {
    pub fn rules(body: &[u8]) -> Option<Vec<(String, String)>> {
        let mut pos = 0;
        let byte = |pos: &mut usize| -> Option<u8> {
            let b = *body.get(*pos)?;
            *pos += 1;
            Some(b)
        };
        let count = u16::from_le_bytes([byte(&mut pos)?, byte(&mut pos)?]);
        let string = |pos: &mut usize| -> Option<String> {
            let mut s = Vec::new();
            loop {
                match byte(pos)? {
                    0 => return Some(String::from_utf8_lossy(&s).into_owned()),
                    b => s.push(b),
                }
            }
        };
        let mut out = Vec::new();
        for _ in 0..count {
            out.push((string(&mut pos)?, string(&mut pos)?));
        }
        Some(out)
    }
}

/// A players parser as the fastest peer writes one: a single pass, no The Ship
/// detection, no cut-off handling. The baseline for the players ratio.
mod one_pass {
    pub struct Player {
        pub index: u8,
        pub name: String,
        pub score: i32,
        pub duration: f32,
    }

    pub fn players(body: &[u8]) -> Option<Vec<Player>> {
        let (&count, mut rest) = body.split_first()?;
        let mut out = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let (&index, tail) = rest.split_first()?;
            let nul = tail.iter().position(|&b| b == 0)?;
            let name = String::from_utf8_lossy(&tail[..nul]).into_owned();
            let fixed = tail.get(nul + 1..nul + 9)?;
            let score = i32::from_le_bytes(fixed[..4].try_into().ok()?);
            let duration = f32::from_le_bytes(fixed[4..8].try_into().ok()?);
            out.push(Player { index, name, score, duration });
            rest = &tail[nul + 9..];
        }
        Some(out)
    }

    /// A Source info reply's fields, owned.
    #[derive(Debug, PartialEq)]
    pub struct Info {
        pub protocol: u8,
        pub name: String,
        pub map: String,
        pub folder: String,
        pub game: String,
        pub app_id: u16,
        pub players: u8,
        pub max_players: u8,
        pub bots: u8,
        pub server_type: u8,
        pub environment: u8,
        pub visibility: u8,
        pub vac: u8,
        pub version: String,
        pub port: Option<u16>,
        pub steam_id: Option<u64>,
        pub keywords: Option<String>,
        pub game_id: Option<u64>,
    }

    fn string(rest: &mut &[u8]) -> Option<String> {
        let nul = rest.iter().position(|&b| b == 0)?;
        let s = String::from_utf8_lossy(&rest[..nul]).into_owned();
        *rest = &rest[nul + 1..];
        Some(s)
    }

    fn take<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
        let out = rest.get(..N)?.try_into().ok()?;
        *rest = &rest[N..];
        Some(out)
    }

    /// A rules parser as the fastest peer writes one: a single pass, an owned `String`
    /// a name and a value, no cut-off handling.
    pub fn rules(body: &[u8]) -> Option<Vec<(String, String)>> {
        let mut rest = body;
        let count = u16::from_le_bytes(take(&mut rest)?);
        let mut out = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let name = string(&mut rest)?;
            out.push((name, string(&mut rest)?));
        }
        Some(out)
    }

    /// An info parser as the fastest peer writes one: a single pass, no The Ship, no
    /// SourceTV, the EDF byte required. The baseline for the info ratio.
    pub fn info(body: &[u8]) -> Option<Info> {
        let mut rest = body;
        let [protocol] = take(&mut rest)?;
        let name = string(&mut rest)?;
        let map = string(&mut rest)?;
        let folder = string(&mut rest)?;
        let game = string(&mut rest)?;
        let app_id = u16::from_le_bytes(take(&mut rest)?);
        let [players, max_players, bots, server_type, environment, visibility, vac] = take(&mut rest)?;
        let version = string(&mut rest)?;
        let [edf] = take(&mut rest)?;
        let port = if edf & 0x80 != 0 { Some(u16::from_le_bytes(take(&mut rest)?)) } else { None };
        let steam_id = if edf & 0x10 != 0 { Some(u64::from_le_bytes(take(&mut rest)?)) } else { None };
        let keywords = if edf & 0x20 != 0 { Some(string(&mut rest)?) } else { None };
        let game_id = if edf & 0x01 != 0 { Some(u64::from_le_bytes(take(&mut rest)?)) } else { None };
        Some(Info {
            protocol,
            name,
            map,
            folder,
            game,
            app_id,
            players,
            max_players,
            bots,
            server_type,
            environment,
            visibility,
            vac,
            version,
            port,
            steam_id,
            keywords,
            game_id,
        })
    }
}

fn vectors_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("A2S_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    dir.is_dir().then_some(dir)
}

fn message(datagram: &[u8]) -> Message<'_> {
    match Datagram::classify(datagram).unwrap() {
        Datagram::Single(m) => m,
        other => panic!("not a single reply: {other:?}"),
    }
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let source = encoded(|o| source_info().encode(o).unwrap());
    let goldsrc = encoded(|o| goldsrc_info().encode(o).unwrap());
    let players = encoded(|o| encode_players(&roster(64), ShipLayout::Trailing, o).unwrap());
    let rules_100 = encoded(|o| encode_rules(rule_set(100), o).unwrap());
    let rules_1000 = encoded(|o| encode_rules(rule_set(1000), o).unwrap());

    g.bench_function("info_source", |b| b.iter(|| Info::parse(message(black_box(&source)), Encoding::Utf8).unwrap()));
    g.bench_function("info_source_one_pass", |b| b.iter(|| one_pass::info(message(black_box(&source)).body).unwrap()));
    g.bench_function("info_goldsrc", |b| b.iter(|| Info::parse(message(black_box(&goldsrc)), Encoding::Utf8).unwrap()));
    let players_8 = encoded(|o| encode_players(&roster(8), ShipLayout::Trailing, o).unwrap());
    g.bench_function("players_8", |b| {
        b.iter(|| Players::parse(message(black_box(&players_8)).body, Encoding::Utf8).unwrap())
    });
    g.bench_function("players_8_one_pass", |b| {
        b.iter(|| one_pass::players(message(black_box(&players_8)).body).unwrap())
    });
    g.bench_function("players_64", |b| {
        b.iter(|| Players::parse(message(black_box(&players)).body, Encoding::Utf8).unwrap())
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("rules_100", |b| {
        b.iter(|| Rules::parse(message(black_box(&rules_100)).body, Encoding::Utf8).unwrap())
    });
    // Zero-copy: pairs borrowed from the datagram, each checked as UTF-8 text.
    g.bench_function("rules_100_borrowed", |b| {
        b.iter(|| {
            let view = RulesView::parse(message(black_box(&rules_100)).body).unwrap();
            view.iter()
                .map(|(n, v)| std::str::from_utf8(n).unwrap().len() + std::str::from_utf8(v).unwrap().len())
                .sum::<usize>()
        })
    });
    g.bench_function("rules_100_one_pass", |b| {
        b.iter(|| one_pass::rules(message(black_box(&rules_100)).body).unwrap())
    });
    g.bench_function("rules_100_byte_at_a_time", |b| {
        b.iter(|| byte_at_a_time::rules(message(black_box(&rules_100)).body).unwrap())
    });
    g.throughput(Throughput::Elements(1000));
    g.bench_function("rules_1000", |b| {
        b.iter(|| Rules::parse(message(black_box(&rules_1000)).body, Encoding::Utf8).unwrap())
    });
    g.throughput(Throughput::Elements(1));

    // The real captures: the largest of each kind.
    if let Some(dir) = vectors_dir() {
        for (name, case) in [
            ("vector_info_tf2", "php-source-query/info-tf2"),
            ("vector_info_goldsrc_cs16", "little-a2s/info-goldsrc-cs16-verygames"),
            ("vector_players_gmod_113", "elixir-a2s/gmod-player"),
            ("vector_rules_gmod_265", "elixir-a2s/gmod-rules"),
        ] {
            let bytes = std::fs::read(dir.join(case).join("packet-0.bin")).unwrap();
            let m = message(&bytes);
            g.bench_function(name, |b| {
                b.iter(|| match m.kind {
                    0x44 => Players::parse(black_box(m.body), Encoding::Utf8).map(|p| p.entries.len()).unwrap(),
                    0x45 => Rules::parse(black_box(m.body), Encoding::Utf8).map(|r| r.len()).unwrap(),
                    _ => Info::parse(black_box(m), Encoding::Utf8).map(|i| usize::from(i.player_count())).unwrap(),
                })
            });
        }
    } else {
        eprintln!("SKIPPED vector benches: ../shared/vectors not found (set A2S_VECTORS)");
    }
    g.finish();
}

fn reassemble(c: &mut Criterion) {
    let mut g = c.benchmark_group("reassemble");
    let reply = encoded(|o| encode_rules(rule_set(250), o).unwrap());
    let size = reply.len().div_ceil(6);
    // The compressed stream is much shorter: cut it into six too.
    let whole = split_packet(&reply, 5, SplitFormat::Source, usize::from(u16::MAX), true).unwrap();
    let compressed_size = (whole[0].len() - 20).div_ceil(6);
    for (name, compress) in [("6_fragments", false), ("6_fragments_bzip2", true)] {
        let size = if compress { compressed_size } else { size };
        let fragments = split_packet(&reply, 5, SplitFormat::Source, size, compress).unwrap();
        assert_eq!(fragments.len(), 6, "{name}");
        let mut r = Reassembler::new(Default::default());
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut len = 0;
                for f in &fragments {
                    if let Some(whole) = r.push(black_box(f)).unwrap() {
                        len = whole.len();
                    }
                }
                assert_eq!(len, reply.len());
            })
        });
    }
    g.finish();
}

fn responder() -> Running {
    Responder::new(Info::Source(source_info()), roster(64), rule_set(100)).spawn("127.0.0.1:0").unwrap()
}

/// The physical floor: the same exchange on a bare std socket, challenge round trip
/// then the challenged request, receiving the same datagrams (every fragment of a
/// split reply), with no parsing.
fn floor(socket: &UdpSocket, query: Query, buf: &mut [u8]) -> usize {
    socket.send(&query.encode()).unwrap();
    let n = socket.recv(buf).unwrap();
    let Ok(Datagram::Challenge(c)) = Datagram::classify(&buf[..n]) else { panic!("no challenge") };
    socket.send(&query.with_challenge(c).encode()).unwrap();
    let mut total = socket.recv(buf).unwrap();
    if buf.starts_with(&[0xFE, 0xFF, 0xFF, 0xFF]) {
        for _ in 1..buf[8] {
            total += socket.recv(buf).unwrap();
        }
    }
    total
}

/// The floor of a poll with the challenge known: one round trip on a bare std socket,
/// the challenged request and its reply (every fragment), no parsing.
fn floor_polled(socket: &UdpSocket, request: &[u8], buf: &mut [u8]) -> usize {
    socket.send(request).unwrap();
    let mut total = socket.recv(buf).unwrap();
    if buf.starts_with(&[0xFE, 0xFF, 0xFF, 0xFF]) {
        for _ in 1..buf[8] {
            total += socket.recv(buf).unwrap();
        }
    }
    total
}

/// A poll's floor that also reads the answer: one round trip on a bare std socket,
/// every fragment's payload gathered (the 12-byte Source split header skipped), the
/// body parsed by `parse`, a one-pass parser written the fastest peer's way. The least
/// a client returning the answer does, next to which a client's own overhead shows.
fn floor_polled_parsed<T>(
    socket: &UdpSocket,
    request: &[u8],
    buf: &mut [u8],
    message: &mut Vec<u8>,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> T {
    socket.send(request).unwrap();
    let n = socket.recv(buf).unwrap();
    message.clear();
    if buf.starts_with(&[0xFE, 0xFF, 0xFF, 0xFF]) {
        message.extend_from_slice(&buf[12..n]);
        for _ in 1..buf[8] {
            let n = socket.recv(buf).unwrap();
            message.extend_from_slice(&buf[12..n]);
        }
    } else {
        message.extend_from_slice(&buf[..n]);
    }
    parse(&message[5..]).unwrap()
}

/// The two-round-trip floor that also reads the answer: the challenge round trip, then
/// [`floor_polled_parsed`] with the challenged request.
fn floor_parsed<T>(
    socket: &UdpSocket,
    query: Query,
    buf: &mut [u8],
    message: &mut Vec<u8>,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> T {
    socket.send(&query.encode()).unwrap();
    let n = socket.recv(buf).unwrap();
    let Ok(Datagram::Challenge(c)) = Datagram::classify(&buf[..n]) else { panic!("no challenge") };
    floor_polled_parsed(socket, &query.with_challenge(c).encode(), buf, message, parse)
}

/// The challenge the responder at the other end of `socket` gives.
fn challenge_of(socket: &UdpSocket, buf: &mut [u8]) -> a2s_query::proto::Challenge {
    socket.send(&Query::Players(a2s_query::proto::Challenge::REQUEST).encode()).unwrap();
    let n = socket.recv(buf).unwrap();
    let Ok(Datagram::Challenge(c)) = Datagram::classify(&buf[..n]) else { panic!("no challenge") };
    c
}

fn loopback(c: &mut Criterion) {
    let server = responder();
    let addr: SocketAddr = server.local_addr();
    let mut g = c.benchmark_group("loopback");
    let timeout = Duration::from_secs(2);

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(addr).unwrap();
    socket.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = vec![0u8; 65_536];
    g.bench_function("floor_info_two_round_trips", |b| b.iter(|| floor(&socket, Query::Info(None), &mut buf)));
    g.bench_function("floor_players_two_round_trips", |b| {
        b.iter(|| floor(&socket, Query::Players(a2s_query::proto::Challenge::REQUEST), &mut buf))
    });
    g.bench_function("floor_rules_two_round_trips", |b| {
        b.iter(|| floor(&socket, Query::Rules(a2s_query::proto::Challenge::REQUEST), &mut buf))
    });

    // The same, the answer parsed too by the one-pass parsers.
    let mut message = Vec::with_capacity(65_536);
    g.bench_function("floor_info_two_round_trips_parsed", |b| {
        b.iter(|| floor_parsed(&socket, Query::Info(None), &mut buf, &mut message, one_pass::info))
    });
    let players = Query::Players(a2s_query::proto::Challenge::REQUEST);
    g.bench_function("floor_players_two_round_trips_parsed", |b| {
        b.iter(|| floor_parsed(&socket, players, &mut buf, &mut message, one_pass::players))
    });
    let rules = Query::Rules(a2s_query::proto::Challenge::REQUEST);
    let read = floor_parsed(&socket, rules, &mut buf, &mut message, one_pass::rules);
    assert_eq!(read, rule_set(100), "the parsed floor reads the rules");
    g.bench_function("floor_rules_two_round_trips_parsed", |b| {
        b.iter(|| floor_parsed(&socket, rules, &mut buf, &mut message, one_pass::rules))
    });

    // Two round trips, as the floor: the challenge is asked for every time.
    let mut client = Client::builder().timeout(timeout).reuse_challenges(false).build();
    g.bench_function("client_info", |b| b.iter(|| client.info(addr).unwrap()));
    g.bench_function("client_players", |b| b.iter(|| client.players(addr).unwrap()));
    g.bench_function("client_rules", |b| b.iter(|| client.rules(addr).unwrap()));

    // One round trip: the remembered challenge is sent with the request.
    let known = challenge_of(&socket, &mut buf);
    for (name, query) in
        [("info", Query::Info(Some(known))), ("players", Query::Players(known)), ("rules", Query::Rules(known))]
    {
        let request = query.encode();
        g.bench_function(format!("floor_{name}_one_round_trip"), |b| {
            b.iter(|| floor_polled(&socket, &request, &mut buf))
        });
    }
    // The same round trip, the answer parsed too (info in one datagram, 64 players and
    // 100 rules in two fragments each).
    let info_request = Query::Info(Some(known)).encode();
    g.bench_function("floor_info_one_round_trip_parsed", |b| {
        b.iter(|| floor_polled_parsed(&socket, &info_request, &mut buf, &mut message, one_pass::info))
    });
    let players_request = Query::Players(known).encode();
    let read = floor_polled_parsed(&socket, &players_request, &mut buf, &mut message, one_pass::players);
    let names: Vec<String> = read.into_iter().map(|p| p.name).collect();
    assert_eq!(names, roster(64).into_iter().map(|p| p.name).collect::<Vec<_>>(), "the parsed floor reads the roster");
    g.bench_function("floor_players_one_round_trip_parsed", |b| {
        b.iter(|| floor_polled_parsed(&socket, &players_request, &mut buf, &mut message, one_pass::players))
    });
    let rules_request = Query::Rules(known).encode();
    g.bench_function("floor_rules_one_round_trip_parsed", |b| {
        b.iter(|| floor_polled_parsed(&socket, &rules_request, &mut buf, &mut message, one_pass::rules))
    });
    let mut polling = Client::builder().timeout(timeout).build();
    g.bench_function("client_info_reused_challenge", |b| b.iter(|| polling.info(addr).unwrap()));
    g.bench_function("client_players_reused_challenge", |b| b.iter(|| polling.players(addr).unwrap()));
    g.bench_function("client_rules_reused_challenge", |b| b.iter(|| polling.rules(addr).unwrap()));

    // The async client, shared, on a current-thread runtime: the same two round trips.
    // No send-rate cap: its default 2 000 datagrams a second is what a loop this tight
    // would measure, not the driver.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let shared = a2s_query::tokio::Client::builder().timeout(timeout).send_rate(0).reuse_challenges(false).build();
    g.bench_function("tokio_client_info", |b| b.iter(|| runtime.block_on(shared.info(addr)).unwrap()));
    let shared_polling = a2s_query::tokio::Client::builder().timeout(timeout).send_rate(0).build();
    g.bench_function("tokio_client_info_reused_challenge", |b| {
        b.iter(|| runtime.block_on(shared_polling.info(addr)).unwrap())
    });

    g.bench_function("free_fn_info", |b| b.iter(|| a2s_query::info(addr, timeout, Encoding::Utf8).unwrap()));
    g.bench_function("free_fn_players", |b| b.iter(|| a2s_query::players(addr, timeout, Encoding::Utf8).unwrap()));
    g.bench_function("free_fn_rules", |b| b.iter(|| a2s_query::rules(addr, timeout, Encoding::Utf8).unwrap()));
    g.finish();
    drop(server);
}

/// Checks the bench inputs are what they claim before timing them.
fn sanity() {
    let source = encoded(|o| source_info().encode(o).unwrap());
    let ours = source_info();
    let theirs = one_pass::info(&source[5..]).unwrap();
    assert_eq!(
        (&theirs.name, &theirs.map, &theirs.folder, &theirs.game, &theirs.version, &theirs.keywords),
        (&ours.server_name, &ours.map_name, &ours.folder, &ours.game, &ours.version, &ours.keywords)
    );
    assert_eq!(
        (theirs.app_id, theirs.players, theirs.max_players, theirs.port, theirs.steam_id, theirs.game_id),
        (ours.app_id, ours.player_count, ours.max_players, ours.port, ours.steam_id, ours.game_id)
    );
    assert_eq!(
        (theirs.protocol, theirs.bots, theirs.server_type, theirs.environment, theirs.visibility, theirs.vac),
        (
            ours.protocol,
            ours.bot_count,
            u8::from(ours.server_type),
            u8::from(ours.platform),
            u8::from(ours.password_protected),
            u8::from(ours.vac_enabled)
        )
    );
    let rules_100 = encoded(|o| encode_rules(rule_set(100), o).unwrap());
    let body = &rules_100[5..];
    let ours = Vec::from(Rules::parse(body, Encoding::Utf8).unwrap());
    assert_eq!(byte_at_a_time::rules(body).unwrap(), ours);
    assert_eq!(one_pass::rules(body).unwrap(), ours);
    assert_eq!(Message::from_reassembled(&rules_100).unwrap().kind, 0x45);
    let players_8 = encoded(|o| encode_players(&roster(8), ShipLayout::Trailing, o).unwrap());
    let ours = Players::parse(&players_8[5..], Encoding::Utf8).unwrap().entries;
    let theirs = one_pass::players(&players_8[5..]).unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!((a.index, &a.name, a.score, a.duration), (b.index, &b.name, b.score, b.duration));
    }
}

fn config() -> Criterion {
    sanity();
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, reassemble, loopback
}
criterion_main!(benches);
