//! Many servers watched over time, I/O-free: each polled on a schedule through one
//! [`Endpoint`], its answers turned into a state (up or down, debounced) and events
//! (up, down, map changed, players joined, ...). The [`Monitor`](crate::Monitor) drives
//! it over a socket; tests drive it with datagrams and hand-advanced time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::addr_hash::{addr_map, AddrMap};
use super::endpoint::{normalized, Endpoint, EndpointConfig, QueryId};
use super::exchange::later;
use super::info::Info;
use super::job::{AnyAnswer, AnyQuery, Kind};
use super::packet::Request;
use super::players::Players;
use super::rules::Rules;
use crate::encoding::{TextBuf, TextDecoder};
use crate::error::{Error, Stray};

/// The default time between two polls of a server.
pub(crate) const DEFAULT_EVERY: Duration = Duration::from_secs(30);
/// The default count of failed polls in a row that makes a server down.
pub(crate) const DEFAULT_DOWN_AFTER: u32 = 3;
/// The default longest time between two polls of a server long down.
pub(crate) const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The default cap on queries a second to one IP address: game servers drop queries
/// past about ten a second from one address, and hosts run many servers.
pub(crate) const DEFAULT_HOST_RATE: u32 = 5;
/// Room for events kept when none is left to take; a burst's room past it is given back.
const KEEP_EVENTS: usize = 64;
/// The host pacing table is pruned of hosts free again once it holds this many more
/// entries than after its last pruning (at least).
const HOST_SLACK: usize = 64;
/// The schedule is pruned of the entries of removed servers once they outnumber the
/// servers watched by this many.
const STALE_SLACK: usize = 64;

/// How a [`Watchlist`] polls its servers and judges them.
///
/// New options may come (`#[non_exhaustive]`): start from `default()` and set the
/// fields you change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchConfig {
    /// Each query's timeout, retries and limits; the window and the send rate.
    pub endpoint: EndpointConfig,
    /// Time between two polls of a server, from the start of one to the start of the
    /// next. Default 30 s.
    pub every: Duration,
    /// Each poll moves by up to this much either way, at random, so servers added
    /// together are not polled in lockstep. `None`: a tenth of `every`.
    pub jitter: Option<Duration>,
    /// Ask each server for its players too (after its info, in the same poll): what
    /// the joined and left events need. Default off.
    pub players: bool,
    /// Ask each server for its rules too. Default off.
    pub rules: bool,
    /// Failed polls in a row after which a server is down. Default 3 (at least 1).
    pub down_after: u32,
    /// A server down is polled less and less often, the interval doubling with each
    /// failed poll, up to this. Default 5 minutes (never less than `every`).
    pub max_backoff: Duration,
    /// Most queries a second to one IP address, all its ports together: a host with
    /// 40 servers is not flooded. Default 5; 0 for no cap. (A query is one datagram
    /// with a remembered challenge, two with a new one, more with retries.)
    pub host_rate: u32,
    /// Player counts whose crossing is an event ([`Change::PlayersCrossed`]), such as
    /// `[1, 10]` for "someone is on" and "ten or more". Default none.
    pub thresholds: Vec<u32>,
    /// Seeds the jitter (the driver gives a random one; a test a fixed one).
    pub seed: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            endpoint: EndpointConfig::default(),
            every: DEFAULT_EVERY,
            jitter: None,
            players: false,
            rules: false,
            down_after: DEFAULT_DOWN_AFTER,
            max_backoff: DEFAULT_MAX_BACKOFF,
            host_rate: DEFAULT_HOST_RATE,
            thresholds: Vec::new(),
            seed: 0,
        }
    }
}

/// Whether a server answers, as its last polls tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum State {
    /// Not answered yet, nor failed enough times to be down.
    #[default]
    Unknown,
    /// Its last poll's info query was answered (or fewer than `down_after` polls
    /// failed since).
    Up,
    /// Its last `down_after` polls failed (or more).
    Down,
}

/// `unknown`, `up` or `down`.
impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down => "down",
        })
    }
}

/// Why a query failed, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// Nothing usable came back in time.
    Timeout,
    /// The host said nothing listens on that port (ICMP port unreachable).
    Refused,
    /// Something that is not A2S answered: another service on that port.
    NotA2s,
    /// An A2S reply that does not parse, decompress or check out, or one past the
    /// [`Limits`](crate::Limits).
    Malformed,
    /// Suspected rate limit: the server answered this poll's info, then let a players
    /// or rules query time out that it answered when last asked, as a server does that
    /// drops queries past a rate. (One that did not answer it last time is `Timeout`:
    /// many never answer rules, and a lasting silence is no flood filter.)
    RateLimited,
    /// Anything else (a socket error, an address the socket cannot reach).
    Other,
}

