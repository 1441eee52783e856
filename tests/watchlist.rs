//! The monitor's core, scripted: servers watched over hand-advanced time, their replies
//! handed in as datagrams. Debounce, every event kind, failure reasons, backoff, pacing
//! per destination address, jitter, servers added and removed, with every instant
//! exact.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use a2s_query::proto::{encode_players, Query, ShipLayout, SourceInfo, WatchConfig, Watchlist};
use a2s_query::{Change, Encoding, Error, Event, Player, Reason, State};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, host], port))
}

/// Every 10 s, no jitter, 1 s timeout, no retries, no pacing: every instant exact.
fn config() -> WatchConfig {
    let mut config = WatchConfig::default();
    config.every = secs(10);
    config.jitter = Some(Duration::ZERO);
    config.endpoint.exchange.timeout = secs(1);
    config.endpoint.exchange.retries = 0;
    config.endpoint.send_rate = 0;
    config.host_rate = 0;
    config
}

/// What a scripted server is: its info fields that events watch.
#[derive(Debug, Clone)]
struct Server {
    map: &'static str,
    name: &'static str,
    players: u8,
    max: u8,
    password: bool,
    names: Vec<&'static str>,
}

impl Server {
    fn new() -> Self {
        Server { map: "de_dust2", name: "one", players: 0, max: 16, password: false, names: vec![] }
    }

    fn reply(&self, query: Query) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match query {
            Query::Info(_) => {
                let mut info = SourceInfo::default();
                info.map_name = self.map.into();
                info.server_name = self.name.into();
                info.player_count = self.players;
                info.max_players = self.max;
                info.password_protected = self.password;
                info.encode(&mut out).unwrap();
            }
            Query::Players(_) => {
                let players: Vec<Player> = self.names.iter().map(|n| Player::new(n.to_string(), 0, 1.0)).collect();
                encode_players(&players, ShipLayout::Trailing, &mut out).unwrap();
            }
            _ => return None,
        }
        Some(out)
    }
}

/// What a scripted server does with each request it gets.
enum Does {
    Answer(Server),
    Silent,
    /// Answers info, then lets the players query time out (a flood filter).
    InfoOnly(Server),
    Refuse,
    Junk,
    Truncated,
}

/// One scripted run: the watchlist, the time it started, and what each server does.
struct Script {
    w: Watchlist,
    t0: Instant,
    now: Instant,
    /// Replies on their way: (when they arrive, from, bytes or `None` for the host's
    /// "port unreachable").
    pending: Vec<(Instant, SocketAddr, Option<Vec<u8>>)>,
    /// Requests sent: (when, to, what).
    sent: Vec<(Duration, SocketAddr, Query)>,
    /// Events: (when, event).
    events: Vec<(Duration, Event)>,
    /// The round trip of every reply.
    rtt: Duration,
}

impl Script {
    fn new(config: WatchConfig) -> Self {
        let t0 = Instant::now();
        Script {
            w: Watchlist::new(config, Encoding::Utf8),
            t0,
            now: t0,
            pending: vec![],
            sent: vec![],
            events: vec![],
            rtt: ms(20),
        }
    }

    fn at(&self, d: Duration) -> Instant {
        self.t0 + d
    }

