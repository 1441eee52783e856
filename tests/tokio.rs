//! The async driver (`a2s_query::tokio`) against the crate's responders and scripted
//! servers on 127.0.0.1 and ::1: the three queries with challenges, split and bzip2
//! replies, silent and junk servers, a dropped query whose late reply must not answer
//! the next, one client shared by many tasks, and the same scenarios through the
//! blocking client giving the same results.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use a2s_query::proto::{GoldSrcInfo, Info, Query, SourceInfo, SplitFormat};
use a2s_query::server::{Farm, Fault, Responder, Running};
use a2s_query::tokio::Client;
use a2s_query::{Encoding, Error, Players};
use common::roster;

const TIMEOUT: Duration = Duration::from_millis(1500);

fn source(name: &str) -> Info {
    Info::Source({
        let mut info = SourceInfo::default();
        info.server_name = name.to_string();
        info.map_name = "ctf_2fort".to_string();
        info.app_id = 440;
        info.player_count = 3;
        info.max_players = 24;
        info
    })
}

fn rules(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("rule_{i}"), format!("value {i}"))).collect()
}

/// A server whose replies are split (and compressed, with `compress`).
fn split_server(bind: &str, compress: bool) -> Running {
    split_server_on(bind, compress).unwrap()
}

/// As [`split_server`]; `None` where `bind` cannot be bound (no IPv6).
fn split_server_on(bind: &str, compress: bool) -> Option<Running> {
    let mut r = Responder::new(source("split"), roster(40), rules(200));
    r.split_size = if compress { 300 } else { 500 };
    r.compress = compress;
    r.split_format = SplitFormat::Source;
    r.spawn(bind).ok()
}

fn client() -> Client {
    Client::builder().timeout(TIMEOUT).build()
}

#[tokio::test]
async fn the_three_queries_on_ipv4_and_ipv6() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let Ok(server) = Responder::new(source("both"), roster(5), rules(3)).spawn(bind) else {
            eprintln!("SKIPPED: cannot bind {bind}");
            continue;
        };
        let addr = server.local_addr();
        let client = client();
        let info = client.info(addr).await.unwrap();
        assert_eq!((info.server_name(), info.map_name(), info.player_count()), ("both", "ctf_2fort", 3));
        let players = client.players(addr).await.unwrap();
        assert_eq!(players, Players::new(roster(5)));
        let got = client.rules(addr).await.unwrap();
        assert_eq!(got.get("rule_2"), Some("value 2"));
        assert_eq!(got.len(), 3);
        // The free functions, python-a2s's ainfo and friends.
        let info = a2s_query::tokio::info(addr, TIMEOUT, Encoding::Utf8).await.unwrap();
        assert_eq!(info.server_name(), "both");
        assert_eq!(a2s_query::tokio::players(addr, TIMEOUT, Encoding::Utf8).await.unwrap().len(), 5);
        assert_eq!(a2s_query::tokio::rules(addr, TIMEOUT, Encoding::Utf8).await.unwrap().len(), 3);
        // A name, resolved without blocking.
        let named = if addr.is_ipv4() { format!("localhost:{}", addr.port()) } else { addr.to_string() };
        assert_eq!(client.info(named.as_str()).await.unwrap().server_name(), "both");
    }
}