impl Reason {
    /// Every reason, in order (for a table of counts).
    pub const ALL: [Reason; 6] =
        [Reason::Timeout, Reason::Refused, Reason::NotA2s, Reason::Malformed, Reason::RateLimited, Reason::Other];

    /// The reason of a failed query's error.
    pub fn of(error: &Error) -> Reason {
        match error {
            Error::Timeout { ignored, .. } if matches!(ignored.telling, Some(Stray::NotA2s { .. })) => Reason::NotA2s,
            Error::Timeout { .. } => Reason::Timeout,
            Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => Reason::Refused,
            Error::NotA2s { .. } => Reason::NotA2s,
            e if e.is_broken_reply() || e.is_limit() => Reason::Malformed,
            _ => Reason::Other,
        }
    }

    /// Its word, as metric labels and JSON take it: `timeout`, `refused`, `not_a2s`,
    /// `malformed`, `rate_limited` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Refused => "refused",
            Reason::NotA2s => "not_a2s",
            Reason::Malformed => "malformed",
            Reason::RateLimited => "rate_limited",
            Reason::Other => "other",
        }
    }

    /// Its place in [`Reason::ALL`].
    fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// `timeout`, `refused`, `not_a2s`, `malformed`, `rate_limited` or `other`
/// ([`Reason::as_str`]).
impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`Watchlist`] knows of one server: its state and its last good answers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Status<S: TextBuf = String> {
    /// The address as added.
    pub addr: SocketAddr,
    /// Up, down or not known yet.
    pub state: State,
    /// The last info answer.
    pub info: Option<Info<S>>,
    /// The last players answer (when players are asked).
    pub players: Option<Players<S>>,
    /// The last rules answer (when rules are asked).
    pub rules: Option<Rules<S>>,
    /// Polls failed since the last answer.
    pub failures_in_row: u32,
    /// The last failed query's error (kept after an answer: the last thing that went
    /// wrong).
    pub last_error: Option<Error>,
    /// When the last info answer came.
    pub last_success: Option<Instant>,
    /// Polls started.
    pub polls: u64,
    /// Failed queries by reason, in [`Reason::ALL`]'s order ([`Status::failures`]).
    failed: [u32; 6],
}

impl<S: TextBuf> Status<S> {
    fn new(addr: SocketAddr) -> Self {
        Status {
            addr,
            state: State::Unknown,
            info: None,
            players: None,
            rules: None,
            failures_in_row: 0,
            last_error: None,
            last_success: None,
            polls: 0,
            failed: [0; 6],
        }
    }

    /// Queries that failed for `reason` since the server was added.
    pub fn failures(&self, reason: Reason) -> u64 {
        self.failed.get(reason.index()).copied().map_or(0, u64::from)
    }
}

/// Something that changed on a server, found by a poll.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Change<S: TextBuf = String> {
    /// It answers (its first answer, or its first after being down).
    Up {
        /// Its info.
        info: Info<S>,
    },
    /// Its last `down_after` polls failed.
    Down {
        /// Why the last one failed.
        reason: Reason,
        /// The last one's error.
        error: Error,
    },
    /// Another map.
    MapChanged {
        /// The map before.
        from: S,
        /// The map now.
        to: S,
    },
    /// Another server name.
    NameChanged {
        /// The name before.
        from: S,
        /// The name now.
        to: S,
    },
    /// Another player limit.
    MaxPlayersChanged {
        /// The limit before.
        from: u8,
        /// The limit now.
        to: u8,
    },
    /// A password set or removed.
    PasswordChanged {
        /// Whether it asks for one now.
        password: bool,
    },
    /// Another player count (the info's count, bots included).
    PlayerCount {
        /// The count before.
        from: u8,
        /// The count now.
        to: u8,
    },
    /// The player count went past one of the thresholds, up or down.
    PlayersCrossed {
        /// The threshold crossed: `to >= threshold > from` going up, `from >= threshold
        /// > to` going down.
        threshold: u32,
        /// The count before.
        from: u8,
        /// The count now.
        to: u8,
    },
    /// A player by this name is on who was not at the last poll (players asked).
    PlayerJoined {
        /// The name.
        name: S,
    },
    /// A player by this name left since the last poll.
    PlayerLeft {
        /// The name.
        name: S,
    },
}