    /// Runs until `until` (from the start), each server doing what `does` says.
    fn run(&mut self, until: Duration, does: &mut dyn FnMut(SocketAddr, Duration) -> Does) {
        let end = self.at(until);
        loop {
            let next_reply = self.pending.iter().map(|p| p.0).min();
            let next = [self.w.poll_timeout(), next_reply].into_iter().flatten().min();
            let Some(next) = next.filter(|n| *n <= end) else { break };
            self.now = next.max(self.now);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.0 <= now);
            self.pending = later;
            for (_, from, reply) in due {
                match reply {
                    Some(bytes) => self.w.handle_datagram(from, &bytes, now),
                    None => self.w.handle_send_error(from, Error::Io(io::ErrorKind::ConnectionRefused.into()), now),
                }
            }
            self.w.handle_timeout(now);
            while let Some((to, request)) = self.w.poll_transmit(now) {
                let query = Query::parse(&request).unwrap();
                let since = now - self.t0;
                self.sent.push((since, to, query));
                match does(to, since) {
                    Does::Answer(s) => {
                        if let Some(reply) = s.reply(query) {
                            self.pending.push((now + self.rtt, to, Some(reply)));
                        }
                    }
                    Does::InfoOnly(s) if matches!(query, Query::Info(_)) => {
                        self.pending.push((now + self.rtt, to, s.reply(query)));
                    }
                    Does::InfoOnly(_) | Does::Silent => {}
                    Does::Refuse => self.pending.push((now + self.rtt / 2, to, None)),
                    Does::Junk => {
                        self.pending.push((now + self.rtt, to, Some(b"HTTP/1.1 400 Bad Request\r\n".to_vec())))
                    }
                    Does::Truncated => {
                        let mut reply = Server::new().reply(query).unwrap();
                        reply.truncate(12);
                        self.pending.push((now + self.rtt, to, Some(reply)));
                    }
                }
            }
            while let Some(event) = self.w.poll_event() {
                self.events.push((now - self.t0, event));
            }
        }
        self.now = end.max(self.now);
    }

    /// The times (from the start) of the info requests sent to `to`.
    fn polls(&self, to: SocketAddr) -> Vec<Duration> {
        self.sent.iter().filter(|(_, a, q)| *a == to && matches!(q, Query::Info(_))).map(|(t, _, _)| *t).collect()
    }

    fn take_events(&mut self) -> Vec<(Duration, Event)> {
        std::mem::take(&mut self.events)
    }
}

fn always(s: Server) -> impl FnMut(SocketAddr, Duration) -> Does {
    move |_, _| Does::Answer(s.clone())
}

fn kinds(events: &[(Duration, Event)]) -> Vec<String> {
    events.iter().map(|(_, e)| format!("{:?}", e.change).split([' ', '{', '(']).next().unwrap().to_string()).collect()
}

#[test]
fn a_server_is_up_on_its_first_answer_and_polled_every_interval() {
    let mut s = Script::new(config());
    let a = addr(1, 27015);
    assert!(s.w.add(a, s.t0));
    assert!(!s.w.add(a, s.t0), "an address watched already is not added twice");
    assert_eq!(s.w.status(a).unwrap().state, State::Unknown);
    s.run(secs(35), &mut always(Server::new()));
    assert_eq!(s.polls(a), vec![secs(0), secs(10), secs(20), secs(30)]);
    let events = s.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let (at, event) = &events[0];
    assert_eq!((*at, event.addr), (ms(20), a));
    match &event.change {
        Change::Up { info } => assert_eq!(info.map_name(), "de_dust2"),
        other => panic!("{other:?}"),
    }
    let status = s.w.status(a).unwrap();
    assert_eq!((status.state, status.polls, status.failures_in_row), (State::Up, 4, 0));
    assert_eq!(status.info.as_ref().unwrap().server_name(), "one");
    assert_eq!(status.last_success, Some(s.at(secs(30) + ms(20))));
}

