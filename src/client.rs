//! The blocking client: a driver of one [`Exchange`] at a time over a UDP socket per
//! address family. The protocol lives in [`proto`](crate::proto); this module only
//! moves datagrams and reads the clock.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::encoding::{Encoding, TextDecoder};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::proto::{
    Answer, ArmaRules, Exchange, ExchangeConfig, Info, Learned, Player, Players, Reassembler, Rules, SplitFormat,
};

/// Receive buffer: the largest UDP payload there is, so no datagram is ever cut
/// (Rust servers send single datagrams up to ~64 KiB; DayZ sends 2.5 KB unsplit).
const RECV_BUFFER: usize = 65_536;
/// The smallest kernel receive buffer asked for: a burst of fragments is kept.
const MIN_SOCKET_RECV_BUFFER: usize = 256 * 1024;
/// The largest asked for, however large the limits.
const MAX_SOCKET_RECV_BUFFER: usize = 4 * 1024 * 1024;
/// A read timeout already set is kept while it overshoots the deadline by less than
/// this, saving a system call per datagram.
const TIMEOUT_SLACK: Duration = Duration::from_millis(5);
/// Most servers remembered (challenge, split layout, round trip); the map is emptied
/// when full.
const MAX_REMEMBERED_SERVERS: usize = 1024;
/// Most datagrams discarded before a request.
const MAX_DRAIN: usize = 4096;

/// Why a zero timeout is refused.
pub(crate) const ZERO_TIMEOUT: &str =
    "a zero timeout would end every call at once; give the whole call's time, e.g. 3 s";

/// The default timeout of a [`Client`]: 3 seconds, as python-a2s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Which address family to use when a host name resolves to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IpVersion {
    /// IPv4 first (the default).
    #[default]
    V4,
    /// IPv6 first.
    V6,
}

/// Options of a [`Client`]. Build one with [`Client::builder`].
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{Client, Encoding, Limits};
/// # let mut info = a2s_query::SourceInfo::default();
/// # info.server_name = "built".into();
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
///
/// let mut limits = Limits::default();
/// limits.max_fragments = 32;
/// let mut client = Client::builder()
///     .timeout(Duration::from_secs(2))
///     .retries(1)
///     .encoding(Encoding::Latin1)
///     .limits(limits)
///     .build();
/// let info = client.info(addr)?;
/// assert_eq!(info.name(), "built");
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder<D: TextDecoder = Encoding> {
    pub(crate) config: ExchangeConfig,
    pub(crate) decoder: D,
    pub(crate) prefer: IpVersion,
    pub(crate) bind: Option<SocketAddr>,
}

impl Default for ClientBuilder<Encoding> {
    fn default() -> Self {
        ClientBuilder {
            config: ExchangeConfig { timeout: DEFAULT_TIMEOUT, ..ExchangeConfig::default() },
            decoder: Encoding::Utf8,
            prefer: IpVersion::V4,
            bind: None,
        }
    }
}

impl<D: TextDecoder> ClientBuilder<D> {
    /// Bounds each whole call: every challenge round trip, every fragment, every retry.
    /// Default 3 s. A zero timeout is refused by every call ([`Error::InvalidInput`]).
    /// Resolving a host name comes first and is not bounded by it: pass a `SocketAddr`
    /// where that matters.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// How strings become text: an [`Encoding`] (giving `String`s) or
    /// [`Raw`](crate::Raw) (giving `Vec<u8>`). Default [`Encoding::Utf8`].
    pub fn encoding<E: TextDecoder>(self, decoder: E) -> ClientBuilder<E> {
        ClientBuilder { config: self.config, decoder, prefer: self.prefer, bind: self.bind }
    }

    /// Extra sends of a request that got no answer, for lossy links. The timeout is
    /// shared out: with `n` retries each attempt waits about `timeout / (n + 1)`.
    /// Default 0: one request per round trip, as python-a2s.
    pub fn retries(mut self, retries: u8) -> Self {
        self.config.retries = retries;
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
        self.config.limits = limits;
        self
    }

