//! The responder's datagrams, byte by byte, against bytes written out by hand from the
//! spec (`../shared/spec/a2s-protocol.md` §2-§4), not against our own parser: a mistake
//! that our encoder and parser share cannot hide here.

use std::io::Read;
use std::net::SocketAddr;

use a2s_query::proto::{GoldSrcInfo, Info, Platform, Player, Query, ServerType, SourceInfo, SplitFormat};
use a2s_query::server::Responder;

fn client() -> SocketAddr {
    "127.0.0.1:50000".parse().unwrap()
}

/// A responder that answers without a challenge, so one request gets the reply.
fn open(info: Info, players: Vec<Player>, rules: Vec<(String, String)>) -> Responder {
    let mut r = Responder::new(info, players, rules);
    r.require_challenge = false;
    r
}

fn ask(r: &mut Responder, query: Query) -> Vec<Vec<u8>> {
    r.respond(&query.encode(), client()).unwrap()
}

fn source_info() -> SourceInfo {
    let mut info = SourceInfo::default();
    info.protocol = 17;
    info.server_name = "N".into();
    info.map_name = "m".into();
    info.folder = "f".into();
    info.game = "g".into();
    info.app_id = 440;
    info.player_count = 2;
    info.max_players = 16;
    info.bot_count = 1;
    info.vac_enabled = true;
    info.version = "1.0".into();
    info.port = Some(27015);
    info.steam_id = Some(0x0102_0304_0506_0708);
    info.stv_port = Some(27020);
    info.stv_name = Some("tv".into());
    info.keywords = Some("k1,k2".into());
    info.game_id = Some(440);
    info
}

fn rules(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// §2.6: an INFO without the challenge gets `FF FF FF FF 41` and the four bytes.
#[test]
fn challenge() {
    let mut r = Responder::new(Info::Source(source_info()), vec![], vec![]);
    let c = r.challenge_for(client()).0;
    let got = ask(&mut r, Query::Info(None));
    assert_eq!(got, vec![vec![0xFF, 0xFF, 0xFF, 0xFF, 0x41, c[0], c[1], c[2], c[3]]]);
}

/// §3.1, every EDF field, in the order 0x80, 0x10, 0x40, 0x20, 0x01.
#[test]
fn source_info_with_every_edf_field() {
    let mut r = open(Info::Source(source_info()), vec![], vec![]);
    #[rustfmt::skip]
    let want: Vec<u8> = [
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x49, 17][..],
        b"N\0", b"m\0", b"f\0", b"g\0",
        &[0xB8, 0x01],                 // app id 440
        &[2, 16, 1],                   // players, max, bots
        b"dl",                         // dedicated, Linux
        &[0, 1],                       // no password, VAC
        b"1.0\0",
        &[0xF1],                       // EDF: port, Steam id, SourceTV, keywords, GameID
        &[0x87, 0x69],                 // 27015
        &[0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01],
        &[0x8C, 0x69], b"tv\0",        // SourceTV port 27020 and name
        b"k1,k2\0",
        &[0xB8, 0x01, 0, 0, 0, 0, 0, 0], // GameID 440
    ]
    .concat();
    assert_eq!(ask(&mut r, Query::Info(None)), vec![want]);
}

