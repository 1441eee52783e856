//! Encode, (split,) reassemble, parse: every message kind comes back with the values
//! it was built from, in every split layout, compressed or not, fragments shuffled.

mod common;

use a2s_query::proto::{
    encode_challenge, encode_players, split_packet, Challenge, Datagram, GoldSrcInfo, Info, Message, Player, Players,
    Reassembler, Rules, ShipLayout, SourceInfo, SplitFormat, TheShip,
};
use a2s_query::{Encoding, Limits, Platform, ServerType};
use common::Rng;

fn source_info() -> SourceInfo {
    let mut info = SourceInfo::default();
    info.protocol = 17;
    info.server_name = "Round ☃ trip".into();
    info.map_name = "cp_badlands".into();
    info.folder = "tf".into();
    info.game = "Team Fortress".into();
    info.app_id = 440;
    info.player_count = 24;
    info.max_players = 32;
    info.bot_count = 2;
    info.platform = Platform::Windows;
    info.password_protected = true;
    info.vac_enabled = true;
    info.version = "8622567".into();
    info.edf = 0x80 | 0x10 | 0x40 | 0x20 | 0x01;
    info.port = Some(27016);
    info.steam_id = Some(85_568_392_920_039_468);
    info.stv_port = Some(27020);
    info.stv_name = Some("SourceTV".into());
    info.keywords = Some("cp,increased_maxplayers".into());
    info.game_id = Some(440);
    info
}

fn ship_info() -> SourceInfo {
    let mut info = source_info();
    info.app_id = 2400;
    info.the_ship = Some(TheShip { mode: 4, witnesses: 2, duration: 9 });
    info.edf = 0;
    info.port = None;
    info.steam_id = None;
    info.stv_port = None;
    info.stv_name = None;
    info.keywords = None;
    info.game_id = None;
    info.server_type = ServerType::Other(0);
    info.platform = Platform::Other(b'x');
    info
}

fn goldsrc_info() -> GoldSrcInfo {
    let mut info = GoldSrcInfo::default();
    info.address = "192.0.2.1:27015".into();
    info.server_name = "old school".into();
    info.map_name = "de_nuke".into();
    info.folder = "cstrike".into();
    info.game = "Counter-Strike".into();
    info.player_count = 9;
    info.max_players = 20;
    info.protocol = 47;
    info.server_type = ServerType::SourceTv;
    info.is_mod = true;
    info.mod_website = Some("www.counter-strike.net".into());
    info.mod_download = Some("http://example.invalid/dl".into());
    info.mod_version = Some(1);
    info.mod_size = Some(184_000_000);
    info.multiplayer_only = Some(true);
    info.uses_custom_dll = Some(true);
    info.vac_enabled = true;
    info.bot_count = 3;
    info
}

fn players(n: usize, ship: bool) -> Vec<Player> {
    (0..n)
        .map(|i| {
            let mut player = Player::new(format!("player-{i}-ñ"), i as i32 * 3 - 10, i as f32 * 61.25);
            player.index = i as u8;
            player.deaths = ship.then_some(i as i32);
            player.money = ship.then_some(500 * i as i32);
            player
        })
        .collect()
}

fn rules(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("sv_rule_{i:04}"), format!("value {}", i * 13))).collect()
}

/// Every way a reply can reach a client: whole, or split in each layout.
const WAYS: [(&str, Option<(SplitFormat, bool)>); 6] = [
    ("single", None),
    ("source", Some((SplitFormat::Source, false))),
    ("source_without_size", Some((SplitFormat::SourceWithoutSize, false))),
    ("goldsrc", Some((SplitFormat::GoldSrc, false))),
    ("source_bzip2", Some((SplitFormat::Source, true))),
    ("source_without_size_bzip2", Some((SplitFormat::SourceWithoutSize, true))),
];

