//! The JSON shape of every result type under the `serde` feature, pinned field by field
//! and in order (the CLI's `--json` output and users' stored documents depend on it).
//! `serde_json::Value` sorts its keys, so order is checked on the text.

use std::time::Duration;

use a2s_query::proto::{GoldSrcInfo, Info, Platform, Player, Rules, ServerType, SourceInfo, TheShip};
use serde_json::{json, to_string, to_value, Value};

/// The keys of a JSON object, in the order the text has them.
fn keys(text: &str) -> Vec<String> {
    let Value::Object(map) = serde_json::from_str::<Value>(text).unwrap() else { panic!("not an object") };
    let mut found: Vec<(usize, String)> =
        map.keys().map(|k| (text.find(&format!("\"{k}\":")).expect("key in text"), k.clone())).collect();
    found.sort();
    found.into_iter().map(|(_, k)| k).collect()
}

fn source() -> SourceInfo {
    let mut info = SourceInfo::default();
    info.protocol = 17;
    info.server_name = "srv".into();
    info.map_name = "de_dust2".into();
    info.folder = "csgo".into();
    info.game = "CS".into();
    info.app_id = 730;
    info.player_count = 3;
    info.max_players = 10;
    info.bot_count = 1;
    info.vac_enabled = true;
    info.version = "1.0".into();
    info.edf = 0xF1;
    info.port = Some(27015);
    info.steam_id = Some(9);
    info.keywords = Some("k".into());
    info.game_id = Some(730);
    info.ping = Duration::from_millis(250);
    info
}

#[test]
fn source_info() {
    let want = json!({
        "protocol": 17, "server_name": "srv", "map_name": "de_dust2", "folder": "csgo", "game": "CS",
        "app_id": 730, "player_count": 3, "max_players": 10, "bot_count": 1, "server_type": "d",
        "platform": "l", "password_protected": false, "vac_enabled": true, "version": "1.0", "edf": 241,
        "port": 27015, "steam_id": 9, "stv_port": null, "stv_name": null, "keywords": "k", "game_id": 730,
        "ping": 0.25
    });
    assert_eq!(to_value(source()).unwrap(), want);
    let mut ship = source();
    ship.the_ship = Some(TheShip { mode: 1, witnesses: 2, duration: 3 });
    let got = to_value(ship).unwrap();
    assert_eq!(got["the_ship"], json!({"mode": 1, "witnesses": 2, "duration": 3}));
    let mut tagged = want.clone();
    tagged["kind"] = json!("source");
    assert_eq!(to_value(Info::Source(source())).unwrap(), tagged);
    let order = [
        "kind",
        "protocol",
        "server_name",
        "map_name",
        "folder",
        "game",
        "app_id",
        "player_count",
        "max_players",
        "bot_count",
        "server_type",
        "platform",
        "password_protected",
        "vac_enabled",
        "version",
        "edf",
        "port",
        "steam_id",
        "stv_port",
        "stv_name",
        "keywords",
        "game_id",
        "ping",
    ];
    assert_eq!(keys(&to_string(&Info::Source(source())).unwrap()), order);
}

#[test]
fn goldsrc_info() {
    let g: GoldSrcInfo = {
        let mut info = GoldSrcInfo::default();
        info.address = "1.2.3.4:27015".into();
        info.server_name = "hl".into();
        info.map_name = "crossfire".into();
        info.folder = "valve".into();
        info.game = "HL".into();
        info.player_count = 1;
        info.max_players = 8;
        info.protocol = 47;
        info.platform = Platform::Windows;
        info.password_protected = true;
        info.is_mod = true;
        info.mod_website = Some("w".into());
        info.mod_version = Some(1);
        info.mod_size = Some(2);
        info.multiplayer_only = Some(true);
        info.uses_custom_dll = Some(false);
        info.ping = Duration::from_millis(500);
        info
    };
    let want = json!({
        "kind": "goldsrc", "address": "1.2.3.4:27015", "server_name": "hl", "map_name": "crossfire",
        "folder": "valve", "game": "HL", "player_count": 1, "max_players": 8, "protocol": 47,
        "server_type": "d", "platform": "w", "password_protected": true, "is_mod": true,
        "mod_website": "w", "mod_download": null, "mod_version": 1, "mod_size": 2, "multiplayer_only": true,
        "uses_custom_dll": false, "vac_enabled": false, "bot_count": 0, "ping": 0.5
    });
    assert_eq!(to_value(Info::GoldSrc(g.clone())).unwrap(), want);
    let order = [
        "kind",
        "address",
        "server_name",
        "map_name",
        "folder",
        "game",
        "player_count",
        "max_players",
        "protocol",
        "server_type",
        "platform",
        "password_protected",
        "is_mod",
        "mod_website",
        "mod_download",
        "mod_version",
        "mod_size",
        "multiplayer_only",
        "uses_custom_dll",
        "vac_enabled",
        "bot_count",
        "ping",
    ];
    assert_eq!(keys(&to_string(&Info::GoldSrc(g)).unwrap()), order);
}

