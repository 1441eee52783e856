//! The `a2s` command, run as a process: its JSON shape (python-a2s's field names), text
//! output, lists of servers in JSON Lines, exit statuses, a closed pipe. It runs
//! against the crate's responders on 127.0.0.1.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, SocketAddrV4};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;

use a2s_query::proto::{GoldSrcInfo, SourceInfo, TheShip};
use a2s_query::server::{FakeMaster, FakeWebApi, Farm, Fault, RateLimit, Responder, Running};
use a2s_query::web_api::{ServerAtAddress, ServerSummary};
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

/// The `a2s` binary, built by `cargo test` (the self dev-dependency turns the `cli`
/// feature on).
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_a2s")).args(args).output().unwrap()
}

/// A run with `input` on standard input (written on a thread of its own: a child
/// that writes much while it reads must not wait on us, nor we on it).
fn run_with_input(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_a2s"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    // (A child that ends without reading it all closes the pipe: not our concern.)
    let writer = std::thread::spawn(move || drop(stdin.write_all(input.as_bytes())));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn players() -> Vec<Player> {
    vec![Player::new("alice".to_string(), 7, 61.5), Player::new("bob".to_string(), -2, 5.0)]
}

fn source_server() -> Running {
    let mut info = SourceInfo::default();
    info.protocol = 17;
    info.server_name = "cli test".into();
    info.map_name = "ctf_2fort".into();
    info.folder = "tf".into();
    info.game = "Team Fortress".into();
    info.app_id = 440;
    info.player_count = 2;
    info.max_players = 24;
    info.version = "1.2.3".into();
    info.port = Some(27016);
    info.steam_id = Some(90_178_123_456_789_012);
    info.keywords = Some("ctf".into());
    info.game_id = Some(440);
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
    let mut info = GoldSrcInfo::default();
    info.server_name = "hltv".into();
    info.address = "10.0.0.1:27020".into();
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
    let mut info = SourceInfo::default();
    info.app_id = 2400;
    info.the_ship = Some(TheShip { mode: 0, witnesses: 2, duration: 5 });
    let ship: Vec<Player> = players().into_iter().map(|p| p.with_ship(3, 250)).collect();
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

    let out = run(&["all", &addr, "--json", "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json_doc(&out);
    assert_eq!(keys(&v), sorted(&["info", "players", "rules", "error"]));
    assert_eq!(v["info"]["kind"], "source");
    assert_eq!(v["players"][1]["name"], "bob");
    assert_eq!(v["rules"], Value::Null);
    assert_eq!(v["error"], "rules: no reply within 3s", "which part failed, and why");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().collect::<Vec<_>>(), [format!("a2s: {addr}: rules: no reply within 3s")]);

    let text = run(&["all", &addr, "--timeout", "3"]);
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
    // A table: the time as minutes and seconds.
    assert!(text.lines().any(|l| l.contains("alice") && l.contains("1m 01s")), "{text}");
    assert!(text.contains("alice") && text.contains("bob"), "{text}");
}

#[test]
fn failure_is_short_and_exit_1() {
    // A port nobody answers on: silence until the timeout.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = run(&["rules", &addr, "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 2, "the error and the ports hint: {err}");
    assert!(err.contains("no reply within 300ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn bad_arguments_print_usage_and_exit_2() {
    let bad: [&[&str]; 10] = [
        &[],
        &["info"],
        &["ping", "127.0.0.1:1"],
        &["info", "127.0.0.1:1", "--encoding", "ebcdic"],
        &["info", "127.0.0.1:1", "--timeout"],
        &["info", "127.0.0.1:1", "--timeout", "-1"],
        &["info", "127.0.0.1:1", "--timeout", "soon"],
        &["info", "127.0.0.1:1", "--retries", "300"],
        &["info", "127.0.0.1:1", "--frobnicate"],
        &["info", "127.0.0.1:1", "--timeout", "0"],
    ];
    for args in bad {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        if args.is_empty() {
            // No command: the list of commands, on standard error.
            assert!(err.contains("Usage: a2s <COMMAND>") && err.contains("players"), "{err}");
            continue;
        }
        // clap's message: what is wrong, then where to look.
        assert!(err.starts_with("error: ") && err.contains("--help"), "{args:?}: {err}");
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

/// A server that sends Windows-1251 and Shift_JIS bytes, as many old Russian and
/// Japanese servers do: `--encoding` with a WHATWG label decodes them.
#[test]
fn encoding_labels_decode_a_servers_code_page() {
    let mut state = SourceInfo::empty();
    // "Привет" in Windows-1251; the map, "マップ" in Shift_JIS.
    state.server_name = vec![0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2];
    state.map_name = vec![0x83, 0x7D, 0x83, 0x62, 0x83, 0x76];
    let server = Responder::new(Info::Source(state), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let addr = server.local_addr().to_string();
    let info = |encoding: &str| json_of(&run(&["info", &addr, "--json", "--encoding", encoding]));
    assert_eq!(info("windows-1251")["server_name"], "Привет");
    assert_eq!(info("cp1251")["server_name"], "Привет");
    assert_eq!(info("shift_jis")["map_name"], "マップ");
    // Read as UTF-8, the same bytes are not the name.
    assert_ne!(info("utf8")["server_name"], "Привет");
}

#[test]
fn help_shows_every_default_and_examples() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        for part in
            ["Usage: a2s <COMMAND>", "info", "players", "rules", "all", "list", "ports", "Examples:", "a2s info "]
        {
            assert!(text.contains(part), "{args:?}: {part} missing in {text}");
        }
        // The commands' options are on their own pages.
        assert!(!text.contains("--max-in-flight <N>") && !text.contains("--master <HOST:PORT>"), "{text}");
    }
    // Each command's page has its options, their defaults and examples; `a2s help
    // COMMAND` is the same page as `a2s COMMAND --help`.
    let pages: [(&str, &[&str], &[&str]); 7] = [
        (
            "info",
            &[
                "--file",
                "--json",
                "[default: 3]",
                "[default: 0]",
                "[default: utf8]",
                "[default: 512]",
                "[default: 2000]",
            ],
            &["--master", "--arma"],
        ),
        ("rules", &["--arma", "--encoding", "a2s rules "], &["--key"]),
        (
            "list",
            &["--key", "--master", "--filter", "--region", "--limit", "--pace", "a2s list "],
            &["--encoding", "--arma", "--api-url"],
        ),
        ("ports", &["--timeout", "--json", "a2s ports "], &["--retries", "--encoding", "--file"]),
        ("serve", &["--listen", "a2s serve"], &["--timeout", "--file <FILE>", "--retries"]),
        ("doctor", &["--timeout", "--json", "a2s doctor "], &["--retries", "--file", "--api-url"]),
        ("replay", &["--listen", "a2s replay "], &["--timeout", "--json"]),
    ];
    for (command, has, lacks) in pages {
        let page = String::from_utf8(run(&[command, "--help"]).stdout).unwrap();
        assert_eq!(String::from_utf8(run(&["help", command]).stdout).unwrap(), page);
        assert!(page.contains(&format!("Usage: a2s {command}")) && page.contains("Examples:"), "{page}");
        for part in has {
            assert!(page.contains(part), "{command}: {part} missing in {page}");
        }
        for part in lacks {
            assert!(!page.contains(part), "{command}: {part} should not be in {page}");
        }
    }
    let version = run(&["--version"]);
    assert_eq!(String::from_utf8(version.stdout).unwrap().trim(), format!("a2s {}", env!("CARGO_PKG_VERSION")));
}

/// Options before the query, after the address, and in `--opt=value` form: the same
/// document.
#[test]
fn options_anywhere_and_in_equals_form() {
    let server = source_server();
    let addr = server.local_addr().to_string();
    let forms: [&[&str]; 3] = [
        &["info", &addr, "--json", "--timeout", "2", "--retries", "2"],
        &["info", "--json", "--timeout=2", "--retries=2", &addr],
        &["info", "--retries", "2", "--json", &addr, "--timeout=2"],
    ];
    for args in forms {
        let v = json_of(&run(args));
        assert_eq!(v["server_name"], "cli test", "{args:?}");
        assert_eq!(keys(&v), sorted(SOURCE_KEYS));
    }
    // A command's options follow it.
    let out = run(&["--json", "info", &addr]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--json"));
    let out = run(&["info", &addr, "--encoding=ebcdic"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("ebcdic") && err.contains("utf8") && err.contains("latin1"),
        "names the value and the allowed: {err}"
    );
}

/// A farm of servers, some silent: (farm, index of each address).
fn farm(n: usize) -> (a2s_query::server::Running<Farm>, HashMap<String, usize>) {
    let farm = Farm::new()
        .spawn_loopback(n, |i| {
            let mut info = SourceInfo::default();
            info.server_name = format!("farm {i}");
            info.player_count = i as u8;
            let players = vec![Player::new(format!("p{i}"), 1, 2.0)];
            let rules = vec![("index".to_string(), i.to_string())];
            let fault = if i % 7 == 3 { Fault::Silent } else { Fault::None };
            (Responder::new(Info::Source(info), players, rules), fault)
        })
        .unwrap();
    let index = farm.addrs().iter().enumerate().map(|(i, a)| (a.to_string(), i)).collect();
    (farm, index)
}

/// JSON Lines from a list on standard input with a comment, a blank and a bad line:
/// every listed server once, each with its own answer or its error.
#[test]
fn a_list_on_stdin_gives_one_json_line_per_server() {
    let (farm, index) = farm(30);
    let mut list: Vec<String> = farm.addrs().iter().map(SocketAddr::to_string).collect();
    list.insert(0, "# my servers".into());
    list.insert(5, String::new());
    list.insert(9, "not-an-address".into());
    let out =
        run_with_input(&["info", "-f", "-", "--json", "--timeout", "3", "--rate", "0"], &(list.join("\n") + "\n"));
    assert_eq!(out.status.code(), Some(1), "silent servers and a bad line");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut seen = HashMap::new();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let addr = v["address"].as_str().unwrap().to_string();
        if addr == "not-an-address" {
            assert!(v["error"].as_str().unwrap().contains("no port; write not-an-address:PORT"), "{line}");
            continue;
        }
        let i = index[&addr];
        *seen.entry(addr).or_insert(0) += 1;
        if i % 7 == 3 {
            assert!(v["error"].as_str().unwrap().contains("no reply"), "{line}");
            assert_eq!(keys(&v), sorted(&["address", "error"]));
        } else {
            assert_eq!(keys(&v), sorted(&["address", "info"]));
            assert_eq!(v["info"]["server_name"], format!("farm {i}"));
            assert_eq!(v["info"]["player_count"], i);
        }
    }
    assert_eq!(seen.len(), 30);
    assert!(seen.values().all(|&n| n == 1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("stdin:10: not-an-address: "), "the bad line with its number: {err}");
    assert!(err.contains("a2s: 31 servers in") && err.contains("26 answered, 4 timed out, 1 failed"), "summary: {err}");
    assert!(stdout.contains("\"address\":\"not-an-address\""), "the bad line has its own line: {stdout}");
}

/// `all` from a file: one object per server with the three parts; a table without
/// --json.
#[test]
fn all_from_a_file_as_json_lines_and_as_a_table() {
    let (farm, index) = farm(8);
    let path = std::env::temp_dir().join(format!("a2s-cli-{}.txt", std::process::id()));
    let text: String = farm.addrs().iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(&path, text).unwrap();
    let file = path.to_str().unwrap();
    let out = run(&["all", "-f", file, "--json", "--timeout", "3"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 8);
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let i = index[v["address"].as_str().unwrap()];
        if i % 7 == 3 {
            assert!(v["error"].is_string(), "{line}");
            continue;
        }
        assert_eq!(keys(&v), sorted(&["address", "info", "players", "rules"]), "{line}");
        assert_eq!(v["players"][0]["name"], format!("p{i}"));
        assert_eq!(v["rules"]["index"], i.to_string());
    }
    let table = run(&["all", "--timeout", "3", "-f", file]);
    let shown = String::from_utf8(table.stdout).unwrap();
    assert!(shown.lines().next().unwrap().starts_with("ADDRESS"), "{shown}");
    assert_eq!(shown.lines().count(), 9, "a header and a row a server: {shown}");
    assert!(shown.lines().any(|l| l.contains("farm 1") && l.contains("1/0")), "{shown}");
    assert!(shown.lines().any(|l| l.contains("error: no reply")), "{shown}");
    std::fs::remove_file(&path).ok();
    assert_eq!(run(&["info", "-f", "/nonexistent/list.txt"]).status.code(), Some(2));
}

#[test]
fn every_server_answered_exits_0() {
    let a = source_server();
    let b = source_server();
    let out = run(&["rules", &a.local_addr().to_string(), &b.local_addr().to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["rules"]["sv_tags"], "ctf");
    }
    assert_eq!(stdout.lines().count(), 2);
}

/// A reader that stops early: the command ends quietly at its next write (whenever
/// that is: when the pipe closes is up to the scheduler), with nothing on stderr and
/// no panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    let farm = Farm::new()
        .spawn_loopback(20, |i| {
            let fault = if i < 2 { Fault::None } else { Fault::Silent };
            (Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]), fault)
        })
        .unwrap();
    let addrs: Vec<String> = farm.addrs().iter().map(SocketAddr::to_string).collect();
    for json in [false, true] {
        let mut args = vec!["info", "--timeout", "2"];
        if json {
            args.push("--json");
        }
        args.extend(addrs.iter().map(String::as_str));
        let mut child = Command::new(env!("CARGO_BIN_EXE_a2s"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err, "", "nothing on stderr (json: {json})");
        assert!(matches!(out.status.code(), Some(0 | 1)), "{:?}", out.status);
    }
    // The same for one server's answer.
    let server = source_server();
    let mut child = Command::new(env!("CARGO_BIN_EXE_a2s"))
        .args(["info", &server.local_addr().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
    // A closed stderr too: no panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_a2s"))
        .args(["info", "127.0.0.1:9", "127.0.0.2:9", "--timeout", "0.2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(1));
}

/// A list with a repeated address, a Latin-1 comment and an unresolvable line: the
/// address is asked once, the comment skipped, the bad line its own row; exit 1.
#[test]
fn a_list_file_with_repeats_and_odd_bytes() {
    let server = source_server();
    let addr = server.local_addr().to_string();
    let path = std::env::temp_dir().join(format!("a2s-cli-odd-{}.txt", std::process::id()));
    let mut text = format!("{addr}\n").into_bytes();
    text.extend_from_slice(b"# caf\xE9 servers\n");
    // (A bad port, not a name: no resolver is asked.)
    text.extend_from_slice(format!("{addr}\r\n127.0.0.1:99999\n").as_bytes());
    std::fs::write(&path, text).unwrap();
    let out = run(&["info", "-f", path.to_str().unwrap(), "--json", "--timeout", "3"]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(1), "the bad line fails the run");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines.iter().any(|v| v["address"] == addr.as_str() && v["info"]["server_name"] == "cli test"));
    assert!(lines.iter().any(|v| v["address"] == "127.0.0.1:99999" && v["error"].is_string()));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("listed again"), "{err}");
    // A list that is not readable (a directory) is bad usage.
    let dir = std::env::temp_dir();
    assert_eq!(run(&["info", "-f", dir.to_str().unwrap()]).status.code(), Some(2));
}

/// Raw rules have byte names, which JSON keys cannot be: a list of pairs, never null.
#[test]
fn raw_rules_in_json_are_pairs() {
    let server = source_server();
    let addr = server.local_addr().to_string();
    let v = json_of(&run(&["rules", &addr, "--json", "--encoding", "raw"]));
    let pairs = v.as_array().expect("a list of pairs");
    let name: Vec<u8> = pairs[0][0].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
    assert_eq!(name, b"mp_timelimit");
    let out = run(&["rules", &addr, &addr, "--json", "--encoding", "raw"]);
    let line: Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().next().unwrap()).unwrap();
    assert!(line["rules"].is_array(), "{line}");
}

/// A server name that would clear the screen reaches the terminal as text.
#[test]
fn escape_sequences_in_names_are_shown_not_obeyed() {
    let mut info = SourceInfo::default();
    info.server_name = "\u{1b}[2Jpwned\u{7}\u{202e}".into();
    info.map_name = "a\rb".into();
    let server = Responder::new(Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let addr = server.local_addr().to_string();
    for args in [vec!["info", addr.as_str()], vec!["info", addr.as_str(), addr.as_str()]] {
        let out = run(&args);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'), "{text:?}");
        assert!(!text.contains('\u{202e}'), "{text:?}");
        assert!(text.contains("\\u{1b}[2Jpwned"), "{text:?}");
    }
    // JSON keeps the text as sent, escaped by JSON's own rules.
    let v = json_of(&run(&["info", &addr, "--json"]));
    assert_eq!(v["server_name"], "\u{1b}[2Jpwned\u{7}\u{202e}");
}

/// A name the server sends twice is one JSON key (the last value), as in python-a2s.
#[test]
fn rules_json_has_each_name_once() {
    let rules = vec![("a".into(), "1".into()), ("b".into(), "2".into()), ("a".into(), "3".into())];
    let server = Responder::new(Info::Source(SourceInfo::default()), vec![], rules).spawn("127.0.0.1:0").unwrap();
    let out = run(&["rules", &server.local_addr().to_string(), "--json"]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.matches("\"a\"").count(), 1, "{text}");
    assert_eq!(json_of(&out), serde_json::json!({"a": "3", "b": "2"}));
}

/// A rules reply that declares more rules than it carries: said on stderr for one
/// server, `"truncated": true` in JSON Lines.
#[test]
fn a_reply_cut_short_is_never_silent() {
    let cut = || {
        let mut reply = Vec::new();
        a2s_query::proto::encode_rules([("a", "1"), ("b", "2")], &mut reply).unwrap();
        reply[5] = 5; // the count: 5 declared, 2 sent
        common::fake::Fake::v4(move |_, _| vec![common::fake::Act::Send(reply.clone())])
    };
    let (one, two) = (cut(), cut());
    let out = run(&["rules", &one.addr.to_string(), "--json"]);
    assert_eq!(json_of(&out), serde_json::json!({"a": "1", "b": "2"}));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cut short: 2 of 5"), "{err}");

    let out = run(&["rules", &one.addr.to_string(), &two.addr.to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2);
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["truncated"], true, "{line}");
        assert_eq!(v["rules"]["b"], "2");
    }
}

/// `--arma` decodes an Arma 3 or DayZ server's binary rules: the mod list as text, the
/// whole value as JSON, and a line per server in JSON Lines.
#[test]
fn arma_rules_through_the_command() {
    use a2s_query::proto::{ArmaMod, ArmaRules, Dlc};
    let mut arma = ArmaRules::<String>::default();
    arma.version = 3;
    arma.difficulty = Some(a2s_query::proto::Difficulty::from([0x9B, 0x00]));
    arma.dlc_mask = 0x0010;
    arma.dlcs = vec![Dlc { bit: 0x10, name: Some("Apex"), hash: 0x0102_0304 }];
    arma.mods = vec![ArmaMod::workshop("CBA_A3", 1, 450_814_997), ArmaMod::workshop("ace", 2, 463_939_057)];
    arma.signatures = vec!["a3".into(), "cba_3.18".into()];
    let mut r = Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]);
    r.raw_rules = Some(arma.to_rules().unwrap());
    let server = r.spawn("127.0.0.1:0").unwrap();
    let addr = server.local_addr().to_string();

    let text = run(&["rules", &addr, "--arma"]);
    assert_eq!(text.status.code(), Some(0));
    let shown = String::from_utf8(text.stdout).unwrap();
    assert!(shown.contains("Arma 3 rules") && shown.contains("Apex") && shown.contains("2 mods"), "{shown}");
    assert!(shown.lines().any(|l| l.contains("CBA_A3") && l.contains("workshop 450814997")), "{shown}");

    let v = json_of(&run(&["rules", &addr, "--arma", "--json"]));
    assert_eq!(v["version"], 3);
    assert_eq!(v["mods"][1]["name"], "ace");
    assert_eq!(v["mods"][1]["workshop_id"], 463_939_057u64);
    assert_eq!(v["dlcs"][0]["name"], "Apex");
    assert_eq!(v["signatures"], serde_json::json!(["a3", "cba_3.18"]));

    let other = {
        let mut r = Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]);
        r.raw_rules = Some(arma.to_rules().unwrap());
        r.spawn("127.0.0.1:0").unwrap()
    };
    let lines = run(&["rules", &addr, &other.local_addr().to_string(), "--arma", "--json"]);
    let stdout = String::from_utf8(lines.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["arma"]["mods"][0]["name"], "CBA_A3", "{line}");
    }
    // A DayZ server: version 2, its text rules beside the mods.
    let mut dayz = ArmaRules::<String>::default();
    dayz.version = 2;
    dayz.mods = vec![ArmaMod::workshop("Community Framework", 3, 1_559_212_036)];
    dayz.description = Some(String::new());
    dayz.rules = vec![("island".into(), "chernarusplus".into())];
    let mut r = Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]);
    r.raw_rules = Some(dayz.to_rules().unwrap());
    let dayz_server = r.spawn("127.0.0.1:0").unwrap();
    let v = json_of(&run(&["rules", &dayz_server.local_addr().to_string(), "--arma", "--json"]));
    assert_eq!(v["version"], 2);
    assert_eq!(v["difficulty"], Value::Null);
    assert_eq!(v["mods"][0]["workshop_id"], 1_559_212_036u64);
    assert_eq!(v["rules"], serde_json::json!([["island", "chernarusplus"]]));
    let shown = String::from_utf8(run(&["rules", &dayz_server.local_addr().to_string(), "--arma"]).stdout).unwrap();
    assert!(shown.starts_with("DayZ rules") && shown.contains("island = chernarusplus"), "{shown}");
    // A server without binary rules says so; --arma goes with rules only.
    let plain = source_server();
    let out = run(&["rules", &plain.local_addr().to_string(), "--arma"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("not an Arma 3 or DayZ server"));
    assert_eq!(run(&["info", &addr, "--arma"]).status.code(), Some(2));
}

