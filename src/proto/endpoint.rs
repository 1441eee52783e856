//! Many queries at once, I/O-free: one [`Exchange`] (or a chain of three) per server,
//! datagrams routed to them by source address, sends paced by a rate and a window.
//! No socket, no clock: the many-servers [`Batch`](crate::Batch) drives it, and so can
//! any event loop.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::exchange::{Answer, Exchange, ExchangeConfig, Learned};
use super::info::Info;
use super::packet::Request;
use super::players::Players;
use super::rules::Rules;
use crate::encoding::{TextBuf, TextDecoder};
use crate::error::{Error, Result};

/// The default window: servers queried at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;
/// The default send rate, in datagrams per second.
pub const DEFAULT_SEND_RATE: u32 = 2_000;
/// The pacer lets this much of the send rate's time go out in one burst: a driver's
/// waits are as coarse as the system's timer (a few ms), and one that wakes late
/// catches up that much, not more. (The replies a burst draws are bounded by the
/// window: each server has one request out at a time.)
const BURST_TIME: Duration = Duration::from_millis(20);
/// Most servers whose challenge, split layout and round trip are remembered between
/// runs (about 80 bytes each); when it is full, half of them are forgotten.
pub const MAX_REMEMBERED: usize = 65_536;

/// The work one server gets in an [`Endpoint`]: an [`Exchange`] for one query, or
/// [`AllQueries`] for the three in a row. Its methods are those of an exchange.
///
/// Sealed: the endpoint drives the crate's own jobs; their methods may change.
pub trait Job<D: TextDecoder>: super::sealed::Sealed + Sized {
    /// What the server's item carries when the job is over.
    type Output;
    /// Which work, for a job that can do several kinds (`()` for one that cannot):
    /// given with [`Endpoint::push_kind`].
    type Kind: Copy + Default + std::fmt::Debug;
    /// The job of `kind` starting at `now`, with what earlier exchanges learned of the
    /// server.
    fn start(kind: Self::Kind, config: ExchangeConfig, decoder: D, learned: Learned, now: Instant) -> Self;
    /// Whether a request is due now.
    fn has_transmit(&self) -> bool;
    /// The due request; its send time is `now`.
    fn poll_transmit(&mut self, now: Instant) -> Option<Request>;
    /// When to call `handle_timeout` if nothing comes first; `None` once over.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Moves the timers to `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Takes one datagram from the server.
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant);
    /// The output, once over (taken).
    fn poll_output(&mut self) -> Option<Self::Output>;
    /// What the job learned of the server, for its next job.
    fn learned(&self) -> Learned;
    /// Ends the current query with `error` (its request could not be sent).
    fn fail(&mut self, error: Error, now: Instant);
}

