//! The monitor's core (Watchlist) fed arbitrary adds, removes, time steps, send errors
//! and datagrams (good info, players and challenge replies as well as arbitrary bytes)
//! from a few servers on two hosts, under arbitrary options. It never panics; it sends
//! only to servers it watches; its events tell each state change once (up after not up,
//! down after not down; other changes only while up, each naming a real change) and
//! agree with each server's status; while a server is watched there is always a time to
//! wake at; and every server still watched is polled again within its interval or
//! backoff (plus its queries' time and its host's pacing).
#![no_main]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use a2s_query::proto::{
    encode_challenge, encode_players, Challenge, Change, EndpointConfig, ExchangeConfig, Info, Player, ShipLayout,
    SourceInfo, State, WatchConfig, Watchlist,
};
use a2s_query::{Encoding, Error, Limits};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 3] = ["alpha", "beta", ""];
const MAPS: [&str; 3] = ["de_dust2", "cs_office", "de_nuke"];

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, e, f, g, rest @ ..] = data else { return };
    let mut limits = Limits::default();
    limits.max_fragments = 8;
    limits.max_reply_bytes = 4096;
    limits.max_pending_replies = 2;
    let mut exchange = ExchangeConfig::default();
    exchange.timeout = Duration::from_millis(1 + u64::from(*a) * 8);
    exchange.retries = b & 3;
    exchange.limits = limits;
    let mut endpoint = EndpointConfig::default();
    endpoint.exchange = exchange;
    endpoint.max_in_flight = 1 + usize::from(b >> 2 & 7);
    endpoint.send_rate = u32::from(b >> 5) * 400;
    let mut config = WatchConfig::default();
    config.endpoint = endpoint;
    config.every = Duration::from_millis(1 + u64::from(*c) * 16);
    config.jitter = (d & 1 == 1).then(|| Duration::from_millis(u64::from(d >> 1) * 8));
    config.players = e & 1 == 1;
    config.rules = e & 2 == 2;
    config.down_after = u32::from(e >> 2 & 3) + 1;
    config.max_backoff = Duration::from_millis(u64::from(*f) * 64);
    config.host_rate = u32::from(g & 15);
    config.thresholds = vec![u32::from(g >> 4 & 3), u32::from(g >> 6) * 3];
    config.seed = u64::from(*a) << 8 | u64::from(*g);
    run(config, rest);
});

/// Six servers on two hosts (host pacing counts per IP).
fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1 + (i % 6) / 3], 27015 + u16::from(i % 3)))
}

/// What the events told so far of one server, checked against its status.
#[derive(Default)]
struct Told {
    state: State,
}

struct Run {
    w: Watchlist<Encoding>,
    now: Instant,
    watched: HashSet<SocketAddr>,
    told: HashMap<SocketAddr, Told>,
    thresholds: Vec<u32>,
    /// The last send to each server.
    last_sent: HashMap<SocketAddr, Instant>,
}