/// A challenge is answered once and remembered: the second query to the server sends
/// it at once (one request, not two).
#[tokio::test]
async fn challenges_are_remembered_per_server() {
    let server = Responder::new(source("remembers"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let client = client();
    client.info(server.local_addr()).await.unwrap();
    assert_eq!(server.requests(), 2, "the first query pays the challenge round trip");
    client.players(server.local_addr()).await.unwrap();
    assert_eq!(server.requests(), 3, "the second sends the challenge it learned");
}

/// A timeout past what the clock can reach is no deadline, not a panic: a name's
/// lookup (pending at first) used to be timed with a plain `Instant + Duration`.
#[tokio::test]
async fn the_longest_timeout_with_a_name_to_resolve() {
    let server = Responder::new(source("patient"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let client = Client::builder().timeout(Duration::MAX).build();
    let query = client.info(format!("localhost:{}", server.local_addr().port()));
    // (Bounded here, so a lost reply fails the test rather than hang it.)
    let info = ::tokio::time::timeout(Duration::from_secs(30), query).await.expect("an answer on loopback").unwrap();
    assert_eq!(info.server_name(), "patient");
}

#[tokio::test]
async fn split_and_compressed_replies() {
    for compress in [false, true] {
        let server = split_server("127.0.0.1:0", compress);
        let client = client();
        let got = client.rules(server.local_addr()).await.unwrap();
        assert_eq!(got.len(), 200, "compress {compress}");
        assert_eq!(got.get("rule_199"), Some("value 199"));
        assert_eq!(client.players(server.local_addr()).await.unwrap(), Players::new(roster(40)));
    }
}

/// A silent server is a timeout; a port that answers junk is a timeout that says
/// what came instead; a zero timeout is refused at once.
#[tokio::test]
async fn silent_junk_and_bad_arguments() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = Client::builder().timeout(Duration::from_millis(300)).build();
    let e = client.info(silent.local_addr().unwrap()).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");

    let junk = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let junk_addr = junk.local_addr().unwrap();
    let answer = tokio::spawn(async move {
        let mut buf = [0; 1500];
        let (_, from) = junk.recv_from(&mut buf).await.unwrap();
        junk.send_to(b"HTTP/1.1 400 Bad Request\r\n\r\n", from).await.unwrap();
        junk
    });
    let e = client.info(junk_addr).await.unwrap_err();
    assert!(e.is_timeout() && e.to_string().contains("not A2S"), "{e}");
    drop(answer.await);

    let zero = Client::builder().timeout(Duration::ZERO).build();
    assert!(matches!(zero.info(junk_addr).await, Err(Error::InvalidInput(_))));
    assert!(matches!(client.info("no-port-here").await, Err(Error::Address(fault)) if fault.contains("no port")));
}

/// A query dropped after its request went out (a timeout around it, a lost select!):
/// its late reply comes before the next query to the same server is sent, and is not
/// taken as that query's answer; the client and its other queries carry on.
#[tokio::test]
async fn a_dropped_query_late_reply_never_answers_the_next() {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let other = Responder::new(source("other"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let client = Client::builder().timeout(Duration::from_secs(5)).build();
    let mut buf = [0u8; 1500];

    // Another query under way meanwhile, on another server.
    let elsewhere = {
        let client = client.clone();
        let other = other.local_addr();
        tokio::spawn(async move { client.info(other).await })
    };

    let (n, from) = {
        let dropped = client.info(addr);
        tokio::select! {
            _ = dropped => panic!("nothing answered yet"),
            got = server.recv_from(&mut buf) => got.unwrap(),
        }
        // `dropped` is dropped here, its request out.
    };
    assert_eq!(Query::parse(&buf[..n]).ok(), Some(Query::Info(None)));
    // Its late reply arrives. (Loopback delivers it within the send; the pause covers a
    // kernel that defers delivery under load.)
    server.send_to(&encode(&source("late")), from).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let serve = async {
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(Query::parse(&buf[..n]).ok(), Some(Query::Info(None)), "a new request");
        server.send_to(&encode(&source("fresh")), from).await.unwrap();
    };
    let (fresh, ()) = tokio::join!(client.info(addr), serve);
    assert_eq!(fresh.unwrap().server_name(), "fresh", "the answer to the request sent, not the late one");
    assert_eq!(elsewhere.await.unwrap().unwrap().server_name(), "other", "the other query is untouched");
}

fn encode(info: &Info) -> Vec<u8> {
    let mut out = Vec::new();
    match info {
        Info::Source(s) => s.encode(&mut out).unwrap(),
        Info::GoldSrc(g) => g.encode(&mut out).unwrap(),
    }
    out
}

/// One client shared by many tasks on a multi-thread runtime: many servers at once,
/// and many tasks asking the same server the same thing at once (joined: one
/// exchange, every task its answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_shared_by_many_tasks() {
    let farm = Farm::new()
        .spawn_loopback(60, |i| {
            let mut info = SourceInfo::default();
            info.server_name = format!("farm {i}");
            info.player_count = i as u8;
            let fault = if i % 10 == 7 { Fault::Silent } else { Fault::None };
            (Responder::new(Info::Source(info), roster(i % 4), vec![]), fault)
        })
        .unwrap();
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, &addr) in farm.addrs().iter().enumerate() {
        let client = client.clone();
        tasks.spawn(async move { (i, client.info(addr).await.map(|info| info.server_name().to_string())) });
    }
    let same = farm.addrs()[0];
    for _ in 0..20 {
        let client = client.clone();
        tasks.spawn(async move { (0, client.info(same).await.map(|info| info.server_name().to_string())) });
    }
    let mut answers: HashMap<usize, usize> = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.unwrap();
        match result {
            Ok(name) => {
                assert_eq!(name, format!("farm {i}"));
                *answers.entry(i).or_default() += 1;
            }
            Err(e) => assert!(i % 10 == 7 && e.is_timeout(), "{i}: {e}"),
        }
    }
    assert_eq!(answers.len(), 54);
    assert_eq!(answers[&0], 21, "every task asking server 0 got its answer");
    // Different kinds to one server at once wait their turn, each answered.
    let addr = farm.addrs()[3];
    let (info, players, again) = tokio::join!(client.info(addr), client.players(addr), client.info(addr));
    assert_eq!(info.unwrap().server_name(), "farm 3");
    assert_eq!(players.unwrap(), Players::new(roster(3)));
    assert_eq!(again.unwrap().server_name(), "farm 3");
}

/// Many servers through `info_many`: every address exactly once, paced by the window.
#[tokio::test]
async fn many_servers_each_exactly_once() {
    let farm = Farm::new()
        .spawn_loopback(300, |i| {
            let mut info = SourceInfo::default();
            info.server_name = format!("many {i}");
            let fault = if i % 50 == 9 { Fault::Silent } else { Fault::None };
            (Responder::new(Info::Source(info), vec![], vec![]), fault)
        })
        .unwrap();
    let index: HashMap<SocketAddr, usize> = farm.addrs().iter().enumerate().map(|(i, &a)| (a, i)).collect();
    let client = Client::builder().timeout(TIMEOUT).max_in_flight(64).send_rate(0).build();
    let mut many = client.info_many(farm.addrs().to_vec());
    let mut seen = HashMap::new();
    while let Some((addr, result)) = many.next().await {
        let i = index[&addr];
        *seen.entry(addr).or_insert(0) += 1;
        match result {
            Ok(info) => assert_eq!(info.server_name(), format!("many {i}")),
            Err(e) => assert!(i % 50 == 9 && e.is_timeout(), "{addr}: {e}"),
        }
    }
    assert_eq!(seen.len(), 300);
    assert!(seen.values().all(|&n| n == 1));
}

/// Where the OS says which server an ICMP "port unreachable" concerns (Linux), a
/// closed port ends `refused` (not at the timeout of ten seconds, no retry: the error
/// queue is the only way to hear of it), one at a time and many at once.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn closed_ports_are_refused_not_timed_out() {
    let closed = common::closed_ports(["127.201.0.3", "127.201.0.4"]);
    let refused = |addr: SocketAddr, r: &a2s_query::Result<_>| {
        let guarded = closed.iter().any(|c| c.0 == addr && c.1.is_some());
        matches!(r, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused)
            || (!guarded && common::taken_meanwhile(addr))
    };
    let client = Client::builder().timeout(Duration::from_secs(10)).retries(0).build();
    for &(addr, _) in &closed {
        let result = client.info(addr).await;
        assert!(refused(addr, &result), "{addr}: {result:?}");
    }
    let mut many = client.info_many(closed.iter().map(|c| c.0).collect::<Vec<_>>());
    let mut seen = Vec::new();
    while let Some((addr, result)) = many.next().await {
        assert!(refused(addr, &result), "{addr}: {result:?}");
        seen.push(addr);
    }
    seen.sort();
    let mut want: Vec<SocketAddr> = closed.iter().map(|c| c.0).collect();
    want.sort();
    assert_eq!(seen, want);
}

/// Fifty queries joined on a current-thread runtime run at once: with a reply delay
/// of 400 ms each, fifty in turn would take 20 s; together they take about one.
#[test]
fn fifty_queries_on_a_current_thread_runtime_run_together() {
    let farm = Farm::new()
        .delay(Duration::from_millis(400))
        .spawn_loopback(50, |i| {
            let mut info = SourceInfo::default();
            info.server_name = format!("slow {i}");
            let mut r = Responder::new(Info::Source(info), vec![], vec![]);
            r.require_challenge = false;
            (r, Fault::None)
        })
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = std::time::Instant::now();
    let names = runtime.block_on(async {
        let client = Client::builder().timeout(Duration::from_secs(8)).build();
        let queries = farm.addrs().iter().map(|&addr| {
            let client = &client;
            async move { client.info(addr).await.map(|i| i.server_name().to_string()) }
        });
        let mut names = Vec::new();
        for query in queries.collect::<Vec<_>>() {
            names.push(query);
        }
        join_all(names).await
    });
    for (i, name) in names.into_iter().enumerate() {
        assert_eq!(name.unwrap(), format!("slow {i}"));
    }
    assert!(started.elapsed() < Duration::from_secs(8), "ran one after another: {:?}", started.elapsed());
}

/// Awaits every future at once (no extra crate): each polled on every wake.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The same servers through the blocking client and the async one: the same answers,
/// and the same kinds of error.
#[test]
fn the_blocking_and_the_async_client_agree() {
    let plain = Responder::new(source("plain"), roster(3), rules(5)).spawn("127.0.0.1:0").unwrap();
    let split = split_server("127.0.0.1:0", false);
    let compressed = split_server("127.0.0.1:0", true);
    let goldsrc = {
        let mut info = GoldSrcInfo::default();
        info.server_name = "old".into();
        info.map_name = "crossfire".into();
        Responder::new(Info::GoldSrc(info), roster(2), rules(2)).spawn("127.0.0.1:0").unwrap()
    };
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // A port that answers every datagram with an HTTP error.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk_addr = junk.local_addr().unwrap();
    junk.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let junk_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((_, from)) = junk.recv_from(&mut buf) {
                    let _ = junk.send_to(b"HTTP/1.1 400 Bad Request\r\n\r\n", from);
                }
            }
        })
    };
    let mut servers = vec![
        plain.local_addr(),
        split.local_addr(),
        compressed.local_addr(),
        goldsrc.local_addr(),
        silent.local_addr().unwrap(),
        junk_addr,
    ];
    // The same on IPv6, where the machine has it.
    let v6 = Responder::new(source("plain"), roster(3), rules(5)).spawn("[::1]:0").ok();
    let v6_split = split_server_on("[::1]:0", true);
    servers.extend(v6.iter().map(Running::local_addr).chain(v6_split.iter().map(Running::local_addr)));
    let timeout = Duration::from_millis(800);

    let mut blocking = a2s_query::Client::builder().timeout(timeout).build();
    let sync: Vec<_> = servers
        .iter()
        .map(|&a| (summary(blocking.info(a)), summary(blocking.players(a)), summary(blocking.rules(a))))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = Client::builder().timeout(timeout).build();
    let asynced: Vec<_> = runtime.block_on(async {
        let mut out = Vec::new();
        for &a in &servers {
            out.push((summary(client.info(a).await), summary(client.players(a).await), summary(client.rules(a).await)));
        }
        out
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    junk_thread.join().unwrap();
    assert_eq!(sync, asynced);
    assert_eq!(sync[0].0, "Ok(plain)");
    assert_eq!(sync[4].0, "Err(timeout)");
    assert_eq!(sync[5].0, "Err(timeout, not A2S)");
}

/// A result as text that compares across drivers (pings differ).
fn summary<T: std::fmt::Debug + Named>(result: a2s_query::Result<T>) -> String {
    match result {
        Ok(v) => format!("Ok({})", v.named()),
        // What the timeout says it ignored, without its counts (they vary with timing).
        Err(e) if e.is_timeout() && e.to_string().contains("not A2S") => "Err(timeout, not A2S)".to_string(),
        Err(e) if e.is_timeout() => "Err(timeout)".to_string(),
        Err(e) => format!("Err({e})"),
    }
}

trait Named {
    fn named(&self) -> String;
}

impl Named for Info {
    fn named(&self) -> String {
        self.server_name().to_string()
    }
}

impl Named for Players {
    fn named(&self) -> String {
        format!("{self:?}")
    }
}

impl Named for a2s_query::Rules {
    fn named(&self) -> String {
        format!("{:?}", self.iter().collect::<Vec<_>>())
    }
}

/// One client is shared across threads and tasks: `Send + Sync`, and its futures are
/// `Send` (spawnable on a multi-thread runtime).
#[test]
fn the_client_and_its_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let client = Client::new();
    send_sync(&client);
    let addr = "127.0.0.1:9".parse::<std::net::SocketAddr>().unwrap();
    send(&client.info(addr));
    send(&client.players("localhost:27015"));
    send(&client.rules(addr));
    send(&client.arma_rules(addr));
    send(&a2s_query::tokio::info(addr, Duration::from_secs(1), Default::default()));
    let mut many = client.info_many(vec![addr]);
    send(&many.next());
    send(&many);
}

