//! The `query` example keeps its command-line contract: JSON shape, text output, exit
//! codes. It runs against the crate's responder on 127.0.0.1.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use a2s_query::proto::{GoldSrcInfo, SourceInfo, TheShip};
use a2s_query::server::{Responder, RunningServer};
use a2s_query::{Info, Player};
use serde_json::Value;

const SOURCE_KEYS: &[&str] = &[
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

const GOLDSRC_KEYS: &[&str] = &[
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

/// The built example: `cargo test` builds every example before running tests; a run of
/// this file alone (`cargo test --test cli`) builds it here if it is not there yet.
fn query_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join(format!("query{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "query"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

fn run(args: &[&str]) -> Output {
    Command::new(query_bin()).args(args).output().unwrap()
}

fn players() -> Vec<Player> {
    vec![
        Player { index: 0, name: "alice".into(), score: 7, duration: 61.5, deaths: None, money: None },
        Player { index: 0, name: "bob".into(), score: -2, duration: 5.0, deaths: None, money: None },
    ]
}

fn source_server() -> RunningServer {
    let info = SourceInfo {
        protocol: 17,
        server_name: "cli test".into(),
        map_name: "ctf_2fort".into(),
        folder: "tf".into(),
        game: "Team Fortress".into(),
        app_id: 440,
        player_count: 2,
        max_players: 24,
        version: "1.2.3".into(),
        port: Some(27016),
        steam_id: Some(90_178_123_456_789_012),
        keywords: Some("ctf".into()),
        game_id: Some(440),
        ..Default::default()
    };
    let rules = vec![("mp_timelimit".into(), "30".into()), ("sv_tags".into(), "ctf".into())];
    Responder::new(Info::Source(info), players(), rules).spawn("127.0.0.1:0").unwrap()
}

/// The JSON document of a successful run.
fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    json_doc(out)
}

/// The JSON document on stdout, whatever the exit status.
fn json_doc(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted(k: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

#[test]
fn info_json_has_python_a2s_fields() {
    let server = source_server();
    let v = json_of(&run(&["info", &server.local_addr().to_string(), "--json"]));
    assert_eq!(keys(&v), sorted(SOURCE_KEYS));
    assert_eq!(v["kind"], "source");
    assert_eq!(v["server_name"], "cli test");
    assert_eq!(v["server_type"], "d");
    assert_eq!(v["steam_id"].as_u64(), Some(90_178_123_456_789_012));
    assert_eq!(v["stv_port"], Value::Null);
    assert_eq!(v["keywords"], "ctf");
    let ping = v["ping"].as_f64().unwrap();
    assert!(ping > 0.0 && ping < 1.0, "ping in seconds: {ping}");
}

#[test]
fn goldsrc_info_json() {
    let info = GoldSrcInfo { server_name: "hltv".into(), address: "10.0.0.1:27020".into(), ..Default::default() };
    let mut responder = Responder::new(Info::GoldSrc(info), vec![], vec![]);
    responder.require_challenge = false;
    let server = responder.spawn("127.0.0.1:0").unwrap();
    let v = json_of(&run(&["info", &server.local_addr().to_string(), "--json"]));
    assert_eq!(keys(&v), sorted(GOLDSRC_KEYS));
    assert_eq!(v["kind"], "goldsrc");
    assert_eq!(v["mod_website"], Value::Null);
    assert_eq!(v["is_mod"], false);
}

#[test]
fn the_ship_players_carry_deaths_and_money() {
    let info = SourceInfo {
        app_id: 2400,
        the_ship: Some(TheShip { mode: 0, witnesses: 2, duration: 5 }),
        ..Default::default()
    };
    let ship: Vec<Player> = players().into_iter().map(|p| Player { deaths: Some(3), money: Some(250), ..p }).collect();
    let server = Responder::new(Info::Source(info), ship, vec![]).spawn("127.0.0.1:0").unwrap();
    let v = json_of(&run(&["players", &server.local_addr().to_string(), "--json"]));
    assert_eq!(keys(&v[0]), sorted(&["index", "name", "score", "duration", "deaths", "money"]));
    assert_eq!(v[0]["money"], 250);
}

#[test]
fn all_json_holds_the_three_answers() {
    let server = source_server();
    let v = json_of(&run(&["all", &server.local_addr().to_string(), "--json", "--timeout", "2", "--retries", "1"]));
    assert_eq!(keys(&v), sorted(&["info", "players", "rules"]));
    assert_eq!(keys(&v["info"]), sorted(SOURCE_KEYS));
    let p = v["players"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(keys(&p[0]), sorted(&["index", "name", "score", "duration"]));
    assert_eq!(p[1]["name"], "bob");
    assert_eq!(p[1]["score"], -2);
    assert_eq!(p[0]["duration"], 61.5);
    assert_eq!(v["rules"], serde_json::json!({"mp_timelimit": "30", "sv_tags": "ctf"}));
}

#[test]
fn all_keeps_what_it_got_when_rules_never_come() {
    let mut responder = Responder::new(Info::Source(SourceInfo::default()), players(), vec![]);
    responder.answer_rules = false;
    let server = responder.spawn("127.0.0.1:0").unwrap();
    let addr = server.local_addr().to_string();

    let out = run(&["all", &addr, "--json", "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json_doc(&out);
    assert_eq!(keys(&v), sorted(&["info", "players", "rules"]));
    assert_eq!(v["info"]["kind"], "source");
    assert_eq!(v["players"][1]["name"], "bob");
    assert_eq!(v["rules"], Value::Null);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().collect::<Vec<_>>(), [format!("query: {addr}: rules: no reply within 1s")]);

    let text = run(&["all", &addr, "--timeout", "1"]);
    assert_eq!(text.status.code(), Some(1));
    let shown = String::from_utf8(text.stdout).unwrap();
    assert!(shown.contains("2 players") && shown.contains("bob"), "{shown}");
    assert!(!shown.contains("rules"), "{shown}");
}

#[test]
fn text_output_by_default() {
    let server = source_server();
    let out = run(&["players", &server.local_addr().to_string(), "--encoding", "latin1"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("2 players\n"), "{text}");
    assert!(text.contains("alice") && text.contains("bob"), "{text}");
}

#[test]
fn failure_is_one_line_and_exit_1() {
    // A port nobody answers on: silence until the timeout.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = run(&["rules", &addr, "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no reply within 300ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn bad_arguments_print_usage_and_exit_2() {
    let bad: [&[&str]; 9] = [
        &[],
        &["info"],
        &["ping", "127.0.0.1:1"],
        &["info", "127.0.0.1:1", "--encoding", "ebcdic"],
        &["info", "127.0.0.1:1", "--timeout"],
        &["info", "127.0.0.1:1", "--timeout", "-1"],
        &["info", "127.0.0.1:1", "--timeout", "soon"],
        &["info", "127.0.0.1:1", "--retries", "300"],
        &["info", "127.0.0.1:1", "--frobnicate"],
    ];
    for args in bad {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("usage: query"), "{err}");
    }
}

#[test]
fn every_option_is_taken_together() {
    let server = source_server();
    let addr = server.local_addr().to_string();
    let out = run(&["info", &addr, "--json", "--timeout", "1.5", "--retries", "2", "--encoding", "raw"]);
    let v = json_of(&out);
    // Raw strings are the bytes as sent: arrays of numbers.
    let name: Vec<u8> = v["server_name"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
    assert_eq!(name, b"cli test");
    for encoding in ["utf8", "utf8-strict", "latin1", "windows-1251", "gbk"] {
        let out = run(&["info", &addr, "--json", "--encoding", encoding]);
        assert_eq!(json_of(&out)["server_name"], "cli test", "{encoding}");
    }
}