#[test]
fn players_and_rules() {
    let plain = Player::new("a".to_string(), -1, 1.5);
    assert_eq!(to_value(&plain).unwrap(), json!({"index": 0, "name": "a", "score": -1, "duration": 1.5}));
    let ship = plain.with_ship(2, 300);
    assert_eq!(
        to_value(&ship).unwrap(),
        json!({"index": 0, "name": "a", "score": -1, "duration": 1.5, "deaths": 2, "money": 300})
    );
    assert_eq!(to_string(&ship).unwrap(), r#"{"index":0,"name":"a","score":-1,"duration":1.5,"deaths":2,"money":300}"#);
    let rules: Rules = [("b", "2"), ("a", "1")].into_iter().collect();
    assert_eq!(to_string(&rules).unwrap(), r#"{"b":"2","a":"1"}"#, "wire order");
}

/// What is written reads back as the same value (bots cache snapshots as JSON).
#[test]
fn every_result_type_round_trips() {
    fn again<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
        serde_json::from_str(&to_string(value).unwrap()).unwrap()
    }
    let plain = Info::Source(source());
    assert_eq!(again(&plain), plain);
    // (Equality leaves the ping out: it is checked on its own.)
    assert_eq!(again(&plain).ping(), Duration::from_millis(250));
    let ship = Info::Source({
        let mut info = source();
        info.the_ship = Some(TheShip { mode: 1, witnesses: 2, duration: 3 });
        info.server_type = ServerType::Other(b'x');
        info.platform = Platform::Mac;
        info.ping = Duration::from_micros(12_345);
        info
    });
    assert_eq!(again(&ship), ship);
    assert_eq!(again(&ship).ping(), Duration::from_micros(12_345));
    let goldsrc = Info::GoldSrc({
        let mut info = GoldSrcInfo::default();
        info.address = "10.0.0.1:27015".into();
        info.server_name = "old".into();
        info.is_mod = true;
        info.mod_website = Some("www.example.com".into());
        info.mod_size = Some(184_000_000);
        info.server_type = ServerType::SourceTv;
        info.platform = Platform::Windows;
        info
    });
    assert_eq!(again(&goldsrc), goldsrc);

    let players = {
        let mut list = a2s_query::Players::new(vec![Player::new("a".to_string(), 5, 1.5).with_ship(2, 100), {
            let mut player = Player::new("b".to_string(), -1, 0.25).with_ship(0, 0);
            player.index = 1;
            player
        }]);
        list.count = 3;
        list.ship_layout = Some(a2s_query::proto::ShipLayout::Trailing);
        list.truncated = true;
        list
    };
    assert_eq!(again(&players), players);
    let plain_player = Player::new("c".to_string(), 1, 2.0);
    assert_eq!(again(&plain_player), plain_player);

    let rules: Rules = [("sv_gravity", "800"), ("mp_timelimit", "30"), ("empty", "")].into_iter().collect();
    let back = again(&rules);
    assert_eq!(Vec::from(&back), Vec::from(&rules), "the pairs, in order");
    assert_eq!(back.get("sv_gravity"), Some("800"));
    // Raw bytes round-trip too.
    let raw: Info<Vec<u8>> = Info::Source({
        let mut info = SourceInfo::empty();
        info.server_name = vec![0xFF, 0x00, b'a'];
        info
    });
    assert_eq!(again(&raw), raw);
    // A wrong document is an error, not a guess.
    assert!(serde_json::from_str::<Info>(r#"{"kind":"source","server_name":"x"}"#).is_err());
    assert!(serde_json::from_str::<Info>(r#"{"kind":"other"}"#).is_err());
}
