//! The many-servers engine on loopback against a farm of simulated servers: every
//! address answered exactly once with its own value, dead servers costing one timeout,
//! both families in one list. Protocol behaviour is tested on the state machines
//! (tests/endpoint.rs); these show the wiring.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use a2s_query::proto::{Info, Player, SourceInfo};
use a2s_query::server::{Farm, Fault, Responder, Running};
use a2s_query::{Batch, Encoding, Error, Stray};

mod common;
use common::loopback_v4;

/// The big farms run one at a time: a thousand sockets each, and the soft limit on
/// open files is often 1024.
static BIG: Mutex<()> = Mutex::new(());

fn big() -> std::sync::MutexGuard<'static, ()> {
    BIG.lock().unwrap_or_else(|e| e.into_inner())
}

/// What server `i` of a farm is like.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    /// Its rules are long enough to be split (3 fragments).
    Split,
    /// Split and bzip2-compressed.
    Compressed,
    Silent,
    /// Loses its first reply.
    Lossy,
}

fn kind(i: usize) -> Kind {
    match i % 20 {
        3 | 13 => Kind::Split,
        7 => Kind::Compressed,
        11 => Kind::Silent,
        17 => Kind::Lossy,
        _ => Kind::Plain,
    }
}

fn rules_of(i: usize, kind: Kind) -> Vec<(String, String)> {
    let mut rules = vec![("index".to_string(), i.to_string())];
    if matches!(kind, Kind::Split | Kind::Compressed) {
        rules.extend((0..120).map(|r| (format!("rule_{r}"), format!("{i}-{r}-value"))));
    }
    rules
}

fn responder(i: usize, kind: Kind) -> (Responder, Fault) {
    let mut info = SourceInfo::default();
    info.server_name = format!("server {i}");
    info.map_name = format!("map{i}");
    let players = vec![Player::new(format!("p{i}"), i as i32, 1.0)];
    let mut r = Responder::new(Info::Source(info), players, rules_of(i, kind));
    if kind == Kind::Compressed {
        r.compress = true;
    }
    let fault = match kind {
        Kind::Silent => Fault::Silent,
        Kind::Lossy => Fault::LoseFirst(1),
        _ => Fault::None,
    };
    (r, fault)
}

/// A farm of `v4` servers on 127.0.0.0/8 and `v6` on ::1, server `i` made as
/// [`kind`] says; with each address's index.
fn farm(v4: usize, v6: usize) -> (Running<Farm>, HashMap<SocketAddr, usize>) {
    let mut farm = Farm::new();
    for i in v4..v4 + v6 {
        let (r, fault) = responder(i, kind(i));
        farm = farm.add("[::1]:0".parse().unwrap(), r, fault).unwrap();
    }
    let running = farm.spawn_loopback(v4, |i| responder(i, kind(i))).unwrap();
    let mut index = HashMap::new();
    let addrs = running.addrs();
    for (n, &addr) in addrs.iter().enumerate() {
        // The IPv6 servers were added first.
        let i = if n < v6 { v4 + n } else { n - v6 };
        index.insert(addr, i);
    }
    (running, index)
}

/// A dead server: a socket that is never read, on every local address (so the port
/// is silent on all of 127.0.0.0/8, not refused), kept open so that no other test can
/// be given its port; its address on 127.0.0.1.
fn dead_server() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    let addr = loopback_v4(0, s.local_addr().unwrap().port());
    (s, addr)
}

/// A batch whose window fits the kernel receive buffer it got: each server under way
/// may have a 3-fragment reply (about 8 KiB in the kernel's accounting) arriving at
/// once, so a burst never relies on more room than there is.
fn batch(timeout: Duration) -> Batch {
    let build = |window| Batch::builder().timeout(timeout).retries(2).max_in_flight(window).send_rate(20_000).build();
    let granted = build(1).unwrap().recv_buffer_size();
    let window = (granted / 8192).clamp(8, 128);
    build(window).unwrap()
}

