//! The engine, I/O-free: every server's lifecycle. Each server's queries wait in its
//! queue (equal ones joined), run one at a time as [`Job`]s, and leave the server
//! draining when they end or are dropped; datagrams are routed by source address, and
//! sends paced by a window and a rate. No socket, no clock: the [`Client`](crate::Client),
//! the [`Batch`](crate::Batch) and the async client drive it, and so can any event loop.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::addr_hash::{addr_map, AddrMap, IdMap};
use super::exchange::{later, ExchangeConfig, Learned};
use super::fragment::Reassembler;
use super::job::{Drain, Job};
use super::packet::Request;
use crate::encoding::TextDecoder;
use crate::error::Error;

/// The default window: servers queried at once.
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 512;
/// The default send rate, in datagrams per second.
pub(crate) const DEFAULT_SEND_RATE: u32 = 2_000;
/// The pacer lets this much of the send rate's time go out in one burst: a driver's
/// waits are as coarse as the system's timer (a few ms), and one that wakes late
/// catches up that much, not more. (The replies a burst draws are bounded by the
/// window: each server has one request out at a time.)
const BURST_TIME: Duration = Duration::from_millis(20);
/// Most servers whose challenge, split layout and round trip are remembered between
/// runs (about 80 bytes each); when it is full, half of them are forgotten.
pub(crate) const MAX_REMEMBERED: usize = 65_536;
/// Slot tables longer than this are given back when no server is left in them.
const KEEP_TABLES: usize = 64;

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
    /// Default 512.
    pub max_in_flight: usize,
    /// Most datagrams sent per second, first requests, challenge answers and retries
    /// alike (first requests first; a follow-up waits a quarter of the timeout at
    /// most); 0 for no cap. Default 2 000.
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

/// One query pushed to an [`Endpoint`]: the handle its output comes back with, and
/// that [`Endpoint::cancel`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(u64);

/// A query waiting in its server's queue (or running, at the front), with its callers:
/// the first, and those joined to it.
#[derive(Debug)]
struct Queued<K> {
    kind: K,
    /// The timeout counts from here, not from the first send ([`Endpoint::push_at`]).
    from: Option<Instant>,
    first: (QueryId, SocketAddr),
    joined: Vec<(QueryId, SocketAddr)>,
}

impl<K> Queued<K> {
    fn callers(&self) -> impl Iterator<Item = &(QueryId, SocketAddr)> {
        std::iter::once(&self.first).chain(&self.joined)
    }
}

/// One server with queries queued or running, or draining.
#[derive(Debug)]
struct Server<J, K> {
    /// Its address as datagrams come from it ([`normalized`]).
    key: SocketAddr,
    /// Its queries in the order asked; the front one runs.
    queue: VecDeque<Queued<K>>,
    /// The front query's job, from its first send (or its push, for [`Endpoint::push_at`]).
    /// Boxed: a server waiting or draining holds a small slot, not room for a job.
    job: Option<Box<J>>,
    /// Replies owed by the queries that ended: the next request waits for them.
    drain: Option<Drain>,
    /// Whether it holds a place in the window.
    admitted: bool,
    /// Whether it has an entry in a send queue (`ready` or `fresh`).
    in_send_queue: bool,
    /// Whether it has an entry in `waiting` (for a place in the window).
    in_waiting: bool,
    /// The wake-up time its latest timer entry carries.
    wake: Option<Instant>,
    /// Tells this occupant of the slot from earlier ones in the timer heap and queues.
    generation: u32,
}

impl<J, K> Server<J, K> {
    /// Until when the drain holds the next request: the drain's end, or for a query
    /// timed from its push, half its time at most (the reply timing tells the rest).
    fn held_until(&self, now: Instant, timeout: Duration) -> Option<Instant> {
        let drain = self.drain.filter(|d| !d.is_over(now))?;
        let cap = self.queue.front().and_then(|q| q.from).map(|from| later(from, timeout / 2));
        let until = cap.map_or(drain.until, |c| c.min(drain.until));
        (now < until).then_some(until)
    }
}

