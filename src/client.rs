//! The blocking client: a driver of the engine ([`Endpoint`]), one query at a time,
//! over a connected UDP socket per address family. The protocol and each server's
//! lifecycle live in [`proto`](crate::proto); this module only moves datagrams and
//! reads the clock.

use std::fmt::Debug;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::encoding::{Encoding, TextDecoder};
use crate::error::{Error, Result};
use crate::net::{self, Udp, RECV_BUFFER};
use crate::options::{constructors, prefer_option, Options};
use crate::proto::{
    Answers, AnyAnswer, AnyQuery, ArmaRules, Asked, Endpoint, EndpointConfig, Info, Kind, Players, Rules,
};
use crate::Builder;

/// The default timeout of a [`Client`]: 3 seconds, as python-a2s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// A blocking [`Client`]'s own option: the family a name resolving to both is asked
/// over.
impl<D: TextDecoder> Builder<Client, D> {
    prefer_option!();

    /// The client. No socket is opened until the first query.
    pub fn build(self) -> Client<D> {
        // One query at a time, sent at once: the engine only keeps each server's
        // lifecycle (what it taught, what it owes).
        let config = EndpointConfig { exchange: self.options.endpoint.exchange, max_in_flight: 1, send_rate: 0 };
        Client {
            endpoint: Endpoint::new(config, self.options.decoder),
            options: self.options,
            v4: None,
            v6: None,
            last_v4: true,
            buf: vec![0; RECV_BUFFER],
        }
    }
}

/// One socket, and the server it is connected to.
#[derive(Debug)]
struct Connection {
    udp: Udp,
    peer: Option<SocketAddr>,
    /// The kernel receive buffer granted, read back after asking.
    recv_buffer: usize,
}

/// A reusable A2S client: a UDP socket per address family, buffers reused across
/// calls, options set once.
///
/// The free functions [`info`](crate::info), [`players`](crate::players) and
/// [`rules`](crate::rules) each use a one-off `Client`; keep one when polling: it
/// remembers what each server taught it (its challenge, its split layout, its round
/// trip), so a repeated poll costs one round trip instead of two.
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{Client, Encoding};
/// # let mut local = a2s_query::SourceInfo::default();
/// # (local.server_name, local.map_name) = ("Polled".into(), "de_nuke".into());
/// # let roster = vec![a2s_query::Player::new("alice".to_string(), 1, 2.0)];
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(local), roster, vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
///
/// let mut client = Client::builder()
///     .timeout(Duration::from_secs(2))
///     .retries(1)
///     .encoding(Encoding::Latin1)
///     .build();
/// // addr: "203.0.113.7:27015", say (a local server here). The challenge the first
/// // query learns is sent with the next ones: one round trip each.
/// let info = client.info(addr)?;
/// let players = client.players(addr)?;
/// println!("{} on {}: {} players", info.server_name(), info.map_name(), players.len());
/// assert_eq!((info.server_name(), players.len()), ("Polled", 1));
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug)]
pub struct Client<D: TextDecoder = Encoding> {
    options: Options<D>,
    endpoint: Endpoint<AnyQuery<D>, D>,
    v4: Option<Connection>,
    v6: Option<Connection>,
    /// Whether the last query went over IPv4.
    last_v4: bool,
    buf: Vec<u8>,
}

constructors!(Client);

impl<D: TextDecoder> Client<D> {
    /// Asks a server for its info: name, map, players, and more.
    ///
    /// Returns whichever layout the server answers with (Source `0x49`, or GoldSrc
    /// `0x6D` from old servers and HLTV), with `ping` set to the round trip of the
    /// request that got the answer (see [`SourceInfo::ping`](crate::SourceInfo::ping)
    /// for a request sent twice).
    ///
    /// # Errors
    /// [`Error::Timeout`] when no answer comes in time (saying what came instead, if
    /// anything); [`Error::Resolve`] for a bad address; [`Error::InvalidInput`] for a zero
    /// timeout or a server of the other family than the bound address; [`Error::Io`]
    /// when the socket fails (a closed port on the local host
    /// shows as `ConnectionRefused`); [`Error::TooManyChallenges`] and the limit
    /// errors for servers that misbehave; parse errors for a broken answer (at the
    /// deadline, unless a good copy comes first; at once for text that is not UTF-8
    /// under [`Encoding::Utf8Strict`](crate::Encoding::Utf8Strict)).
    pub fn info<A: ToSocketAddrs + Debug>(&mut self, addr: A) -> Result<Info<D::Text>> {
        self.query(addr, Kind::Info).and_then(Asked::from_answer)
    }

