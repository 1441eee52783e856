//! Starts a lively A2S server on 127.0.0.1 and queries it, as you would a real one:
//!
//! ```sh
//! cargo run --example demo
//! ```
//!
//! The server asks for challenges and has 150 rules, so its rules reply is split into
//! fragments and bzip2-compressed, like an old Source server's.

use std::time::Duration;

use a2s_query::proto::SourceInfo;
use a2s_query::server::Responder;
use a2s_query::{Encoding, Info, Platform, Player, ServerType};

fn main() -> Result<(), a2s_query::Error> {
    let server = lively_server().spawn("127.0.0.1:0")?;
    let addr = server.local_addr();
    let timeout = Duration::from_secs(2);
    println!("A local A2S server is answering on {addr}.\n");

    let info = a2s_query::info(addr, timeout, Encoding::Utf8)?;
    let players = a2s_query::players(addr, timeout, Encoding::Utf8)?;
    let rules = a2s_query::rules(addr, timeout, Encoding::Utf8)?;

    print_info(&info);
    println!();
    print_players(&players);
    println!();
    println!("Rules: {} (a sample)", rules.len());
    for (name, value) in rules.iter().step_by(25) {
        println!("  {name} = {value}");
    }
    Ok(())
}

fn print_info(info: &Info) {
    let kind = match info.server_type() {
        ServerType::Dedicated => "dedicated",
        ServerType::NonDedicated => "listen",
        ServerType::SourceTv => "SourceTV relay",
        _ => "unknown type",
    };
    let os = match info.platform() {
        Platform::Linux => "Linux",
        Platform::Windows => "Windows",
        Platform::Mac => "macOS",
        _ => "unknown OS",
    };
    println!("Server   {}", info.server_name());
    println!("Map      {} ({})", info.map_name(), info.folder());
    if let Info::Source(s) = info {
        println!("Game     {} (app {}, protocol {}, version {})", s.game, s.full_app_id(), s.protocol, s.version);
    }
    println!(
        "Players  {}/{} ({} bots), {kind}, {os}, {}, {}",
        info.player_count(),
        info.max_players(),
        info.bot_count(),
        if info.vac_enabled() { "VAC" } else { "no VAC" },
        if info.password_protected() { "password" } else { "no password" },
    );
    if let Some(tags) = info.keywords() {
        println!("Tags     {tags}");
    }
    println!("Ping     {:.2} ms", info.ping().as_secs_f64() * 1000.0);
}

/// Columns a name takes on a terminal (CJK characters take two).
fn columns(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

fn print_players(players: &[Player]) {
    let width = players.iter().map(|p| columns(&p.name)).max().unwrap_or(0).max(4);
    println!("{:>3}  {:<width$}  {:>5}  {:>8}", "#", "Name", "Score", "Time");
    for (i, p) in players.iter().enumerate() {
        let pad = width - columns(&p.name);
        println!("{:>3}  {}{}  {:>5}  {:>8}", i + 1, p.name, " ".repeat(pad), p.score, human(p.duration));
    }
}

/// Seconds as `1h 02m`, `4m 05s` or `9s`.
fn human(seconds: f32) -> String {
    let s = seconds.max(0.0) as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

fn lively_server() -> Responder {
    let mut info = SourceInfo::default();
    info.protocol = 17;
    info.server_name = "Orbital Station | 24/7 Payload | Ünïcode ✓".to_string();
    info.map_name = "pl_upward".to_string();
    info.folder = "tf".to_string();
    info.game = "Team Fortress".to_string();
    info.app_id = 440;
    info.player_count = 12;
    info.max_players = 24;
    info.bot_count = 2;
    info.server_type = ServerType::Dedicated;
    info.platform = Platform::Linux;
    info.vac_enabled = true;
    info.version = "9351234".to_string();
    info.port = Some(27015);
    info.steam_id = Some(90_178_123_456_789_012);
    info.keywords = Some("payload,casual,nocrits".to_string());
    info.game_id = Some(440);
    let names = [
        "Heavy Weapons Guy",
        "Scout",
        "[BOT] Soldier",
        "Медик",
        "Engie ⚙",
        "Pyro",
        "Spy (probably)",
        "Demoman",
        "sniper_main_2009",
        "[BOT] Sniper",
        "ゆき",
        "x",
    ];
    let players = names
        .iter()
        .enumerate()
        .map(|(i, name)| Player::new((*name).to_string(), (37 - 3 * i as i32).max(0), 3725.0 / (i as f32 + 1.0) + 7.0))
        .collect();
    let rules = (0..150)
        .map(|i| match i {
            0 => ("mp_timelimit".to_string(), "30".to_string()),
            1 => ("sv_gravity".to_string(), "800".to_string()),
            _ => (format!("sm_plugin_{i:03}_version"), format!("1.{}.{}", i % 7, i % 13)),
        })
        .collect();
    let mut responder = Responder::new(Info::Source(info), players, rules);
    responder.compress = true;
    responder.split_size = 600;
    responder
}