/// The engine, I/O-free: every server's lifecycle from the first query asked of it to
/// the last reply it owes. Its driver moves datagrams and reads the clock; the
/// [`Client`](crate::Client), the [`Batch`](crate::Batch) and the async client are
/// such drivers, and the loop is the [`Exchange`](super::Exchange)'s, with addresses:
///
/// ```
/// use std::time::{Duration, Instant};
/// use a2s_query::proto::{Endpoint, EndpointConfig, Exchange, Info, SourceInfo};
/// use a2s_query::Encoding;
/// # fn main() -> a2s_query::Result<()> {
/// let mut endpoint: Endpoint<Exchange<Info, Encoding>> = Endpoint::new(EndpointConfig::default(), Encoding::Utf8);
/// let (a, b) = ("192.0.2.1:27015".parse().unwrap(), "192.0.2.2:27015".parse().unwrap());
/// let asked_a = endpoint.push(a);
/// let asked_b = endpoint.push(b);
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
/// let (id, from, info) = endpoint.poll_output().expect("b's item");
/// assert_eq!((id, from, info?.server_name()), (asked_b, b, "b"));
///
/// let wake = endpoint.poll_timeout().expect("a's deadline");
/// endpoint.handle_timeout(wake);
/// let (id, from, outcome) = endpoint.poll_output().expect("a's item");
/// assert!(id == asked_a && from == a && outcome.unwrap_err().is_timeout());
/// assert!(endpoint.is_idle());
/// # Ok(()) }
/// ```
///
/// **Every query pushed comes out exactly once** from [`Endpoint::poll_output`], unless
/// cancelled. Replies carry no id, so a server has one query under way at a time: the
/// others wait in its queue, in the order asked, and a query equal to one queued or
/// under way (same address, same kind) is **joined** to it, each caller getting a copy
/// of its output (which may have left the server before the later caller asked).
///
/// **No late reply answers a later query.** A query that ends with replies still owed
/// (a request sent twice and answered once, a timeout, a cancel, a Source info reply
/// that may follow a GoldSrc answer: see [`Exchange::draining`](super::Exchange::draining))
/// leaves its server draining: what comes from it is dropped (counted by
/// [`Endpoint::drained`]), and its next query's first request waits until the owed
/// replies came or about two of its round trips passed. A reply that still comes later
/// is stale by its timing (sooner after the request than half the server's shortest
/// round trip). A server that owes nothing is asked again at once: polling a
/// well-behaved server costs one round trip. The driver's part: hand in every datagram
/// received before calling [`Endpoint::poll_transmit`] (read the socket's queue first),
/// so that nothing sent before a request is taken as its answer.
///
/// Memory: at most `max_in_flight` servers run at once, each about 1.6 KiB (its job,
/// its slot and its share of the tables; measured over 10 000 by the
/// allocation-counting test) plus what its replies hold, bounded by its
/// [`Limits`](crate::Limits) (a split reply's fragments: `max_pending_replies` ×
/// `max_reply_bytes`); a server waiting for a place holds about 400 bytes (its slot, its
/// queued query, its table entries), a draining one less. Once no server is left, the
/// tables (past 64 places) are given back; what is learned stays, about 120 bytes a
/// server, at most 65 536 servers.
#[derive(Debug)]
pub struct Endpoint<J: Job<D>, D: TextDecoder = crate::Encoding> {
    config: EndpointConfig,
    decoder: D,
    slots: Vec<Option<Server<J, J::Kind>>>,
    free: Vec<usize>,
    /// Occupied slots by normalized address.
    by_addr: AddrMap<SocketAddr, usize>,
    /// The server of each query not yet given out.
    by_id: IdMap<QueryId, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// Admitted servers with a follow-up due (a challenge answer, a retry), since when.
    ready: VecDeque<(usize, u32, Instant)>,
    /// Admitted servers whose front query has not sent yet (sent first: see
    /// [`Endpoint::next_to_send`]).
    fresh: VecDeque<(usize, u32)>,
    /// Servers with queries, waiting for a place in the window.
    waiting: VecDeque<(usize, u32)>,
    admitted: usize,
    /// The deadlines of queries timed from their push ([`Endpoint::push_at`]), for
    /// those that end before their job starts.
    expiries: BinaryHeap<Reverse<(Instant, QueryId)>>,
    done: VecDeque<(QueryId, SocketAddr, J::Output)>,
    learned: AddrMap<SocketAddr, Learned>,
    /// Emptied queues, a reassembler and a job's box, kept for their memory.
    spare_queues: Vec<VecDeque<Queued<J::Kind>>>,
    spare_reassembler: Option<Reassembler>,
    spare_job: Option<Box<J>>,
    /// The slot of a server left with nothing queued, running or owed while it was
    /// the only one: kept, so that a caller polling one server does not free and
    /// re-create its slot every query. Any other server's arrival frees it.
    idle: Option<usize>,
    pacer: Pacer,
    generation: u32,
    next_id: u64,
    unmatched: u64,
    drained: u64,
}