/// Identical queries to one server at once are joined: one request goes out, every
/// caller gets the one answer, and a caller that gives up leaves the others theirs.
#[tokio::test]
async fn identical_queries_at_once_are_joined() {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let client = client();
    let serve = async {
        let mut buf = [0u8; 1500];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(Query::parse(&buf[..n]).ok(), Some(Query::Info(None)));
        server.send_to(&encode(&source("joined")), from).await.unwrap();
    };
    // The first caller's query goes out; a sixth, joined to it, gives up (its future
    // is dropped unfinished); four more join.
    let mut first = Box::pin(client.info(addr));
    poll_once(first.as_mut()).await;
    let mut quitter = Box::pin(client.info(addr));
    poll_once(quitter.as_mut()).await;
    drop(quitter);
    let (a, b, c, d, e, ()) =
        tokio::join!(first, client.info(addr), client.info(addr), client.info(addr), client.info(addr), serve);
    for info in [a, b, c, d, e] {
        assert_eq!(info.unwrap().server_name(), "joined");
    }
    // Nothing more was sent: one request for six callers.
    let mut buf = [0u8; 1500];
    assert!(server.try_recv_from(&mut buf).is_err(), "a second request went out");
}

/// An IPv4 server given as an IPv4-mapped IPv6 address is asked over IPv4.
#[tokio::test]
async fn an_ipv4_mapped_address_is_asked_over_ipv4() {
    let server = Responder::new(source("mapped"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let mapped = format!("[::ffff:127.0.0.1]:{}", server.local_addr().port());
    assert_eq!(client().info(mapped.as_str()).await.unwrap().server_name(), "mapped");
}

/// A query that fails at its send (port 0 cannot be sent to) ends at once, and the
/// query waiting behind it for the same server runs and ends too: nothing hangs.
#[tokio::test]
async fn a_failed_send_frees_the_next_query_to_the_server() {
    let client = client();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let both = async { tokio::join!(client.info(addr), client.players(addr)) };
    let (info, players) = tokio::time::timeout(Duration::from_secs(10), both).await.expect("a query hung");
    assert!(matches!(info, Err(Error::Io(_))), "{info:?}");
    assert!(matches!(players, Err(Error::Io(_))), "{players:?}");
}

/// `Many` whose client's runtime shut down with queries under way: each ends with an
/// error instead of waiting forever; the client starts again on the next runtime.
#[test]
fn many_ends_when_its_driver_is_gone() {
    // Three silent servers (so that more than one is under way when the runtime goes).
    let silent: Vec<_> = (0..3).map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    let dead: Vec<SocketAddr> = silent.iter().map(|s| s.local_addr().unwrap()).collect();
    let client = Client::builder().timeout(Duration::from_secs(30)).build();
    let first = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut many = client.info_many(dead.clone());
    let waited = first.block_on(async { tokio::time::timeout(Duration::from_millis(100), many.next()).await });
    assert!(waited.is_err(), "nothing answers");
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut back = Vec::new();
    for _ in 0..3 {
        let (addr, result) = second.block_on(many.next()).expect("each address comes back");
        assert!(matches!(&result, Err(Error::Runtime(why)) if why.contains("shut down")), "{result:?}");
        back.push(addr);
    }
    back.sort();
    let mut want = dead.clone();
    want.sort();
    assert_eq!(back, want, "each once");
    assert!(second.block_on(many.next()).is_none());
    assert!(second.block_on(many.next()).is_none(), "and again after the end");
    // The client itself goes on, on the new runtime.
    let server = Responder::new(source("again"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let info = second.block_on(client.info(server.local_addr())).unwrap();
    assert_eq!(info.server_name(), "again");
}

/// Outside a runtime, a query says so rather than panicking.
#[test]
fn outside_a_runtime_a_query_is_an_error() {
    let result = poll_without_runtime(client().info("127.0.0.1:27015"));
    assert!(matches!(&result, Err(Error::Runtime(why)) if why.contains("tokio runtime")), "{result:?}");
}

/// Bug: a client whose task ran on a current-thread runtime no longer driven (its
/// `block_on` returned) left the queries of a second runtime waiting forever.
#[test]
fn a_second_runtime_is_answered_while_the_first_is_idle() {
    let server = Responder::new(source("anywhere"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let client = Client::builder().timeout(Duration::from_secs(1)).build();
    let first = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(first.block_on(client.info(addr)).unwrap().server_name(), "anywhere");
    // `first` stays alive but idle from here on.
    let second = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let answered = second.block_on(async { tokio::time::timeout(Duration::from_secs(10), client.info(addr)).await });
    let info = answered.expect("answered or failed within its timeout").unwrap();
    assert_eq!(info.server_name(), "anywhere");
    drop(first);
}

/// A runtime without timers or without IO: an error of its own that says what to do,
/// not a panic or a hang.
#[test]
fn a_runtime_without_timers_or_io_is_told_so() {
    let server = Responder::new(source("x"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let no_time = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    let result = no_time.block_on(client().info(addr));
    assert!(matches!(&result, Err(Error::Runtime(why)) if why.contains("enable_time")), "{result:?}");

    let no_io = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let result = no_io.block_on(async { tokio::time::timeout(Duration::from_secs(10), client().info(addr)).await });
    let result = result.expect("no hang");
    assert!(matches!(&result, Err(Error::Runtime(why)) if why.contains("enable_io")), "{result:?}");
    assert!(result.unwrap_err().to_string().contains("enable_all"));
}

/// Polls a future to completion on this thread with no runtime (it must not wait).
fn poll_without_runtime<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    let mut cx = std::task::Context::from_waker(&waker);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the future waited outside a runtime"),
    }
}

/// Polls a future once (its query is handed to the client), whatever it returns.
async fn poll_once<F: std::future::Future>(mut future: std::pin::Pin<&mut F>) {
    std::future::poll_fn(|cx| {
        let _ = future.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
}

/// The driver's part in "no late reply answers a later query": before it sends, it
/// reads what its socket has queued, with a system call (the reactor may not have
/// seen it yet). A late reply queued while the runtime was idle, past the drain window,
/// is read before the next request goes out and dropped, not taken for its answer.
#[test]
fn the_driver_reads_a_late_reply_before_its_next_request() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let server_async = {
        let std = server.try_clone().unwrap();
        std.set_nonblocking(true).unwrap();
        runtime.block_on(async { tokio::net::UdpSocket::from_std(std).unwrap() })
    };
    let client = Client::builder().timeout(Duration::from_millis(300)).build();
    let first = runtime.block_on(client.info(addr));
    assert!(first.unwrap_err().is_timeout());
    let mut buf = [0u8; 1500];
    let (_, from) = runtime.block_on(server_async.recv_from(&mut buf)).unwrap();
    // The late reply reaches the driver's socket while no runtime runs (loopback
    // delivers it within the send), then the drain window passes.
    server.send_to(&encode(&source("late")), from).unwrap();
    std::thread::sleep(Duration::from_millis(250) + Duration::from_millis(50));

    let serve = async {
        let (_, from) = server_async.recv_from(&mut buf).await.unwrap();
        server_async.send_to(&encode(&source("fresh")), from).await.unwrap();
    };
    let (second, ()) = runtime.block_on(async { tokio::join!(client.info(addr), serve) });
    assert_eq!(second.unwrap().server_name(), "fresh", "the late reply was taken for the answer");
}

/// The many-servers answers are a `futures_core::Stream` too, of the same items as
/// `next`; the async client has the blocking side's queries under the same names
/// (`players_many` gives the list alone, `all` and `all_many` the three answers).
#[tokio::test]
async fn many_is_a_stream_and_the_queries_match_the_blocking_side() {
    use futures_core::Stream;
    let farm = Farm::new()
        .spawn_loopback(5, |i| {
            let mut info = SourceInfo::default();
            info.server_name = format!("stream {i}");
            let rules = vec![("index".to_string(), i.to_string())];
            (Responder::new(Info::Source(info), roster(i), rules), Fault::None)
        })
        .unwrap();
    let index: HashMap<SocketAddr, usize> = farm.addrs().iter().enumerate().map(|(i, &a)| (a, i)).collect();
    let client = client();
    let mut many = client.players_many(farm.addrs().to_vec());
    let mut seen = HashMap::new();
    while let Some((addr, players)) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut many).poll_next(cx)).await {
        assert_eq!(players.unwrap(), Players::new(roster(index[&addr])), "{addr}");
        *seen.entry(addr).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.values().all(|&n| n == 1));

    let mut all = client.all_many(farm.addrs().to_vec());
    let mut count = 0;
    while let Some((addr, answers)) = all.next().await {
        let i = index[&addr];
        assert_eq!(answers.info.unwrap().server_name(), format!("stream {i}"));
        assert_eq!(answers.players.unwrap().entries, roster(i));
        assert_eq!(&answers.rules.unwrap()["index"], i.to_string().as_str());
        count += 1;
    }
    assert_eq!(count, 5);
    let one = client.all(farm.addrs()[2]).await;
    assert_eq!(one.info.unwrap().server_name(), "stream 2");
    assert_eq!(one.players.unwrap().entries, roster(2));
}

/// The async client records as the blocking ones do: each datagram both ways, its
/// server, in order (here a split reply: every fragment).
#[tokio::test]
async fn a_recording_holds_every_datagram_both_ways() {
    let server = split_server("127.0.0.1:0", false);
    let recording = a2s_query::Recording::new();
    let client = Client::builder().timeout(TIMEOUT).record(&recording).build();
    let rules = client.rules(server.local_addr()).await.unwrap();
    assert_eq!(rules.len(), 200);
    let captured = recording.take();
    assert!(captured.iter().all(|c| c.peer == server.local_addr()));
    let sent: Vec<bool> = captured.iter().map(|c| c.sent).collect();
    // The request, the challenge, the request again, then the fragments.
    assert_eq!(&sent[..3], [true, false, true]);
    assert!(sent.len() > 4 && sent[3..].iter().all(|s| !s), "{sent:?}");
    assert!(captured[3..].iter().all(|c| c.bytes.starts_with(b"\xFE\xFF\xFF\xFF")), "fragments");
    assert!(captured.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(recording.take().is_empty(), "taken once");
}

/// The async monitor: its events as a `Stream` from servers on loopback that come up,
/// change map and go away; a wait dropped half way loses nothing; no runtime, an error.
#[tokio::test]
async fn the_async_monitor_streams_the_events_of_servers() {
    use a2s_query::{Change, Monitor, Reason, State};
    use futures_core::Stream;
    let patience = Duration::from_secs(30);
    let one = Responder::new(source("one"), vec![], vec![]).spawn("127.0.0.1:0").unwrap();
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let mut monitor = Monitor::builder()
        .every(Duration::from_millis(100))
        .timeout(Duration::from_secs(3))
        .down_after(1)
        .build_async()
        .unwrap();
    let one_addr = monitor.add(one.local_addr()).await.unwrap();
    monitor.add(closed_addr).await.unwrap();

    let mut seen = Vec::new();
    {
        let mut events = monitor.events();
        while seen.len() < 2 {
            let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut events).poll_next(cx));
            let event = tokio::time::timeout(patience, next).await.expect("an event").expect("servers are watched");
            seen.push(event);
        }
    }
    seen.sort_by_key(|e| e.addr != one_addr);
    match &seen[0].change {
        Change::Up { info } => assert_eq!(info.server_name(), "one"),
        other => panic!("{other:?}"),
    }
    match &seen[1].change {
        Change::Down { reason, .. } => assert!(matches!(reason, Reason::Refused | Reason::Timeout), "{reason}"),
        other => panic!("{other:?}"),
    }

    // Waits dropped half way (a timeout around each, 1 ms, while polls go on) lose
    // nothing: the map change is told exactly once, by one of them or a later call.
    one.update(|r| {
        if let Info::Source(info) = &mut r.info {
            info.map_name = "cs_office".into();
        }
    });
    let mut changes = Vec::new();
    let dropping = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < dropping {
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(1), monitor.next_event()).await {
            changes.push(event);
        }
    }
    // (Other events, a loaded machine's late reply, are skipped.)
    let deadline = tokio::time::Instant::now() + patience;
    while !changes.iter().any(|e| matches!(e.change, Change::MapChanged { .. })) {
        let event = tokio::time::timeout_at(deadline, monitor.next_event()).await.expect("the map change").unwrap();
        changes.push(event);
    }
    changes.retain(|e| matches!(e.change, Change::MapChanged { .. }));
    assert_eq!(changes.len(), 1, "{changes:?}");
    let changed = changes.remove(0);
    assert_eq!(changed.addr, one_addr);
    assert!(matches!(&changed.change, Change::MapChanged { to, .. } if to == "cs_office"), "{:?}", changed.change);
    assert_eq!(monitor.status(one_addr).unwrap().state, State::Up);
    assert_eq!(monitor.status(closed_addr).unwrap().state, State::Down);

    monitor.remove(one_addr);
    monitor.remove(closed_addr);
    assert!(monitor.next_event().await.is_none(), "nothing watched: the events end");
}

#[test]
fn the_async_monitor_needs_a_runtime() {
    let built = a2s_query::Monitor::builder().build_async();
    assert!(matches!(built, Err(Error::Runtime(_))), "{built:?}");
}