/// Delivers `packet` each way, fragments shuffled with several seeds, and returns the
/// reply bytes each delivery produced.
fn deliveries(packet: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (way, split) in WAYS {
        let Some((format, compress)) = split else {
            out.push((way.to_string(), packet.to_vec()));
            continue;
        };
        // Small fragments so even short replies split; GoldSrc numbers at most 15.
        let size = (packet.len() / 12).max(16);
        let fragments = split_packet(packet, 0x1234, format, size, compress).unwrap();
        assert!(fragments.len() > 1 || packet.len() <= size, "{way}: {} fragments", fragments.len());
        for seed in 1..=4 {
            let mut order: Vec<&Vec<u8>> = fragments.iter().collect();
            Rng::new(seed).shuffle(&mut order);
            let mut r = Reassembler::new(Limits::default());
            let mut done = None;
            for f in order {
                let Datagram::Split(f) = Datagram::classify(f).unwrap() else { panic!("{way}: not split") };
                if let Some(whole) = r.push(f).unwrap() {
                    done = Some(whole.to_vec());
                }
            }
            out.push((format!("{way} seed {seed}"), done.expect("never completed")));
        }
    }
    out
}

#[test]
fn source_info_every_way() {
    for info in [source_info(), ship_info()] {
        let mut packet = Vec::new();
        info.encode(&mut packet).unwrap();
        for (way, bytes) in deliveries(&packet) {
            let got = Info::parse(Message::from_reassembled(&bytes).unwrap(), Encoding::Utf8).unwrap();
            assert_eq!(got, Info::Source(info.clone()), "{way}");
        }
    }
}

#[test]
fn goldsrc_info_every_way() {
    let info = goldsrc_info();
    let mut packet = Vec::new();
    info.encode(&mut packet).unwrap();
    for (way, bytes) in deliveries(&packet) {
        let got = Info::parse(Message::from_reassembled(&bytes).unwrap(), Encoding::Utf8).unwrap();
        assert_eq!(got, Info::GoldSrc(info.clone()), "{way}");
    }
}

#[test]
fn players_every_way() {
    let cases = [
        (players(0, false), ShipLayout::Trailing),
        (players(64, false), ShipLayout::Trailing),
        (players(32, true), ShipLayout::Interleaved),
        (players(32, true), ShipLayout::Trailing),
    ];
    for (list, layout) in cases {
        let mut packet = Vec::new();
        encode_players(&list, layout, &mut packet).unwrap();
        for (way, bytes) in deliveries(&packet) {
            let m = Message::from_reassembled(&bytes).unwrap();
            let got = Players::parse(m.body, Encoding::Utf8).unwrap();
            assert_eq!(got.entries, list, "{way}");
            assert_eq!(usize::from(got.count), list.len(), "{way}");
            assert!(!got.truncated, "{way}");
        }
    }
}

#[test]
fn rules_every_way() {
    for n in [0, 1, 150, 1000] {
        let want = rules(n);
        let mut packet = Vec::new();
        a2s_query::proto::encode_rules(want.iter().map(|(n, v)| (n, v)), &mut packet).unwrap();
        for (way, bytes) in deliveries(&packet) {
            let m = Message::from_reassembled(&bytes).unwrap();
            let got = Rules::parse(m.body, Encoding::Utf8).unwrap();
            assert_eq!(Vec::from(&got), want, "{n} rules, {way}");
            assert_eq!(usize::from(got.count), n);
            assert!(!got.truncated);
        }
    }
}

#[test]
fn challenge_every_way() {
    let c = Challenge([0x12, 0x34, 0x56, 0x78]);
    let mut packet = Vec::new();
    encode_challenge(c, &mut packet);
    assert_eq!(Datagram::classify(&packet).unwrap(), Datagram::Challenge(c));
    // Some servers send the challenge inside a split reply.
    for (way, bytes) in deliveries(&packet) {
        let m = Message::from_reassembled(&bytes).unwrap();
        assert_eq!(m.challenge().unwrap(), Some(c), "{way}");
    }
}

#[test]
fn every_request_round_trips() {
    use a2s_query::proto::Query;
    for q in [
        Query::Info(None),
        Query::Info(Some(Challenge([1, 2, 3, 4]))),
        Query::Players(Challenge::REQUEST),
        Query::Players(Challenge([4, 3, 2, 1])),
        Query::Rules(Challenge::REQUEST),
        Query::Rules(Challenge([0, 0, 0, 0])),
        Query::GetChallenge,
    ] {
        assert_eq!(Query::parse(&q.encode()).unwrap(), q);
    }
}