impl<T: Answer<D>, D: TextDecoder> Job<D> for Exchange<T, D> {
    type Output = Result<T>;
    type Kind = ();
    fn start((): (), config: ExchangeConfig, decoder: D, learned: Learned, now: Instant) -> Self {
        Exchange::new(config, decoder, learned, now)
    }
    fn has_transmit(&self) -> bool {
        Exchange::has_transmit(self)
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Request> {
        Exchange::poll_transmit(self, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Exchange::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Exchange::handle_timeout(self, now);
    }
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        Exchange::handle_datagram(self, datagram, now);
    }
    fn poll_output(&mut self) -> Option<Result<T>> {
        Exchange::poll_outcome(self)
    }
    fn learned(&self) -> Learned {
        Exchange::learned(self)
    }
    fn fail(&mut self, error: Error, _now: Instant) {
        Exchange::fail(self, error);
    }
}

/// Info, players and rules of one server, each its own result: a server that never
/// answers rules still gives its info and players.
#[derive(Debug)]
#[non_exhaustive]
pub struct Answers<S: TextBuf = String> {
    /// The info query's result.
    pub info: Result<Info<S>>,
    /// The players query's result, with the header's count and the cut-off flag.
    pub players: Result<Players<S>>,
    /// The rules query's result.
    pub rules: Result<Rules<S>>,
}

/// Info, then players, then rules, each query sent when the one before ends (and the
/// send rate allows) and reusing its challenge (so players and rules take one round
/// trip each). Each query has the whole timeout, from its own first send. A server that sent nothing at all in the info query's time
/// is not asked the other two: they end with the same [`Error::Timeout`], so a dead
/// server costs one timeout, not three.
#[derive(Debug)]
pub struct AllQueries<D: TextDecoder> {
    config: ExchangeConfig,
    decoder: D,
    stage: Stage<D>,
    info: Option<Result<Info<D::Text>>>,
    players: Option<Result<Players<D::Text>>>,
    output: Option<Answers<D::Text>>,
    learned: Learned,
}

#[derive(Debug)]
enum Stage<D: TextDecoder> {
    /// The players query, not sent yet: its timeout starts at its first send.
    NextPlayers,
    /// The rules query, not sent yet.
    NextRules,
    Info(Exchange<Info<D::Text>, D>),
    Players(Exchange<Players<D::Text>, D>),
    Rules(Exchange<Rules<D::Text>, D>),
    Over,
}

/// Runs `$body` with `$e` bound to the current stage's exchange, or gives `$none`
/// between queries.
macro_rules! on_stage {
    ($stage:expr, $e:ident => $body:expr, $none:expr) => {
        match $stage {
            Stage::Info($e) => $body,
            Stage::Players($e) => $body,
            Stage::Rules($e) => $body,
            Stage::NextPlayers | Stage::NextRules | Stage::Over => $none,
        }
    };
}

impl<D: TextDecoder> AllQueries<D> {
    /// Moves to the next query when the current one is over.
    fn advance(&mut self) {
        loop {
            let next = match &mut self.stage {
                Stage::Info(e) => match e.poll_outcome() {
                    None => return,
                    Some(info) => {
                        self.learned = e.learned();
                        let silent = info.as_ref().is_err_and(Error::is_timeout) && !e.heard();
                        self.info = Some(info);
                        if silent {
                            let timeout = self.config.timeout;
                            let none = || Error::Timeout { timeout, fragments: None, ignored: Default::default() };
                            self.output = Some(Answers {
                                info: self.info.take().unwrap_or_else(|| Err(none())),
                                players: Err(none()),
                                rules: Err(none()),
                            });
                            Stage::Over
                        } else {
                            Stage::NextPlayers
                        }
                    }
                },
                Stage::Players(e) => match e.poll_outcome() {
                    None => return,
                    Some(players) => {
                        self.learned = e.learned();
                        self.players = Some(players);
                        Stage::NextRules
                    }
                },
                Stage::Rules(e) => match e.poll_outcome() {
                    None => return,
                    Some(rules) => {
                        self.learned = e.learned();
                        self.output = Some(Answers {
                            info: self.info.take().unwrap_or_else(not_run),
                            players: self.players.take().unwrap_or_else(not_run),
                            rules,
                        });
                        Stage::Over
                    }
                },
                Stage::NextPlayers | Stage::NextRules | Stage::Over => return,
            };
            self.stage = next;
        }
    }