fn rule<'a>(rules: &'a a2s_query::Rules, name: &str) -> Option<&'a str> {
    rules.get(name)
}

/// The window `batch()` chose.
fn batch_window(b: &Batch) -> u32 {
    (b.recv_buffer_size() / 8192).clamp(8, 128) as u32
}

fn index_of(name: &str) -> usize {
    name.strip_prefix("server ").and_then(|i| i.parse().ok()).unwrap_or_else(|| panic!("{name:?}"))
}

/// 1 000 servers in one call: plain, split, compressed, silent, lossy, dead ports,
/// both families, a duplicate, a stray from an address not queried. Each address comes
/// back exactly once (the duplicate twice) with its own rules.
#[test]
fn a_thousand_servers_each_answered_once_with_its_own_rules() {
    let _big = big();
    let (farm, index) = farm(960, 30);
    let (_dead_sockets, dead): (Vec<UdpSocket>, Vec<SocketAddr>) = (0..10).map(|_| dead_server()).unzip();
    let mut addrs: Vec<SocketAddr> = farm.addrs().to_vec();
    addrs.extend(&dead);
    let duplicated = farm.addrs()[500];
    addrs.push(duplicated);
    let timeout = Duration::from_secs(3);
    let mut batch = batch(timeout);

    let local = batch.local_addr().unwrap();
    let stray = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    for (addr, result) in batch.rules(addrs.iter().copied()) {
        // A datagram from an address that was never queried, while the run is on (one
        // per item: it does not matter if the kernel drops some).
        stray.send_to(b"\xFF\xFF\xFF\xFFEjunk", ("127.0.0.1", local.port())).unwrap();
        *seen.entry(addr).or_default() += 1;
        match index.get(&addr).map(|&i| (i, kind(i))) {
            Some((i, Kind::Silent)) => {
                let e = result.expect_err("a silent server times out");
                assert!(e.is_timeout(), "{addr} (server {i}): {e}");
            }
            Some((i, k)) => {
                let rules = result.unwrap_or_else(|e| panic!("{addr} (server {i}, {k:?}): {e}"));
                let want = rules_of(i, k);
                assert_eq!(rules.len(), want.len(), "server {i}");
                assert_eq!(rule(&rules, "index"), Some(i.to_string().as_str()));
                if k != Kind::Plain && k != Kind::Lossy {
                    assert_eq!(rule(&rules, "rule_119"), Some(format!("{i}-119-value").as_str()));
                }
            }
            None => {
                assert!(dead.contains(&addr), "{addr} was not queried");
                assert!(result.unwrap_err().is_timeout());
            }
        }
    }
    let elapsed = started.elapsed();
    assert!(batch.unmatched() >= 1, "the stray was counted");
    assert_eq!(seen.len(), addrs.len() - 1, "every address once");
    assert!(seen.iter().all(|(a, &n)| n == if *a == duplicated { 2 } else { 1 }), "{seen:?}");
    // Dead and silent servers cost one timeout each, side by side: at most
    // ceil(60 / window) waves of them.
    // Each holds a slot: the 60 dead and silent ones a timeout, the 50 lossy ones a
    // third of it (their retry). The window shares them out.
    let slot_time = timeout * 60 + timeout / 3 * 50;
    let bound = slot_time / batch_window(&batch) + timeout + Duration::from_secs(2);
    assert!(elapsed < bound, "took {elapsed:?}, bound {bound:?}");
}

/// However many servers are dead, a run ends about one timeout after the last one
/// was first asked: they wait side by side, not one after another.
#[test]
fn five_hundred_dead_servers_cost_one_timeout() {
    let (_dead, port) = dead_server();
    let port = port.port();
    let dead: Vec<SocketAddr> = (0..500).map(|i| loopback_v4(i, port)).collect();
    let timeout = Duration::from_millis(800);
    let mut batch = Batch::builder().timeout(timeout).max_in_flight(1000).send_rate(0).build().unwrap();
    let started = Instant::now();
    let items: Vec<_> = batch.info(dead.iter().copied()).collect();
    let elapsed = started.elapsed();
    assert_eq!(items.len(), 500);
    assert!(items.iter().all(|(_, r)| r.as_ref().unwrap_err().is_timeout()));
    assert!(elapsed >= timeout, "{elapsed:?}");
    // About one timeout, not 500 (400 s one after another); a second of slack for a
    // loaded machine.
    assert!(elapsed < timeout * 2 + Duration::from_secs(1), "took {elapsed:?}");
}