/// One line of what changed, as `a2s watch` prints it: `up: NAME on MAP, 3/24 players`,
/// `down (timeout): ...`, `map: de_dust2 -> de_inferno`, `players: 3 -> 4`, `players
/// reached 10: 9 -> 10`, `joined: NAME`, ... (text as sent, bytes read as lossy UTF-8).
///
/// ```
/// use a2s_query::Change;
/// let change: Change = Change::MapChanged { from: "de_dust2".into(), to: "de_inferno".into() };
/// assert_eq!(change.to_string(), "map: de_dust2 -> de_inferno");
/// ```
impl<S: TextBuf> std::fmt::Display for Change<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |s: &S| String::from_utf8_lossy(s.as_ref()).into_owned();
        match self {
            Change::Up { info } => write!(
                f,
                "up: {} on {}, {}/{} players",
                String::from_utf8_lossy(info.server_name().as_ref()),
                String::from_utf8_lossy(info.map_name().as_ref()),
                info.player_count(),
                info.max_players()
            ),
            Change::Down { reason, error } => {
                let error = error.to_string();
                // ("refused: ..." says its reason already.)
                if error.starts_with(&reason.to_string()) {
                    write!(f, "down: {error}")
                } else {
                    write!(f, "down ({reason}): {error}")
                }
            }
            Change::MapChanged { from, to } => write!(f, "map: {} -> {}", text(from), text(to)),
            Change::NameChanged { from, to } => write!(f, "name: {} -> {}", text(from), text(to)),
            Change::MaxPlayersChanged { from, to } => write!(f, "max players: {from} -> {to}"),
            Change::PasswordChanged { password } => write!(f, "password: {}", if *password { "on" } else { "off" }),
            Change::PlayerCount { from, to } => write!(f, "players: {from} -> {to}"),
            Change::PlayersCrossed { threshold, from, to } => {
                write!(f, "players {} {threshold}: {from} -> {to}", if to > from { "reached" } else { "fell below" })
            }
            Change::PlayerJoined { name } => write!(f, "joined: {}", text(name)),
            Change::PlayerLeft { name } => write!(f, "left: {}", text(name)),
        }
    }
}

/// One event of a watched server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event<S: TextBuf = String> {
    /// The server, as added.
    pub addr: SocketAddr,
    /// What changed.
    pub change: Change<S>,
}

/// `ADDRESS CHANGE`: the server, then the change's line (see [`Change`]'s `Display`).
impl<S: TextBuf> std::fmt::Display for Event<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.addr, self.change)
    }
}

/// The poll under way to one server.
#[derive(Debug, Clone, Copy)]
struct Round {
    /// Its query under way in the endpoint.
    id: QueryId,
}

/// The kinds of query a server answered the last time it was asked them (a timeout of
/// one, in a poll whose info it answered, hints a rate limit).
const ANSWERED_PLAYERS: u8 = 1;
const ANSWERED_RULES: u8 = 2;

/// One watched server.
#[derive(Debug)]
struct Watched<S: TextBuf> {
    status: Status<S>,
    /// When its next poll is due (`None` while one is under way).
    due: Option<Instant>,
    /// Whether `due` is a slot booked with its host's pacing: a place in the host's
    /// line, never lost to polls newly due, however late a full window lets it come.
    booked: bool,
    /// Its place among polls due at one time (the schedule entry that is current):
    /// lower is older, so a booked poll waiting again goes before later bookings.
    ticket: u64,
    /// The poll under way.
    round: Option<Round>,
    /// The kinds of query it answered when last asked ([`ANSWERED_PLAYERS`],
    /// [`ANSWERED_RULES`]).
    answered: u8,
    /// When the poll under way (or the last) started.
    started: Instant,
}

impl<S: TextBuf> Watched<S> {
    /// Whether the schedule entry `(at, ticket)` is its current one.
    fn is_due(&self, at: Instant, ticket: u64) -> bool {
        self.due == Some(at) && self.ticket == ticket
    }
}

/// How one host's share of queries is taken.
#[derive(Debug, Clone, Copy)]
struct HostPace {
    /// Its next free slot to book: after every slot booked so far (a booked poll that
    /// waits again waits for a share after the last start, which booking respects too).
    free: Instant,
    /// When its last poll started.
    last: Option<Instant>,
    /// Its polls booked and not started yet: a poll newly due waits behind them.
    waiting: u32,
}

impl HostPace {
    /// Whether the host's share is spent or booked at `now`: its pacing must be kept.
    fn is_held(&self, now: Instant, spacing: Duration) -> bool {
        self.waiting > 0 || self.free > now || self.last.is_some_and(|t| later(t, spacing) > now)
    }
}