/// §3.2: the GoldSrc layout with its mod block; type and OS in upper case.
#[test]
fn goldsrc_info_with_the_mod_block() {
    let mut g = GoldSrcInfo::default();
    g.address = "1.2.3.4:27015".to_string();
    g.server_name = "G".into();
    g.map_name = "m".into();
    g.folder = "f".into();
    g.game = "g".into();
    g.player_count = 3;
    g.max_players = 8;
    g.protocol = 47;
    g.is_mod = true;
    g.mod_website = Some("w".into());
    g.mod_download = Some("d".into());
    g.mod_version = Some(1);
    g.mod_size = Some(0x100);
    g.multiplayer_only = Some(true);
    g.uses_custom_dll = Some(false);
    g.vac_enabled = true;
    g.bot_count = 2;
    let mut r = open(Info::GoldSrc(g.clone()), vec![], vec![]);
    #[rustfmt::skip]
    let want: Vec<u8> = [
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x6D][..],
        b"1.2.3.4:27015\0", b"G\0", b"m\0", b"f\0", b"g\0",
        &[3, 8, 47],                   // players, max, protocol
        b"DL",                         // upper case, as real GoldSrc servers send
        &[0, 1],                       // no password, a mod
        b"w\0", b"d\0", &[0],          // link, download link, the empty version string
        &[1, 0, 0, 0], &[0, 1, 0, 0],  // mod version, mod size
        &[1, 0],                       // multiplayer only, Half-Life's DLL
        &[1, 2],                       // VAC, bots
    ]
    .concat();
    assert_eq!(ask(&mut r, Query::Info(None)), vec![want]);

    let mut listen = g;
    listen.server_type = ServerType::SourceTv;
    listen.platform = Platform::Windows;
    let mut r = open(Info::GoldSrc(listen), vec![], vec![]);
    let got = ask(&mut r, Query::Info(None)).concat();
    let at = 5 + b"1.2.3.4:27015\0G\0m\0f\0g\0".len() + 3;
    assert_eq!(&got[at..at + 2], b"PW");
}

fn ship_players() -> Vec<Player> {
    vec![Player::new("a".to_string(), 7, 1.5).with_ship(3, 500), {
        let mut player = Player::new("b".to_string(), -1, 2.0).with_ship(0, 1);
        player.index = 1;
        player
    }]
}

/// §3.3: by default The Ship's deaths and money follow all players, as real servers
/// send them.
#[test]
fn players_with_the_ship_block_trailing() {
    let mut r = open(Info::Source(source_info()), ship_players(), vec![]);
    #[rustfmt::skip]
    let want: Vec<u8> = [
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x44, 2][..],
        &[0], b"a\0", &[7, 0, 0, 0], &[0, 0, 0xC0, 0x3F],           // 1.5
        &[1], b"b\0", &[0xFF, 0xFF, 0xFF, 0xFF], &[0, 0, 0, 0x40],  // -1, 2.0
        &[3, 0, 0, 0], &[0xF4, 0x01, 0, 0],                         // a: 3 deaths, 500
        &[0, 0, 0, 0], &[1, 0, 0, 0],                               // b: 0 deaths, 1
    ]
    .concat();
    assert_eq!(ask(&mut r, Query::Players(a2s_query::proto::Challenge::REQUEST)), vec![want]);
}

#[test]
fn players_with_the_ship_fields_interleaved() {
    let mut r = open(Info::Source(source_info()), ship_players(), vec![]);
    r.ship_layout = a2s_query::proto::ShipLayout::Interleaved;
    #[rustfmt::skip]
    let want: Vec<u8> = [
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x44, 2][..],
        &[0], b"a\0", &[7, 0, 0, 0], &[0, 0, 0xC0, 0x3F], &[3, 0, 0, 0], &[0xF4, 0x01, 0, 0],
        &[1], b"b\0", &[0xFF, 0xFF, 0xFF, 0xFF], &[0, 0, 0, 0x40], &[0, 0, 0, 0], &[1, 0, 0, 0],
    ]
    .concat();
    assert_eq!(ask(&mut r, Query::Players(a2s_query::proto::Challenge::REQUEST)), vec![want]);
}

/// §3.4: a u16 count, then name and value strings.
#[test]
fn rules_reply() {
    let mut r = open(Info::Source(source_info()), vec![], rules(&[("a", "1"), ("bb", "22")]));
    let want = [&[0xFF, 0xFF, 0xFF, 0xFF, 0x45, 2, 0][..], b"a\0", b"1\0", b"bb\0", b"22\0"].concat();
    assert_eq!(ask(&mut r, Query::Rules(a2s_query::proto::Challenge::REQUEST)), vec![want]);
}