/// A list of nothing but entries that are not addresses keeps 4096 of them at most
/// for their output lines, whatever its length (a never-ending one held them all
/// before, no result coming to print them with); the rest are counted, each named on
/// standard error as it is read.
#[test]
fn a_list_of_only_bad_entries_is_held_bounded() {
    let input: String = (0..5000).map(|i| format!("not-an-address-{i}\n")).collect();
    let out = run_with_input(&["info", "-f", "-", "--json"], &input);
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.lines().all(|l| l.contains("\"error\"")), "{stdout}");
    assert_eq!(stderr.lines().filter(|l| l.contains(": invalid server address")).count(), 5000);
    assert!(stderr.contains("5000 failed"), "{stderr}");
    // (The first few may be printed before the run starts, as the reading goes on
    // beside it: the rest wait, 4096 at most.)
    let printed = stdout.lines().count();
    let more: usize = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("a2s: ")?
                .strip_suffix(" more entries were not addresses (each named above); no line of their own")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of the entries not kept: {stderr}"));
    assert!(printed >= 4096 && more > 0, "{printed} printed, {more} more");
    assert_eq!(printed + more, 5000);
}

// ---- a2s list and a2s ports ----

const KEY: &str = "FEEDFACE0123456789ABCDEF01234567";

/// A run with only the given environment variable of the Steam key (or none).
fn run_keyed(args: &[&str], key: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_a2s"));
    command.args(args).env_remove("STEAM_API_KEY");
    if let Some(key) = key {
        command.env("STEAM_API_KEY", key);
    }
    command.output().unwrap()
}

