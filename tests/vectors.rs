//! Every real server capture in the shared vectors folder, reassembled, parsed and
//! compared field by field with its `expected.json`.
//!
//! The captures are third-party data and are read in place: `A2S_VECTORS` names the
//! folder (default `../shared/vectors` beside this crate). Without it the tests say so
//! and pass, unless `A2S_VECTORS_REQUIRED=1`, which makes a missing folder or a short
//! corpus fail. Further folders in `A2S_VECTORS` (a list, as `PATH` is) hold cases of
//! your own, such as `a2s --record` writes: each is checked the same way.

mod common;

use a2s_query::proto::{Datagram, GoldSrcInfo, Info, Message, Players, Reassembler, Rules, SourceInfo};
use a2s_query::{Encoding, Raw};
use serde_json::{json, Map, Value};

/// Cases the corpus README lists.
const EXPECTED_CASES: usize = 26;

struct Case {
    meta: Value,
    packets: Vec<Vec<u8>>,
}

fn load(name: &str) -> Option<Case> {
    Some(load_from(&common::vectors_dir()?, name))
}

fn load_from(root: &std::path::Path, name: &str) -> Case {
    let dir = root.join(name);
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let count = meta["packet_count"].as_u64().unwrap() as usize;
    let packets = (0..count).map(|i| std::fs::read(dir.join(format!("packet-{i}.bin"))).unwrap()).collect();
    Case { meta, packets }
}

