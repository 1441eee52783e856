//! The blocking client: the only module that touches a socket or a clock.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::encoding::{Encoding, TextDecoder};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::proto::{
    Challenge, Datagram, Info, Message, Player, Players, Query, Reassembler, Rules, SplitFormat, S2A_INFO,
    S2A_INFO_GOLDSRC, S2A_PLAYER, S2A_RULES,
};

/// Receive buffer: the largest UDP payload there is, so no datagram is ever cut
/// (Rust servers send single datagrams up to ~64 KiB; DayZ sends 2.5 KB unsplit).
const RECV_BUFFER: usize = 65_536;
/// Kernel receive buffer asked for, so a burst of fragments is not dropped.
const SOCKET_RECV_BUFFER: usize = 256 * 1024;
/// A read timeout already set is kept while it overshoots the deadline by less than
/// this, saving a system call per datagram.
const TIMEOUT_SLACK: Duration = Duration::from_millis(5);
/// Most challenges remembered (one per server); the map is emptied when full.
const MAX_REMEMBERED_CHALLENGES: usize = 1024;
/// Most datagrams discarded before a request when the socket may hold leftovers.
const MAX_DRAIN: usize = 4096;

/// The default timeout of a [`Client`]: 3 seconds, as python-a2s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// The default wait for a Source reply after a GoldSrc one (see [`ClientBuilder::goldsrc_grace`]).
pub const DEFAULT_GOLDSRC_GRACE: Duration = Duration::from_millis(300);

/// Which address family to use when a host name resolves to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpVersion {
    /// IPv4 first (the default).
    #[default]
    V4,
    /// IPv6 first.
    V6,
}

/// Options of a [`Client`]. Build one with [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder<D: TextDecoder = Encoding> {
    timeout: Duration,
    decoder: D,
    retries: u8,
    prefer: IpVersion,
    bind: Option<SocketAddr>,
    limits: Limits,
    split_format: SplitFormat,
    goldsrc_grace: Duration,
    reuse_challenges: bool,
}

impl Default for ClientBuilder<Encoding> {
    fn default() -> Self {
        ClientBuilder {
            timeout: DEFAULT_TIMEOUT,
            decoder: Encoding::Utf8,
            retries: 0,
            prefer: IpVersion::V4,
            bind: None,
            limits: Limits::default(),
            split_format: SplitFormat::Auto,
            goldsrc_grace: DEFAULT_GOLDSRC_GRACE,
            reuse_challenges: true,
        }
    }
}

impl<D: TextDecoder> ClientBuilder<D> {
    /// Bounds each whole call: every challenge round trip, every fragment, every retry.
    /// Default 3 s. A zero timeout makes every call time out at once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How strings become text: an [`Encoding`] (giving `String`s) or
    /// [`Raw`](crate::Raw) (giving `Vec<u8>`). Default [`Encoding::Utf8`].
    pub fn encoding<E: TextDecoder>(self, decoder: E) -> ClientBuilder<E> {
        ClientBuilder {
            timeout: self.timeout,
            decoder,
            retries: self.retries,
            prefer: self.prefer,
            bind: self.bind,
            limits: self.limits,
            split_format: self.split_format,
            goldsrc_grace: self.goldsrc_grace,
            reuse_challenges: self.reuse_challenges,
        }
    }

    /// Extra sends of a request that got no answer, for lossy links. The timeout is
    /// shared out: with `n` retries each attempt waits about `timeout / (n + 1)`.
    /// Default 0: one request per round trip, as python-a2s.
    pub fn retries(mut self, retries: u8) -> Self {
        self.retries = retries;
        self
    }

    /// Which family to use when a name resolves to both. Default IPv4.
    pub fn prefer(mut self, version: IpVersion) -> Self {
        self.prefer = version;
        self
    }

    /// The local address to send from (default: any address, a free port, of the
    /// target's family). Only targets of this address's family can then be queried.
    pub fn bind(mut self, local: SocketAddr) -> Self {
        self.bind = Some(local);
        self
    }