fn summary_of(addr: SocketAddr, i: usize) -> ServerSummary {
    let mut s = ServerSummary::new(addr);
    s.name = format!("listed {i}");
    s.app_id = Some(440);
    s.players = Some(i as u32);
    s.max_players = Some(24);
    s.steam_id = Some(90_000_000_000_000_000 + i as u64);
    s.game_port = Some(27015);
    s.map = "ctf_2fort".into();
    s
}

/// `a2s list` from the Web API, piped into `a2s info -f -` in a second process: the
/// servers it lists are the ones queried, each once.
#[test]
fn list_from_the_web_api_piped_into_info() {
    let (farm, index) = farm(12);
    let listed: Vec<ServerSummary> = farm.addrs().iter().enumerate().map(|(i, &a)| summary_of(a, i)).collect();
    let api = FakeWebApi::new(KEY, listed).spawn().unwrap();
    let url = api.base_url();
    let mut list = Command::new(env!("CARGO_BIN_EXE_a2s"))
        .args(["list", "--api-url", &url, "--filter", r"\appid\440\nor\1\map\cp_dustbowl", "--limit", "10"])
        .env("STEAM_API_KEY", KEY)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let info = Command::new(env!("CARGO_BIN_EXE_a2s"))
        .args(["info", "-f", "-", "--json", "--rate", "0"])
        .stdin(Stdio::from(list.stdout.take().unwrap()))
        .output()
        .unwrap();
    assert_eq!(list.wait().unwrap().code(), Some(0));
    let stdout = String::from_utf8(info.stdout).unwrap();
    let mut got: Vec<usize> = stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let i = index[v["address"].as_str().unwrap()];
            if i % 7 != 3 {
                assert_eq!(v["info"]["server_name"], format!("farm {i}"), "{line}");
            }
            i
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>(), "the first ten listed, each once: {stdout}");
    assert_eq!(info.status.code(), Some(1), "server 3 of the farm is silent");

    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].key(), Some(KEY), "the key from STEAM_API_KEY");
    assert_eq!(requests[0].param("filter"), Some(r"\appid\440\nor\1\map\cp_dustbowl"));
    assert_eq!(requests[0].param("limit"), Some("10"));
}