/// Many servers polled over time through one [`Endpoint`], I/O-free: add and remove
/// servers, hand in datagrams and the time, take the requests to send and the
/// [`Event`]s. The [`Monitor`](crate::Monitor) is its blocking driver.
///
/// ```
/// use std::time::{Duration, Instant};
/// use a2s_query::proto::{Change, SourceInfo, State, WatchConfig, Watchlist};
/// use a2s_query::Encoding;
/// # fn main() -> a2s_query::Result<()> {
/// let mut config = WatchConfig::default();
/// config.endpoint.exchange.retries = 0;
/// config.endpoint.exchange.timeout = Duration::from_secs(1);
/// let mut watch = Watchlist::new(config, Encoding::Utf8);
/// let server = "192.0.2.1:27015".parse().unwrap();
/// let start = Instant::now();
/// watch.add(server, start);
///
/// watch.handle_timeout(start);
/// let (to, _info_request) = watch.poll_transmit(start).expect("the first poll");
/// assert_eq!(to, server);
/// let mut reply = Vec::new();
/// let mut sent = SourceInfo::default();
/// sent.map_name = "de_dust2".into();
/// sent.encode(&mut reply)?;
/// watch.handle_datagram(server, &reply, start + Duration::from_millis(30));
///
/// let event = watch.poll_event().expect("up");
/// assert!(matches!(event.change, Change::Up { .. }));
/// assert_eq!(watch.status(server).map(|s| s.state), Some(State::Up));
/// // The next poll is due in about 30 s (give or take the jitter).
/// let next = watch.poll_timeout().expect("a next poll");
/// assert!(next >= start + Duration::from_secs(27) && next <= start + Duration::from_secs(33));
/// # Ok(()) }
/// ```
///
/// **Each server's state**: up on its first answer; down when `down_after` polls in a
/// row failed (their info query: a players or rules query that fails leaves the state
/// alone, and is counted by its reason). A server down is polled at a growing interval
/// (doubling per failed poll, up to `max_backoff`), and up again on its first answer.
///
/// **Events** come from comparing each answer with the last good one: map, name, player
/// limit, password, player count (and its crossing of the thresholds), and with players
/// asked, who joined and left by name. Some games send every name empty (CS2, Valheim,
/// Arma Reforger): for them only the counts change, no joined or left events. Names are
/// compared as a multiset: two players of one name are two.
///
/// **Pacing**: the endpoint's window and send rate, and per destination IP address at
/// most `host_rate` queries a second (a poll due when its host's share is spent books
/// the host's next free slot: first come, first served; a booked poll is not sent to the
/// back of the line however late a full window lets it come, so no server is starved by
/// its neighbours).
///
/// **Memory**, per server: its record (512 bytes: its status with the last info, its
/// schedule), the text of its last info (about 100 bytes for a community server), the
/// endpoint's learned entry (about 80), and its share of the tables (their empty
/// places included): about 925 bytes a server in all over 10 000 servers with info
/// only (the monitor benchmark), more with player and rules lists; the events not taken
/// yet. Polls past the endpoint's window wait in the schedule, not in its tables.
#[derive(Debug)]
pub struct Watchlist<D: TextDecoder = crate::Encoding> {
    config: WatchConfig,
    endpoint: Endpoint<AnyQuery<D>, D>,
    /// Boxed: the table's empty places (up to half of it) then cost a pointer each.
    servers: AddrMap<SocketAddr, Box<Watched<D::Text>>>,
    /// Polls due, by time, then by ticket (an entry whose server's `due` or ticket
    /// differs is stale).
    schedule: BinaryHeap<Reverse<(Instant, u64, SocketAddr)>>,
    /// The next ticket.
    tickets: u64,
    /// Schedule entries left by servers removed since the last pruning.
    stale: usize,
    /// The pacing of each host whose share is spent.
    hosts: AddrMap<IpAddr, HostPace>,
    /// Hosts left after the last pruning of `hosts`.
    hosts_kept: usize,
    events: VecDeque<Event<D::Text>>,
    rng: u64,
}

impl<D: TextDecoder> Watchlist<D> {
    /// A watchlist with no server yet.
    pub fn new(config: WatchConfig, decoder: D) -> Self {
        let rng = config.seed ^ 0x9E37_79B9_7F4A_7C15;
        Watchlist {
            endpoint: Endpoint::new(config.endpoint, decoder),
            config,
            servers: addr_map(),
            schedule: BinaryHeap::new(),
            tickets: 0,
            stale: 0,
            hosts: addr_map(),
            hosts_kept: 0,
            events: VecDeque::new(),
            rng,
        }
    }

    /// The options it runs with.
    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    /// Watches the server at `addr`, its first poll due at `now` (or when its host's
    /// pacing allows). Whether it was new.
    pub fn add(&mut self, addr: SocketAddr, now: Instant) -> bool {
        if self.servers.contains_key(&addr) {
            return false;
        }
        let watched = Watched {
            status: Status::new(addr),
            due: Some(now),
            booked: false,
            ticket: 0,
            round: None,
            answered: 0,
            started: now,
        };
        self.servers.insert(addr, Box::new(watched));
        self.schedule_poll(addr, now, false);
        true
    }