    /// Asks a server who is playing: the list reads as a slice of [`Player`](crate::Player)s
    /// (`players.len()`, `players[0]`, `for p in &players`) and keeps what the header
    /// said, the declared count (which includes players still connecting) and whether
    /// the list was cut short.
    ///
    /// Entries whose names are empty (Valheim, ARK, players still connecting) are
    /// kept: filter them if you like.
    ///
    /// # Errors
    /// As [`Client::info`]. Some servers never answer player queries (Conan Exiles,
    /// CS2 with `host_players_show` below 2): that is a [`Error::Timeout`].
    pub fn players<A: ToSocketAddrs + Debug>(&mut self, addr: A) -> Result<Players<D::Text>> {
        self.query(addr, Kind::Players).and_then(Asked::from_answer)
    }

    /// Asks a server for its rules (console variables), in wire order.
    ///
    /// # Errors
    /// As [`Client::info`]. Many servers never answer rules queries (CS:GO without
    /// `host_rules_show 1`, for one): that is a [`Error::Timeout`].
    pub fn rules<A: ToSocketAddrs + Debug>(&mut self, addr: A) -> Result<Rules<D::Text>> {
        self.query(addr, Kind::Rules).and_then(Asked::from_answer)
    }

    /// Asks an Arma 3 or DayZ server for its rules and decodes the binary message in
    /// them: mods, DLCs, difficulty, signatures ([`ArmaRules`]). The chunks are read as
    /// bytes whatever the encoding; the encoding makes the names' text.
    ///
    /// # Errors
    /// As [`Client::rules`], and [`ArmaRules::decode`]'s: a chunk missing (the reply cut
    /// short) is [`Error::MissingChunk`], a server that is not Arma 3 or DayZ
    /// [`Error::Malformed`].
    pub fn arma_rules<A: ToSocketAddrs + Debug>(&mut self, addr: A) -> Result<ArmaRules<D::Text>> {
        self.query(addr, Kind::ArmaRules).and_then(Asked::from_answer)
    }

    /// Asks for the info, the players and the rules, one after another, the challenge
    /// learned once; each part its own result and its own timeout (the info query's
    /// from the call, the others' from their first send: a server answering only the
    /// info query takes three timeouts; one silent to it is not asked the others).
    ///
    /// ```
    /// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(Default::default()), vec![], vec![("sv_tags".to_string(), "dm".to_string())]).spawn("127.0.0.1:0")?;
    /// # let addr = server.local_addr();
    /// let mut client = a2s_query::Client::new();
    /// let all = client.all(addr);
    /// assert_eq!(&all.rules?["sv_tags"], "dm");
    /// assert!(all.info.is_ok() && all.players?.entries.is_empty());
    /// # Ok::<(), a2s_query::Error>(())
    /// ```
    ///
    /// # Errors
    /// A part that fails holds its error; a bad address or a zero timeout fails all three.
    pub fn all<A: ToSocketAddrs + Debug>(&mut self, addr: A) -> Answers<D::Text> {
        match self.query(addr, Kind::All) {
            Ok(answer) => Answers::from_answer(answer),
            Err(e) => Answers::from_answer(AnyAnswer::failed(Kind::All, e)),
        }
    }

