//! Many servers from one thread: a blocking driver of the engine ([`Endpoint`]) over
//! one unconnected UDP socket. The protocol, each server's lifecycle and the pacing
//! live in [`proto`](crate::proto); this module only moves datagrams and reads the
//! clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::encoding::{Encoding, TextDecoder};
use crate::error::{Error, Result};
use crate::feed::{Input, IntoInput, Next};
use crate::net::{self, SharedSocket, IDLE_WAIT};
use crate::proto::{Answers, AnyAnswer, AnyQuery, ArmaRules, Asked, Endpoint, Info, Kind, Players, Rules};
use crate::Builder;

/// The longest a pass of the run spends reading input before it reads the socket.
const INPUT_TIME: Duration = Duration::from_millis(1);
/// How often a [`Feed`](crate::Feed) that had nothing is looked at again.
const FEED_POLL: Duration = Duration::from_millis(5);
/// Addresses a [`Feed`](crate::Feed) reads ahead of the batch.
pub(crate) const FEED_AHEAD: usize = 4096;

/// A [`Batch`]'s `build`. Its pacing and its socket's receive buffer are set as every
/// paced driver's are (`max_in_flight`, `send_rate`, `recv_buffer`); the defaults are
/// for a home connection querying a public server list: 2 000 datagrams a second (a
/// request is about 60 bytes on the wire, a reply a few hundred: about 1 Mbit/s up and
/// a few down), at most 512 servers under way, 3 s per server.
impl<D: TextDecoder> Builder<Batch, D> {
    /// The batch, its socket open.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a zero timeout; [`Error::Io`] when no socket can be
    /// opened or bound.
    pub fn build(self) -> Result<Batch<D>> {
        let options = self.options;
        if options.endpoint.exchange.timeout.is_zero() {
            return Err(Error::InvalidInput(net::ZERO_TIMEOUT));
        }
        Ok(Batch {
            socket: SharedSocket::open(&options)?,
            endpoint: Endpoint::new(options.endpoint, options.decoder),
            unmatched: 0,
        })
    }
}

/// Many servers queried at once from one thread: the engine for server lists,
/// monitors and bots that watch more than one server.
///
/// Each run ([`Batch::info`], [`Batch::players`], [`Batch::rules`], [`Batch::all`])
/// takes any iterator of addresses, read lazily as the window frees, and gives a
/// blocking iterator of `(address, result)` in completion order: consuming it drives
/// the queries, and dropping it stops sending. **Every address given yields exactly one
/// item.** An address given again while it is under way is joined to that query (replies
/// carry no id, so two at once could not be told apart): it gets its own item, a copy
/// of the same result.
///
/// ```
/// use std::time::Duration;
/// use a2s_query::Batch;
/// # let servers: Vec<_> = (0..3).map(|i| {
/// #     let mut info = a2s_query::SourceInfo::default();
/// #     info.server_name = format!("s{i}");
/// #     a2s_query::server::Responder::new(a2s_query::Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0")
/// # }).collect::<Result<_, _>>()?;
/// # let addrs: Vec<std::net::SocketAddr> = servers.iter().map(|s| s.local_addr()).collect();
///
/// let mut batch = Batch::builder()
///     .timeout(Duration::from_secs(2))
///     .retries(1)
///     .max_in_flight(512)
///     .send_rate(5_000)
///     .build()?;
/// let mut answered = 0;
/// for (addr, result) in batch.info(addrs.iter().copied()) {
///     match result {
///         Ok(info) => { answered += 1; println!("{addr}: {} on {}", info.server_name(), info.map_name()) }
///         Err(e) => println!("{addr}: {e}"),
///     }
/// }
/// assert_eq!(answered, 3);
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// # How it works, and what it costs
///
/// One UDP socket sends to every server: an IPv6 socket that takes IPv4 too, so one
/// list may mix both families and one blocking wait covers both (std has no way to
/// wait on two sockets at once). Where the system has no such socket (OpenBSD), or
/// the batch is bound to an IPv4 address, it is IPv4 only and each IPv6 server gets an
/// [`Error::InvalidInput`] item. Each reply is routed to its server's query by source
/// address and port; datagrams from any other address are counted
/// ([`Batch::unmatched`]) and dropped. Each server has its own timeout (from its first
/// send), retries and [`Limits`](crate::Limits). A dead server costs its timeout once, side by side
/// with the others: a run takes about `timeout + datagrams / send_rate` (an info query
/// is two datagrams with its challenge), as long as the window holds the dead servers
/// of one timeout's sending (about `send_rate / 2 × dead share × timeout`); past that
/// they are waited for in waves of `max_in_flight`. A closed port whose host answers
/// ICMP "port unreachable" (many firewalls drop it, and hosts limit how many they send)
/// ends as [`Error::Io`] of kind `ConnectionRefused` in about a round trip on Linux,
/// which says which server the report concerns, as the blocking
/// [`Client`](crate::Client) tells it everywhere; elsewhere it costs its timeout. The batch keeps one engine from
/// run to run: what each server taught it (its challenge, its round trip) and what it
/// still owes (see [`Endpoint`]'s staleness rules) carry over.
///
/// Memory is bounded by the window. Each of `max_in_flight` servers holds at most
/// `max_pending_replies × max_reply_bytes` of fragments (2 MiB at the default
/// [`Limits`](crate::Limits)) and, once answered, its result until taken; one reply at a time is
/// decompressed (`max_decompressed_bytes`, 1 MiB). That is about 1.5 GiB at the
/// defaults if every server under way were hostile, and about 1 MB for 512 real
/// servers (their replies are a few KB): lower `max_in_flight` or the limits for
/// untrusted lists. Plus about 80 bytes for each server remembered, up to
/// 65 536 of them.
#[derive(Debug)]
pub struct Batch<D: TextDecoder = Encoding> {
    endpoint: Endpoint<AnyQuery<D>, D>,
    socket: SharedSocket,
    /// What the last run dropped as unmatched.
    unmatched: u64,
}