    /// Stops watching `addr`: its poll under way is dropped (what it owes drains), and
    /// its events not taken yet stay. Its last status, if it was watched.
    pub fn remove(&mut self, addr: SocketAddr, now: Instant) -> Option<Status<D::Text>> {
        let watched = self.servers.remove(&addr)?;
        if let Some(round) = watched.round {
            self.endpoint.cancel(round.id, now);
        }
        if watched.booked {
            // (One booked poll fewer: a poll newly due no longer waits for it. Its slot
            // goes unused.)
            if let Some(pace) = self.hosts.get_mut(&normalized(addr).ip()) {
                pace.waiting = pace.waiting.saturating_sub(1);
            }
        }
        if watched.due.is_some() {
            // Its schedule entry is stale now; once such entries outnumber the live ones
            // (servers added and removed with long intervals), they are dropped.
            self.stale += 1;
            if self.stale > self.servers.len() + STALE_SLACK {
                let servers = &self.servers;
                self.schedule
                    .retain(|&Reverse((at, ticket, addr))| servers.get(&addr).is_some_and(|w| w.is_due(at, ticket)));
                self.stale = 0;
            }
        }
        Some(watched.status)
    }

    /// What is known of `addr`, if it is watched.
    pub fn status(&self, addr: SocketAddr) -> Option<&Status<D::Text>> {
        self.servers.get(&addr).map(|w| &w.status)
    }

    /// Every watched server's status, in no particular order.
    pub fn statuses(&self) -> impl Iterator<Item = &Status<D::Text>> {
        self.servers.values().map(|w| &w.status)
    }

    /// Servers watched.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether no server is watched.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The next event, in the order found.
    pub fn poll_event(&mut self) -> Option<Event<D::Text>> {
        let event = self.events.pop_front();
        if self.events.is_empty() && self.events.capacity() > KEEP_EVENTS {
            // (A burst taken, such as every server's first answer: its room is given back.)
            self.events = VecDeque::new();
        }
        event
    }