    /// Caps on what a server may make the client hold or do (see [`Limits`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Forces a split header layout for odd servers. Default
    /// [`SplitFormat::Auto`]: recognised from each reply.
    pub fn split_format(mut self, format: SplitFormat) -> Self {
        self.split_format = format;
        self
    }

    /// How long an info query waits, after a GoldSrc (`0x6D`) reply, for the Source
    /// (`0x49`) reply that old HLDS and dproto servers send too; the Source reply wins
    /// when it comes in time, never past the call's timeout. Default 300 ms (as
    /// ValvePython); zero takes the first reply.
    pub fn goldsrc_grace(mut self, grace: Duration) -> Self {
        self.goldsrc_grace = grace;
        self
    }

    /// Whether to send each server the challenge it gave last time, saving the
    /// challenge round trip on repeated polls. Default on; a server that rotated its
    /// challenge just answers with a new one and the call carries on.
    pub fn reuse_challenges(mut self, reuse: bool) -> Self {
        self.reuse_challenges = reuse;
        self
    }

    /// The client. No socket is opened until the first query.
    pub fn build(self) -> Client<D> {
        let mut reassembler = Reassembler::new(self.limits);
        reassembler.set_format(self.split_format);
        Client { options: self, conn: None, buf: vec![0; RECV_BUFFER], reassembler, challenges: HashMap::new() }
    }
}

/// The socket, and what it is connected to.
#[derive(Debug)]
struct Connection {
    socket: UdpSocket,
    /// The socket's family: IPv4 or not.
    ipv4: bool,
    peer: Option<SocketAddr>,
    /// The read timeout currently set on the socket.
    read_timeout: Option<Duration>,
    /// True when leftovers of an earlier exchange may be queued.
    dirty: bool,
}

/// A reusable A2S client: one UDP socket, buffers reused across calls, options set once.
///
/// The free functions [`info`](crate::info), [`players`](crate::players) and
/// [`rules`](crate::rules) each use a one-off `Client`; keep one when polling.
///
/// ```no_run
/// use std::time::Duration;
/// use a2s_query::{Client, Encoding};
///
/// let mut client = Client::builder()
///     .timeout(Duration::from_secs(2))
///     .retries(1)
///     .encoding(Encoding::Latin1)
///     .build();
/// let info = client.info("203.0.113.7:27015")?;
/// let players = client.players("203.0.113.7:27015")?;
/// println!("{} on {}: {} players", info.name(), info.map(), players.len());
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug)]
pub struct Client<D: TextDecoder = Encoding> {
    options: ClientBuilder<D>,
    conn: Option<Connection>,
    buf: Vec<u8>,
    reassembler: Reassembler,
    challenges: HashMap<SocketAddr, Challenge>,
}

impl Default for Client<Encoding> {
    fn default() -> Self {
        Client::new()
    }
}

impl Client<Encoding> {
    /// A client with the default options (3 s timeout, lossy UTF-8, no retries).
    pub fn new() -> Self {
        ClientBuilder::default().build()
    }

    /// Options for a client, starting from the defaults.
    pub fn builder() -> ClientBuilder<Encoding> {
        ClientBuilder::default()
    }
}

/// What one exchange expects back.
struct Expect {
    /// The request, without a challenge.
    query: Query,
    /// Reply types that answer it.
    kinds: &'static [u8],
    /// A reply type to wait a little longer for when another kind comes first.
    preferred: Option<u8>,
}

/// A reply held back while waiting for a preferred kind.
struct Held<T> {
    value: T,
    ping: Duration,
    until: Instant,
}

impl<D: TextDecoder> Client<D> {
    /// Asks a server for its info: name, map, players, and more.
    ///
    /// Returns whichever layout the server answers with (Source `0x49`, or GoldSrc
    /// `0x6D` from old servers and HLTV), with `ping` set to the round trip of the
    /// request that got the answer.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no answer comes in time; [`Error::Resolve`] for a bad
    /// address; [`Error::Io`] when the socket fails (a closed port on the local host
    /// shows as `ConnectionRefused`); [`Error::TooManyChallenges`] and the limit
    /// errors for servers that misbehave; parse errors for a broken answer.
    pub fn info<A: ToSocketAddrs>(&mut self, addr: A) -> Result<Info<D::Text>> {
        let expect =
            Expect { query: Query::Info(None), kinds: &[S2A_INFO, S2A_INFO_GOLDSRC], preferred: Some(S2A_INFO) };
        let decoder = self.options.decoder;
        let (mut info, ping) = self.exchange(addr, &expect, |m| Info::parse(m, decoder))?;
        info.set_ping(ping);
        Ok(info)
    }