impl Run {
    /// Sends what is due, takes the events and checks them.
    fn settle(&mut self) {
        while let Some((to, _)) = self.w.poll_transmit(self.now) {
            assert!(self.watched.contains(&to), "a request to {to}, which is not watched");
            self.last_sent.insert(to, self.now);
        }
        while let Some(event) = self.w.poll_event() {
            let addr = event.addr;
            assert!(self.watched.contains(&addr), "an event of {addr}, which is not watched: {event:?}");
            let told = self.told.entry(addr).or_default();
            match &event.change {
                Change::Up { .. } => {
                    assert_ne!(told.state, State::Up, "up twice");
                    told.state = State::Up;
                }
                Change::Down { .. } => {
                    assert_ne!(told.state, State::Down, "down twice");
                    told.state = State::Down;
                }
                change => {
                    assert_eq!(told.state, State::Up, "{change:?} of a server not up");
                    match change {
                        Change::MapChanged { from, to } => assert_ne!(from, to),
                        Change::NameChanged { from, to } => assert_ne!(from, to),
                        Change::MaxPlayersChanged { from, to } => assert_ne!(from, to),
                        Change::PlayerCount { from, to } => assert_ne!(from, to),
                        Change::PlayersCrossed { threshold, from, to } => {
                            assert!(self.thresholds.contains(threshold), "{threshold} is no threshold");
                            let (from, to) = (&u32::from(*from), &u32::from(*to));
                            assert!(
                                (to >= threshold && threshold > from) || (from >= threshold && threshold > to),
                                "{from} -> {to} does not cross {threshold}"
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
        assert_eq!(self.w.len(), self.watched.len());
        for &addr in &self.watched {
            let status = self.w.status(addr).expect("a watched server has a status");
            let told = self.told.get(&addr).map_or(State::Unknown, |t| t.state);
            assert_eq!(status.state, told, "{addr}: the status and the events disagree");
        }
        if !self.watched.is_empty() {
            assert!(self.w.poll_timeout().is_some(), "servers watched, and no time to wake at");
        }
    }

    fn step(&mut self, by: Duration) {
        self.now += by;
        self.w.handle_timeout(self.now);
    }
}

fn run(config: WatchConfig, mut ops: &[u8]) {
    let mut r = Run {
        thresholds: config.thresholds.clone(),
        w: Watchlist::new(config.clone(), Encoding::Utf8),
        now: Instant::now(),
        watched: HashSet::new(),
        told: HashMap::new(),
        last_sent: HashMap::new(),
    };
    let mut out = Vec::new();
    while let Some((&op, tail)) = ops.split_first() {
        ops = tail;
        let to = addr(op >> 3);
        match op & 7 {
            0 => {
                assert_eq!(r.w.add(to, r.now), r.watched.insert(to));
            }
            1 => {
                assert_eq!(r.w.remove(to, r.now).is_some(), r.watched.remove(&to));
                r.told.remove(&to);
            }
            2 | 3 => r.step(Duration::from_millis(u64::from(op >> 2) * 4)),
            4 => {
                // A good info reply: a name, a map, a count and a password from the op.
                let Some((&v, tail)) = ops.split_first() else { break };
                ops = tail;
                let mut info = SourceInfo::default();
                info.server_name = NAMES[usize::from(v % 3)].into();
                info.map_name = MAPS[usize::from(v / 3 % 3)].into();
                info.player_count = v >> 4;
                info.max_players = 8 + (v >> 7) * 8;
                info.password_protected = v & 0x08 != 0;
                out.clear();
                if Info::Source(info).encode(&mut out).is_ok() {
                    r.w.handle_datagram(to, &out, r.now);
                }
            }
            5 => {
                let Some((&v, tail)) = ops.split_first() else { break };
                ops = tail;
                out.clear();
                if v & 1 == 0 {
                    encode_challenge(Challenge([v, v ^ 0x5A, 1, 2]), &mut out);
                } else {
                    let players: Vec<Player> =
                        (0..v >> 5).map(|i| Player::new(NAMES[usize::from(i % 3)].to_string(), 0, 1.0)).collect();
                    let _ = encode_players(&players, ShipLayout::Trailing, &mut out);
                }
                r.w.handle_datagram(to, &out, r.now);
            }
            6 => {
                let Some((&len, tail)) = ops.split_first() else { break };
                let (body, tail) = tail.split_at(usize::from(len).min(tail.len()));
                ops = tail;
                let mut datagram = if op & 0x80 == 0 { vec![0xFF; 4] } else { vec![0xFE, 0xFF, 0xFF, 0xFF] };
                datagram.extend_from_slice(body);
                r.w.handle_datagram(to, &datagram, r.now);
            }
            _ => {
                let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
                r.w.handle_send_error(to, Error::Io(refused), r.now);
            }
        }
        r.settle();
    }
    // Every server still watched is polled again within its interval or its backoff,
    // plus a poll's queries, the drains, the window's turns and its host's pacing.
    let config = r.w.config().clone();
    let timeout = config.endpoint.exchange.timeout;
    let retries = u32::from(config.endpoint.exchange.retries) + 1;
    let servers = 6;
    let interval = config.every.max(config.max_backoff) + config.jitter.unwrap_or(config.every / 10);
    let poll = timeout * 4 * retries;
    let pacing = if config.host_rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs(u64::from(servers * 3 * retries * 2 / config.host_rate + 1))
    };
    let bound = interval * 2 + poll * servers + pacing + Duration::from_secs(1);
    let from = r.now;
    let mut stuck = 0;
    while r.now < from + bound * 2 {
        r.settle();
        let Some(wake) = r.w.poll_timeout() else { break };
        if wake <= r.now {
            stuck += 1;
            assert!(stuck < 10_000, "woken at {wake:?} again and again with nothing done");
        } else {
            stuck = 0;
        }
        r.now = r.now.max(wake);
        r.w.handle_timeout(r.now);
    }
    r.settle();
    for addr in &r.watched {
        let last = r.last_sent.get(addr).copied();
        assert!(
            last.is_some_and(|t| t + bound >= r.now),
            "{addr} not polled for {:?} (bound {bound:?})",
            last.map(|t| r.now - t)
        );
    }
}