    /// Starts the query waiting for its first send, its timeout counting from `now`.
    fn begin(&mut self, now: Instant) {
        let (config, decoder, learned) = (self.config, self.decoder, self.learned);
        match self.stage {
            Stage::NextPlayers => self.stage = Stage::Players(Exchange::new(config, decoder, learned, now)),
            Stage::NextRules => self.stage = Stage::Rules(Exchange::new(config, decoder, learned, now)),
            _ => {}
        }
    }
}

impl<D: TextDecoder> super::sealed::Sealed for AllQueries<D> {}

impl<D: TextDecoder> Job<D> for AllQueries<D> {
    type Output = Answers<D::Text>;
    type Kind = ();
    fn start((): (), config: ExchangeConfig, decoder: D, learned: Learned, now: Instant) -> Self {
        AllQueries {
            config,
            decoder,
            stage: Stage::Info(Exchange::new(config, decoder, learned, now)),
            info: None,
            players: None,
            output: None,
            learned,
        }
    }
    fn has_transmit(&self) -> bool {
        match &self.stage {
            Stage::NextPlayers | Stage::NextRules => true,
            stage => on_stage!(stage, e => e.has_transmit(), false),
        }
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Request> {
        self.begin(now);
        on_stage!(&mut self.stage, e => e.poll_transmit(now), None)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        on_stage!(&self.stage, e => e.poll_timeout(), None)
    }
    fn handle_timeout(&mut self, now: Instant) {
        on_stage!(&mut self.stage, e => e.handle_timeout(now), ());
        self.advance();
    }
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        on_stage!(&mut self.stage, e => e.handle_datagram(datagram, now), ());
        self.advance();
    }
    fn poll_output(&mut self) -> Option<Answers<D::Text>> {
        self.output.take()
    }
    fn learned(&self) -> Learned {
        on_stage!(&self.stage, e => e.learned(), self.learned)
    }
    fn fail(&mut self, error: Error, now: Instant) {
        self.begin(now);
        on_stage!(&mut self.stage, e => e.fail(error), ());
        // (The next query starts: each part gets its own verdict.)
        self.advance();
    }
}

/// The part of [`Answers`] a chain ended without (cannot happen: each part is set
/// before the next starts).
fn not_run<T>() -> Result<T> {
    Err(Error::InvalidInput("the query was not run"))
}

/// How an [`Endpoint`] paces its work.
///
/// New options may come (`#[non_exhaustive]`): start from `default()` and set the
/// fields you change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Each server's query: timeout (from its first send), retries, limits.
    pub exchange: ExchangeConfig,
    /// Most servers under way at once (queried, or waiting for their first send).
    /// Default [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
    /// Most datagrams sent per second, first requests, challenge answers and retries
    /// alike; 0 for no cap. Default [`DEFAULT_SEND_RATE`].
    pub send_rate: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            exchange: ExchangeConfig::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            send_rate: DEFAULT_SEND_RATE,
        }
    }
}

/// One server under way.
#[derive(Debug)]
struct Slot<J, K> {
    /// The address as given (the item carries it back).
    addr: SocketAddr,
    /// The work asked for.
    kind: K,
    /// `None` until its first send: its timeout counts from there.
    job: Option<J>,
    /// The wake-up time its latest timer entry carries.
    wake: Option<Instant>,
    /// Whether it waits in the send queue.
    queued: bool,
    /// Tells this occupant of the slot from earlier ones in the timer heap.
    generation: u32,
}

/// A send-rate cap (generic cell rate: the theoretical time of the next send may run
/// ahead of now by a few sends' worth, the burst).
#[derive(Debug, Clone, Copy)]
struct Pacer {
    interval: Option<Duration>,
    burst: Duration,
    next: Option<Instant>,
}

impl Pacer {
    fn new(rate: u32) -> Self {
        if rate == 0 {
            return Pacer { interval: None, burst: Duration::ZERO, next: None };
        }
        let interval = Duration::from_secs(1) / rate;
        let sends = (BURST_TIME.as_nanos() / interval.as_nanos().max(1)).clamp(1, u128::from(u32::MAX)) as u32;
        Pacer { interval: Some(interval), burst: interval * (sends - 1), next: None }
    }

    /// The earliest time the next send may go; `None`: now.
    fn ready_at(&self) -> Option<Instant> {
        let next = self.next?;
        Some(next.checked_sub(self.burst).unwrap_or(next))
    }

    fn may_send(&self, now: Instant) -> bool {
        self.ready_at().is_none_or(|t| now >= t)
    }

    fn sent(&mut self, now: Instant) {
        if let Some(interval) = self.interval {
            let from = self.next.map_or(now, |n| n.max(now));
            self.next = Some(from + interval);
        }
    }
}