#[test]
fn a_server_is_down_after_three_failed_polls_in_a_row_and_up_on_its_next_answer() {
    let mut s = Script::new(config());
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    // Answers at 0 s; silent at 10, 20 (two failures: still up); answers at 30; then
    // silent at 40, 50, 60: down at 61 s (the third timeout); answers again at 70.
    let mut does = |_: SocketAddr, at: Duration| {
        let silent = [10, 20, 40, 50, 60].contains(&at.as_secs());
        if silent {
            Does::Silent
        } else {
            Does::Answer(Server::new())
        }
    };
    s.run(secs(25), &mut does);
    assert_eq!(kinds(&s.take_events()), ["Up"]);
    let status = s.w.status(a).unwrap();
    assert_eq!((status.state, status.failures_in_row), (State::Up, 2), "two failures are not down");
    assert!(status.last_error.as_ref().unwrap().is_timeout());
    s.run(secs(55), &mut does);
    assert_eq!(kinds(&s.take_events()), Vec::<String>::new(), "an answer between failures resets the count");
    s.run(secs(65), &mut does);
    let events = s.take_events();
    assert_eq!(kinds(&events), ["Down"]);
    assert_eq!(events[0].0, secs(61));
    match &events[0].1.change {
        Change::Down { reason, error } => {
            assert_eq!(*reason, Reason::Timeout);
            assert!(error.is_timeout());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.w.status(a).unwrap().failures(Reason::Timeout), 5);
    s.run(secs(75), &mut does);
    let events = s.take_events();
    assert_eq!(kinds(&events), ["Up"]);
    assert_eq!(events[0].0, secs(70) + ms(20));
    assert_eq!(s.w.status(a).unwrap().failures_in_row, 0);
}

#[test]
fn down_after_is_configurable() {
    let mut c = config();
    c.down_after = 1;
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    s.run(secs(5), &mut |_, _| Does::Silent);
    let events = s.take_events();
    assert_eq!(kinds(&events), ["Down"]);
    assert_eq!(events[0].0, secs(1), "down at the first timeout");
}

#[test]
fn a_server_long_down_is_polled_at_a_doubling_interval_up_to_the_cap() {
    let mut c = config();
    c.max_backoff = secs(60);
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    s.run(secs(215), &mut |_, _| Does::Silent);
    // Down at the third failed poll (20 s); then every 10, 20, 40 s, then 60 s (the cap).
    let secs_of = |v: Vec<Duration>| v.iter().map(|d| d.as_secs()).collect::<Vec<_>>();
    assert_eq!(secs_of(s.polls(a)), [0, 10, 20, 30, 50, 90, 150, 210]);
    assert_eq!(kinds(&s.take_events()), ["Down"], "down is told once");
    // Back: answered at 270, then polled every 10 s again.
    s.run(secs(295), &mut always(Server::new()));
    assert_eq!(secs_of(s.polls(a)), [0, 10, 20, 30, 50, 90, 150, 210, 270, 280, 290]);
    assert_eq!(kinds(&s.take_events()), ["Up"]);
}

#[test]
fn each_failure_has_its_reason() {
    type Case = (&'static str, fn() -> Does, Reason);
    let cases: [Case; 4] = [
        ("refused", || Does::Refuse, Reason::Refused),
        ("junk", || Does::Junk, Reason::NotA2s),
        ("truncated", || Does::Truncated, Reason::Malformed),
        ("silent", || Does::Silent, Reason::Timeout),
    ];
    for (name, does, reason) in cases {
        let mut s = Script::new(config());
        let a = addr(1, 27015);
        s.w.add(a, s.t0);
        s.run(secs(25), &mut |_, _| does());
        let events = s.take_events();
        assert_eq!(kinds(&events), ["Down"], "{name}");
        match &events[0].1.change {
            Change::Down { reason: got, error } => {
                assert_eq!(*got, reason, "{name}: {error}");
                assert_eq!(Reason::of(error), reason, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        let status = s.w.status(a).unwrap();
        assert_eq!(status.failures(reason), 3, "{name}");
        let others: u64 = Reason::ALL.iter().filter(|r| **r != reason).map(|r| status.failures(*r)).sum();
        assert_eq!(others, 0, "{name}");
    }
    // Refused is known in half a round trip, not at the timeout.
    let mut s = Script::new(config());
    s.w.add(addr(1, 27015), s.t0);
    s.run(secs(25), &mut |_, _| Does::Refuse);
    assert_eq!(s.take_events()[0].0, secs(20) + ms(10));
}

#[test]
fn a_players_query_answered_before_that_times_out_is_a_suspected_rate_limit_and_not_down() {
    let mut c = config();
    c.players = true;
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    // Everything answered at 0 and 10 s; at 20 s the info only (a flood filter); at 30
    // s everything again; from 40 s the info only, for good.
    let flood = |at: Duration| at.as_secs() == 20 || at >= secs(40);
    s.run(secs(65), &mut |_, at| if flood(at) { Does::InfoOnly(Server::new()) } else { Does::Answer(Server::new()) });
    assert_eq!(kinds(&s.take_events()), ["Up"]);
    let status = s.w.status(a).unwrap();
    assert_eq!(status.state, State::Up);
    // 20 and 40 s: answered when last asked, a suspected rate limit; 50 and 60 s: a
    // lasting silence, a timeout.
    assert_eq!(status.failures(Reason::RateLimited), 2);
    assert_eq!(status.failures(Reason::Timeout), 2);
    assert!(status.players.is_some(), "the last good list is kept");
    // Each poll: info, then players after it.
    let players: Vec<Duration> =
        s.sent.iter().filter(|(_, _, q)| matches!(q, Query::Players(_))).map(|(t, _, _)| *t).collect();
    assert_eq!(players, (0..7).map(|i| secs(10 * i) + ms(20)).collect::<Vec<_>>());
}

#[test]
fn a_kind_never_answered_times_out_as_a_timeout_not_a_rate_limit() {
    let mut c = config();
    c.players = true;
    c.rules = true;
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    // Info and players answered; rules never (as many servers): each poll asks all three.
    s.run(secs(25), &mut always(Server::new()));
    let status = s.w.status(a).unwrap();
    assert_eq!(status.state, State::Up);
    assert_eq!((status.failures(Reason::Timeout), status.failures(Reason::RateLimited)), (3, 0));
    assert!(status.rules.is_none());
    let rules = s.sent.iter().filter(|(_, _, q)| matches!(q, Query::Rules(_))).count();
    assert_eq!(rules, 3, "rules asked after players in every poll");
}

#[test]
fn info_changes_are_events_in_a_fixed_order() {
    let mut c = config();
    c.thresholds = vec![1, 10];
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    s.run(secs(5), &mut always(Server::new()));
    assert_eq!(kinds(&s.take_events()), ["Up"]);
    let mut changed = Server::new();
    changed.map = "de_inferno";
    changed.name = "two";
    changed.max = 24;
    changed.password = true;
    changed.players = 12;
    s.run(secs(15), &mut always(changed.clone()));
    let events = s.take_events();
    assert_eq!(
        kinds(&events),
        [
            "MapChanged",
            "NameChanged",
            "MaxPlayersChanged",
            "PasswordChanged",
            "PlayerCount",
            "PlayersCrossed",
            "PlayersCrossed"
        ]
    );
    assert!(events.iter().all(|(t, e)| *t == secs(10) + ms(20) && e.addr == a));
    let changes: Vec<String> = events.iter().map(|(_, e)| format!("{:?}", e.change)).collect();
    assert_eq!(changes[0], r#"MapChanged { from: "de_dust2", to: "de_inferno" }"#);
    assert_eq!(changes[1], r#"NameChanged { from: "one", to: "two" }"#);
    assert_eq!(changes[2], "MaxPlayersChanged { from: 16, to: 24 }");
    assert_eq!(changes[3], "PasswordChanged { password: true }");
    assert_eq!(changes[4], "PlayerCount { from: 0, to: 12 }");
    assert_eq!(changes[5], "PlayersCrossed { threshold: 1, from: 0, to: 12 }");
    assert_eq!(changes[6], "PlayersCrossed { threshold: 10, from: 0, to: 12 }");
    // Down to 5: crosses 10 going down, not 1; then nothing changes, nothing is told.
    let mut fewer = changed.clone();
    fewer.players = 5;
    s.run(secs(25), &mut always(fewer.clone()));
    let changes: Vec<String> = s.take_events().iter().map(|(_, e)| format!("{:?}", e.change)).collect();
    assert_eq!(changes, ["PlayerCount { from: 12, to: 5 }", "PlayersCrossed { threshold: 10, from: 12, to: 5 }"]);
    s.run(secs(45), &mut always(fewer));
    assert!(s.take_events().is_empty());
}

#[test]
fn a_server_back_from_down_on_another_map_tells_both() {
    let mut s = Script::new(config());
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    let mut does = |_: SocketAddr, at: Duration| match at.as_secs() {
        0 => Does::Answer(Server::new()),
        10..=30 => Does::Silent,
        _ => Does::Answer(Server { map: "cs_office", ..Server::new() }),
    };
    s.run(secs(45), &mut does);
    assert_eq!(kinds(&s.take_events()), ["Up", "Down", "Up", "MapChanged"]);
}

#[test]
fn players_joined_and_left_by_name() {
    let mut c = config();
    c.players = true;
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    let list = |names: Vec<&'static str>| Server { players: names.len() as u8, names, ..Server::new() };
    s.run(secs(5), &mut always(list(vec!["alice", "bob", "bob"])));
    assert_eq!(kinds(&s.take_events()), ["Up"], "the first list is no one joining");
    s.run(secs(15), &mut always(list(vec!["bob", "carol", "alice"])));
    let changes: Vec<String> = s.take_events().iter().map(|(_, e)| format!("{:?}", e.change)).collect();
    // One of the two bobs left; carol joined (names as a multiset, order of the lists).
    assert_eq!(changes, [r#"PlayerLeft { name: "bob" }"#, r#"PlayerJoined { name: "carol" }"#]);
    let status = s.w.status(a).unwrap();
    let names: Vec<&str> = status.players.as_ref().unwrap().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["bob", "carol", "alice"]);
}

#[test]
fn games_that_send_no_names_give_counts_only() {
    let mut c = config();
    c.players = true;
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    let unnamed = |n: usize| Server { players: n as u8, names: vec![""; n], ..Server::new() };
    s.run(secs(5), &mut always(unnamed(2)));
    s.run(secs(15), &mut always(unnamed(5)));
    s.run(secs(25), &mut always(unnamed(1)));
    let changes: Vec<String> = s.take_events().iter().map(|(_, e)| format!("{:?}", e.change)).collect();
    assert_eq!(changes[1..], ["PlayerCount { from: 2, to: 5 }", "PlayerCount { from: 5, to: 1 }"]);
}

#[test]
fn polls_to_one_host_are_paced_and_other_hosts_are_not_held() {
    let mut c = config();
    c.host_rate = 2;
    let mut s = Script::new(c);
    let same: Vec<SocketAddr> = (0..4).map(|i| addr(1, 27015 + i)).collect();
    let other = addr(2, 27015);
    for a in &same {
        s.w.add(*a, s.t0);
    }
    s.w.add(other, s.t0);
    s.run(secs(5), &mut always(Server::new()));
    let mut first: Vec<Duration> = same.iter().map(|a| s.polls(*a)[0]).collect();
    first.sort();
    assert_eq!(first, [ms(0), ms(500), ms(1000), ms(1500)], "two queries a second to 192.0.2.1");
    assert_eq!(s.polls(other), [ms(0)]);
    // Each keeps its place: the next polls are an interval after each one's start.
    s.run(secs(15), &mut always(Server::new()));
    let mut second: Vec<Duration> = same.iter().map(|a| s.polls(*a)[1]).collect();
    second.sort();
    assert_eq!(second, [secs(10), secs(10) + ms(500), secs(11), secs(11) + ms(500)]);
}

#[test]
fn host_pacing_counts_each_query_of_a_poll() {
    let mut c = config();
    c.host_rate = 4;
    c.players = true;
    c.rules = true;
    let mut s = Script::new(c);
    s.w.add(addr(1, 1), s.t0);
    s.w.add(addr(1, 2), s.t0);
    s.run(secs(5), &mut always(Server::new()));
    let mut first = vec![s.polls(addr(1, 1))[0], s.polls(addr(1, 2))[0]];
    first.sort();
    assert_eq!(first, [ms(0), ms(750)], "three queries at four a second");
}

#[test]
fn a_removed_server_is_not_polled_and_its_late_reply_tells_nothing() {
    let mut s = Script::new(config());
    let (a, b) = (addr(1, 27015), addr(2, 27015));
    s.w.add(a, s.t0);
    s.w.add(b, s.t0);
    s.rtt = ms(500);
    s.run(ms(100), &mut always(Server::new()));
    // a's reply is on its way when it is removed.
    let status = s.w.remove(a, s.now).expect("a was watched");
    assert_eq!((status.state, status.polls), (State::Unknown, 1));
    assert!(s.w.remove(a, s.now).is_none());
    assert_eq!(s.w.len(), 1);
    s.run(secs(25), &mut always(Server::new()));
    assert_eq!(s.polls(a), [ms(0)]);
    assert_eq!(s.polls(b), [secs(0), secs(10), secs(20)]);
    let events = s.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.addr, b);
    // Added back, it starts afresh.
    assert!(s.w.add(a, s.now));
    s.run(secs(30), &mut always(Server::new()));
    assert_eq!(s.polls(a), [ms(0), secs(25)]);
    assert_eq!(kinds(&s.take_events()), ["Up"]);
    assert_eq!(s.w.status(a).unwrap().polls, 1);
}

#[test]
fn jitter_spreads_polls_within_its_bounds() {
    let mut c = config();
    c.jitter = None; // a tenth of the interval: ±1 s
    c.seed = 7;
    let mut s = Script::new(c);
    let servers: Vec<SocketAddr> = (0..100).map(|i| addr(1 + (i / 50) as u8, 27000 + i)).collect();
    for a in &servers {
        s.w.add(*a, s.t0);
    }
    s.run(secs(12), &mut always(Server::new()));
    let seconds: BTreeSet<Duration> = servers.iter().map(|a| s.polls(*a)[1]).collect();
    assert!(seconds.iter().all(|t| *t >= secs(9) && *t <= secs(11)), "{seconds:?}");
    assert!(seconds.len() > 90, "no lockstep: {} distinct times", seconds.len());
    assert!(*seconds.first().unwrap() < ms(9500) && *seconds.last().unwrap() > ms(10500), "{seconds:?}");
}

#[test]
fn a_poll_longer_than_the_interval_is_followed_at_once_never_overlapped() {
    let mut c = config();
    c.every = secs(2);
    c.endpoint.exchange.timeout = secs(5);
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    s.run(secs(17), &mut |_, _| Does::Silent);
    // Each timed-out query leaves the server draining 250 ms (no round trip known):
    // the next request waits for it, so no late reply answers it.
    assert_eq!(s.polls(a), [ms(0), ms(5250), ms(10500), ms(15750)]);
}

#[test]
fn servers_sharing_a_host_take_its_share_in_turn_and_none_starves() {
    let mut c = config();
    c.every = ms(100);
    c.host_rate = 5;
    let mut s = Script::new(c);
    let (a, b) = (addr(1, 1), addr(1, 2));
    s.w.add(a, s.t0);
    s.w.add(b, s.t0);
    s.run(ms(3990), &mut always(Server::new()));
    // Five polls a second to the host, asked more often than that by both: they take
    // the slots in turn, 200 ms apart.
    let mut all: Vec<Duration> = s.polls(a).into_iter().chain(s.polls(b)).collect();
    all.sort();
    let expected: Vec<Duration> = (0..20).map(|i| ms(200 * i)).collect();
    assert_eq!(all, expected);
    assert_eq!((s.polls(a).len(), s.polls(b).len()), (10, 10));
}

#[test]
fn polls_past_the_window_wait_their_turn_in_the_schedule() {
    let mut c = config();
    c.endpoint.max_in_flight = 2;
    let mut s = Script::new(c);
    let servers: Vec<SocketAddr> = (0..5).map(|i| addr(1 + i, 27015)).collect();
    for a in &servers {
        s.w.add(*a, s.t0);
    }
    s.run(ms(2500), &mut |_, _| Does::Silent);
    // Two at a time, each holding its place for its 1 s timeout.
    let mut first: Vec<Duration> = servers.iter().map(|a| s.polls(*a)[0]).collect();
    first.sort();
    assert_eq!(first, [ms(0), ms(0), ms(1000), ms(1000), ms(2000)]);
}

#[test]
fn polls_of_one_host_held_by_a_full_window_still_go_a_share_apart() {
    let mut c = config();
    c.endpoint.max_in_flight = 2;
    c.host_rate = 5;
    let mut s = Script::new(c);
    let x: Vec<SocketAddr> = (0..3).map(|i| addr(1, 100 + i)).collect();
    for a in &x {
        s.w.add(*a, s.t0);
    }
    // x[0] goes at once and books x[1] and x[2] at 0.2 and 0.4 s; a server of another
    // host takes the window's other place at 1 ms. Both time out near 1 s, when x[1]
    // and x[2] are long past their slots: they go a fifth of a second apart, not
    // together.
    let filler = addr(9, 1);
    s.run(ms(1), &mut |_, _| Does::Silent);
    s.w.add(filler, s.at(ms(1)));
    s.run(ms(1500), &mut |_, _| Does::Silent);
    assert_eq!(s.polls(filler), [ms(1)]);
    let mut polls: Vec<Duration> = x.iter().map(|a| s.polls(*a)[0]).collect();
    polls.sort();
    assert_eq!(polls, [ms(0), ms(1000), ms(1200)]);
}

#[test]
fn a_booked_poll_held_late_by_a_full_window_is_not_sent_to_the_back_of_the_line() {
    // One place in the window and three silent servers, two of them on one host
    // (paced to a poll each 100 ms), each due again 10 ms after its poll starts: the
    // window is always wanted (each poll holds it for its timeout and its drain), so
    // the shared host's booked slots are all reached late.
    // (A late booking used to book again, behind the poll of its neighbour due since:
    // one of the two was then never polled again.)
    let mut c = config();
    c.endpoint.max_in_flight = 1;
    c.endpoint.exchange.timeout = ms(10);
    c.every = ms(10);
    c.max_backoff = ms(10);
    c.host_rate = 10;
    let mut s = Script::new(c);
    let (a, b, other) = (addr(1, 1), addr(1, 2), addr(2, 1));
    for x in [a, b, other] {
        s.w.add(x, s.t0);
    }
    s.run(secs(10), &mut |_, _| Does::Silent);
    // The two of the shared host take its turns alternately; the other host's server
    // every other place of the window.
    let counts: Vec<usize> = [a, b, other].iter().map(|x| s.polls(*x).len()).collect();
    assert_eq!(counts, [20, 20, 39], "polls of each");
    let mut host: Vec<Duration> = s.polls(a).into_iter().chain(s.polls(b)).collect();
    host.sort();
    assert!(host.windows(2).all(|w| w[1] - w[0] >= ms(100)), "the shared host asked within its share: {host:?}");
}

#[test]
fn a_server_removed_with_its_reply_on_the_way_and_added_back_takes_only_its_new_answer() {
    let mut s = Script::new(config());
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    // (A reply within the engine's drain: 250 ms when no round trip is known. One
    // later than that is what no timing can tell; see `Endpoint`.)
    s.rtt = ms(200);
    let old = Server { map: "old_map", ..Server::new() };
    s.run(ms(100), &mut always(old));
    // Its reply (old_map) is on the way when it is removed and added back at once.
    s.w.remove(a, s.now);
    assert!(s.w.add(a, s.now));
    let new = Server { map: "new_map", ..Server::new() };
    s.run(secs(3), &mut always(new));
    let events = s.take_events();
    assert_eq!(kinds(&events), ["Up"], "{events:?}");
    match &events[0].1.change {
        Change::Up { info } => assert_eq!(info.map_name(), "new_map", "the late reply answered the new poll"),
        other => panic!("{other:?}"),
    }
    // The new poll waited for the old one's drain: until its owed reply came, at 200 ms.
    assert_eq!(s.polls(a), [ms(0), ms(200)]);
}

#[test]
fn a_socket_error_is_reason_other() {
    let mut c = config();
    c.down_after = 1;
    let mut s = Script::new(c);
    let a = addr(1, 27015);
    s.w.add(a, s.t0);
    s.run(ms(1), &mut |_, _| Does::Silent);
    s.w.handle_send_error(a, Error::Io(io::ErrorKind::PermissionDenied.into()), s.now);
    let event = s.w.poll_event().expect("down");
    match &event.change {
        Change::Down { reason, .. } => assert_eq!(*reason, Reason::Other),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.w.status(a).unwrap().failures(Reason::Other), 1);
}