/// JSON Lines carry the summary; --key wins over the environment; no --limit asks for
/// the Web API's default of 100.
#[test]
fn list_as_json_lines_with_the_summary() {
    let listed: Vec<ServerSummary> =
        (0..150).map(|i| summary_of(format!("198.51.100.{}:27015", i % 200).parse().unwrap(), i)).collect();
    let api = FakeWebApi::new(KEY, listed).spawn().unwrap();
    let out = run_keyed(&["list", "--json", "--key", KEY, "--api-url", &api.base_url()], Some("WRONG"));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[7]["address"], "198.51.100.7:27015");
    assert_eq!(lines[7]["name"], "listed 7");
    assert_eq!(lines[7]["players"], 7);
    assert_eq!(lines[7]["max_players"], 24);
    assert_eq!(lines[7]["app_id"], 440);
    assert_eq!(lines[7]["game_port"], 27015);
    assert_eq!(lines[7]["map"], "ctf_2fort");
    assert_eq!(lines[7]["steam_id"], "90000000000000007", "as text: no digit lost in JSON readers");
    assert_eq!(lines[7]["bots"], Value::Null, "not sent: null");
    assert_eq!(api.requests()[0].param("limit"), Some("100"));
    assert_eq!(api.requests()[0].key(), Some(KEY));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("as many servers as its limit (100): there may be more"), "{err}");

    // A list shorter than its limit is whole: nothing said.
    let out = run_keyed(&["list", "--limit", "500", "--key", KEY, "--api-url", &api.base_url()], None);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 150);
    assert!(!String::from_utf8(out.stderr).unwrap().contains("there may be more"));
}

/// A wrong key fails with status 1 and a message about the key, which it never prints;
/// no key at all is a usage error that says where to get one.
#[test]
fn list_with_a_bad_or_missing_key() {
    let api = FakeWebApi::new(KEY, vec![]).spawn().unwrap();
    let wrong = "0000SECRET0000SECRET0000SECRET00";
    for out in [
        run_keyed(&["list", "--key", wrong, "--api-url", &api.base_url()], None),
        run_keyed(&["list", "--api-url", &api.base_url()], Some(wrong)),
    ] {
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("key") && err.contains("403"), "{err}");
        assert!(!err.contains(wrong) && !err.contains("SECRET"), "the key leaked: {err}");
    }
    let url = api.base_url();
    for empty in [None, Some(""), Some("  ")] {
        let mut args = vec!["list", "--api-url", &url];
        args.extend(empty.map(|key| ["--key", key]).into_iter().flatten());
        let out = run_keyed(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("STEAM_API_KEY") && err.contains("steamcommunity.com/dev/apikey"), "{err}");
    }
    assert_eq!(api.requests().len(), 2, "nothing sent without a key");
}