/// Many servers queried at once, I/O-free: every server its own [`Job`] (an
/// [`Exchange`], or [`AllQueries`]), each datagram routed by its source address, sends
/// paced by a window ([`EndpointConfig::max_in_flight`]) and a rate
/// ([`EndpointConfig::send_rate`]). The blocking [`Batch`](crate::Batch) is its driver;
/// the loop is the [`Exchange`]'s, with addresses:
///
/// ```
/// use std::time::{Duration, Instant};
/// use a2s_query::proto::{Endpoint, EndpointConfig, Exchange, Info, SourceInfo};
/// use a2s_query::Encoding;
/// # fn main() -> a2s_query::Result<()> {
/// let mut endpoint: Endpoint<Exchange<Info, Encoding>> = Endpoint::new(EndpointConfig::default(), Encoding::Utf8);
/// let (a, b) = ("192.0.2.1:27015".parse().unwrap(), "192.0.2.2:27015".parse().unwrap());
/// endpoint.push(a);
/// endpoint.push(b);
/// let now = Instant::now();
/// let (to, _request) = endpoint.poll_transmit(now).expect("a's request");
/// assert_eq!(to, a);
/// assert_eq!(endpoint.poll_transmit(now).map(|(to, _)| to), Some(b));
///
/// // b answers first; a never does.
/// let mut reply = Vec::new();
/// let mut sent = SourceInfo::default();
/// sent.server_name = "b".into();
/// sent.encode(&mut reply)?;
/// endpoint.handle_datagram(b, &reply, now + Duration::from_millis(20));
/// let (from, info) = endpoint.poll_output().expect("b's item");
/// assert_eq!((from, info?.name()), (b, "b"));
///
/// let wake = endpoint.poll_timeout().expect("a's deadline");
/// endpoint.handle_timeout(wake);
/// let (from, outcome) = endpoint.poll_output().expect("a's item");
/// assert!(from == a && outcome.unwrap_err().is_timeout());
/// assert!(endpoint.is_idle());
/// # Ok(()) }
/// ```
///
/// Every address pushed comes out exactly once from [`Endpoint::poll_output`]. An
/// address pushed while the same address is under way waits for it to end, then is
/// queried again (with the challenge just learned): replies carry no id, so two
/// queries to one server at once could not be told apart.
///
/// Memory: at most `max_in_flight` servers are held, each bounded by its
/// [`Limits`](crate::Limits) (a split reply's fragments: `max_pending_replies` ×
/// `max_reply_bytes`); plus the learned memory ([`MAX_REMEMBERED`] servers) and as
/// many waiting duplicates as the window.
#[derive(Debug)]
pub struct Endpoint<J: Job<D>, D: TextDecoder = crate::Encoding> {
    config: EndpointConfig,
    decoder: D,
    slots: Vec<Option<Slot<J, J::Kind>>>,
    free: Vec<usize>,
    /// Occupied slots by normalized address.
    by_addr: HashMap<SocketAddr, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// Slots under way with a request due (sent first).
    ready: VecDeque<(usize, u32)>,
    /// Slots waiting for their first send.
    fresh: VecDeque<(usize, u32)>,
    /// Addresses pushed while the same address was under way.
    deferred: VecDeque<(SocketAddr, J::Kind)>,
    done: VecDeque<(SocketAddr, J::Output)>,
    learned: HashMap<SocketAddr, Learned>,
    pacer: Pacer,
    generation: u32,
    unmatched: u64,
}

impl<J: Job<D>, D: TextDecoder> Endpoint<J, D> {
    /// An endpoint with nothing under way.
    pub fn new(config: EndpointConfig, decoder: D) -> Self {
        Endpoint {
            config,
            decoder,
            slots: Vec::new(),
            free: Vec::new(),
            by_addr: HashMap::new(),
            timers: BinaryHeap::new(),
            ready: VecDeque::new(),
            fresh: VecDeque::new(),
            deferred: VecDeque::new(),
            done: VecDeque::new(),
            learned: HashMap::new(),
            pacer: Pacer::new(config.send_rate),
            generation: 0,
            unmatched: 0,
        }
    }

    /// Starts from what earlier runs learned of servers (challenges, split layouts,
    /// round trips), as [`Endpoint::take_learned`] gave it.
    pub fn with_learned(mut self, learned: HashMap<SocketAddr, Learned>) -> Self {
        self.learned = learned;
        self
    }