impl<J: Job<D>, D: TextDecoder> Endpoint<J, D> {
    /// An endpoint with nothing under way.
    pub fn new(config: EndpointConfig, decoder: D) -> Self {
        Endpoint {
            config,
            decoder,
            slots: Vec::new(),
            free: Vec::new(),
            by_addr: addr_map(),
            by_id: HashMap::default(),
            timers: BinaryHeap::new(),
            ready: VecDeque::new(),
            fresh: VecDeque::new(),
            waiting: VecDeque::new(),
            admitted: 0,
            expiries: BinaryHeap::new(),
            done: VecDeque::new(),
            learned: addr_map(),
            spare_queues: Vec::new(),
            spare_reassembler: None,
            spare_job: None,
            idle: None,
            pacer: Pacer::new(config.send_rate),
            generation: 0,
            next_id: 0,
            unmatched: 0,
            drained: 0,
        }
    }

    /// Starts from what earlier runs learned of servers (challenges, split layouts,
    /// round trips), as [`Endpoint::take_learned`] gave it.
    pub fn with_learned(mut self, learned: HashMap<SocketAddr, Learned>) -> Self {
        self.learned.clear();
        self.learned.extend(learned);
        self
    }

    /// Takes what this endpoint learned of each server.
    pub fn take_learned(&mut self) -> HashMap<SocketAddr, Learned> {
        std::mem::replace(&mut self.learned, addr_map()).into_iter().collect()
    }

    /// Forgets what servers taught the endpoint (challenges, split layouts, round trips).
    pub fn forget_learned(&mut self) {
        self.learned.clear();
    }

    /// The options it runs with.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Whether the window has room for another server ([`Endpoint::push`]): a driver
    /// reading a long list lazily pushes while this holds.
    pub fn wants_input(&self) -> bool {
        self.admitted < self.config.max_in_flight.max(1) && self.waiting.is_empty()
    }

    /// Adds a query to the server at `addr`; its output comes back with the id given.
    /// Past the window, it waits for a place.
    pub fn push(&mut self, addr: SocketAddr) -> QueryId {
        self.push_kind(addr, J::Kind::default())
    }

    /// Adds a query of the work `kind`, for jobs of several kinds; as
    /// [`Endpoint::push`] otherwise.
    pub fn push_kind(&mut self, addr: SocketAddr, kind: J::Kind) -> QueryId {
        self.enqueue(addr, kind, None).0
    }

    /// As [`Endpoint::push_kind`], its timeout counting from `now` rather than from its
    /// first send: for a caller whose timeout bounds the whole call, waits (its turn at
    /// the server, a place in the window, the server's drain) included. A drain holds
    /// such a query for half its time at most.
    pub fn push_at(&mut self, addr: SocketAddr, kind: J::Kind, now: Instant) -> QueryId {
        let (id, index) = self.enqueue(addr, kind, Some(now));
        self.start_due_if_timed(index, now);
        // A query whose own job started now ends by that job's deadline; any other (one
        // waiting its turn, a place, or joined to another) by an expiry of its own.
        let started = self.slots.get(index).and_then(Option::as_ref).is_some_and(|s| {
            s.job.is_some() && s.queue.front().is_some_and(|q| q.first.0 == id && q.joined.is_empty())
        });
        if !started {
            self.expiries.push(Reverse((later(now, self.config.exchange.timeout), id)));
        }
        self.settle(index, now);
        id
    }

    /// Drops a query (its caller gave up): no output comes for it. A query that others
    /// are joined to goes on for them; one under way ends, what it learned is kept and
    /// its server drains what it still owes. Whether the query was there.
    pub fn cancel(&mut self, id: QueryId, now: Instant) -> bool {
        self.remove_caller(id, now).is_some()
    }