/// Dropping the iterator half way stops the sending; the batch then runs again, and
/// nothing of the abandoned run answers the new one.
#[test]
fn dropping_the_iterator_stops_sending() {
    let _big = big();
    let farm = Farm::new().spawn_loopback(300, |i| responder(i, Kind::Plain)).unwrap();
    let mut batch =
        Batch::builder().timeout(Duration::from_secs(3)).max_in_flight(32).send_rate(2_000).build().unwrap();
    let taken: Vec<_> = batch.info(farm.addrs().iter().copied()).take(40).collect();
    assert_eq!(taken.len(), 40);
    // Nothing more is sent: however long the farm takes to read what was (its count
    // only lags), at most the window beyond the 40 taken had been started (two
    // requests each), where going on would have asked all 300 servers (600).
    std::thread::sleep(Duration::from_millis(800));
    let asked = farm.requests();
    assert!(asked <= 2 * (40 + 32 + 1), "{asked} requests: sending went on after the drop");

    // A new run on the same batch: every server right, challenges remembered.
    let again: Vec<_> = batch.info(farm.addrs().iter().copied()).collect();
    assert_eq!(again.len(), 300);
    let mut refused_early = Vec::new();
    for (addr, result) in again {
        match result {
            Ok(info) => {
                let i = index_of(info.server_name());
                assert_eq!(farm.addrs()[i], addr, "{addr} answered as server {i}");
            }
            // By design: a reply sooner than half the server's shortest round trip
            // (measured in the first run, slow on a loaded machine) may be a late one of
            // the abandoned query, and is refused; the guard then forgets that round
            // trip, so the next query gets its answer.
            Err(Error::Timeout { ignored, .. }) if ignored.telling == Some(Stray::Stale) => refused_early.push(addr),
            Err(e) => panic!("{addr}: {e}"),
        }
    }
    for (addr, result) in batch.info(refused_early) {
        let info = result.unwrap_or_else(|e| panic!("{addr}, asked again: {e}"));
        assert_eq!(farm.addrs()[index_of(info.server_name())], addr);
    }
}

/// `all`: info, players and rules per server as one item; a server that never
/// answers rules still gives its info and players; a dead one costs one timeout.
#[test]
fn all_three_per_server_in_one_item() {
    let mut farm = Farm::new();
    for i in 0..20usize {
        let (mut r, fault) = responder(i, Kind::Plain);
        r.answer_rules = i % 4 != 1;
        farm = farm.add("127.0.0.1:0".parse().unwrap(), r, fault).unwrap();
    }
    let farm = farm.spawn().unwrap();
    let (_dead, dead) = dead_server();
    let timeout = Duration::from_secs(1);
    let mut batch = Batch::builder().timeout(timeout).build().unwrap();
    let mut addrs = farm.addrs().to_vec();
    addrs.push(dead);
    let started = Instant::now();
    let mut n = 0;
    for (addr, all) in batch.all(addrs.iter().copied()) {
        n += 1;
        if addr == dead {
            assert!(all.info.unwrap_err().is_timeout());
            assert!(all.players.unwrap_err().is_timeout());
            assert!(all.rules.unwrap_err().is_timeout());
            continue;
        }
        let i = farm.addrs().iter().position(|&a| a == addr).unwrap();
        assert_eq!(all.info.unwrap().server_name(), &format!("server {i}"));
        assert_eq!(all.players.unwrap().entries[0].name, format!("p{i}"));
        match all.rules {
            Ok(rules) => assert_eq!(rule(&rules, "index"), Some(i.to_string().as_str())),
            Err(e) => assert!(i % 4 == 1 && e.is_timeout(), "server {i}: {e}"),
        }
    }
    assert_eq!(n, 21);
    // The challenge is shared: info with its challenge round (2 requests), then
    // players and rules with the challenge it got (1 each).
    assert_eq!(farm.requests(), 20 * 4);
    // The silent rules queries and the dead server overlap: about one timeout in all.
    assert!(started.elapsed() < timeout * 2 + Duration::from_secs(2), "{:?}", started.elapsed());
}

