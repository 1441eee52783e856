//! Watches a local farm of A2S servers and prints what changes, as a status bot would:
//!
//! ```sh
//! cargo run --example monitor
//! ```
//!
//! Four servers answer on 127.0.0.1, a fifth port is closed. Once all are seen, one
//! server changes map and gets a player and another goes silent: each change is an
//! event. It ends once it has seen them all (or after 30 s, with status 1).

use std::time::{Duration, Instant};

use a2s_query::server::{RateLimit, Responder, Running};
use a2s_query::{Change, Info, Monitor, SourceInfo};

fn server(name: &str, map: &str) -> Result<Running, a2s_query::Error> {
    let mut info = SourceInfo::default();
    info.server_name = name.into();
    info.map_name = map.into();
    info.max_players = 16;
    Responder::new(Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0")
}

fn main() -> Result<(), a2s_query::Error> {
    let servers = [
        server("Dust forever", "de_dust2")?,
        server("Office hours", "cs_office")?,
        server("Nuke town", "de_nuke")?,
        server("Going away", "de_train")?,
    ];
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let closed_addr = closed.local_addr()?;
    drop(closed);

    let mut monitor = Monitor::builder()
        .every(Duration::from_millis(200))
        .timeout(Duration::from_secs(2))
        .down_after(1)
        .thresholds([1])
        .build()?;
    for s in &servers {
        monitor.add(s.local_addr())?;
    }
    monitor.add(closed_addr)?;
    println!("Watching {} servers on 127.0.0.1, every 200 ms.", monitor.len());

    let [dust, _, _, going] = &servers;
    let started = Instant::now();
    let (mut up, mut down, mut changed, mut acted) = (0, 0, 0, false);
    // Up for the four, down for the closed port and the one that goes, the new map and
    // the player count going past 1.
    while up < 4 || down < 2 || changed < 2 {
        if started.elapsed() > Duration::from_secs(30) {
            eprintln!("not every change was seen in 30 s");
            std::process::exit(1);
        }
        if !acted && up == 4 && down == 1 {
            // Every server seen: one changes map and gets a player, another goes silent.
            acted = true;
            dust.update(|r| {
                if let Info::Source(info) = &mut r.info {
                    info.map_name = "de_inferno".into();
                    info.player_count = 1;
                }
            });
            let silence = RateLimit::new(0, Duration::from_secs(3600), Duration::from_secs(3600));
            going.update(|r| r.rate_limit = Some(silence));
        }
        let Some(event) = monitor.next_event_before(Instant::now() + Duration::from_millis(100)) else { continue };
        let name = monitor.status(event.addr).and_then(|s| s.info.as_ref()).map(|i| i.server_name().to_string());
        let name = name.unwrap_or_else(|| event.addr.to_string());
        match &event.change {
            Change::Up { info } => {
                up += 1;
                println!("{name}: up on {} ({}/{})", info.map_name(), info.player_count(), info.max_players());
            }
            Change::Down { reason, error } => {
                down += 1;
                println!("{name}: down ({reason}): {error}");
            }
            Change::MapChanged { from, to } => {
                changed += 1;
                println!("{name}: map {from} -> {to}");
            }
            Change::PlayerCount { from, to } => println!("{name}: players {from} -> {to}"),
            Change::PlayersCrossed { threshold, .. } => {
                changed += 1;
                println!("{name}: {threshold} or more players now");
            }
            other => println!("{name}: {other:?}"),
        }
    }
    println!("events: {up} up, {down} down, {changed} changes");
    Ok(())
}