    /// The next datagram to send and its destination (see
    /// [`Endpoint::poll_transmit`]): call it until `None` after every `handle_*`,
    /// `add` and `remove`, having handed in what was received.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Request)> {
        self.endpoint.poll_transmit(now)
    }

    /// When to call [`Watchlist::handle_timeout`] if no datagram comes first: the next
    /// poll due, or the endpoint's next timer.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, ticket, addr))) = self.schedule.peek() {
            if self.servers.get(&addr).is_some_and(|w| w.is_due(at, ticket)) {
                break;
            }
            self.schedule.pop();
        }
        // (A full window: the next poll waits for a place, which an endpoint event makes.)
        let due = self.schedule.peek().map(|&Reverse((at, ..))| at).filter(|_| self.endpoint.wants_input());
        match (due, self.endpoint.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves the time to `now`: the endpoint's timers, and the polls due start.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.collect(now);
        self.start_due(now);
    }

    /// Takes one datagram that came from `from` at `now`.
    pub fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) {
        self.endpoint.handle_datagram(from, datagram, now);
        self.collect(now);
        self.start_due(now);
    }

    /// Ends the query under way to `to` with `error` (see
    /// [`Endpoint::handle_send_error`]).
    pub fn handle_send_error(&mut self, to: SocketAddr, error: Error, now: Instant) {
        self.endpoint.handle_send_error(to, error, now);
        self.collect(now);
        self.start_due(now);
    }

    /// Starts the polls due by `now` while the endpoint's window has room: past it, a
    /// poll waits here, as a schedule entry, not in the endpoint's tables.
    fn start_due(&mut self, now: Instant) {
        while self.endpoint.wants_input() {
            let Some(&Reverse((at, ticket, addr))) = self.schedule.peek() else { break };
            if at > now {
                break;
            }
            self.schedule.pop();
            self.start_poll(addr, at, ticket, now);
        }
    }

    /// Datagrams that came from no server with a query under way (dropped).
    pub fn unmatched(&self) -> u64 {
        self.endpoint.unmatched()
    }

    /// Starts the poll of `addr` that was due at `at`, or has it wait for its host's
    /// share: a poll of a host books the host's next free slot (first come, first
    /// served), and a booked poll is not sent to the back of the line however late a
    /// full window lets it come (it may lose one slot to a younger booking still at
    /// its own), so no server is starved by its neighbours. Two polls of one host
    /// never start closer than its share allows.
    fn start_poll(&mut self, addr: SocketAddr, at: Instant, ticket: u64, now: Instant) {
        let spacing = self.host_spacing();
        let Some(watched) = self.servers.get_mut(&addr) else { return };
        if !watched.is_due(at, ticket) || watched.round.is_some() {
            return;
        }
        if self.config.host_rate > 0 {
            let host = normalized(addr).ip();
            let mut pace = self.hosts.get(&host).copied().unwrap_or(HostPace { free: now, last: None, waiting: 0 });
            // (A share after the last poll of the host started.)
            let after_last = pace.last.map_or(now, |t| later(t, spacing)).max(now);
            if watched.booked {
                if after_last > now {
                    return self.schedule_poll(addr, after_last, true);
                }
                watched.booked = false;
                pace.waiting = pace.waiting.saturating_sub(1);
            } else {
                let slot = pace.free.max(after_last);
                pace.free = later(slot, spacing);
                if slot > now || pace.waiting > 0 {
                    // Its host's share is spent, or others wait for it: the poll books
                    // the host's next free slot, behind them.
                    pace.waiting = pace.waiting.saturating_add(1);
                    watched.booked = true;
                    self.hosts.insert(host, pace);
                    return self.schedule_poll(addr, slot, false);
                }
            }
            pace.last = Some(now);
            self.hosts.insert(host, pace);
            if self.hosts.len() > 2 * self.hosts_kept + HOST_SLACK {
                // (Amortised: a host is kept only while its share is spent or booked.)
                self.hosts.retain(|_, pace| pace.is_held(now, spacing));
                self.hosts_kept = self.hosts.len();
            }
        }
        let id = self.endpoint.push_kind(addr, Kind::Info);
        if let Some(w) = self.servers.get_mut(&addr) {
            w.due = None;
            w.started = now;
            w.status.polls += 1;
            w.round = Some(Round { id });
        }
    }

    /// The least time between the starts of two polls of one host.
    fn host_spacing(&self) -> Duration {
        let queries = 1 + u32::from(self.config.players) + u32::from(self.config.rules);
        Duration::from_secs(u64::from(queries)) / self.config.host_rate.max(1)
    }

    /// Puts the next poll of `addr` in the schedule at `at`: in line after every poll
    /// scheduled before, or in the place it held (`keep_place`, a booked poll waiting
    /// again).
    fn schedule_poll(&mut self, addr: SocketAddr, at: Instant, keep_place: bool) {
        let Some(w) = self.servers.get_mut(&addr) else { return };
        if !keep_place {
            w.ticket = self.tickets;
            self.tickets = self.tickets.wrapping_add(1);
        }
        w.due = Some(at);
        self.schedule.push(Reverse((at, w.ticket, addr)));
    }

    /// Takes the endpoint's finished queries: states, events, the next query of a poll
    /// or the next poll.
    fn collect(&mut self, now: Instant) {
        while let Some((id, addr, answer)) = self.endpoint.poll_output() {
            let Some(watched) = self.servers.get_mut(&addr) else { continue };
            if watched.round.is_none_or(|r| r.id != id) {
                continue;
            }
            let next = match answer {
                AnyAnswer::Info(result) => self.on_info(addr, result, now),
                AnyAnswer::Players(result) => self.on_players(addr, result),
                AnyAnswer::Rules(result) => self.on_rules(addr, result),
                _ => None,
            };
            match next {
                Some(kind) => {
                    let id = self.endpoint.push_kind(addr, kind);
                    if let Some(w) = self.servers.get_mut(&addr) {
                        w.round = Some(Round { id });
                    }
                }
                None => self.end_poll(addr, now),
            }
        }
    }

    /// The info query's result; the poll's next query, if any.
    fn on_info(&mut self, addr: SocketAddr, result: crate::Result<Info<D::Text>>, now: Instant) -> Option<Kind> {
        let (down_after, thresholds) = (self.config.down_after.max(1), &self.config.thresholds);
        let watched = self.servers.get_mut(&addr)?;
        let status = &mut watched.status;
        let info = match result {
            Ok(info) => info,
            Err(error) => {
                let reason = Reason::of(&error);
                status.failures_in_row = status.failures_in_row.saturating_add(1);
                if let Some(count) = status.failed.get_mut(reason.index()) {
                    *count = count.saturating_add(1);
                }
                if status.failures_in_row >= down_after && status.state != State::Down {
                    status.state = State::Down;
                    let change = Change::Down { reason, error: error.clone() };
                    self.events.push_back(Event { addr, change });
                }
                status.last_error = Some(error);
                return None;
            }
        };
        let was_up = status.state == State::Up;
        status.state = State::Up;
        status.failures_in_row = 0;
        status.last_success = Some(now);
        if !was_up {
            self.events.push_back(Event { addr, change: Change::Up { info: info.clone() } });
        }
        if let Some(before) = status.info.as_ref() {
            for change in info_changes(before, &info, thresholds) {
                self.events.push_back(Event { addr, change });
            }
        }
        status.info = Some(info);
        if self.config.players {
            Some(Kind::Players)
        } else if self.config.rules {
            Some(Kind::Rules)
        } else {
            None
        }
    }

    /// The players query's result; the poll's next query, if any.
    fn on_players(&mut self, addr: SocketAddr, result: crate::Result<Players<D::Text>>) -> Option<Kind> {
        let rules = self.config.rules.then_some(Kind::Rules);
        let watched = self.servers.get_mut(&addr)?;
        let answered_before = watched.answered & ANSWERED_PLAYERS != 0;
        let status = &mut watched.status;
        match result {
            Ok(players) => {
                watched.answered |= ANSWERED_PLAYERS;
                if let Some(before) = status.players.as_ref() {
                    for change in player_changes(before, &players) {
                        self.events.push_back(Event { addr, change });
                    }
                }
                status.players = Some(players);
            }
            Err(error) => {
                watched.answered &= !ANSWERED_PLAYERS;
                note_failure(status, answered_before, error);
            }
        }
        rules
    }

    /// The rules query's result: the poll's last.
    fn on_rules(&mut self, addr: SocketAddr, result: crate::Result<Rules<D::Text>>) -> Option<Kind> {
        let watched = self.servers.get_mut(&addr)?;
        let answered_before = watched.answered & ANSWERED_RULES != 0;
        match result {
            Ok(rules) => {
                watched.answered |= ANSWERED_RULES;
                watched.status.rules = Some(rules);
            }
            Err(error) => {
                watched.answered &= !ANSWERED_RULES;
                note_failure(&mut watched.status, answered_before, error);
            }
        }
        None
    }

    /// The poll of `addr` is over: its next one is scheduled.
    fn end_poll(&mut self, addr: SocketAddr, now: Instant) {
        let (every, max_backoff, down_after) = (self.config.every, self.config.max_backoff, self.config.down_after);
        let jitter = self.config.jitter.unwrap_or(every / 10).min(every / 2);
        let offset = self.jitter(jitter);
        let Some(watched) = self.servers.get_mut(&addr) else { return };
        watched.round = None;
        let mut interval = every;
        if watched.status.state == State::Down {
            // Doubling with each failed poll past the one that made it down.
            let doublings = watched.status.failures_in_row.saturating_sub(down_after.max(1)).min(16);
            interval = every.saturating_mul(1 << doublings).min(max_backoff.max(every));
        }
        let due = later(watched.started, interval);
        let due = match offset {
            (true, d) => later(due, d),
            (false, d) => due.checked_sub(d).unwrap_or(due),
        };
        // Never before the poll just ended (a timeout longer than the interval).
        self.schedule_poll(addr, due.max(now), false);
    }

    /// A random offset within `±jitter`: (later, by how much).
    fn jitter(&mut self, jitter: Duration) -> (bool, Duration) {
        // splitmix64: small, and good enough to spread polls.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let nanos = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
        let offset = nanos.checked_add(1).map_or(z >> 1, |span| (z >> 1) % span);
        (z & 1 == 1, Duration::from_nanos(offset))
    }
}

