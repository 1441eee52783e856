//! `cargo bench -p a2s-query-benches --bench poll`: a reused `Client` polling one
//! in-process responder (the challenge known: one round trip a poll), next to a bare
//! std socket doing the same round trips, for profilers: its loop is all there is, so
//! `valgrind --tool=callgrind`, `strace -c` or `perf` over it count one poll's cost
//! with nothing else in the way.
//!
//! Arguments (after `--`): the kinds to run, among `floor`, `info`, `players`, `rules`
//! (default all four), and a number of polls (default 20 000). Each prints its time a
//! poll. To profile one kind, build with `cargo bench -p a2s-query-benches --bench poll
//! --no-run`, then run the executable it names, e.g. `valgrind --tool=callgrind EXE
//! --bench info 20000`; the client's own cost is the difference from `floor` over the
//! same count.

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use a2s_query::proto::{Challenge, Datagram, Info, Player, Query, SourceInfo};
use a2s_query::server::Responder;
use a2s_query::Client;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let polls = args.iter().find_map(|a| a.parse::<u32>().ok()).unwrap_or(20_000).max(1);
    let kinds: Vec<&str> = args.iter().map(String::as_str).filter(|a| a.parse::<u32>().is_err()).collect();
    let kinds = if kinds.is_empty() { vec!["floor", "info", "players", "rules"] } else { kinds };

    let roster = (0..64).map(|i| Player::new(format!("player_name_{i:02}"), i, 100.0 * i as f32)).collect();
    let rules = (0..100).map(|i| (format!("sm_plugin_{i:04}_version"), format!("1.{}.{}", i % 7, i % 13))).collect();
    let server = Responder::new(Info::Source(SourceInfo::default()), roster, rules).spawn("127.0.0.1:0").unwrap();
    let addr = server.local_addr();

    for kind in kinds {
        let per_poll = match kind {
            "floor" => floor(addr, polls),
            "info" | "players" | "rules" => client(addr, kind, polls),
            other => panic!("unknown kind {other:?}: floor, info, players or rules"),
        };
        println!("{kind}: {per_poll:?} a poll over {polls} polls");
    }
}

/// The bare socket's polls: the info request with the challenge, its reply received.
fn floor(addr: std::net::SocketAddr, polls: u32) -> Duration {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 65_536];
    socket.send(&Query::Info(Some(Challenge::REQUEST)).encode()).unwrap();
    let n = socket.recv(&mut buf).unwrap();
    let challenge = match Datagram::classify(&buf[..n]) {
        Ok(Datagram::Challenge(c)) => c,
        other => panic!("no challenge: {other:?}"),
    };
    let request = Query::Info(Some(challenge)).encode();
    let started = Instant::now();
    for _ in 0..polls {
        socket.send(&request).unwrap();
        black_box(socket.recv(&mut buf).unwrap());
    }
    started.elapsed() / polls
}

/// A reused client's polls of one kind, after one that learns the challenge.
fn client(addr: std::net::SocketAddr, kind: &str, polls: u32) -> Duration {
    let mut client = Client::builder().timeout(Duration::from_secs(2)).build();
    let poll = |client: &mut Client| match kind {
        "info" => drop(black_box(client.info(addr).unwrap())),
        "players" => drop(black_box(client.players(addr).unwrap())),
        _ => drop(black_box(client.rules(addr).unwrap())),
    };
    poll(&mut client);
    let started = Instant::now();
    for _ in 0..polls {
        poll(&mut client);
    }
    started.elapsed() / polls
}