    /// Asks a server who is playing.
    ///
    /// Entries whose names are empty (Valheim, ARK, players still connecting) are
    /// kept: filter them if you like.
    ///
    /// # Errors
    /// As [`Client::info`]. Some servers never answer player queries (Conan Exiles,
    /// CS2 with `host_players_show` below 2): that is a [`Error::Timeout`].
    pub fn players<A: ToSocketAddrs>(&mut self, addr: A) -> Result<Vec<Player<D::Text>>> {
        Ok(self.player_list(addr)?.players)
    }

    /// Asks a server who is playing, keeping what the header said: the declared count
    /// (which includes players still connecting) and whether the list was cut short.
    ///
    /// # Errors
    /// As [`Client::players`].
    pub fn player_list<A: ToSocketAddrs>(&mut self, addr: A) -> Result<Players<D::Text>> {
        let expect = Expect { query: Query::Players(Challenge::REQUEST), kinds: &[S2A_PLAYER], preferred: None };
        let decoder = self.options.decoder;
        Ok(self.exchange(addr, &expect, |m| Players::parse(m.body, decoder))?.0)
    }

    /// Asks a server for its rules (console variables), in wire order.
    ///
    /// # Errors
    /// As [`Client::info`]. Many servers never answer rules queries (CS:GO without
    /// `host_rules_show 1`, for one): that is a [`Error::Timeout`].
    pub fn rules<A: ToSocketAddrs>(&mut self, addr: A) -> Result<Rules<D::Text>> {
        let expect = Expect { query: Query::Rules(Challenge::REQUEST), kinds: &[S2A_RULES], preferred: None };
        let decoder = self.options.decoder;
        Ok(self.exchange(addr, &expect, |m| Rules::parse(m.body, decoder))?.0)
    }