    /// Forces a split header layout for odd servers. Default
    /// [`SplitFormat::Auto`]: recognised from each reply.
    pub fn split_format(mut self, format: SplitFormat) -> Self {
        self.config.split_format = format;
        self
    }

    /// How long an info query waits, after a GoldSrc (`0x6D`) reply, for the Source
    /// (`0x49`) reply that old HLDS and dproto servers send too; the Source reply wins
    /// when it comes in time, never past the call's timeout. By default the wait is
    /// learned per server: [`GOLDSRC_GRACE`](crate::proto::GOLDSRC_GRACE) (300 ms) the
    /// first time, none for a server that then sent only `0x6D`, until the `0x49` for
    /// one known to send both (HLDS sends it with its next frame, not with the `0x6D`).
    /// A fixed grace here replaces that; zero takes the first reply.
    pub fn goldsrc_grace(mut self, grace: Duration) -> Self {
        self.config.goldsrc_grace = Some(grace);
        self
    }

    /// Whether to send each server the challenge it gave last time, saving the
    /// challenge round trip on repeated polls. Default on; a server that rotated its
    /// challenge just answers with a new one and the call carries on.
    pub fn reuse_challenges(mut self, reuse: bool) -> Self {
        self.config.reuse_challenge = reuse;
        self
    }

    /// The client. No socket is opened until the first query.
    pub fn build(self) -> Client<D> {
        let reassembler = Some(Reassembler::new(self.config.limits));
        Client {
            options: self,
            v4: None,
            v6: None,
            last_v4: true,
            buf: vec![0; RECV_BUFFER],
            reassembler,
            learned: HashMap::new(),
        }
    }
}

/// One socket, and the server it is connected to.
#[derive(Debug)]
struct Connection {
    socket: UdpSocket,
    peer: Option<SocketAddr>,
    /// The kernel receive buffer granted, read back after asking.
    recv_buffer: usize,
    /// The read timeout currently set on the socket.
    read_timeout: Option<Duration>,
}

/// A reusable A2S client: a UDP socket per address family, buffers reused across
/// calls, options set once.
///
/// The free functions [`info`](crate::info), [`players`](crate::players) and
/// [`rules`](crate::rules) each use a one-off `Client`; keep one when polling: it
/// remembers what each server taught it (its challenge, its split layout, its round
/// trip), so a repeated poll costs one round trip instead of two.
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
    v4: Option<Connection>,
    v6: Option<Connection>,
    /// Whether the last query went over IPv4.
    last_v4: bool,
    buf: Vec<u8>,
    /// Kept between exchanges for its buffers (`None` only while one runs).
    reassembler: Option<Reassembler>,
    learned: HashMap<SocketAddr, Learned>,
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

impl<D: TextDecoder> Client<D> {
    /// Asks a server for its info: name, map, players, and more.
    ///
    /// Returns whichever layout the server answers with (Source `0x49`, or GoldSrc
    /// `0x6D` from old servers and HLTV), with `ping` set to the round trip of the
    /// request that got the answer.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no answer comes in time (saying what came instead, if
    /// anything); [`Error::Resolve`] for a bad address; [`Error::InvalidInput`] for a zero
    /// timeout or a server of the other family than the bound address; [`Error::Io`]
    /// when the socket fails (a closed port on the local host
    /// shows as `ConnectionRefused`); [`Error::TooManyChallenges`] and the limit
    /// errors for servers that misbehave; parse errors for a broken answer.
    pub fn info<A: ToSocketAddrs>(&mut self, addr: A) -> Result<Info<D::Text>> {
        self.exchange(addr)
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
        Ok(self.player_list(addr)?.entries)
    }

    /// Asks a server who is playing, keeping what the header said: the declared count
    /// (which includes players still connecting) and whether the list was cut short.
    ///
    /// # Errors
    /// As [`Client::players`].
    pub fn player_list<A: ToSocketAddrs>(&mut self, addr: A) -> Result<Players<D::Text>> {
        self.exchange(addr)
    }

