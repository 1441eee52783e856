//! A bot's loop from async code: one shared `a2s_query::tokio::Client`, a few servers
//! polled every few seconds by their own tasks, and a line printed whenever something
//! changes (the map, the player count, the name). It starts three local servers and
//! changes them as it goes, so it runs with no network; it stops after a few rounds.
//!
//! ```sh
//! cargo run --features tokio --example bot
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use a2s_query::proto::{Info, SourceInfo};
use a2s_query::server::{Responder, Running};
use a2s_query::tokio::Client;

/// What the bot shows of a server.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: String,
    map: String,
    players: u8,
    max: u8,
}

const ROUNDS: usize = 4;
const EVERY: Duration = Duration::from_millis(700);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let servers = local_servers()?;
    let addrs: Vec<SocketAddr> = servers.iter().map(Running::local_addr).collect();
    // One client for every task: clones share its socket and what it learned.
    let client = Client::builder().timeout(Duration::from_secs(2)).retries(1).build();

    let (changes, mut seen) = tokio::sync::mpsc::unbounded_channel();
    for &addr in &addrs {
        let (client, changes) = (client.clone(), changes.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(EVERY);
            for _ in 0..ROUNDS {
                ticker.tick().await;
                let now = client.info(addr).await.map(|info| Seen {
                    name: info.server_name().to_string(),
                    map: info.map_name().to_string(),
                    players: info.player_count(),
                    max: info.max_players(),
                });
                if changes.send((addr, now.map_err(|e| e.to_string()))).is_err() {
                    return;
                }
            }
        });
    }
    drop(changes);

    // Meanwhile the servers live their lives: players come, a map changes.
    let life = tokio::spawn(async move {
        for round in 1..ROUNDS {
            tokio::time::sleep(EVERY).await;
            for (i, server) in servers.iter().enumerate() {
                server.update(|r| {
                    if let Info::Source(info) = &mut r.info {
                        info.player_count = info.player_count.saturating_add((i + round) as u8 % 3);
                        if round == 2 && i == 0 {
                            info.map_name = "cp_granary".into();
                        }
                    }
                });
            }
        }
        servers
    });

    let mut last: HashMap<SocketAddr, Result<Seen, String>> = HashMap::new();
    while let Some((addr, now)) = seen.recv().await {
        let before = last.insert(addr, now.clone());
        match (before, now) {
            (None, Ok(s)) => println!("{addr}  {}  {}  {}/{}", s.name, s.map, s.players, s.max),
            (Some(Ok(b)), Ok(s)) if b != s => {
                let mut what = Vec::new();
                if b.map != s.map {
                    what.push(format!("map {} -> {}", b.map, s.map));
                }
                if b.players != s.players {
                    what.push(format!("players {} -> {}", b.players, s.players));
                }
                if b.name != s.name {
                    what.push(format!("name {:?} -> {:?}", b.name, s.name));
                }
                println!("{addr}  {}: {}", s.name, what.join(", "));
            }
            (_, Err(e)) => println!("{addr}  no answer: {e}"),
            (Some(Err(_)), Ok(s)) => println!("{addr}  back: {}  {}/{}", s.name, s.players, s.max),
            _ => {}
        }
    }
    drop(life.await?);
    println!("{} servers polled {ROUNDS} times through one client", addrs.len());
    Ok(())
}

/// Three responders on 127.0.0.1, each with its own map and players.
fn local_servers() -> a2s_query::Result<Vec<Running>> {
    let maps = ["ctf_2fort", "pl_badwater", "koth_harvest"];
    maps.iter()
        .enumerate()
        .map(|(i, map)| {
            let mut info = SourceInfo::default();
            info.server_name = format!("Local server {}", i + 1);
            info.map_name = (*map).to_string();
            info.game = "Team Fortress".into();
            info.app_id = 440;
            info.player_count = 10 + i as u8;
            info.max_players = 24;
            Responder::new(Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0")
        })
        .collect()
}