impl Batch<Encoding> {
    /// Options for a batch, starting from the defaults.
    pub fn builder() -> Builder<Batch> {
        Builder::default()
    }
}

impl<D: TextDecoder> Batch<D> {
    /// Asks every server for its info; items come in completion order.
    pub fn info<'a, I: IntoInput>(&'a mut self, addrs: I) -> Results<'a, Result<Info<D::Text>>, D>
    where
        I::Input: 'a,
    {
        Results::new(Driving::Borrowed(self), addrs.into_input(), Kind::Info, Asked::from_answer)
    }

    /// Asks every server who is playing.
    pub fn players<'a, I: IntoInput>(&'a mut self, addrs: I) -> Results<'a, Result<Players<D::Text>>, D>
    where
        I::Input: 'a,
    {
        Results::new(Driving::Borrowed(self), addrs.into_input(), Kind::Players, Asked::from_answer)
    }

    /// Asks every server for its rules.
    pub fn rules<'a, I: IntoInput>(&'a mut self, addrs: I) -> Results<'a, Result<Rules<D::Text>>, D>
    where
        I::Input: 'a,
    {
        Results::new(Driving::Borrowed(self), addrs.into_input(), Kind::Rules, Asked::from_answer)
    }

    /// Asks every server for its Arma 3 / DayZ rules, decoded (see
    /// [`Client::arma_rules`](crate::Client::arma_rules)).
    pub fn arma_rules<'a, I: IntoInput>(&'a mut self, addrs: I) -> Results<'a, Result<ArmaRules<D::Text>>, D>
    where
        I::Input: 'a,
    {
        Results::new(Driving::Borrowed(self), addrs.into_input(), Kind::ArmaRules, Asked::from_answer)
    }

    /// Asks every server for its info, players and rules, in that order, the second
    /// and third reusing the first's challenge; each part is its own result (see
    /// [`AllQueries`](crate::proto::AllQueries): a server silent to the info query is
    /// not asked the rest).
    pub fn all<'a, I: IntoInput>(&'a mut self, addrs: I) -> Results<'a, Answers<D::Text>, D>
    where
        I::Input: 'a,
    {
        Results::new(Driving::Borrowed(self), addrs.into_input(), Kind::All, Asked::from_answer)
    }

    /// The socket's local address.
    ///
    /// # Errors
    /// [`Error::Io`] when the operating system cannot say.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket.udp.socket.local_addr()?)
    }

    /// The kernel receive buffer the socket got, in bytes, as the kernel reports it
    /// (see [`Builder::recv_buffer`]).
    pub fn recv_buffer_size(&self) -> usize {
        self.socket.recv_buffer
    }

    /// Datagrams the last run dropped because they came from no server under way.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// Forgets what servers taught the batch (challenges, split layouts, round trips).
    pub fn forget_challenges(&mut self) {
        self.endpoint.forget_learned();
    }
}

/// The items of one run: `(address, result)` in completion order, every address given
/// exactly once. Consuming it drives the queries; dropping it stops them.
///
/// Take the items promptly: replies are read only while [`Iterator::next`] runs, and
/// timeouts run on the clock. Slow work on each item (a database write, say) belongs on
/// another thread, or after the run. The same holds for the input: an iterator whose
/// `next` blocks (a paced master walk, a pipe, names to resolve) stalls the run while
/// it blocks, so give such a source as a [`Feed`](crate::Feed).
///
/// Its type names the items alone (and the decoder, if not the default):
/// `Results<'_, Result<Info>>` for [`Batch::info`].
pub struct Results<'a, T, D: TextDecoder = Encoding> {
    batch: Driving<'a, D>,
    input: Box<dyn Input + 'a>,
    input_done: bool,
    /// The input had nothing for now (a [`Feed`](crate::Feed)): look again soon.
    input_later: bool,
    kind: Kind,
    map: fn(AnyAnswer<D::Text>) -> T,
    /// The engine's unmatched count when the run began.
    unmatched_before: u64,
}