/// A failed players or rules query (its poll's info answered): counted by its reason,
/// the state left alone. A timeout of a kind the server answered when last asked is a
/// suspected rate limit; of one it did not, a timeout (many servers never answer rules,
/// and a lasting silence is no flood filter).
fn note_failure<S: TextBuf>(status: &mut Status<S>, answered_before: bool, error: Error) {
    let reason = match Reason::of(&error) {
        Reason::Timeout if answered_before => Reason::RateLimited,
        reason => reason,
    };
    if let Some(count) = status.failed.get_mut(reason.index()) {
        *count = count.saturating_add(1);
    }
    status.last_error = Some(error);
}

/// What changed from one info answer to the next.
fn info_changes<S: TextBuf>(before: &Info<S>, now: &Info<S>, thresholds: &[u32]) -> Vec<Change<S>> {
    let mut changes = Vec::new();
    if before.map_name() != now.map_name() {
        changes.push(Change::MapChanged { from: before.map_name().to_owned(), to: now.map_name().to_owned() });
    }
    if before.server_name() != now.server_name() {
        changes.push(Change::NameChanged { from: before.server_name().to_owned(), to: now.server_name().to_owned() });
    }
    if before.max_players() != now.max_players() {
        changes.push(Change::MaxPlayersChanged { from: before.max_players(), to: now.max_players() });
    }
    if before.password_protected() != now.password_protected() {
        changes.push(Change::PasswordChanged { password: now.password_protected() });
    }
    let (from, to) = (before.player_count(), now.player_count());
    if from != to {
        changes.push(Change::PlayerCount { from, to });
        let (low, high) = (u32::from(from.min(to)), u32::from(from.max(to)));
        for &threshold in thresholds {
            if low < threshold && threshold <= high {
                changes.push(Change::PlayersCrossed { threshold, from, to });
            }
        }
    }
    changes
}