/// The 20-byte rules reply the split tests cut into 8-byte pieces.
fn long_rules() -> (Vec<(String, String)>, Vec<u8>) {
    let reply = [&[0xFF, 0xFF, 0xFF, 0xFF, 0x45, 1, 0][..], b"k\0", b"0123456789\0"].concat();
    assert_eq!(reply.len(), 20);
    (rules(&[("k", "0123456789")]), reply)
}

fn split_responder(format: SplitFormat, size: usize, compress: bool) -> (Vec<Vec<u8>>, Vec<u8>) {
    let (pairs, reply) = long_rules();
    let mut r = open(Info::Source(source_info()), vec![], pairs);
    r.split_format = format;
    r.split_size = size;
    r.compress = compress;
    (ask(&mut r, Query::Rules(a2s_query::proto::Challenge::REQUEST)), reply)
}

/// The 20-byte reply in three fragments of 8, 8 and 4 bytes behind `head(number)`.
fn cut_in_three(reply: &[u8], head: impl Fn(u8) -> Vec<u8>) -> Vec<Vec<u8>> {
    vec![
        [head(0), reply[0..8].to_vec()].concat(),
        [head(1), reply[8..16].to_vec()].concat(),
        [head(2), reply[16..20].to_vec()].concat(),
    ]
}

/// §4.1: `FE FF FF FF`, the id (the responder's first is 1), total, number, the size
/// field; the reply's own bytes, `FF FF FF FF` included, cut at `size`.
#[test]
fn source_split_with_the_size_field() {
    let (got, reply) = split_responder(SplitFormat::Source, 8, false);
    let head = |n: u8| vec![0xFE, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 3, n, 8, 0];
    assert_eq!(got, cut_in_three(&reply, head));
}

/// §4.3: the pre-Orange-Box layout, no size field.
#[test]
fn source_split_without_the_size_field() {
    let (got, reply) = split_responder(SplitFormat::SourceWithoutSize, 8, false);
    let head = |n: u8| vec![0xFE, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 3, n];
    assert_eq!(got, cut_in_three(&reply, head));
}

/// §4.5: one byte, the fragment's index in the high nibble and the total in the low.
#[test]
fn goldsrc_split() {
    let (got, reply) = split_responder(SplitFormat::GoldSrc, 8, false);
    let head = |n: u8| vec![0xFE, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, (n << 4) | 3];
    assert_eq!(got, cut_in_three(&reply, head));
}

/// §4.2: bit 31 of the id; in fragment 0 only, after the size field, the inflated size
/// and the CRC32 of the reply; the payloads joined are one bzip2 stream of the reply.
#[test]
fn source_split_compressed() {
    let (got, reply) = split_responder(SplitFormat::Source, 16, true);
    let total = got.len();
    assert!(total >= 2, "{total} fragments");
    let mut stream = Vec::new();
    for (n, d) in got.iter().enumerate() {
        let head = [0xFE, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0x80, total as u8, n as u8, 16, 0];
        assert_eq!(d[..12], head, "fragment {n}");
        let payload = if n == 0 {
            assert_eq!(d[12..16], 20u32.to_le_bytes(), "the inflated size");
            assert_eq!(d[16..20], crc32fast::hash(&reply).to_le_bytes(), "the CRC32 of the reply");
            &d[20..]
        } else {
            &d[12..]
        };
        if n + 1 < total {
            assert_eq!(payload.len(), 16, "fragment {n} carries `size` bytes");
        }
        stream.extend_from_slice(payload);
    }
    assert_eq!(&stream[..3], b"BZh");
    let mut inflated = Vec::new();
    bzip2::read::BzDecoder::new(&stream[..]).read_to_end(&mut inflated).unwrap();
    assert_eq!(inflated, reply);
}