    /// Drops every query (a run given up): each server under way drains what it owes.
    pub fn cancel_all(&mut self, now: Instant) {
        let ids: Vec<QueryId> = self.by_id.keys().copied().collect();
        for id in ids {
            self.cancel(id, now);
        }
        self.done.clear();
    }

    /// Servers holding a place in the window (queried, or about to be).
    pub fn in_flight(&self) -> usize {
        self.admitted
    }

    /// Datagrams that came from no server with a query under way (dropped).
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// Datagrams dropped because they came from a server draining: owed to a query
    /// that ended or was cancelled, no one's answer.
    pub fn drained(&self) -> u64 {
        self.drained
    }

    /// Whether no query is queued, under way or left to give out (servers may still
    /// be draining).
    pub fn is_idle(&self) -> bool {
        self.by_id.is_empty() && self.done.is_empty()
    }

    /// The next datagram to send and its destination (the server's address as
    /// datagrams come from it), if one is due and the rate allows it now: call it until
    /// `None` after every `handle_*` and `push`, having handed in what was received, and
    /// send each at once.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Request)> {
        if !self.pacer.may_send(now) {
            return None;
        }
        let timeout = self.config.exchange.timeout;
        while let Some((index, generation)) = self.next_to_send(now) {
            let Some(server) = self.slot(index, generation) else { continue };
            server.in_send_queue = false;
            if !server.admitted {
                continue;
            }
            if server.held_until(now, timeout).is_some() {
                // Its turn comes at the drain's end (its timer) or its last owed reply.
                self.settle(index, now);
                continue;
            }
            // (What a cut-short drain still owes is told by its timing from here.)
            server.drain = None;
            self.start_due(index, now);
            let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) else { continue };
            let key = server.key;
            let request = server.job.as_mut().and_then(|job| job.poll_transmit(now));
            self.settle(index, now);
            if let Some(request) = request {
                self.pacer.sent(now);
                return Some((key, request));
            }
        }
        None
    }

    /// The server whose request goes next: first contacts before follow-ups, unless the
    /// oldest follow-up has waited a quarter of the timeout.
    ///
    /// When the rate is the limit, the wall time of a run is set by its last first
    /// contact: a server that never answers ends a timeout after it. Sending first
    /// contacts first starts every such timeout as early as the rate allows (10 000
    /// servers at 20 000 a second: all asked within 0.5 s), while the follow-ups (the
    /// request after a challenge, a retry) of servers already answering wait, within
    /// their own timeout, which counts from their first send. The window bounds the
    /// first contacts queued, and the age cap the wait of a follow-up, so neither kind
    /// starves.
    fn next_to_send(&mut self, now: Instant) -> Option<(usize, u32)> {
        let patience = self.config.exchange.timeout / 4;
        let overdue = self.ready.front().is_some_and(|&(_, _, since)| now.saturating_duration_since(since) >= patience);
        let follow_up = |ready: &mut VecDeque<(usize, u32, Instant)>| ready.pop_front().map(|(i, g, _)| (i, g));
        if overdue {
            follow_up(&mut self.ready).or_else(|| self.fresh.pop_front())
        } else {
            self.fresh.pop_front().or_else(|| follow_up(&mut self.ready))
        }
    }

    /// When to call [`Endpoint::handle_timeout`] (or poll for a send the rate held
    /// back) if no datagram comes first; `None` when nothing waits.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let sends = if self.ready.is_empty() && self.fresh.is_empty() { None } else { self.pacer.ready_at() };
        let mut timer = None;
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if self.is_current(at, index, generation) {
                timer = Some(at);
                break;
            }
            self.timers.pop();
        }
        while let Some(&Reverse((_, id))) = self.expiries.peek() {
            if self.by_id.contains_key(&id) {
                break;
            }
            self.expiries.pop();
        }
        let expiry = self.expiries.peek().map(|&Reverse((at, _))| at);
        [sends, timer, expiry].into_iter().flatten().min()
    }

    /// Moves every server's timers to `now`: retries, held replies, deadlines, drains.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.is_current(at, index, generation) {
                continue;
            }
            if let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) {
                server.wake = None;
                if let Some(job) = server.job.as_mut() {
                    job.handle_timeout(now);
                }
            }
            self.settle(index, now);
        }
        // Queries timed from their push whose time ran out before they ended (waiting
        // for their turn, a place or a drain, or joined to a query timed otherwise).
        while let Some(&Reverse((at, id))) = self.expiries.peek() {
            if at > now {
                break;
            }
            self.expiries.pop();
            if let Some((kind, addr)) = self.remove_caller(id, now) {
                self.done.push_back((id, addr, J::timed_out(kind, self.config.exchange)));
            }
        }
    }

    /// Takes one datagram that came from `from` at `now`: handed to the query under
    /// way at that address, dropped as owed if the server drains, or counted as
    /// unmatched.
    pub fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) {
        let Some(&index) = self.by_addr.get(&normalized(from)) else {
            self.unmatched += 1;
            return;
        };
        let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) else { return };
        if let Some(drain) = server.drain.as_mut().filter(|d| !d.is_over(now)) {
            drain.absorb(datagram);
            self.drained += 1;
        } else if let Some(job) = server.job.as_mut() {
            job.handle_datagram(datagram, now);
        } else {
            // Nothing sent to it yet: it cannot be an answer.
            self.unmatched += 1;
        }
        self.settle(index, now);
    }

    /// Ends the query under way to `to` with `error`: the driver could not send to it,
    /// or the OS reported that `to` cannot be reached (an ICMP "port unreachable" read
    /// from the socket's error queue, say). Only a query that sent a request is ended (a
    /// report of an earlier query's request, come late, does not end one that has sent
    /// nothing yet).
    pub fn handle_send_error(&mut self, to: SocketAddr, error: Error, now: Instant) {
        let Some(&index) = self.by_addr.get(&normalized(to)) else { return };
        let server = self.slots.get_mut(index).and_then(Option::as_mut);
        if let Some(job) = server.and_then(|s| s.job.as_deref_mut()).filter(|job| job.has_sent()) {
            job.fail(error, now);
            self.settle(index, now);
        }
    }

    /// A finished query: its id, its address as pushed, and its output, in completion
    /// order.
    pub fn poll_output(&mut self) -> Option<(QueryId, SocketAddr, J::Output)> {
        let output = self.done.pop_front();
        if self.done.is_empty() && self.done.capacity() > KEEP_TABLES {
            // (A long run's outputs all taken: their room is given back.)
            self.done = VecDeque::new();
        }
        output
    }

    fn slot(&mut self, index: usize, generation: u32) -> Option<&mut Server<J, J::Kind>> {
        self.slots.get_mut(index).and_then(Option::as_mut).filter(|s| s.generation == generation)
    }

    fn is_current(&self, at: Instant, index: usize, generation: u32) -> bool {
        self.slots.get(index).and_then(Option::as_ref).is_some_and(|s| s.generation == generation && s.wake == Some(at))
    }

    /// Queues a query; its id and its server's slot.
    fn enqueue(&mut self, addr: SocketAddr, kind: J::Kind, from: Option<Instant>) -> (QueryId, usize) {
        let id = QueryId(self.next_id);
        self.next_id += 1;
        let key = normalized(addr);
        let index = match self.by_addr.get(&key) {
            Some(&index) if self.idle == Some(index) => self.revive(index),
            Some(&index) => index,
            None => {
                if let Some(idle) = self.idle.take() {
                    self.free_slot(idle);
                }
                self.occupy(key)
            }
        };
        self.by_id.insert(id, index);
        let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) else { return (id, index) };
        if let Some(same) = server.queue.iter_mut().find(|q| q.kind == kind) {
            same.joined.push((id, addr));
            return (id, index);
        }
        // (Room for one: most servers have one query at a time.)
        server.queue.reserve_exact(1);
        server.queue.push_back(Queued { kind, from, first: (id, addr), joined: Vec::new() });
        if !server.admitted && !server.in_waiting {
            let entry = (index, server.generation);
            if self.admitted < self.config.max_in_flight.max(1) {
                server.admitted = true;
                self.admitted += 1;
                if !server.in_send_queue {
                    server.in_send_queue = true;
                    self.fresh.push_back(entry);
                }
            } else {
                server.in_waiting = true;
                self.waiting.push_back(entry);
            }
        }
        (id, index)
    }

    /// The idle slot at `index` taken up again by a query to its server: a new
    /// occupant, as if just occupied (entries left in the queues and the timer heap
    /// named the last one).
    fn revive(&mut self, index: usize) -> usize {
        self.idle = None;
        self.generation = self.generation.wrapping_add(1);
        if let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) {
            server.generation = self.generation;
            server.in_send_queue = false;
            server.in_waiting = false;
            server.wake = None;
        }
        index
    }

    fn occupy(&mut self, key: SocketAddr) -> usize {
        self.generation = self.generation.wrapping_add(1);
        let server = Server {
            key,
            queue: self.spare_queues.pop().unwrap_or_default(),
            job: None,
            drain: None,
            admitted: false,
            in_send_queue: false,
            in_waiting: false,
            wake: None,
            generation: self.generation,
        };
        let index = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i) {
                    *s = Some(server);
                }
                i
            }
            None => {
                self.slots.push(Some(server));
                self.slots.len() - 1
            }
        };
        self.by_addr.insert(key, index);
        index
    }

    /// Starts the front query's job if it has none and may start: admitted, and timed
    /// from its push or sending now.
    fn start_due(&mut self, index: usize, now: Instant) {
        let (config, decoder) = (self.config.exchange, self.decoder);
        let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) else { return };
        if server.job.is_some() || !server.admitted {
            return;
        }
        let Some(front) = server.queue.front() else { return };
        let known = self.learned.get(&server.key).copied().unwrap_or_default();
        let r = self.spare_reassembler.take().unwrap_or_else(|| Reassembler::new(config.limits));
        let job = J::start(front.kind, config, decoder, known, front.from.unwrap_or(now), r);
        server.job = Some(match self.spare_job.take() {
            Some(mut spare) => {
                *spare = job;
                spare
            }
            None => Box::new(job),
        });
    }

    /// After an event on a server: its output given out, its request queued, its timer
    /// set, or its slot freed.
    fn settle(&mut self, index: usize, now: Instant) {
        let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) else { return };
        if let Some(output) = server.job.as_deref_mut().and_then(Job::poll_output) {
            if let Some(query) = server.queue.pop_front() {
                for &(id, _) in &query.joined {
                    self.by_id.remove(&id);
                }
                self.by_id.remove(&query.first.0);
                for &(id, addr) in &query.joined {
                    self.done.push_back((id, addr, output.clone()));
                }
                self.done.push_back((query.first.0, query.first.1, output));
            }
            self.end_job(index, now);
            return self.next_query(index, now);
        }
        if server.drain.is_some_and(|d| d.is_over(now)) {
            server.drain = None;
        }
        let held = server.held_until(now, self.config.exchange.timeout);
        let due = match &server.job {
            Some(job) => job.has_transmit(),
            None => !server.queue.is_empty(),
        };
        if due && server.admitted && !server.in_send_queue && held.is_none() {
            server.in_send_queue = true;
            let entry = (index, server.generation);
            // (A query timed from its push has a job before it sends: still a first
            // contact.)
            if server.job.as_deref().is_some_and(Job::has_sent) {
                self.ready.push_back((index, server.generation, now));
            } else {
                self.fresh.push_back(entry);
            }
        }
        let job_wake = server.job.as_deref().and_then(Job::poll_timeout);
        // (A drain ends at its timer: the slot is freed, or the next request goes.)
        let drain_wake = held.or(server.drain.map(|d| d.until));
        let wake = match (job_wake, drain_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if wake != server.wake {
            server.wake = wake;
            if let Some(at) = wake {
                self.timers.push(Reverse((at, index, server.generation)));
            }
        }
        if server.queue.is_empty() && server.job.is_none() && server.drain.is_none() {
            self.release(index);
        }
        if self.timers.len() > 4 * self.slots.len() + 1024 {
            self.rebuild_timers();
        }
    }

    /// Takes the caller `id` out of its query (which ends if no caller is left: dropped
    /// if not started, its job ended and its server draining if under way); its kind
    /// and address as given, if it was there.
    fn remove_caller(&mut self, id: QueryId, now: Instant) -> Option<(J::Kind, SocketAddr)> {
        let index = self.by_id.remove(&id)?;
        let server = self.slots.get_mut(index).and_then(Option::as_mut)?;
        let at = server.queue.iter().position(|q| q.callers().any(|c| c.0 == id))?;
        let query = server.queue.get_mut(at)?;
        let kind = query.kind;
        if query.first.0 != id {
            let joined = query.joined.iter().position(|c| c.0 == id)?;
            return Some((kind, query.joined.remove(joined).1));
        }
        let addr = query.first.1;
        if let Some(next) = query.joined.pop() {
            query.first = next;
            return Some((kind, addr));
        }
        let running = at == 0 && server.job.is_some();
        server.queue.remove(at);
        if running {
            self.end_job(index, now);
        }
        self.next_query(index, now);
        Some((kind, addr))
    }

    /// Ends the job of a server (its output taken, or its query dropped): what it
    /// learned is kept, what it owes drains.
    fn end_job(&mut self, index: usize, now: Instant) {
        let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) else { return };
        let Some(job) = server.job.as_mut() else { return };
        let (key, learned) = (server.key, job.learned());
        if let Some(owed) = job.draining() {
            server.drain = Some(Drain::new(owed, now));
        }
        self.spare_reassembler = Some(job.recycle());
        self.spare_job = server.job.take();
        self.remember(key, learned);
    }

    /// After a server's query ended or left: its next one queued to send (after the
    /// drain), or its place in the window given to a server waiting for one.
    fn next_query(&mut self, index: usize, now: Instant) {
        let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) else { return };
        if server.queue.is_empty() && server.admitted {
            server.admitted = false;
            self.admitted = self.admitted.saturating_sub(1);
            self.admit_waiting(now);
        } else {
            self.start_due_if_timed(index, now);
        }
        self.settle(index, now);
    }

    /// Gives the window's free places to servers waiting for one.
    fn admit_waiting(&mut self, now: Instant) {
        while self.admitted < self.config.max_in_flight.max(1) {
            let Some((index, generation)) = self.waiting.pop_front() else { return };
            let Some(server) = self.slot(index, generation) else { continue };
            server.in_waiting = false;
            if server.queue.is_empty() || server.admitted {
                continue;
            }
            server.admitted = true;
            self.admitted += 1;
            self.start_due_if_timed(index, now);
            self.settle(index, now);
        }
    }

    /// A query timed from its push gets its job (and timers) as soon as it is admitted.
    fn start_due_if_timed(&mut self, index: usize, now: Instant) {
        let timed = self.slots.get(index).and_then(Option::as_ref).and_then(|s| s.queue.front()).and_then(|q| q.from);
        if timed.is_some() {
            self.start_due(index, now);
        }
    }

    /// Leaves the slot of a server with nothing queued, running or owed: kept idle if
    /// it is the only server (and the tables are small), freed otherwise.
    fn release(&mut self, index: usize) {
        let Some(server) = self.slots.get_mut(index).and_then(Option::as_mut) else { return };
        if server.admitted {
            server.admitted = false;
            self.admitted = self.admitted.saturating_sub(1);
        }
        if self.by_addr.len() == 1 && self.slots.len() <= KEEP_TABLES {
            self.idle = Some(index);
            return;
        }
        self.free_slot(index);
    }

    /// Frees the slot at `index`.
    fn free_slot(&mut self, index: usize) {
        if self.idle == Some(index) {
            self.idle = None;
        }
        // (Its place in the window was given back by `release`.)
        let Some(mut server) = self.slots.get_mut(index).and_then(Option::take) else { return };
        self.by_addr.remove(&server.key);
        server.queue.clear();
        if self.spare_queues.len() < 64 {
            self.spare_queues.push(server.queue);
        }
        self.free.push(index);
        if self.by_addr.is_empty() && self.slots.len() > KEEP_TABLES {
            self.shrink();
        }
    }

    /// With no server left, gives back what a long run grew (its slots, send queues and
    /// timers), keeping what was learned. (Entries left in the queues and the timer heap
    /// named earlier occupants, all gone.)
    fn shrink(&mut self) {
        self.slots = Vec::new();
        self.free = Vec::new();
        self.timers = BinaryHeap::new();
        self.ready = VecDeque::new();
        self.fresh = VecDeque::new();
        self.waiting = VecDeque::new();
        self.expiries = BinaryHeap::new();
        self.by_addr.shrink_to_fit();
        self.by_id.shrink_to_fit();
    }

    /// Drops the timer entries no server waits for any more.
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