/// The python-a2s habit: one call over a list, and a list of lines with a bad one.
#[test]
fn info_many_over_a_list_of_lines() {
    let (farm, index) = farm(5, 1);
    let mut text: Vec<String> = farm.addrs().iter().map(|a| a.to_string()).collect();
    text.insert(2, "# a comment".to_string());
    text.insert(4, "not an address".to_string());
    text.push(String::new());
    let mut bad = Vec::new();
    let addrs = a2s_query::addresses(&text, |b| bad.push(b));
    let items: Vec<_> = a2s_query::info_many(addrs, Duration::from_secs(3), Encoding::Utf8).unwrap().collect();
    assert_eq!(items.len(), 6);
    for (addr, info) in items {
        let info = info.unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert_eq!(index_of(info.server_name()), index[&addr]);
    }
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].line, bad[0].text.as_str()), (5, "not an address"));

    let players: Vec<_> = a2s_query::players_many(farm.addrs().iter().copied(), Duration::from_secs(3), Encoding::Utf8)
        .unwrap()
        .collect();
    assert_eq!(players.len(), 6);
    for (addr, list) in players {
        assert_eq!(list.unwrap()[0].name, format!("p{}", index[&addr]));
    }
}

/// An IPv6 server given to a batch bound to IPv4 gets its own clear error; the others
/// are answered.
#[test]
fn an_ipv4_batch_says_so_for_an_ipv6_server() {
    let farm = Farm::new()
        .add("127.0.0.1:0".parse().unwrap(), responder(0, Kind::Plain).0, Fault::None)
        .unwrap()
        .spawn()
        .unwrap();
    let v4 = farm.addrs()[0];
    let v6: SocketAddr = "[::1]:27015".parse().unwrap();
    let mut batch = Batch::builder().bind("127.0.0.1:0".parse().unwrap()).build().unwrap();
    let items: HashMap<SocketAddr, _> = batch.info([v6, v4]).collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[&v4].as_ref().unwrap().server_name(), "server 0");
    let e = items[&v6].as_ref().unwrap_err();
    assert!(matches!(e, a2s_query::Error::InvalidInput(m) if m.contains("IPv6")), "{e}");
    assert!(matches!(Batch::builder().timeout(Duration::ZERO).build(), Err(a2s_query::Error::InvalidInput(_))));
}

/// More dead servers than the window: they are waited for in waves of the window,
/// each one timeout long, and every one of them still comes out.
#[test]
fn dead_servers_beyond_the_window_wait_in_waves() {
    let (_dead, port) = dead_server();
    let dead: Vec<SocketAddr> = (0..300).map(|i| loopback_v4(i, port.port())).collect();
    let timeout = Duration::from_millis(400);
    let mut batch = Batch::builder().timeout(timeout).max_in_flight(100).send_rate(0).build().unwrap();
    let started = Instant::now();
    let items: Vec<_> = batch.info(dead.iter().copied()).collect();
    let elapsed = started.elapsed();
    assert_eq!(items.len(), 300);
    let mut seen: Vec<SocketAddr> = items.iter().map(|(a, _)| *a).collect();
    seen.sort();
    let mut want = dead.clone();
    want.sort();
    assert_eq!(seen, want);
    // Three waves of 100.
    assert!(elapsed >= timeout * 3, "{elapsed:?}");
    assert!(elapsed < timeout * 3 + Duration::from_secs(1), "{elapsed:?}");
}