/// The batch a run drives: the caller's, or a one-use batch of its own ([`info_many`]).
enum Driving<'a, D: TextDecoder> {
    Borrowed(&'a mut Batch<D>),
    Owned(Box<Batch<D>>),
}

impl<D: TextDecoder> Driving<'_, D> {
    fn get(&mut self) -> &mut Batch<D> {
        match self {
            Driving::Borrowed(batch) => batch,
            Driving::Owned(batch) => batch,
        }
    }

    fn get_ref(&self) -> &Batch<D> {
        match self {
            Driving::Borrowed(batch) => batch,
            Driving::Owned(batch) => batch,
        }
    }
}

impl<T, D: TextDecoder> std::fmt::Debug for Results<'_, T, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("kind", &self.kind)
            .field("input_done", &self.input_done)
            .finish_non_exhaustive()
    }
}

impl<'a, T, D: TextDecoder> Results<'a, T, D> {
    fn new(batch: Driving<'a, D>, input: impl Input + 'a, kind: Kind, map: fn(AnyAnswer<D::Text>) -> T) -> Self {
        let unmatched_before = batch.get_ref().endpoint.unmatched();
        Results { batch, input: Box::new(input), input_done: false, input_later: false, kind, map, unmatched_before }
    }

    /// Datagrams this run dropped so far because they came from no server under way.
    pub fn unmatched(&self) -> u64 {
        self.batch.get_ref().endpoint.unmatched().saturating_sub(self.unmatched_before)
    }

    /// Moves datagrams until an item is ready or nothing is left.
    fn step(&mut self) -> Option<(SocketAddr, AnyAnswer<D::Text>)> {
        loop {
            if let Some((_, addr, answer)) = self.batch.get().endpoint.poll_output() {
                return Some((addr, answer));
            }
            self.read_input();
            let batch = self.batch.get();
            if self.input_done && batch.endpoint.is_idle() {
                return None;
            }
            // Before any send: what came between runs, or since the last pass, is in.
            batch.socket.turn(&mut batch.endpoint);
            if let Some((_, addr, answer)) = batch.endpoint.poll_output() {
                return Some((addr, answer));
            }
            let now = Instant::now();
            let input_later = self.input_later && !self.input_done && batch.endpoint.wants_input();
            let wait = match batch.endpoint.poll_timeout() {
                Some(wake) if wake <= now => continue,
                // A feed that had nothing yet is looked at again soon.
                Some(wake) if input_later => (wake - now).min(FEED_POLL),
                Some(wake) => wake - now,
                None if input_later => FEED_POLL,
                // Nothing under way to wait for: more input to read.
                None if !self.input_done && batch.endpoint.wants_input() => continue,
                // (Cannot happen with the crate's jobs; a short wait rather than a spin.)
                None => IDLE_WAIT,
            };
            batch.socket.wait(&mut batch.endpoint, wait);
        }
    }

    /// Reads addresses while the window has room, for at most [`INPUT_TIME`] a pass:
    /// reading one may block (a host name resolved), and the socket must be read too.
    fn read_input(&mut self) {
        let started = Instant::now();
        self.input_later = false;
        let endpoint = &mut self.batch.get().endpoint;
        while !self.input_done && endpoint.wants_input() {
            match self.input.next_input() {
                Next::Ready(addr) => {
                    endpoint.push_kind(addr, self.kind);
                }
                Next::Later => {
                    self.input_later = true;
                    break;
                }
                Next::End => self.input_done = true,
            }
            if started.elapsed() > INPUT_TIME {
                // More may be at hand: read again soon, not at the next timer.
                self.input_later = !self.input_done;
                break;
            }
        }
    }
}

impl<T, D: TextDecoder> Iterator for Results<'_, T, D> {
    type Item = (SocketAddr, T);

    fn next(&mut self) -> Option<Self::Item> {
        let (addr, answer) = self.step()?;
        Some((addr, (self.map)(answer)))
    }
}

impl<T, D: TextDecoder> Drop for Results<'_, T, D> {
    fn drop(&mut self) {
        let batch = self.batch.get();
        batch.unmatched = batch.endpoint.unmatched().saturating_sub(self.unmatched_before);
        // What is still under way is dropped: each server drains what it owes, so the
        // next run never takes it for an answer.
        batch.endpoint.cancel_all(Instant::now());
    }
}