/// `a2s list --master`: every page walked, in order, the region and filter as sent;
/// --limit stops early; a master that goes silent ends with status 1 and how far it got,
/// the addresses already printed kept.
#[test]
fn list_from_a_master_server() {
    let servers: Vec<SocketAddrV4> = (0..25u8).map(|i| SocketAddrV4::new([192, 0, 2, i].into(), 27015)).collect();
    let master = FakeMaster::new(servers.clone(), 4).spawn("127.0.0.1:0").unwrap();
    let addr = master.local_addr().to_string();
    let out =
        run(&["list", "--master", &addr, "--pace", "0.01", "--region", "europe", "--filter", r"\gamedir\cstrike"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<String> = servers.iter().map(ToString::to_string).collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().collect::<Vec<_>>(), want);
    let requests = master.requests();
    assert!(requests.len() >= 7, "seven pages of four: {requests:?}");
    assert!(requests.iter().all(|r| r.region == 3 && r.filter == r"\gamedir\cstrike"), "{requests:?}");

    let out = run(&["list", "--master", &addr, "--pace", "0.01", "--limit", "6", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[5]["address"], "192.0.2.5:27015");

    let silent = FakeMaster::new(servers, 4).silent_after(2).spawn("127.0.0.1:0").unwrap();
    let out = run(&["list", "--master", &silent.local_addr().to_string(), "--pace", "0", "--retries", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 8, "two pages printed");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("2 pages") && err.contains("8"), "how far it got: {err}");
}

/// `a2s ports`: the servers Steam knows at an IP, as a table and as JSON Lines, asked
/// without a key; an IP with none is status 1.
#[test]
fn ports_shows_the_query_and_game_ports() {
    let mut tf = ServerAtAddress::new("203.0.113.7:27016".parse().unwrap());
    tf.game_port = Some(27015);
    tf.app_id = Some(440);
    tf.game_dir = "tf".into();
    let mut gmod = ServerAtAddress::new("203.0.113.7:27017".parse().unwrap());
    gmod.game_port = Some(27005);
    gmod.app_id = Some(4000);
    gmod.game_dir = "garrysmod".into();
    let api = FakeWebApi::new(KEY, vec![]).at_address(vec![tf, gmod]).spawn().unwrap();
    let out = run_keyed(&["ports", "203.0.113.7:27015", "--api-url", &api.base_url()], Some(KEY));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["QUERY", "ADDRESS", "GAME", "PORT", "APP", "ID", "GAME", "DIR"]);
    assert_eq!(rows[1], ["203.0.113.7:27016", "27015", "440", "tf"]);
    assert_eq!(rows[2], ["203.0.113.7:27017", "27005", "4000", "garrysmod"]);
    let request = &api.requests()[0];
    assert_eq!(request.path, "/ISteamApps/GetServersAtAddress/v1/");
    assert_eq!(request.param("addr"), Some("203.0.113.7"), "the IP, the port dropped");
    assert_eq!(request.key(), None, "no key sent");

    let out = run(&["ports", "203.0.113.7", "--json", "--api-url", &api.base_url()]);
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["address"], "203.0.113.7:27017");
    assert_eq!(lines[1]["game_port"], 27005);
    assert_eq!(lines[1]["game_dir"], "garrysmod");

    let empty = FakeWebApi::new(KEY, vec![]).spawn().unwrap();
    let out = run(&["ports", "[2001:db8::7]:27015", "--api-url", &empty.base_url()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("no server at 2001:db8::7"));
}

/// A single query that times out asks whether it went to the query port and names `a2s
/// doctor`; options of list elsewhere, and list with servers, are usage errors.
#[test]
fn list_usage_and_the_ports_hint() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = run(&["info", &addr, "--timeout", "0.2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no reply") && err.contains(&format!("`a2s doctor {addr}`")), "{err}");

    let bad: [&[&str]; 10] = [
        &["list", "127.0.0.1:27015"],
        &["list", "--key", "k", "--retries", "2"],
        &["ports", "203.0.113.7", "--retries", "1"],
        &["list", "--master", "127.0.0.1:1", "--key", "k"],
        &["list", "--region", "europe", "--key", "k"],
        &["list", "--master", "127.0.0.1:1", "--region", "mars"],
        &["list", "--key", "k", "--filter", "appid 440"],
        &["list", "--key", "k", "--limit", "0"],
        &["info", "127.0.0.1:1", "--limit", "5"],
        &["ports"],
    ];
    for args in bad {
        let out = run_keyed(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error: ") && err.contains("--help"), "{args:?}: {err}");
    }
}

/// A list line longer than any address (here 5 MB) is an error naming its line; the
/// line before it is queried, and the run fails for it.
#[test]
fn a_huge_list_line_is_an_error_named_by_its_number() {
    let server = source_server();
    let addr = server.local_addr().to_string();
    let path = std::env::temp_dir().join(format!("a2s-cli-huge-{}.txt", std::process::id()));
    let mut text = format!("{addr}\n").into_bytes();
    text.extend(std::iter::repeat_n(b'x', 5 << 20));
    text.extend_from_slice(b"\n# after it\n");
    std::fs::write(&path, text).unwrap();
    let out = run(&["info", "-f", path.to_str().unwrap(), "--json", "--timeout", "3"]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(1), "the bad line fails the run");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("cli test"), "the server before it answered: {stdout}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(":2: a line longer than any address"), "{err}");
}

/// Bug: with the progress bar on (stderr a terminal, stdout not), `-f FIFO` read the
/// pipe once to count its lines for the bar, which used it up: nothing was queried and
/// the run exited 0. Run under `script` (a terminal for stderr); skipped where there is
/// no `script` or `mkfifo`.
#[test]
fn a_list_from_a_fifo_is_read_once_with_the_bar_on() {
    let server = source_server();
    let addr = server.local_addr().to_string();
    let dir = std::env::temp_dir().join(format!("a2s-cli-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("list");
    let out_file = dir.join("out.json");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let script = Command::new("script").arg("--version").output();
    if !made.is_ok_and(|s| s.success()) || !script.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: no mkfifo or script here");
        return;
    }
    let writer = {
        let (fifo, addr) = (fifo.clone(), addr.clone());
        std::thread::spawn(move || std::fs::write(fifo, format!("{addr}\n")).unwrap())
    };
    let bin = env!("CARGO_BIN_EXE_a2s");
    // (Under `timeout`: a run that read the pipe twice would wait for a writer forever.)
    let inner = format!("timeout 20 {bin} info -f {} --json --timeout 3 > {}", fifo.display(), out_file.display());
    let status = Command::new("script").args(["-qec", &inner, "/dev/null"]).stdout(Stdio::null()).status().unwrap();
    if !writer.is_finished() {
        // (The run never opened the pipe: free the writer.)
        let _ = std::fs::read(&fifo);
    }
    writer.join().unwrap();
    let json = std::fs::read_to_string(&out_file).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{status:?}");
    assert!(json.contains("cli test"), "the listed server was queried: {json:?}");
}

// ---- a2s serve ----

/// A running `a2s serve`, killed when dropped.
struct Served {
    child: std::process::Child,
    addr: String,
}

impl Served {
    /// Starts `a2s serve ARGS --listen 127.0.0.1:0` and reads the address it printed.
    fn start(args: &[&str]) -> Served {
        Served::start_command("serve", args)
    }

    /// Starts `a2s COMMAND ARGS --listen 127.0.0.1:0` and reads the address it printed.
    fn start_command(command: &str, args: &[&str]) -> Served {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_a2s"))
            .arg(command)
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
        let addr = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}"));
        Served { addr: addr.to_string(), child }
    }

    /// Ctrl-C (SIGINT), then the exit status and what it wrote on stderr.
    #[cfg(unix)]
    fn interrupt(mut self) -> (Option<i32>, String) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGINT).unwrap();
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (status.code(), err)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The built-in example answers our client, and a hand-written reading of its bytes
/// (the challenge first: the info reply is larger than the request); Ctrl-C ends it
/// with status 0 and a count of the requests.
#[test]
#[cfg(unix)]
fn serve_answers_our_client_and_a_hand_reading_then_stops_on_ctrl_c() {
    let served = Served::start(&[]);
    let t = Duration::from_secs(3);
    let info = a2s_query::info(served.addr.as_str(), t, Default::default()).unwrap();
    assert_eq!((info.server_name(), info.map_name(), info.player_count()), ("a2s-query example server", "de_dust2", 3));
    let players = a2s_query::players(served.addr.as_str(), t, Default::default()).unwrap();
    assert_eq!(players.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["alice", "bob", "carol"]);
    assert_eq!(&a2s_query::rules(served.addr.as_str(), t, Default::default()).unwrap()["mp_timelimit"], "30");

    // By hand, from the spec: FF FF FF FF 'T' "Source Engine Query\0", then again with
    // the four challenge bytes of the 'A' reply.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(t)).unwrap();
    let mut request = b"\xFF\xFF\xFF\xFFTSource Engine Query\0".to_vec();
    socket.send_to(&request, served.addr.as_str()).unwrap();
    let mut buf = [0u8; 1400];
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!((n, &buf[..5]), (9, &b"\xFF\xFF\xFF\xFFA"[..]), "a challenge first");
    request.extend_from_slice(&buf[5..9]);
    socket.send_to(&request, served.addr.as_str()).unwrap();
    let n = socket.recv(&mut buf).unwrap();
    let reply = &buf[..n];
    assert_eq!(&reply[..6], b"\xFF\xFF\xFF\xFFI\x11", "an info reply, protocol 17");
    let name_end = reply[6..].iter().position(|&b| b == 0).unwrap() + 6;
    assert_eq!(&reply[6..name_end], b"a2s-query example server");
    assert!(reply[name_end + 1..].starts_with(b"de_dust2\0"));

    let (status, err) = served.interrupt();
    assert_eq!(status, Some(0), "{err}");
    // Two each: the challenge, then the query (three one-use clients and the hand reading).
    assert!(err.contains("stopped after 8 requests"), "{err}");
}

/// What `a2s all --json` printed of a server, served, reads back the same (the ping
/// aside); a server that did not answer rules does not answer them when served.
#[test]
fn serve_a_recorded_server_is_a_copy() {
    let original = source_server();
    let recorded = run(&["all", &original.local_addr().to_string(), "--json"]);
    assert!(recorded.status.success());
    let dir = std::env::temp_dir().join(format!("a2s-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    std::fs::write(&path, &recorded.stdout).unwrap();

    let served = Served::start(&[path.to_str().unwrap()]);
    let copy = json_of(&run(&["all", &served.addr, "--json"]));
    let mut want = json_doc(&recorded);
    let mut got = copy.clone();
    for doc in [&mut want, &mut got] {
        doc["info"].as_object_mut().unwrap().remove("ping");
    }
    assert_eq!(got, want);
    assert_eq!(copy["info"]["server_name"], "cli test");
    drop(served);

    let mut no_rules = json_doc(&recorded);
    no_rules["rules"] = Value::Null;
    std::fs::write(&path, no_rules.to_string()).unwrap();
    let served = Served::start(&[path.to_str().unwrap()]);
    let out = run(&["rules", &served.addr, "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&run(&["players", &served.addr, "--json"]))[1]["name"], "bob");
    drop(served);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A state that is not a server's JSON is a usage error naming the file and the shape
/// wanted.
#[test]
fn serve_refuses_a_state_it_cannot_read() {
    let dir = std::env::temp_dir().join(format!("a2s-serve-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("empty.json", "", "empty"),
        ("junk.json", "hello", "not JSON"),
        ("shape.json", "{\"x\": 1}", "a2s all ADDR --json"),
    ];
    for (name, text, says) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = run(&["serve", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
    let out = run(&["serve", dir.join("missing.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- one behaviour everywhere ----

/// `--json` prints one object for every server asked, error or not, alone or in a
/// list; a closed port is "refused" alone and in a list (where the OS reports it:
/// Linux), and the summary counts it so.
#[test]
fn an_error_is_one_json_object_and_a_refusal_is_a_refusal_everywhere() {
    let closed = common::closed_ports(["127.0.0.1", "127.0.0.2"]);
    let (addr, _guard) = &closed[0];
    let addr = addr.to_string();
    let out = run(&["info", &addr, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json_doc(&out);
    assert_eq!(v["address"], addr.as_str());
    assert!(v["error"].as_str().unwrap().starts_with("refused: nothing listens"), "{v}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("a2s: {addr}: refused")), "{err}");

    let server = source_server();
    let live = server.local_addr().to_string();
    let out = run(&["info", &live, &addr, "--json", "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "one object a server");
    let dead = lines.iter().find(|l| l["address"] == addr.as_str()).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    // (Where another socket took the port meanwhile, it does not answer "unreachable".)
    if cfg!(target_os = "linux") && !common::taken_meanwhile(closed[0].0) {
        assert!(dead["error"].as_str().unwrap().starts_with("refused"), "{dead}");
        assert!(err.contains("1 answered, 0 timed out, 1 refused, 0 failed"), "{err}");
    }
    assert_eq!(lines.iter().find(|l| l["address"] == live.as_str()).unwrap()["info"]["server_name"], "cli test");
}

/// `all` over a list names the part that failed and counts the server as answered
/// with a part missing, not as failed.
#[test]
fn all_in_a_list_names_the_part_that_failed() {
    let mut responder = Responder::new(Info::Source(SourceInfo::default()), players(), vec![]);
    responder.answer_rules = false;
    let quiet = responder.spawn("127.0.0.1:0").unwrap();
    let full = source_server();
    let (quiet_addr, full_addr) = (quiet.local_addr().to_string(), full.local_addr().to_string());
    let out = run(&["all", &quiet_addr, &full_addr, "--json", "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1), "a part missing is not a full answer");
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let partial = lines.iter().find(|l| l["address"] == quiet_addr.as_str()).unwrap();
    assert_eq!(partial["error"], "rules: no reply within 1s");
    assert_eq!((partial["rules"].clone(), partial["players"][1]["name"].clone()), (Value::Null, Value::from("bob")));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("2 answered (1 with a part missing), 0 timed out, 0 failed"), "{err}");
}

/// One hint, once, and only where it helps: junk that says "query port" itself gets
/// none more.
#[test]
fn one_hint_once_where_it_helps() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let err = String::from_utf8(run(&["all", &addr, "--timeout", "0.2"]).stderr).unwrap();
    assert_eq!(err.matches("query port").count(), 1, "{err}");

    // A web server's reply on the port: the error itself asks about the query port.
    let (web_addr, web) = http_on("127.0.0.1:0");
    let out = run(&["info", &web_addr, "--timeout", "2"]);
    drop(web);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.matches("query port").count(), 1, "{err}");
}

/// A timeout too small for any reply is a usage error (status 2), not a failed query.
#[test]
fn a_vanishing_timeout_is_a_usage_error() {
    let out = run(&["info", "127.0.0.1:27015", "--timeout", "1e-10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("at least 0.001 seconds"));
}

/// An address wider than its column takes a line of its own; every row's next column
/// starts at the same place.
#[test]
fn columns_hold_for_long_addresses() {
    let server = source_server();
    let addr = server.local_addr().to_string();
    // A listed line that is no address (no port: refused before any lookup).
    let long = "a-line-far-too-long-for-the-address-column";
    let out = run(&["info", &addr, long, "--timeout", "2"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines[0].find("PING").unwrap() + "PING".len();
    let row = lines.iter().find(|l| l.starts_with(&addr)).unwrap();
    assert_eq!(row.find(" ms").unwrap() + " ms".len(), at, "{text}");
    let own = lines.iter().position(|l| *l == long).unwrap_or_else(|| panic!("{long} on a line of its own: {text}"));
    assert!(lines[own + 1].starts_with(&" ".repeat(21)) && lines[own + 1].trim_start().starts_with("error:"), "{text}");
}

// ---- a2s doctor ----

/// `a2s doctor ADDR --json` run to its end: the report and the exit status.
fn doctor(args: &[&str]) -> (Value, Option<i32>) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = run(&all);
    (json_doc(&out), out.status.code())
}

/// The steps a report took, by name, with whether each went well.
fn steps(report: &Value) -> Vec<(String, bool)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_string(), s["ok"].as_bool().unwrap()))
        .collect()
}

/// A server that answers everything: every query tried, and nothing to fix.
#[test]
fn doctor_finds_nothing_wrong_with_a_server_that_answers() {
    let server = source_server();
    let addr = server.local_addr().to_string();
    let (report, status) = doctor(&[&addr]);
    assert_eq!(status, Some(0));
    assert_eq!(report["conclusion"], "answers");
    let names: Vec<(String, bool)> =
        ["resolve", "info", "players", "rules", "burst"].iter().map(|s| (s.to_string(), true)).collect();
    assert_eq!(steps(&report), names);
    assert!(report["says"].as_str().unwrap().contains("\"cli test\" answers every query"), "{report}");
    // As text: a line a step, then the conclusion and what to do.
    let text = String::from_utf8(run(&["doctor", &addr]).stdout).unwrap();
    assert!(text.contains("ok  burst") && text.contains("Conclusion: ") && text.contains("What to do: "), "{text}");
}

/// A closed port: refused, said so, and the nearby ports tried (none answers).
#[test]
fn doctor_tells_a_refusal() {
    let closed = common::closed_ports(["127.62.0.1", "127.62.0.2"]);
    let addr = closed[0].0.to_string();
    let (report, status) = doctor(&[&addr, "--timeout", "1"]);
    assert_eq!(status, Some(1));
    assert_eq!(report["conclusion"], "refused", "{report}");
    assert_eq!(
        steps(&report),
        [("resolve".into(), true), ("info".into(), false), ("steam".into(), false), ("nearby".into(), false)]
    );
    assert!(report["steps"][1]["said"].as_str().unwrap().starts_with("refused: nothing listens"), "{report}");
    assert!(report["steps"][2]["said"].as_str().unwrap().contains("a local address"), "Steam is not asked: {report}");
}

/// Another service on the port: named by what it looks like.
#[test]
fn doctor_names_what_answers_instead() {
    let (addr, web) = http_on("127.63.0.1:0");
    let (report, status) = doctor(&[&addr, "--timeout", "3"]);
    drop(web);
    assert_eq!(status, Some(1));
    assert_eq!(report["conclusion"], "not-a2s", "{report}");
    assert!(report["steps"][1]["said"].as_str().unwrap().contains("an HTTP server"), "{report}");
}

/// Silence on the port given, a server one port up: found, and named as the query port.
#[test]
fn doctor_finds_the_query_port_one_up() {
    let (silent, server) = loop {
        let silent = std::net::UdpSocket::bind("127.64.0.1:0").unwrap();
        let up = silent.local_addr().unwrap().port().checked_add(1);
        let spawned = up.and_then(|p| {
            Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]).spawn(("127.64.0.1", p)).ok()
        });
        if let Some(server) = spawned {
            break (silent, server);
        }
    };
    let addr = silent.local_addr().unwrap().to_string();
    let (report, status) = doctor(&[&addr, "--timeout", "2"]);
    assert_eq!(status, Some(1));
    assert_eq!(report["conclusion"], "wrong-port", "{report}");
    assert_eq!(report["answers_at"], server.local_addr().to_string());
    assert!(report["steps"][1]["said"].as_str().unwrap().starts_with("no reply within 2s"), "{report}");
    // The port found is examined as the given one would have been.
    let last: Vec<(String, bool)> = steps(&report).split_off(3);
    let want: Vec<(String, bool)> =
        ["nearby", "players", "rules", "burst"].iter().map(|s| (s.to_string(), true)).collect();
    assert_eq!(last, want, "{report}");
    assert!(report["advice"].as_str().unwrap().contains(&format!("a2s info {}", server.local_addr())), "{report}");
}

/// Steam names the query port of the game port given (asked here of a local fake, which
/// `--api-url` allows for a local address).
#[test]
fn doctor_asks_steam_which_query_port_it_knows() {
    let silent = std::net::UdpSocket::bind("127.65.0.1:0").unwrap();
    let game_port = silent.local_addr().unwrap().port();
    // Far from the given port, so that only Steam's word finds it.
    let server = Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]).spawn("127.65.0.1:0").unwrap();
    let mut known = ServerAtAddress::new(server.local_addr());
    known.game_port = Some(game_port);
    known.game_dir = "tf".into();
    let api = FakeWebApi::new(KEY, vec![]).at_address(vec![known]).spawn().unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let (report, status) = doctor(&[&addr, "--timeout", "2", "--api-url", &api.base_url()]);
    assert_eq!(status, Some(1));
    assert_eq!(report["conclusion"], "wrong-port", "{report}");
    assert_eq!(report["answers_at"], server.local_addr().to_string());
    assert!(report["says"].as_str().unwrap().contains(&format!("{game_port} is the game port of")), "{report}");
    assert_eq!(api.requests()[0].param("addr"), Some("127.65.0.1"));
}

/// A server that answers INFO only: the other queries tried and said missing.
#[test]
fn doctor_tells_a_server_that_answers_info_only() {
    let mut responder = Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]);
    responder.answer_players = false;
    let server = responder.spawn("127.0.0.1:0").unwrap();
    let (report, status) = doctor(&[&server.local_addr().to_string(), "--timeout", "2"]);
    assert_eq!(status, Some(0), "it answers");
    assert_eq!(report["conclusion"], "info-only", "{report}");
    assert_eq!(steps(&report)[2], ("players".to_string(), false));
    assert_eq!(steps(&report)[3], ("rules".to_string(), true));
    assert!(report["says"].as_str().unwrap().ends_with("answers INFO but not players"), "{report}");
}

/// A flood filter: the burst finds where the server starts dropping.
#[test]
fn doctor_sees_a_rate_limit() {
    let mut responder = Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]);
    // Twelve requests a minute: four go to info, players and rules, the rest to the
    // burst (its first query takes two: the challenge, then the query).
    responder.rate_limit = Some(RateLimit::new(12, Duration::from_secs(60), Duration::from_secs(60)));
    let server = responder.spawn("127.0.0.1:0").unwrap();
    let (report, status) = doctor(&[&server.local_addr().to_string(), "--timeout", "2"]);
    assert_eq!(status, Some(0), "it answers");
    assert_eq!(report["conclusion"], "rate-limited", "{report}");
    // Seven when nothing was sent twice (a resend of a slow reply takes one more).
    let said = report["steps"][4]["said"].as_str().unwrap();
    let answered: u32 = said.strip_prefix("answered ").unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((4..=7).contains(&answered) && said.ends_with("quick queries, then dropped them"), "{said}");
}

/// A name that does not resolve ends the examination at once.
#[test]
fn doctor_stops_at_a_name_that_does_not_resolve() {
    // (Each refused before any lookup, so no resolver is asked; each named as what it is.)
    for (addr, named) in [
        ("127.0.0.1", "no port"),
        ("127.0.0.1:99999", "out of range"),
        ("2001:db8::7", "an IPv6 address without brackets"),
    ] {
        let (report, status) = doctor(&[addr]);
        assert_eq!(status, Some(1), "{addr}");
        assert_eq!(report["conclusion"], "unresolved", "{addr}");
        assert_eq!(steps(&report), [("resolve".to_string(), false)], "{addr}");
        let said = report["steps"][0]["said"].as_str().unwrap();
        assert!(said.contains(named), "{addr}: {said}");
    }
}

// ---- --record and a2s replay ----

/// A server recorded with `all --record`, replayed: the same JSON as the original query
/// (the ping aside), and the files of a test case beside each query's datagrams.
#[test]
fn record_then_replay_gives_the_same_answers() {
    let original = source_server();
    let dir = std::env::temp_dir().join(format!("a2s-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let addr = original.local_addr().to_string();
    let recorded = run(&["all", &addr, "--json", "--record", dir.to_str().unwrap()]);
    assert!(recorded.status.success(), "{}", String::from_utf8_lossy(&recorded.stderr));
    assert!(String::from_utf8(recorded.stderr.clone()).unwrap().contains("recorded 3 queries"));
    let server_dir = dir.join(format!("127.0.0.1-{}", original.local_addr().port()));
    for query in ["info", "players", "rules"] {
        for file in ["expected.json", "exchange.json", "packet-0.bin"] {
            assert!(server_dir.join(query).join(file).is_file(), "{query}/{file}");
        }
    }
    let exchange: Value =
        serde_json::from_slice(&std::fs::read(server_dir.join("info/exchange.json")).unwrap()).unwrap();
    let directions: Vec<&str> =
        exchange["datagrams"].as_array().unwrap().iter().map(|d| d["dir"].as_str().unwrap()).collect();
    assert_eq!(directions, ["sent", "received", "sent", "received"], "request, challenge, request, reply");
    drop(original);

    // The --record folder holds one server: replay takes it as it is.
    let replayed = Served::start_command("replay", &[dir.to_str().unwrap()]);
    let again = json_of(&run(&["all", &replayed.addr, "--json"]));
    let mut want = json_doc(&recorded);
    let mut got = again;
    for doc in [&mut want, &mut got] {
        doc["info"].as_object_mut().unwrap().remove("ping");
    }
    assert_eq!(got, want);
    drop(replayed);

    // A list records each server in its folder.
    let (one, two) = (source_server(), source_server());
    let list_dir = dir.join("list");
    let out = run(&[
        "info",
        &one.local_addr().to_string(),
        &two.local_addr().to_string(),
        "--record",
        list_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_dir(&list_dir).unwrap().count(), 2);
    // Several servers: replay asks for one.
    let out = run(&["replay", list_dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("several servers"));
    // A packet file that is no plain file (a FIFO would block the reading for ever) is
    // refused, never opened.
    let one_dir = std::fs::read_dir(&list_dir).unwrap().next().unwrap().unwrap().path();
    let packet = one_dir.join("info").join("packet-0.bin");
    std::fs::remove_file(&packet).unwrap();
    if Command::new("mkfifo").arg(&packet).status().is_ok_and(|s| s.success()) {
        let out = run(&["replay", one_dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("packet-0.bin: not a file"), "{stderr}");
    } else {
        eprintln!("SKIPPED (the FIFO part): no mkfifo here");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A UDP socket answering every datagram as a web server would, until dropped: its
/// address and its guard.
fn http_on(bind: &str) -> (String, Stub) {
    stub_on(bind, b"HTTP/1.1 400 Bad Request\r\n\r\n")
}

/// A UDP socket answering every datagram with `reply`, until dropped: its address and
/// its guard.
fn stub_on(bind: &str, reply: &'static [u8]) -> (String, Stub) {
    let socket = std::net::UdpSocket::bind(bind).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thread = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((_, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(reply, from);
                }
            }
        })
    };
    (addr, Stub { stop, thread: Some(thread) })
}

/// Stops a [`stub_on`] stub when dropped.
struct Stub {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An A2S reply that breaks the protocol: the right port, a quirk to record and report.
#[test]
fn doctor_tells_a_broken_reply_and_says_to_record_it() {
    // An info reply cut off after its protocol byte.
    let (addr, stub) = stub_on("127.66.0.1:0", b"\xFF\xFF\xFF\xFFI\x11");
    let (report, status) = doctor(&[&addr, "--timeout", "3"]);
    drop(stub);
    assert_eq!(status, Some(1));
    assert_eq!(report["conclusion"], "broken-reply", "{report}");
    assert!(report["advice"].as_str().unwrap().contains(&format!("a2s info {addr} --record rec")), "{report}");
    assert_eq!(steps(&report).len(), 2, "no other port asked: this one answers");
}

/// Silence on the port and on every port near it: said plainly, with what to check.
#[test]
fn doctor_tells_plain_silence() {
    let silent = std::net::UdpSocket::bind("127.67.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let (report, status) = doctor(&[&addr, "--timeout", "0.3"]);
    assert_eq!(status, Some(1));
    assert_eq!(report["conclusion"], "silent", "{report}");
    assert_eq!(
        steps(&report),
        [("resolve".into(), true), ("info".into(), false), ("steam".into(), false), ("nearby".into(), false)]
    );
    assert!(report["advice"].as_str().unwrap().contains("firewall"), "{report}");
}

/// A state whose players were `null` (the server did not answer them) is served so:
/// players unanswered; a state that cannot be sent is refused at once.
#[test]
fn serve_copies_a_server_that_did_not_answer_players() {
    let dir = std::env::temp_dir().join(format!("a2s-serve-nulls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let original = source_server();
    let mut state = json_of(&run(&["all", &original.local_addr().to_string(), "--json"]));
    state["players"] = Value::Null;
    std::fs::write(&path, state.to_string()).unwrap();
    let served = Served::start(&[path.to_str().unwrap()]);
    assert_eq!(run(&["players", &served.addr, "--timeout", "0.3"]).status.code(), Some(1));
    assert_eq!(json_of(&run(&["rules", &served.addr, "--json"]))["sv_tags"], "ctf");
    drop(served);
    state["info"]["server_name"] = Value::from("nul\u{0}");
    std::fs::write(&path, state.to_string()).unwrap();
    let out = run(&["serve", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("the info cannot be sent"));
    // Rules too many for 255 fragments are refused at once too (they used to be served
    // as nothing at all, the summary saying otherwise).
    state["info"]["server_name"] = Value::from("many rules");
    let rules: serde_json::Map<String, Value> =
        (0..4000).map(|i| (format!("rule_{i:04}_{}", "x".repeat(60)), Value::from("y".repeat(60)))).collect();
    state["rules"] = Value::Object(rules);
    std::fs::write(&path, state.to_string()).unwrap();
    let out = run(&["serve", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the rules cannot be sent"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A query that got no reply leaves its exchange to look at but no test case; a
/// folder that is not empty is refused before anything is asked.
#[test]
fn record_keeps_an_unanswered_query_out_of_the_cases() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let dir = std::env::temp_dir().join(format!("a2s-record-silent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run(&["info", &addr.to_string(), "--timeout", "0.3", "--record", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let case = dir.join(format!("127.0.0.1-{}", addr.port())).join("info");
    assert!(case.join("exchange.json").is_file());
    assert!(!case.join("expected.json").exists(), "no reply, no case");
    let out = run(&["replay", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2), "nothing to replay");
    let out = run(&["info", &addr.to_string(), "--record", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("not empty"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A reply from an address no query went to (a server answering from another port) is
/// kept in the recording, beside the cases: it may be why a query went unanswered.
#[test]
fn record_keeps_what_came_from_elsewhere() {
    let asked = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    asked.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (asked_addr, other_addr) = (asked.local_addr().unwrap(), other.local_addr().unwrap());
    let answering = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        if let Ok((_, from)) = asked.recv_from(&mut buf) {
            let _ = other.send_to(b"\xFF\xFF\xFF\xFFI\x11elsewhere\0", from);
        }
    });
    let server = source_server();
    let dir = std::env::temp_dir().join(format!("a2s-record-elsewhere-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Two servers: the batch's socket, which hears every address. (The asked port's
    // timeout is the stub's time to answer from elsewhere: ample.)
    let out = run(&[
        "info",
        &asked_addr.to_string(),
        &server.local_addr().to_string(),
        "--timeout",
        "3",
        "--record",
        dir.to_str().unwrap(),
    ]);
    answering.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "the asked port never answered itself");
    let doc: Value = serde_json::from_slice(&std::fs::read(dir.join("unsolicited.json")).unwrap()).unwrap();
    assert_eq!(doc["datagrams"][0]["from"], other_addr.to_string());
    assert!(doc["datagrams"][0]["hex"].as_str().unwrap().starts_with("ffffffff4911"));
    std::fs::remove_dir_all(&dir).unwrap();
}