/// The reply's bytes from its datagrams, in arrival order and, for splits, reversed too.
fn reassemble(case: &Case) -> Vec<u8> {
    let whole = |order: &mut dyn Iterator<Item = &Vec<u8>>| -> Vec<u8> {
        let mut r = Reassembler::new(Default::default());
        let mut done = None;
        for p in order {
            match Datagram::classify(p).unwrap() {
                Datagram::Single(_) => done = Some(p.clone()),
                Datagram::Split(f) => {
                    if let Some(w) = r.push(f).unwrap() {
                        assert!(done.is_none(), "reply completed twice");
                        done = Some(w.to_vec());
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        done.expect("reply never completed")
    };
    let forward = whole(&mut case.packets.iter());
    assert_eq!(case.meta["split"].as_bool().unwrap(), case.packets.len() > 1);
    if case.packets.len() > 1 {
        assert_eq!(whole(&mut case.packets.iter().rev()), forward, "reversed fragments");
    }
    forward
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

fn ch(b: u8) -> Value {
    Value::String(char::from(b).to_string())
}

fn source_fields(i: &SourceInfo) -> Map<String, Value> {
    let ship = i.the_ship;
    let v = json!({
        "protocol": i.protocol, "server_name": i.server_name, "map_name": i.map_name,
        "folder": i.folder, "game": i.game, "app_id": i.app_id,
        "player_count": i.player_count, "max_players": i.max_players, "bot_count": i.bot_count,
        "server_type": ch(i.server_type.into()), "platform": ch(i.platform.into()),
        "password_protected": i.password_protected, "vac_enabled": i.vac_enabled,
        "version": i.version, "edf": i.edf,
        "port": opt(i.port), "steam_id": opt(i.steam_id), "stv_port": opt(i.stv_port),
        "stv_name": opt(i.stv_name.clone()), "keywords": opt(i.keywords.clone()), "game_id": opt(i.game_id),
        "ship_mode": opt(ship.map(|s| s.mode)), "ship_witnesses": opt(ship.map(|s| s.witnesses)),
        "ship_duration": opt(ship.map(|s| s.duration)),
    });
    v.as_object().unwrap().clone()
}

fn goldsrc_fields(i: &GoldSrcInfo) -> Map<String, Value> {
    let v = json!({
        "address": i.address, "server_name": i.server_name, "map_name": i.map_name, "folder": i.folder,
        "game": i.game, "player_count": i.player_count, "max_players": i.max_players,
        "protocol": i.protocol, "server_type": ch(i.server_type.into()),
        "platform": ch(i.platform.into()), "password_protected": i.password_protected,
        "is_mod": i.is_mod, "vac_enabled": i.vac_enabled, "bot_count": i.bot_count,
        "mod": if i.mod_website.is_some() { json!({
            "link": i.mod_website, "download_link": i.mod_download, "version": i.mod_version,
            "size": i.mod_size, "type": i.multiplayer_only.map(u8::from), "dll": i.uses_custom_dll.map(u8::from),
            "server_side": i.multiplayer_only, "custom_dll": i.uses_custom_dll,
        }) } else { Value::Null },
    });
    v.as_object().unwrap().clone()
}

/// Compares every expected field; with a complete expectation, an optional field the
/// expectation leaves out must be absent from the parse too.
fn compare(name: &str, got: &Map<String, Value>, expected: &Map<String, Value>, complete: bool, optional: &[&str]) {
    for (k, want) in expected {
        let have = got.get(k).unwrap_or_else(|| panic!("{name}: no field {k}"));
        match (k.as_str(), want, have) {
            ("platform", Value::String(w), Value::String(h)) => {
                // The old Mac byte 'o' reads as Mac ('m'), as python-a2s does.
                let w = if w == "o" { "m" } else { w };
                assert_eq!(w, h, "{name}: platform");
            }
            ("mod", Value::Object(w), Value::Object(h)) => {
                for (mk, mv) in w {
                    assert_eq!(Some(mv), h.get(mk), "{name}: mod.{mk}");
                }
            }
            _ => assert_eq!(want, have, "{name}: {k}"),
        }
    }
    if complete {
        for k in optional {
            if !expected.contains_key(*k) {
                assert_eq!(got.get(*k), Some(&Value::Null), "{name}: {k} should be absent");
            }
        }
    }
}

fn check_info(name: &str, case: &Case, payload: &[u8]) {
    let message = Message::from_reassembled(payload).unwrap();
    let expected = case.meta["expected"].as_object().unwrap();
    let complete = case.meta["expected_complete"].as_bool().unwrap();
    let info = Info::parse(message, Encoding::Utf8).unwrap();
    match (case.meta["kind"].as_str().unwrap(), &info) {
        ("info_source", Info::Source(i)) => {
            let optional = [
                "port",
                "steam_id",
                "stv_port",
                "stv_name",
                "keywords",
                "game_id",
                "ship_mode",
                "ship_witnesses",
                "ship_duration",
            ];
            compare(name, &source_fields(i), expected, complete, &optional);
        }
        ("info_goldsrc", Info::GoldSrc(i)) => compare(name, &goldsrc_fields(i), expected, complete, &["mod"]),
        (kind, other) => panic!("{name}: {kind} parsed as {other:?}"),
    }
    // Real replies round-trip through the encoder, bytes kept as sent.
    let raw = Info::parse(message, Raw).unwrap();
    let mut again = Vec::new();
    raw.encode(&mut again).unwrap();
    let back = Info::parse(Message::from_reassembled(&again).unwrap(), Raw).unwrap();
    assert_eq!(back, raw, "{name}: re-encoded info differs");
}

fn check_players(name: &str, case: &Case, payload: &[u8]) {
    let message = Message::from_reassembled(payload).unwrap();
    assert_eq!(message.kind, 0x44);
    let list = Players::parse(message.body, Encoding::Utf8).unwrap();
    let expected = &case.meta["expected"];
    assert_eq!(u64::from(list.count), expected["player_count"].as_u64().unwrap(), "{name}: count");
    assert!(!list.truncated, "{name}: truncated");
    let want = expected["players"].as_array().unwrap();
    assert_eq!(list.entries.len(), want.len(), "{name}: number of players");
    let truncate = case.meta["duration_precision"].as_str() == Some("int_truncated");
    for (i, (p, w)) in list.entries.iter().zip(want).enumerate() {
        assert_eq!(u64::from(p.index), w["index"].as_u64().unwrap(), "{name}: player {i} index");
        assert_eq!(p.name, w["name"].as_str().unwrap(), "{name}: player {i} name");
        assert_eq!(i64::from(p.score), w["score"].as_i64().unwrap(), "{name}: player {i} score");
        let d = w["duration"].as_f64().unwrap();
        if truncate {
            assert_eq!(p.duration.trunc() as i64, d as i64, "{name}: player {i} duration");
        } else {
            assert_eq!(p.duration, d as f32, "{name}: player {i} duration");
        }
    }
    let raw = Players::parse(message.body, Raw).unwrap();
    let mut again = Vec::new();
    a2s_query::proto::encode_players(&raw.entries, a2s_query::proto::ShipLayout::Trailing, &mut again).unwrap();
    let back = Players::parse(Message::from_reassembled(&again).unwrap().body, Raw).unwrap();
    assert_eq!(back.entries, raw.entries, "{name}: re-encoded players differ");
}

fn pair(v: &Value) -> (String, String) {
    let a = v.as_array().unwrap();
    (a[0].as_str().unwrap().to_owned(), a[1].as_str().unwrap().to_owned())
}

fn check_rules(name: &str, case: &Case, payload: &[u8]) {
    let message = Message::from_reassembled(payload).unwrap();
    assert_eq!(message.kind, 0x45);
    let rules = Rules::parse(message.body, Encoding::Utf8).unwrap();
    let expected = &case.meta["expected"];
    assert!(!rules.truncated, "{name}: truncated");
    assert_eq!(rules.len(), usize::from(rules.count), "{name}: count vs pairs");
    if let Some(n) = expected.get("rule_count") {
        assert_eq!(u64::from(rules.count), n.as_u64().unwrap(), "{name}: rule count");
    }
    if let Some(map) = expected.get("rules").and_then(Value::as_object) {
        let got: Map<String, Value> = rules.iter().map(|(n, v)| (n.to_owned(), Value::String(v.to_owned()))).collect();
        assert_eq!(&got, map, "{name}: rules");
    }
    if let Some(ordered) = expected.get("rules_ordered").and_then(Value::as_array) {
        let want: Vec<_> = ordered.iter().map(pair).collect();
        assert_eq!(Vec::from(&rules), want, "{name}: rule order");
    }
    if let Some(first) = expected.get("first_rule") {
        assert_eq!(Vec::from(&rules).first(), Some(&pair(first)), "{name}: first rule");
    }
    if let Some(last) = expected.get("last_rule") {
        assert_eq!(rules.iter().next_back(), Some((&*pair(last).0, &*pair(last).1)), "{name}: last rule");
    }
    if let Some(subset) = expected.get("rules_subset").and_then(Value::as_object) {
        for (k, v) in subset {
            assert_eq!(rules.get(k), v.as_str(), "{name}: rule {k}");
        }
    }
    let raw = Rules::parse(message.body, Raw).unwrap();
    let mut again = Vec::new();
    raw.encode(&mut again).unwrap();
    assert_eq!(again, payload, "{name}: re-encoded rules differ from the capture");
}

fn run(name: &str) {
    let Some(case) = load(name) else { return };
    check(name, &case);
}

fn check(name: &str, case: &Case) {
    let payload = reassemble(case);
    match case.meta["kind"].as_str().unwrap() {
        "info_source" | "info_goldsrc" => check_info(name, case, &payload),
        "players" => check_players(name, case, &payload),
        "rules" => check_rules(name, case, &payload),
        other => panic!("{name}: unknown kind {other}"),
    }
}

macro_rules! vector_cases {
    ($($test:ident => $dir:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run($dir);
            }
        )*

        const CASES: &[&str] = &[$($dir),*];
    };
}

vector_cases! {
    elixir_a2s_gmod_player => "elixir-a2s/gmod-player",
    elixir_a2s_gmod_rules => "elixir-a2s/gmod-rules",
    elixir_a2s_hll_info => "elixir-a2s/hll-info",
    elixir_a2s_squad_info => "elixir-a2s/squad-info",
    elixir_a2s_valheim_info => "elixir-a2s/valheim-info",
    elixir_a2s_valheim_player => "elixir-a2s/valheim-player",
    libssq_info_css_wiki => "libssq/info-css-wiki",
    libssq_info_rag_doll_kung_fu_wiki => "libssq/info-rag-doll-kung-fu-wiki",
    libssq_info_sin1_wiki => "libssq/info-sin1-wiki",
    libssq_info_tf2_skial => "libssq/info-tf2-skial",
    libssq_info_the_ship_wiki => "libssq/info-the-ship-wiki",
    libssq_players_wiki_example => "libssq/players-wiki-example",
    libssq_rules_tf2_wiki_split => "libssq/rules-tf2-wiki-split",
    little_a2s_info_arma3 => "little-a2s/info-arma3",
    little_a2s_info_goldsrc_cs16_verygames => "little-a2s/info-goldsrc-cs16-verygames",
    little_a2s_info_project_zomboid => "little-a2s/info-project-zomboid",
    little_a2s_players_empty => "little-a2s/players-empty",
    little_a2s_rules_project_zomboid => "little-a2s/rules-project-zomboid",
    php_source_query_info_csgo => "php-source-query/info-csgo",
    php_source_query_info_gmod_cyrillic => "php-source-query/info-gmod-cyrillic",
    php_source_query_info_hltv => "php-source-query/info-hltv",
    php_source_query_info_svencoop_nonsteam => "php-source-query/info-svencoop-nonsteam",
    php_source_query_info_tf2 => "php-source-query/info-tf2",
    php_source_query_info_theship => "php-source-query/info-theship",
    php_source_query_players_csgo_split => "php-source-query/players-csgo-split",
    php_source_query_rules_tf2_sourcemod_split => "php-source-query/rules-tf2-sourcemod-split",
}

/// Every case on disk has a named test above, and the corpus is whole.
#[test]
fn corpus_is_complete_and_every_case_is_named() {
    let Some(dir) = common::vectors_dir() else { return };
    let on_disk = common::case_names(&dir);
    let mut named: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    named.sort();
    assert_eq!(on_disk, named, "cases on disk vs named tests");
    assert!(on_disk.len() >= EXPECTED_CASES, "only {} cases in {}", on_disk.len(), dir.display());
}

/// Cases in further folders of `A2S_VECTORS` (recordings of your own): each checked as
/// the corpus's are.
#[test]
fn cases_of_further_folders() {
    for dir in common::vectors_dirs().into_iter().skip(1) {
        let names = common::case_names(&dir);
        assert!(!names.is_empty(), "no case in {}", dir.display());
        for name in names {
            check(&format!("{}/{name}", dir.display()), &load_from(&dir, &name));
        }
    }
}

/// What `a2s all ADDR --record DIR` writes is a case this test reads: a server with a
/// split rules reply recorded, and each of its three queries checked.
#[test]
fn a_recording_is_a_case() {
    // (Cargo names the binary even when a run without the cli feature did not build it.)
    let Some(a2s) = option_env!("CARGO_BIN_EXE_a2s").filter(|path| std::path::Path::new(path).is_file()) else {
        eprintln!("SKIPPED: the a2s command is built with the cli feature");
        return;
    };
    let mut info = SourceInfo::default();
    (info.server_name, info.map_name, info.keywords) = ("recorded".into(), "cp_dustbowl".into(), Some("a,b".into()));
    let rules: Vec<(String, String)> = (0..150).map(|i| (format!("rule_{i:03}"), format!("value {i}"))).collect();
    let players = vec![a2s_query::Player::new("alice".to_string(), 4, 30.5)];
    let server = a2s_query::server::Responder::new(Info::Source(info), players, rules).spawn("127.0.0.1:0").unwrap();
    let dir = std::env::temp_dir().join(format!("a2s-recorded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = std::process::Command::new(a2s)
        .args(["all", &server.local_addr().to_string(), "--record"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names = common::case_names(&dir);
    assert_eq!(names.iter().map(|n| n.rsplit('/').next().unwrap()).collect::<Vec<_>>(), ["info", "players", "rules"]);
    for name in &names {
        let case = load_from(&dir, name);
        check(name, &case);
        assert_eq!(case.meta["expected_complete"], true, "{name}");
    }
    let rules = load_from(&dir, &names[2]);
    assert!(rules.packets.len() > 1 && rules.meta["split"] == true, "the rules came split");
    assert_eq!(rules.meta["expected"]["rules_ordered"][149], json!(["rule_149", "value 149"]));
    std::fs::remove_dir_all(&dir).unwrap();
}