/// A line of an address list that is not an address, from [`addresses`].
#[derive(Debug)]
#[non_exhaustive]
pub struct BadLine {
    /// Its line number, from 1.
    pub line: usize,
    /// The line as given, trimmed.
    pub text: String,
    /// Why it is not an address.
    pub error: Error,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            // (Its message quotes the line already.)
            Error::Address(_) => write!(f, "line {}: {}", self.line, self.error),
            _ => write!(f, "line {}: {:?}: {}", self.line, self.text, self.error),
        }
    }
}

/// Reads a list of `host:port` lines into addresses, lazily, for a [`Batch`]: blank
/// lines and `#` comments are skipped, a host name is resolved (IPv4 first), and a
/// line that is not an address is handed to `bad` and skipped, so one typo never
/// fails the batch. Resolving a name blocks (the system's resolver) while the batch
/// waits: for long lists of names, resolve them beforehand.
///
/// ```
/// let text = "# my servers\n127.0.0.1:27015\n\n[::1]:27016\nplay.example.net\n";
/// let mut bad = Vec::new();
/// let addrs: Vec<_> = a2s_query::addresses(text.lines(), |b| bad.push(b)).collect();
/// assert_eq!(addrs.len(), 2);
/// assert_eq!(bad[0].line, 5);
/// assert_eq!(
///     bad[0].to_string(),
///     "line 5: invalid server address \"play.example.net\": no port; write play.example.net:PORT (the query port, often 27015)"
/// );
/// ```
pub fn addresses<'a, L, S, F>(lines: L, mut bad: F) -> impl Iterator<Item = SocketAddr> + 'a
where
    L: IntoIterator<Item = S> + 'a,
    S: AsRef<str>,
    F: FnMut(BadLine) + 'a,
{
    lines.into_iter().enumerate().filter_map(move |(i, line)| {
        let text = line.as_ref().trim();
        if text.is_empty() || text.starts_with('#') {
            return None;
        }
        match net::resolve_v4_first(text) {
            Ok(addr) => Some(addr),
            Err(error) => {
                bad(BadLine { line: i + 1, text: text.to_string(), error });
                None
            }
        }
    })
}

/// A one-use [`Batch`] with these options.
fn one_use<'a>(timeout: Duration, encoding: Encoding) -> Result<Driving<'a, Encoding>> {
    Ok(Driving::Owned(Box::new(Batch::builder().timeout(timeout).encoding(encoding).build()?)))
}

/// Asks every server in `addrs` for its info at once (a one-use [`Batch`] with the
/// default pacing), as python-a2s users do with `asyncio.gather` over `ainfo`: items
/// come in completion order, one per address.
///
/// ```no_run
/// use std::time::Duration;
/// let addrs = ["203.0.113.7:27015".parse()?, "203.0.113.8:27015".parse()?];
/// for (addr, info) in a2s_query::info_many(addrs, Duration::from_secs(3), Default::default())? {
///     match info {
///         Ok(info) => println!("{addr}: {}", info.server_name()),
///         Err(e) => println!("{addr}: {e}"),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`Batch::builder`]'s `build`.
pub fn info_many<'a, I: IntoInput>(addrs: I, timeout: Duration, encoding: Encoding) -> Result<Results<'a, Result<Info>>>
where
    I::Input: 'a,
{
    Ok(Results::new(one_use(timeout, encoding)?, addrs.into_input(), Kind::Info, Asked::from_answer))
}

/// Asks every server in `addrs` who is playing, at once. See [`info_many`].
///
/// # Errors
/// As [`Batch::builder`]'s `build`.
pub fn players_many<'a, I: IntoInput>(
    addrs: I,
    timeout: Duration,
    encoding: Encoding,
) -> Result<Results<'a, Result<Players>>>
where
    I::Input: 'a,
{
    Ok(Results::new(one_use(timeout, encoding)?, addrs.into_input(), Kind::Players, Asked::from_answer))
}

/// Asks every server in `addrs` for its rules, at once. See [`info_many`].
///
/// # Errors
/// As [`Batch::builder`]'s `build`.
pub fn rules_many<'a, I: IntoInput>(
    addrs: I,
    timeout: Duration,
    encoding: Encoding,
) -> Result<Results<'a, Result<Rules>>>
where
    I::Input: 'a,
{
    Ok(Results::new(one_use(timeout, encoding)?, addrs.into_input(), Kind::Rules, Asked::from_answer))
}

/// The answers of every server in `addrs` to all three queries. See [`info_many`] and
/// [`Batch::all`].
///
/// # Errors
/// As [`Batch::builder`]'s `build`.
pub fn all_many<'a, I: IntoInput>(addrs: I, timeout: Duration, encoding: Encoding) -> Result<Results<'a, Answers>>
where
    I::Input: 'a,
{
    Ok(Results::new(one_use(timeout, encoding)?, addrs.into_input(), Kind::All, Asked::from_answer))
}