    /// The local address of the client's socket, once a query has opened it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.conn.as_ref().and_then(|c| c.socket.local_addr().ok())
    }

    /// Forgets the challenges servers handed out, so the next query to each pays the
    /// challenge round trip again.
    pub fn forget_challenges(&mut self) {
        self.challenges.clear();
    }

    /// Picks the address to query, as the options prefer (no allocation for a
    /// `SocketAddr`).
    fn resolve<A: ToSocketAddrs>(&self, addr: A) -> Result<SocketAddr> {
        let wanted_v4 = match self.options.prefer {
            IpVersion::V4 => true,
            IpVersion::V6 => false,
        };
        let (mut seen, mut first) = (false, None);
        for a in addr.to_socket_addrs().map_err(Error::Resolve)? {
            seen = true;
            if self.options.bind.is_some_and(|b| b.is_ipv4() != a.is_ipv4()) {
                continue;
            }
            if a.is_ipv4() == wanted_v4 {
                return Ok(a);
            }
            first = first.or(Some(a));
        }
        first.ok_or_else(|| {
            let why = if seen {
                "no resolved address matches the bound address's family"
            } else {
                "the address resolved to nothing"
            };
            Error::Resolve(io::Error::new(io::ErrorKind::NotFound, why))
        })
    }

    /// Opens the socket for `target`'s family and connects it there, so the kernel
    /// drops datagrams from any other address or port.
    fn connect(&mut self, target: SocketAddr) -> Result<()> {
        let reusable = self.conn.as_ref().is_some_and(|c| c.ipv4 == target.is_ipv4());
        if !reusable {
            // Challenges are bound to the local address, which is about to change.
            self.challenges.clear();
            let socket = open_socket(target, self.options.bind)?;
            let ipv4 = target.is_ipv4();
            self.conn = Some(Connection { socket, ipv4, peer: None, read_timeout: None, dirty: false });
        }
        let conn = self.conn.as_mut().ok_or(Error::Io(io::ErrorKind::NotConnected.into()))?;
        if conn.peer != Some(target) {
            conn.socket.connect(target)?;
            // Datagrams from the previous peer may still be queued.
            conn.dirty = conn.peer.is_some();
            conn.peer = Some(target);
        }
        Ok(())
    }

    /// Sends `expect.query` to `addr` and waits for an answer of one of `expect.kinds`,
    /// answering challenges, reassembling splits and skipping strays on the way.
    /// Returns the parsed answer and the round trip of the request that got it.
    fn exchange<A, T, P>(&mut self, addr: A, expect: &Expect, mut parse: P) -> Result<(T, Duration)>
    where
        A: ToSocketAddrs,
        P: FnMut(Message<'_>) -> Result<T>,
    {
        let started = Instant::now();
        let timeout = self.options.timeout;
        let deadline = later(started, timeout);
        let target = self.resolve(addr)?;
        let limits = self.options.limits;
        let grace = self.options.goldsrc_grace;
        let remembered = if self.options.reuse_challenges { self.challenges.get(&target).copied() } else { None };
        self.reassembler.clear();
        self.connect(target)?;
        let conn = self.conn.as_mut().ok_or(Error::Io(io::ErrorKind::NotConnected.into()))?;
        if conn.dirty {
            conn.drain(&mut self.buf)?;
        }
        // Until the call ends cleanly, datagrams may be left for the next one.
        conn.dirty = true;

        let mut request = expect.query;
        if let Some(c) = remembered {
            request = request.with_challenge(c);
        }
        let mut sent_at = conn.send(&request.encode())?;
        let mut retries_left = self.options.retries;
        let mut resend_at = resend_time(sent_at, deadline, retries_left);
        let mut rounds: u8 = 0;
        let mut strays: u32 = 0;
        let mut held: Option<Held<T>> = None;

        loop {
            let now = Instant::now();
            if let Some(h) = held.take_if(|h| now >= h.until) {
                return Ok((h.value, h.ping));
            }
            if now >= deadline {
                return Err(Error::Timeout { timeout, fragments: self.reassembler.progress() });
            }
            let wake = held.as_ref().map_or(deadline, |h| h.until).min(resend_at);
            let received = match conn.recv(&mut self.buf, wake.saturating_duration_since(now)) {
                Ok(n) => n,
                Err(e) if is_timeout(&e) => {
                    if retries_left > 0 && held.is_none() && Instant::now() >= resend_at {
                        retries_left -= 1;
                        sent_at = conn.send(&request.encode())?;
                        resend_at = resend_time(sent_at, deadline, retries_left);
                    }
                    continue;
                }
                Err(e) => return Err(Error::Io(e)),
            };
            let arrived = Instant::now();
            let datagram = self.buf.get(..received).unwrap_or_default();
            if datagram.len() > limits.max_reply_bytes {
                return Err(Error::ReplyTooLarge { max: limits.max_reply_bytes });
            }
            let event = match Datagram::classify(datagram) {
                Ok(Datagram::Single(m)) => Event::Reply(m),
                Ok(Datagram::Challenge(c)) => Event::Challenge(c),
                Ok(Datagram::Split(fragment)) => match self.reassembler.push(fragment) {
                    Ok(Some(whole)) => {
                        let m = Message::from_reassembled(whole)?;
                        // Some servers send the challenge itself as a split reply.
                        match m.challenge()? {
                            Some(c) => Event::Challenge(c),
                            None => Event::Reply(m),
                        }
                    }
                    Ok(None) => Event::Progress,
                    // Too short to be a fragment: junk.
                    Err(Error::Truncated { .. }) => Event::Stray,
                    Err(e) => return Err(e),
                },
                Err(_) => Event::Stray,
            };
            match event {
                Event::Challenge(c) => {
                    if rounds >= limits.max_challenge_rounds {
                        return Err(Error::TooManyChallenges { rounds });
                    }
                    rounds += 1;
                    remember(&mut self.challenges, target, c);
                    request = request.with_challenge(c);
                    sent_at = conn.send(&request.encode())?;
                    resend_at = resend_time(sent_at, deadline, retries_left);
                }
                // A split reply is arriving: no resend while it does.
                Event::Progress => resend_at = resend_time(arrived, deadline, retries_left),
                Event::Reply(m) if expect.kinds.contains(&m.kind) => {
                    let kind = m.kind;
                    let value = parse(m)?;
                    let ping = arrived.saturating_duration_since(sent_at);
                    let preferred = expect.preferred.is_none_or(|p| p == kind);
                    if preferred {
                        // Extra datagrams are only expected after retries.
                        conn.dirty = retries_left != self.options.retries;
                        return Ok((value, ping));
                    }
                    if grace.is_zero() {
                        return Ok((value, ping));
                    }
                    if held.is_none() {
                        held = Some(Held { value, ping, until: later(arrived, grace).min(deadline) });
                    }
                }
                Event::Reply(_) | Event::Stray => {
                    strays = strays.saturating_add(1);
                    if strays > limits.max_stray_datagrams {
                        return Err(Error::TooManyStrayDatagrams { count: strays });
                    }
                }
            }
        }
    }
}

