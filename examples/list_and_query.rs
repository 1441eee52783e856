//! List a game's servers from a master server and query them all at once: the walk
//! feeds the batch engine lazily, nothing is collected before the queries go out.
//! Prints the ten fullest servers.
//!
//! ```sh
//! cargo run --example list_and_query                       # against local fakes
//! cargo run --example list_and_query -- MASTER:PORT APPID  # against a community master
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use a2s_query::master::MasterQuery;
use a2s_query::proto::{Filter, Info, SourceInfo};
use a2s_query::server::{FakeMaster, Farm, Fault, Responder};
use a2s_query::Batch;

fn main() -> Result<(), a2s_query::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Without arguments: a farm of 60 servers and a fake master listing them.
    let (_farm, _master, master_addr, app) = if let [master, app] = args.as_slice() {
        let addr: SocketAddr = master.parse().map_err(|_| a2s_query::Error::InvalidInput("MASTER must be IP:PORT"))?;
        (None, None, addr, app.parse().unwrap_or(440))
    } else {
        let farm = Farm::new().spawn_loopback(60, |i| {
            let info = SourceInfo {
                server_name: format!("Local server #{i}"),
                map_name: "cp_badlands".into(),
                player_count: (i * 7 % 33) as u8,
                max_players: 32,
                ..Default::default()
            };
            (Responder::new(Info::Source(info), vec![], vec![]), if i % 9 == 4 { Fault::Silent } else { Fault::None })
        })?;
        let list =
            farm.addrs().iter().filter_map(|a| if let SocketAddr::V4(v4) = a { Some(*v4) } else { None }).collect();
        let master = FakeMaster::new(list, 25).spawn("127.0.0.1:0")?;
        let addr = master.local_addr();
        (Some(farm), Some(master), addr, 440)
    };

    let walk =
        MasterQuery::new(master_addr)?.filter(Filter::new().app_id(app).not_empty()).pace(Duration::ZERO).walk()?;
    let mut listing_error = None;
    let addrs = walk.filter_map(|item| item.map_err(|e| listing_error = Some(e)).ok());
    let mut batch = Batch::builder().timeout(Duration::from_secs(2)).build()?;
    let mut answered: Vec<(SocketAddr, Info)> = Vec::new();
    let mut silent = 0;
    for (addr, result) in batch.info(addrs) {
        match result {
            Ok(info) => answered.push((addr, info)),
            Err(_) => silent += 1,
        }
    }
    if let Some(e) = listing_error {
        eprintln!("the list is incomplete: {e}");
    }
    answered.sort_by_key(|(_, info)| std::cmp::Reverse(info.player_count()));
    println!("{} servers answered, {silent} did not. The fullest ten:", answered.len());
    for (addr, info) in answered.iter().take(10) {
        println!("{:>2}/{:<2}  {addr:<21}  {}", info.player_count(), info.max_players(), info.name());
    }
    Ok(())
}