    /// Asks a server for its rules (console variables), in wire order.
    ///
    /// # Errors
    /// As [`Client::info`]. Many servers never answer rules queries (CS:GO without
    /// `host_rules_show 1`, for one): that is a [`Error::Timeout`].
    pub fn rules<A: ToSocketAddrs>(&mut self, addr: A) -> Result<Rules<D::Text>> {
        self.exchange(addr)
    }

    /// Asks an Arma 3 or DayZ server for its rules and decodes the binary message in
    /// them: mods, DLCs, difficulty, signatures ([`ArmaRules`]). The chunks are read as
    /// bytes whatever the encoding; the encoding makes the names' text.
    ///
    /// # Errors
    /// As [`Client::rules`], and [`ArmaRules::decode`]'s: a chunk missing (the reply cut
    /// short) is [`Error::MissingChunk`], a server that is not Arma 3 or DayZ
    /// [`Error::Malformed`].
    pub fn arma_rules<A: ToSocketAddrs>(&mut self, addr: A) -> Result<ArmaRules<D::Text>> {
        self.exchange(addr)
    }

    /// The local address of the socket the last query used, once a query has opened it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.last_connection().and_then(|c| c.socket.local_addr().ok())
    }

    /// The kernel receive buffer the last query's socket got, in bytes, as the kernel
    /// reports it: the client asks for room for a whole reply at the limits (twice
    /// `max_reply_bytes`, 256 KiB to 4 MiB), and the kernel may grant less (Linux caps
    /// it at `net.core.rmem_max`). Fragments of a burst past it are dropped.
    pub fn recv_buffer_size(&self) -> Option<usize> {
        self.last_connection().map(|c| c.recv_buffer)
    }

    fn last_connection(&self) -> Option<&Connection> {
        if self.last_v4 {
            self.v4.as_ref()
        } else {
            self.v6.as_ref()
        }
    }

    /// Forgets what servers taught the client (their challenges, split layouts and
    /// round trips), so the next query to each pays the challenge round trip again.
    pub fn forget_challenges(&mut self) {
        self.learned.clear();
    }

    /// Picks the address to query, as the options prefer (no allocation for a
    /// `SocketAddr`).
    fn resolve<A: ToSocketAddrs>(&self, addr: A) -> Result<SocketAddr> {
        pick(addr.to_socket_addrs().map_err(Error::Resolve)?, self.options.prefer, self.options.bind)
    }

    /// Runs one exchange with the server at `addr` over the socket of its family.
    fn exchange<A: ToSocketAddrs, T: Answer<D>>(&mut self, addr: A) -> Result<T> {
        if self.options.config.timeout.is_zero() {
            return Err(Error::InvalidInput(ZERO_TIMEOUT));
        }
        let target = self.resolve(addr)?;
        // The deadline counts from here: the drain below is part of the call.
        let started = Instant::now();
        let config = self.options.config;
        let slot = if target.is_ipv4() { &mut self.v4 } else { &mut self.v6 };
        let conn = connection(slot, target, self.options.bind, &config.limits)?;
        self.last_v4 = target.is_ipv4();
        // Whatever is queued now answers an earlier call: it must not answer this one.
        // (Only before the first request: what comes after it may answer it, and a
        // retry is the same request.)
        conn.drain(&mut self.buf)?;

        let learned = self.learned.get(&target).copied().unwrap_or_default();
        let reassembler = self.reassembler.take().unwrap_or_else(|| Reassembler::new(config.limits));
        let mut exchange = Exchange::reusing(reassembler, config, self.options.decoder, learned, started);
        let outcome = drive(&mut exchange, conn, &mut self.buf);

        if self.learned.len() >= MAX_REMEMBERED_SERVERS && !self.learned.contains_key(&target) {
            self.learned.clear();
        }
        self.learned.insert(target, exchange.learned());
        self.reassembler = Some(exchange.into_reassembler());
        outcome
    }
}