/// What one received datagram amounts to.
enum Event<'a> {
    /// A whole reply (single, or the last fragment of a split one).
    Reply(Message<'a>),
    /// The server wants this challenge echoed.
    Challenge(Challenge),
    /// A fragment was stored; the reply is not complete yet.
    Progress,
    /// Junk, or anything else that does not answer this request.
    Stray,
}

/// `t + d`, saturating far in the future instead of overflowing.
fn later(t: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    t.checked_add(d).or_else(|| t.checked_add(CENTURY)).unwrap_or(t)
}

fn remember(challenges: &mut HashMap<SocketAddr, Challenge>, target: SocketAddr, c: Challenge) {
    if challenges.len() >= MAX_REMEMBERED_CHALLENGES && !challenges.contains_key(&target) {
        challenges.clear();
    }
    challenges.insert(target, c);
}

/// When to resend if nothing arrives: the time left shared out over the attempts left.
fn resend_time(from: Instant, deadline: Instant, retries_left: u8) -> Instant {
    if retries_left == 0 {
        return deadline;
    }
    let left = deadline.saturating_duration_since(from);
    from + left / (u32::from(retries_left) + 1)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// A UDP socket of `target`'s family, bound to `bind` (or any address, a free port).
fn open_socket(target: SocketAddr, bind: Option<SocketAddr>) -> Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(target), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a larger kernel buffer keeps bursts of fragments; not fatal if refused.
    let _ = socket.set_recv_buffer_size(SOCKET_RECV_BUFFER);
    let local = bind.unwrap_or(match target {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    });
    socket.bind(&local.into())?;
    Ok(socket.into())
}

impl Connection {
    fn send(&mut self, request: &[u8]) -> Result<Instant> {
        let at = Instant::now();
        self.socket.send(request)?;
        Ok(at)
    }

    /// Receives one datagram, waiting at most `wait`.
    fn recv(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<usize> {
        // A zero read timeout means "block forever" to the OS: wait at least 1 µs.
        let wait = wait.max(Duration::from_micros(1));
        let keep = self.read_timeout.is_some_and(|set| set <= wait + TIMEOUT_SLACK && set + TIMEOUT_SLACK >= wait);
        if !keep {
            self.socket.set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        self.socket.recv(buf)
    }

    /// Discards datagrams already queued (leftovers of an earlier exchange).
    fn drain(&mut self, buf: &mut [u8]) -> Result<()> {
        self.socket.set_nonblocking(true)?;
        let mut result = Ok(());
        for _ in 0..MAX_DRAIN {
            match self.socket.recv(buf) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // An ICMP error queued from an earlier exchange: consumed, carry on.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => {
                    result = Err(Error::Io(e));
                    break;
                }
            }
        }
        self.socket.set_nonblocking(false)?;
        self.dirty = false;
        result
    }
}