/// Who joined and left from one players answer to the next, by name (empty names
/// skipped: some games send no names at all).
fn player_changes<S: TextBuf>(before: &Players<S>, now: &Players<S>) -> Vec<Change<S>> {
    let mut counts: HashMap<&[u8], i32> = HashMap::new();
    for p in before.iter().filter(|p| !p.name.as_ref().is_empty()) {
        *counts.entry(p.name.as_ref()).or_default() -= 1;
    }
    for p in now.iter().filter(|p| !p.name.as_ref().is_empty()) {
        *counts.entry(p.name.as_ref()).or_default() += 1;
    }
    let mut changes = Vec::new();
    // In the order of the lists: those who left, as the old list had them, then those
    // who joined, as the new list has them.
    for p in before.iter() {
        if let Some(n) = counts.get_mut(p.name.as_ref()).filter(|n| **n < 0) {
            *n += 1;
            changes.push(Change::PlayerLeft { name: p.name.clone() });
        }
    }
    for p in now.iter() {
        if let Some(n) = counts.get_mut(p.name.as_ref()).filter(|n| **n > 0) {
            *n -= 1;
            changes.push(Change::PlayerJoined { name: p.name.clone() });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each change reads as `a2s watch` prints it; bytes are read as lossy UTF-8.
    #[test]
    fn changes_print_as_one_line_each() {
        let mut info = crate::SourceInfo::empty();
        info.server_name = "Badlands".to_string();
        info.map_name = "cp_badlands".to_string();
        info.player_count = 3;
        info.max_players = 24;
        let timeout =
            Error::Timeout { timeout: Duration::from_secs(2), fragments: None, ignored: crate::Ignored::default() };
        let cases: [(Change, &str); 7] = [
            (Change::Up { info: Info::Source(info) }, "up: Badlands on cp_badlands, 3/24 players"),
            (Change::Down { reason: Reason::Timeout, error: timeout }, "down (timeout): no reply within 2s"),
            (Change::PasswordChanged { password: true }, "password: on"),
            (Change::PlayerCount { from: 3, to: 4 }, "players: 3 -> 4"),
            (Change::PlayersCrossed { threshold: 10, from: 9, to: 10 }, "players reached 10: 9 -> 10"),
            (Change::PlayersCrossed { threshold: 10, from: 10, to: 9 }, "players fell below 10: 10 -> 9"),
            (Change::PlayerLeft { name: "zoe".to_string() }, "left: zoe"),
        ];
        for (change, line) in cases {
            assert_eq!(change.to_string(), line);
        }
        let bytes: Change<Vec<u8>> = Change::NameChanged { from: b"Caf\xE9".to_vec(), to: b"Cafe".to_vec() };
        assert_eq!(bytes.to_string(), "name: Caf\u{FFFD} -> Cafe");
        let event = Event {
            addr: SocketAddr::from(([192, 0, 2, 1], 27015)),
            change: Change::<String>::PlayerCount { from: 0, to: 1 },
        };
        assert_eq!(event.to_string(), "192.0.2.1:27015 players: 0 -> 1");
    }

    #[test]
    fn servers_added_and_removed_leave_no_lasting_schedule_entries() {
        let config = WatchConfig { every: Duration::from_secs(24 * 3600), ..WatchConfig::default() };
        let mut w = Watchlist::new(config, crate::Encoding::Utf8);
        let now = Instant::now();
        let kept = SocketAddr::from(([192, 0, 2, 1], 1));
        w.add(kept, now);
        for port in 0..10_000u16 {
            let churned = SocketAddr::from(([198, 51, 100, 1], port));
            assert!(w.add(churned, now));
            assert!(w.remove(churned, now).is_some());
        }
        assert!(w.schedule.len() <= 2 + STALE_SLACK, "{} schedule entries for one server", w.schedule.len());
        // The server still watched keeps its entry: its poll starts.
        w.handle_timeout(now);
        assert_eq!(w.poll_transmit(now).map(|(to, _)| to), Some(kept));
    }
}
