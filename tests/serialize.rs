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
    SourceInfo {
        protocol: 17,
        server_name: "srv".into(),
        map_name: "de_dust2".into(),
        folder: "csgo".into(),
        game: "CS".into(),
        app_id: 730,
        player_count: 3,
        max_players: 10,
        bot_count: 1,
        server_type: ServerType::Dedicated,
        platform: Platform::Linux,
        password_protected: false,
        vac_enabled: true,
        the_ship: None,
        version: "1.0".into(),
        edf: 0xF1,
        port: Some(27015),
        steam_id: Some(9),
        stv_port: None,
        stv_name: None,
        keywords: Some("k".into()),
        game_id: Some(730),
        ping: Duration::from_millis(250),
    }
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
    let ship = SourceInfo { the_ship: Some(TheShip { mode: 1, witnesses: 2, duration: 3 }), ..source() };
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
    let g: GoldSrcInfo = GoldSrcInfo {
        address: "1.2.3.4:27015".into(),
        server_name: "hl".into(),
        map_name: "crossfire".into(),
        folder: "valve".into(),
        game: "HL".into(),
        player_count: 1,
        max_players: 8,
        protocol: 47,
        server_type: ServerType::Dedicated,
        platform: Platform::Windows,
        password_protected: true,
        is_mod: true,
        mod_website: Some("w".into()),
        mod_download: None,
        mod_version: Some(1),
        mod_size: Some(2),
        multiplayer_only: Some(true),
        uses_custom_dll: Some(false),
        vac_enabled: false,
        bot_count: 0,
        ping: Duration::from_millis(500),
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
    let plain = Player { index: 0, name: "a".to_string(), score: -1, duration: 1.5, deaths: None, money: None };
    assert_eq!(to_value(&plain).unwrap(), json!({"index": 0, "name": "a", "score": -1, "duration": 1.5}));
    let ship = Player { deaths: Some(2), money: Some(300), ..plain };
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
    let ship = Info::Source(SourceInfo {
        the_ship: Some(TheShip { mode: 1, witnesses: 2, duration: 3 }),
        server_type: ServerType::Other(b'x'),
        platform: Platform::Mac,
        ping: Duration::from_micros(12_345),
        ..source()
    });
    assert_eq!(again(&ship), ship);
    assert_eq!(again(&ship).ping(), Duration::from_micros(12_345));
    let goldsrc = Info::GoldSrc(GoldSrcInfo::<String> {
        address: "10.0.0.1:27015".into(),
        server_name: "old".into(),
        is_mod: true,
        mod_website: Some("www.example.com".into()),
        mod_size: Some(184_000_000),
        server_type: ServerType::SourceTv,
        platform: Platform::Windows,
        ..GoldSrcInfo::default()
    });
    assert_eq!(again(&goldsrc), goldsrc);

    let players = a2s_query::Players::<String> {
        count: 3,
        players: vec![
            Player { index: 0, name: "a".into(), score: 5, duration: 1.5, deaths: Some(2), money: Some(100) },
            Player { index: 1, name: "b".into(), score: -1, duration: 0.25, deaths: Some(0), money: Some(0) },
        ],
        ship_layout: Some(a2s_query::proto::ShipLayout::Trailing),
        truncated: true,
    };
    assert_eq!(again(&players), players);
    let plain_player = Player { index: 0, name: "c".to_string(), score: 1, duration: 2.0, deaths: None, money: None };
    assert_eq!(again(&plain_player), plain_player);

    let rules: Rules = [("sv_gravity", "800"), ("mp_timelimit", "30"), ("empty", "")].into_iter().collect();
    let back = again(&rules);
    assert_eq!(back.to_vec(), rules.to_vec(), "the pairs, in order");
    assert_eq!(back.get("sv_gravity"), Some("800"));
    // Raw bytes round-trip too.
    let raw: Info<Vec<u8>> = Info::Source(SourceInfo { server_name: vec![0xFF, 0x00, b'a'], ..SourceInfo::empty() });
    assert_eq!(again(&raw), raw);
    // A wrong document is an error, not a guess.
    assert!(serde_json::from_str::<Info>(r#"{"kind":"source","server_name":"x"}"#).is_err());
    assert!(serde_json::from_str::<Info>(r#"{"kind":"other"}"#).is_err());
}