    /// Takes what this run (and those before it) learned of each server, for the
    /// next run.
    pub fn take_learned(&mut self) -> HashMap<SocketAddr, Learned> {
        std::mem::take(&mut self.learned)
    }

    /// Whether the window has room for another address ([`Endpoint::push`]).
    pub fn wants_input(&self) -> bool {
        let window = self.config.max_in_flight.max(1);
        self.by_addr.len() < window && self.deferred.len() < window
    }

    /// Adds a server to query. Call it while [`Endpoint::wants_input`] holds; pushing
    /// past the window is accepted but holds more memory.
    pub fn push(&mut self, addr: SocketAddr) {
        self.push_kind(addr, J::Kind::default());
    }

    /// Adds a server to query with the work `kind`, for jobs of several kinds; as
    /// [`Endpoint::push`] otherwise.
    pub fn push_kind(&mut self, addr: SocketAddr, kind: J::Kind) {
        if self.by_addr.contains_key(&normalized(addr)) {
            self.deferred.push_back((addr, kind));
        } else {
            self.occupy(addr, kind);
        }
    }

    /// Drops the query under way to `addr` (its caller gave up): no item comes out for
    /// it, what it learned of the server is kept, and the next query pushed for the
    /// same address, if one waits, starts. Whether one was under way.
    pub fn cancel(&mut self, addr: SocketAddr) -> bool {
        let key = normalized(addr);
        let Some(index) = self.by_addr.remove(&key) else { return false };
        let learned = self.slots.get_mut(index).and_then(Option::take).and_then(|s| s.job.map(|j| j.learned()));
        self.free.push(index);
        if let Some(learned) = learned {
            self.remember(key, learned);
        }
        self.start_deferred(key);
        true
    }

    /// Servers under way (queried, or waiting for their first send).
    pub fn in_flight(&self) -> usize {
        self.by_addr.len()
    }

    /// Datagrams that came from no address under way (ignored).
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// Whether nothing is under way, waiting or left to give out.
    pub fn is_idle(&self) -> bool {
        self.by_addr.is_empty() && self.deferred.is_empty() && self.done.is_empty()
    }