/// A source that blocks between addresses (a master's paced pages) in a `Feed`: the run
/// keeps reading replies while it blocks, so the server already asked is answered with
/// its own round trip. (Read in line, its reply would wait in the socket past its
/// deadline.)
#[test]
fn a_slow_source_in_a_feed_does_not_time_out_the_servers_already_asked() {
    let info = |name: &str| {
        Info::Source({
            let mut info = SourceInfo::default();
            info.server_name = name.into();
            info
        })
    };
    let first = Responder::new(info("first"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let second = Responder::new(info("second"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let (a, b) = (first.local_addr(), second.local_addr());
    let timeout = Duration::from_secs(2);
    // The first address after 5 ms (so that it is sent before the source blocks), the
    // second after twice the timeout.
    let slow = move || {
        let mut step = 0;
        std::iter::from_fn(move || {
            step += 1;
            match step {
                1 => std::thread::sleep(Duration::from_millis(5)),
                2 => std::thread::sleep(timeout * 2),
                _ => return None,
            }
            Some(if step == 1 { a } else { b })
        })
    };

    let mut got = HashMap::new();
    for (addr, result) in batch(timeout).info(a2s_query::Feed::spawn(slow())) {
        got.insert(addr, result);
    }
    assert_eq!(got.len(), 2);
    let first_info = got[&a].as_ref().expect("answered while the source blocked");
    assert_eq!(first_info.server_name(), "first");
    assert!(first_info.ping() < timeout, "the ping is the round trip, not the source's wait: {:?}", first_info.ping());
    assert_eq!(got[&b].as_ref().unwrap().server_name(), "second");
}

/// Where the OS says which server an ICMP "port unreachable" concerns (Linux), a
/// closed port ends `refused`, as the blocking client tells it, not at its timeout (ten
/// seconds, no retry: the error queue is the only way to hear of it); the servers beside
/// it answer as ever.
#[cfg(target_os = "linux")]
#[test]
fn closed_ports_are_refused_not_timed_out() {
    let (farm, index) = farm(3, 0);
    let closed = common::closed_ports(["127.201.0.1", "127.201.0.2"]);
    let mut batch = Batch::builder().timeout(Duration::from_secs(10)).retries(0).build().unwrap();
    let asked: Vec<SocketAddr> = closed.iter().map(|c| c.0).chain(farm.addrs().iter().copied()).collect();
    let items: HashMap<SocketAddr, _> = batch.info(asked.iter().copied()).collect();
    assert_eq!(items.len(), asked.len());
    for &(addr, ref guard) in &closed {
        let result = &items[&addr];
        let refused =
            matches!(result, Err(a2s_query::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused);
        assert!(refused || (guard.is_none() && common::taken_meanwhile(addr)), "{addr}: {result:?}");
    }
    for addr in farm.addrs() {
        assert_eq!(items[addr].as_ref().unwrap().server_name(), format!("server {}", index[addr]));
    }
}

/// A run's type names its items alone: a function can hand one back without the
/// engine's types or the input's.
#[test]
fn a_run_is_a_nameable_iterator() {
    fn ask<'a>(batch: &'a mut Batch, addrs: &'a [SocketAddr]) -> a2s_query::Results<'a, a2s_query::Result<Info>> {
        batch.info(addrs.iter().copied())
    }
    fn ask_once(addrs: Vec<SocketAddr>) -> a2s_query::Result<a2s_query::Results<'static, a2s_query::Result<Info>>> {
        a2s_query::info_many(addrs, Duration::from_secs(3), Encoding::Utf8)
    }
    let (farm, index) = farm(4, 0);
    let mut batch = Batch::builder().timeout(Duration::from_secs(3)).build().unwrap();
    let mut names: Vec<String> =
        ask(&mut batch, farm.addrs()).map(|(_, r)| r.unwrap().server_name().to_string()).collect();
    names.sort();
    assert_eq!(names, ["server 0", "server 1", "server 2", "server 3"]);
    for (addr, info) in ask_once(farm.addrs().to_vec()).unwrap() {
        assert_eq!(info.unwrap().server_name(), format!("server {}", index[&addr]));
    }
}
