//! List a game's servers, from a master server or from the Steam Web API, and query them
//! all at once: the list feeds the batch engine as it comes (the master's walk runs in a
//! `Feed`, so its paced pages never hold up the replies). Prints the ten fullest servers
//! of each list.
//!
//! ```sh
//! cargo run --features web-api --example list_and_query                              # local fakes of both
//! cargo run --features web-api --example list_and_query -- master MASTER:PORT APPID  # a community master
//! STEAM_API_KEY=... cargo run --features web-api --example list_and_query -- web-api APPID
//! ```

use std::error::Error;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use a2s_query::master::MasterQuery;
use a2s_query::proto::{Condition::*, Filter, Info, SourceInfo};
use a2s_query::server::{FakeMaster, FakeWebApi, Farm, Fault, Responder};
use a2s_query::web_api::{ServerSummary, WebApi};
use a2s_query::{Batch, Feed, IntoInput};

const USAGE: &str = "usage: list_and_query [master MASTER:PORT APPID | web-api APPID]";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => local(),
        ["master", master, app] => {
            // A real master: its default pacing, 30 pages a minute at most.
            let walk = MasterQuery::new(*master)?.filter(Filter::from_iter([AppId(app.parse()?), NotEmpty]));
            from_master(walk)
        }
        ["web-api", app] => from_web_api(&WebApi::from_env()?, app.parse()?),
        _ => Err(USAGE.into()),
    }
}

/// A farm of 60 servers on loopback, listed by a fake master and a fake Web API.
fn local() -> Result<(), Box<dyn Error>> {
    let farm = Farm::new().spawn_loopback(60, |i| {
        let mut info = SourceInfo::default();
        info.server_name = format!("Local server #{i}");
        info.map_name = "cp_badlands".into();
        info.player_count = (i * 7 % 33) as u8;
        info.max_players = 32;
        (Responder::new(Info::Source(info), vec![], vec![]), if i % 9 == 4 { Fault::Silent } else { Fault::None })
    })?;
    let v4 = farm.addrs().iter().filter_map(|a| if let SocketAddr::V4(v4) = a { Some(*v4) } else { None }).collect();
    let master = FakeMaster::new(v4, 25).spawn("127.0.0.1:0")?;
    // The fake answers at once: no need to pace its pages.
    from_master(MasterQuery::new(master.local_addr())?.pace(Duration::ZERO))?;

    let key = "LOCAL-FAKE-KEY";
    let summaries = farm.addrs().iter().map(|&addr| ServerSummary::new(addr)).collect();
    let api = FakeWebApi::new(key, summaries).spawn()?;
    println!();
    from_web_api(&WebApi::new(key).base_url(api.base_url()), 440)
}

fn from_master(query: MasterQuery) -> Result<(), Box<dyn Error>> {
    // The walk waits between pages (30 a minute): on its own thread, in a Feed.
    let listing_error = Arc::new(Mutex::new(None));
    let keep = Arc::clone(&listing_error);
    let addrs = query.walk()?.filter_map(move |item| match item {
        Ok(addr) => Some(addr),
        Err(e) => {
            if let Ok(mut slot) = keep.lock() {
                *slot = Some(e);
            }
            None
        }
    });
    fullest_ten("the master server", Feed::spawn(addrs))?;
    if let Some(e) = listing_error.lock().ok().and_then(|mut e| e.take()) {
        eprintln!("the list is incomplete: {e}");
    }
    Ok(())
}

fn from_web_api(api: &WebApi, app: u32) -> Result<(), Box<dyn Error>> {
    let listing = api.server_list(&Filter::from_iter([AppId(app), NotEmpty]), 10_000)?;
    if listing.skipped > 0 {
        eprintln!("{} entries of the reply were not servers", listing.skipped);
    }
    if listing.limit_reached {
        eprintln!("the list may be longer than what came: narrow the filter, or ask more");
    }
    fullest_ten("the Steam Web API", listing.into_iter().map(|server| server.addr))
}

/// Queries every address as it comes and prints the ten with the most players.
fn fullest_ten(source: &str, addrs: impl IntoInput) -> Result<(), Box<dyn Error>> {
    let mut batch = Batch::builder().timeout(Duration::from_secs(2)).build()?;
    let mut answered: Vec<(SocketAddr, Info)> = Vec::new();
    let mut silent = 0;
    for (addr, result) in batch.info(addrs) {
        match result {
            Ok(info) => answered.push((addr, info)),
            Err(_) => silent += 1,
        }
    }
    answered.sort_by_key(|(_, info)| std::cmp::Reverse(info.player_count()));
    println!("From {source}: {} servers answered, {silent} did not. The fullest ten:", answered.len());
    for (addr, info) in answered.iter().take(10) {
        println!("{:>2}/{:<2}  {addr:<21}  {}", info.player_count(), info.max_players(), info.server_name());
    }
    Ok(())
}