    /// The local address of the socket the last query used, once a query has opened it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.last_connection().and_then(|c| c.udp.socket.local_addr().ok())
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
        self.endpoint.forget_learned();
    }

    /// Picks the address to query, as the options prefer (no allocation for a
    /// `SocketAddr`).
    fn resolve<A: ToSocketAddrs + Debug>(&self, addr: A) -> Result<SocketAddr> {
        let addrs = addr.to_socket_addrs().map_err(|e| net::resolve_error(&addr, e))?;
        net::pick(addrs, self.options.prefer, self.options.bind)
    }

    /// Runs one query to the server at `addr` over the socket of its family.
    fn query<A: ToSocketAddrs + Debug>(&mut self, addr: A, kind: Kind) -> Result<AnyAnswer<D::Text>> {
        if self.options.endpoint.exchange.timeout.is_zero() {
            return Err(Error::InvalidInput(net::ZERO_TIMEOUT));
        }
        let target = self.resolve(addr)?;
        // The timeout counts from here: a wait for the server to drain is part of the call.
        let started = Instant::now();
        let slot = if target.is_ipv4() { &mut self.v4 } else { &mut self.v6 };
        let conn = connection(slot, target, &self.options)?;
        self.last_v4 = target.is_ipv4();
        // Whatever is queued came before this call's request: in before it goes out,
        // it is owed to an earlier call (or stray), never this one's answer.
        let endpoint = &mut self.endpoint;
        conn.udp.read_queued(&mut self.buf, |heard| heard.hand_to(endpoint))?;
        self.endpoint.push_at(target, kind, started);
        drive(&mut self.endpoint, target, conn, &mut self.buf, Instant::now())
    }
}

/// Moves datagrams between `conn` and the engine until its one query, to `target`, is
/// over. A socket error ends the query with it (a closed port's ICMP error, say).
///
/// `now` is read after the query was pushed (its first request is stamped when it
/// goes). Then the clock is read once after each wait (the engine's work between two
/// waits takes microseconds, and each event is handed the time it happened at) and once
/// before each wait, which is measured to the deadline from there.
fn drive<D: TextDecoder>(
    endpoint: &mut Endpoint<AnyQuery<D>, D>,
    target: SocketAddr,
    conn: &mut Connection,
    buf: &mut [u8],
    mut now: Instant,
) -> Result<AnyAnswer<D::Text>> {
    loop {
        while let Some((_, request)) = endpoint.poll_transmit(now) {
            match conn.udp.socket.send(&request) {
                Ok(_) => conn.udp.note_sent(target, &request),
                Err(e) => endpoint.handle_send_error(target, Error::Io(e), now),
            }
        }
        if let Some((_, _, answer)) = endpoint.poll_output() {
            return Ok(answer);
        }
        let Some(wake) = endpoint.poll_timeout() else {
            // Nothing to wait for and no answer: cannot happen with a query under way.
            return Err(Error::Io(io::Error::other("the query ended without an answer")));
        };
        let before = Instant::now();
        if before >= wake {
            now = before;
            endpoint.handle_timeout(now);
            continue;
        }
        let received = conn.udp.recv_wait(buf, wake - before);
        now = Instant::now();
        match received {
            Ok((n, from)) => endpoint.handle_datagram(from, buf.get(..n).unwrap_or_default(), now),
            Err(e) if net::is_timeout(&e) => endpoint.handle_timeout(now),
            Err(e) => endpoint.handle_send_error(target, Error::Io(e), now),
        }
    }
}

/// The socket in `slot` (opened on first use), connected to `target`, so the kernel
/// drops datagrams from any other address or port.
fn connection<'a, D>(
    slot: &'a mut Option<Connection>,
    target: SocketAddr,
    options: &Options<D>,
) -> Result<&'a mut Connection> {
    let conn = match slot {
        Some(conn) => conn,
        None => {
            let (socket, recv_buffer) =
                net::open_for(target, options.bind, net::buffer_for(&options.endpoint.exchange.limits))?;
            slot.insert(Connection { udp: Udp::new(socket, options.recording.clone()), peer: None, recv_buffer })
        }
    };
    if conn.peer != Some(target) {
        conn.udp.socket.connect(target)?;
        conn.peer = Some(target);
    }
    Ok(conn)
}