    /// The next datagram to send and its destination, if one is due and the rate
    /// allows it now: call it until `None` after every `handle_*` and `push`, and send
    /// each at once.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Request)> {
        if !self.pacer.may_send(now) {
            return None;
        }
        while let Some((index, generation)) = self.ready.pop_front().or_else(|| self.fresh.pop_front()) {
            let (config, decoder) = (self.config.exchange, self.decoder);
            let learned = &self.learned;
            // (An entry of a slot's earlier occupant is skipped.)
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut).filter(|s| s.generation == generation)
            else {
                continue;
            };
            slot.queued = false;
            let (addr, kind) = (slot.addr, slot.kind);
            let job = slot.job.get_or_insert_with(|| {
                let known = learned.get(&normalized(addr)).copied().unwrap_or_default();
                J::start(kind, config, decoder, known, now)
            });
            let request = job.poll_transmit(now);
            self.settle(index);
            if let Some(request) = request {
                self.pacer.sent(now);
                return Some((addr, request));
            }
        }
        None
    }

    /// When to call [`Endpoint::handle_timeout`] (or poll for a send the rate held
    /// back) if no datagram comes first; `None` when nothing waits.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let sends = if self.ready.is_empty() && self.fresh.is_empty() { None } else { self.pacer.ready_at() };
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if self.is_current(at, index, generation) {
                return Some(sends.map_or(at, |s| s.min(at)));
            }
            self.timers.pop();
        }
        sends
    }

    /// Moves every server's timers to `now`: retries, held replies, deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.is_current(at, index, generation) {
                continue;
            }
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.wake = None;
                if let Some(job) = slot.job.as_mut() {
                    job.handle_timeout(now);
                }
            }
            self.settle(index);
        }
    }

    /// Takes one datagram that came from `from` at `now`: handed to the server under
    /// way at that address, or counted as unmatched.
    pub fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) {
        let index = self.by_addr.get(&normalized(from)).copied();
        let job = index.and_then(|i| self.slots.get_mut(i)).and_then(Option::as_mut).and_then(|s| s.job.as_mut());
        match (index, job) {
            (Some(index), Some(job)) => {
                job.handle_datagram(datagram, now);
                self.settle(index);
            }
            // Nothing sent to it yet (or not under way): it cannot be an answer.
            _ => self.unmatched += 1,
        }
    }

    /// Ends the query to `to` with `error` (the driver could not send to it).
    pub fn handle_send_error(&mut self, to: SocketAddr, error: Error, now: Instant) {
        let Some(&index) = self.by_addr.get(&normalized(to)) else { return };
        if let Some(job) = self.slots.get_mut(index).and_then(Option::as_mut).and_then(|s| s.job.as_mut()) {
            job.fail(error, now);
        }
        self.settle(index);
    }

    /// A finished server's address (as pushed) and output, in completion order.
    pub fn poll_output(&mut self) -> Option<(SocketAddr, J::Output)> {
        self.done.pop_front()
    }

    fn is_current(&self, at: Instant, index: usize, generation: u32) -> bool {
        self.slots.get(index).and_then(Option::as_ref).is_some_and(|s| s.generation == generation && s.wake == Some(at))
    }

    fn occupy(&mut self, addr: SocketAddr, kind: J::Kind) {
        self.generation = self.generation.wrapping_add(1);
        let slot = Slot { addr, kind, job: None, wake: None, queued: true, generation: self.generation };
        let index = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i) {
                    *s = Some(slot);
                }
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.by_addr.insert(normalized(addr), index);
        self.fresh.push_back((index, self.generation));
    }

    /// After an event on a slot: its output given out and the slot freed, or its
    /// request queued and its timer set.
    fn settle(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else { return };
        let Some(job) = slot.job.as_mut() else { return };
        if let Some(output) = job.poll_output() {
            let (addr, learned) = (slot.addr, job.learned());
            if let Some(s) = self.slots.get_mut(index) {
                *s = None;
            }
            self.free.push(index);
            let key = normalized(addr);
            self.by_addr.remove(&key);
            self.remember(key, learned);
            self.done.push_back((addr, output));
            self.start_deferred(key);
            return;
        }
        if job.has_transmit() && !slot.queued {
            slot.queued = true;
            self.ready.push_back((index, slot.generation));
        }
        let wake = job.poll_timeout();
        if wake != slot.wake {
            slot.wake = wake;
            if let Some(at) = wake {
                self.timers.push(Reverse((at, index, slot.generation)));
            }
        }
        if self.timers.len() > 4 * self.slots.len() + 1024 {
            self.rebuild_timers();
        }
    }

    /// Starts the first query deferred for the address `key`, if any.
    fn start_deferred(&mut self, key: SocketAddr) {
        if let Some(at) = self.deferred.iter().position(|&(d, _)| normalized(d) == key) {
            if let Some((again, kind)) = self.deferred.remove(at) {
                self.occupy(again, kind);
            }
        }
    }

    /// Drops the timer entries no slot waits for any more.
    fn rebuild_timers(&mut self) {
        let live = self.slots.iter().enumerate().filter_map(|(i, s)| {
            let s = s.as_ref()?;
            Some(Reverse((s.wake?, i, s.generation)))
        });
        self.timers = live.collect();
    }

    fn remember(&mut self, key: SocketAddr, learned: Learned) {
        if self.learned.len() >= MAX_REMEMBERED && !self.learned.contains_key(&key) {
            // Full: forget every other server (in no particular order), not all.
            let mut keep = false;
            self.learned.retain(|_, _| {
                keep = !keep;
                keep
            });
        }
        self.learned.insert(key, learned);
    }
}

/// The form an address takes as a datagram's source: an IPv4-mapped IPv6 address as
/// IPv4, no IPv6 flow label.
pub fn normalized(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => {
                let mut plain = v6;
                plain.set_flowinfo(0);
                SocketAddr::V6(plain)
            }
        },
        v4 => v4,
    }
}