/// The address to query among those a name resolved to, as `prefer` wants, of the
/// family of `bind` if one is given.
pub(crate) fn pick(
    addrs: impl Iterator<Item = SocketAddr>,
    prefer: IpVersion,
    bind: Option<SocketAddr>,
) -> Result<SocketAddr> {
    let wanted_v4 = prefer == IpVersion::V4;
    let (mut seen, mut first) = (false, None);
    for a in addrs {
        seen = true;
        if bind.is_some_and(|b| b.is_ipv4() != a.is_ipv4()) {
            continue;
        }
        if a.is_ipv4() == wanted_v4 {
            return Ok(a);
        }
        first = first.or(Some(a));
    }
    first.ok_or_else(|| {
        if seen {
            Error::InvalidInput(
                "the client is bound to an address of the other family (IPv4 or IPv6) than the server's; \
                 bind one of the server's family, or leave the bind address out",
            )
        } else {
            Error::Resolve(io::Error::new(io::ErrorKind::NotFound, "the address resolved to nothing"))
        }
    })
}

/// Moves datagrams between `conn` and `exchange` until it is done.
fn drive<T: Answer<D>, D: TextDecoder>(
    exchange: &mut Exchange<T, D>,
    conn: &mut Connection,
    buf: &mut [u8],
) -> Result<T> {
    loop {
        if let Some(request) = exchange.poll_transmit(Instant::now()) {
            conn.socket.send(&request)?;
        }
        if let Some(outcome) = exchange.poll_outcome() {
            return outcome;
        }
        let Some(wake) = exchange.poll_timeout() else {
            // Done without an outcome: cannot happen, since the outcome is taken above.
            return Err(Error::Io(io::Error::other("the exchange ended without an outcome")));
        };
        let now = Instant::now();
        if now >= wake {
            exchange.handle_timeout(now);
            continue;
        }
        match conn.recv(buf, wake - now) {
            Ok(n) => exchange.handle_datagram(buf.get(..n).unwrap_or_default(), Instant::now()),
            Err(e) if is_timeout(&e) => exchange.handle_timeout(Instant::now()),
            Err(e) => return Err(Error::Io(e)),
        }
    }
}

/// The socket in `slot` (opened on first use), connected to `target`, so the kernel
/// drops datagrams from any other address or port.
fn connection<'a>(
    slot: &'a mut Option<Connection>,
    target: SocketAddr,
    bind: Option<SocketAddr>,
    limits: &Limits,
) -> Result<&'a mut Connection> {
    let conn = match slot {
        Some(conn) => conn,
        None => {
            let (socket, recv_buffer) = open_socket(target, bind, limits)?;
            slot.insert(Connection { socket, peer: None, recv_buffer, read_timeout: None })
        }
    };
    if conn.peer != Some(target) {
        conn.socket.connect(target)?;
        conn.peer = Some(target);
    }
    Ok(conn)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// A UDP socket of `target`'s family, bound to `bind` (or any address, a free port),
/// its kernel receive buffer sized to hold a whole split reply at the limits; with the
/// size the kernel granted.
pub(crate) fn open_socket(target: SocketAddr, bind: Option<SocketAddr>, limits: &Limits) -> Result<(UdpSocket, usize)> {
    let socket = Socket::new(Domain::for_address(target), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: not fatal if refused or capped (the kernel's rmem_max). Linux
    // charges each datagram about twice its size, hence the factor.
    let wanted = limits.max_reply_bytes.saturating_mul(2).clamp(MIN_SOCKET_RECV_BUFFER, MAX_SOCKET_RECV_BUFFER);
    let _ = socket.set_recv_buffer_size(wanted);
    let granted = socket.recv_buffer_size()?;
    let local = bind.unwrap_or(match target {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    });
    socket.bind(&local.into())?;
    Ok((socket.into(), granted))
}

impl Connection {
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

    /// Discards the datagrams already queued.
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
        result
    }
}
