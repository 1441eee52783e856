//! Many servers watched over time from one thread: a blocking driver of the
//! [`Watchlist`] over one unconnected UDP socket. The schedule, the states and the
//! events live in [`proto`](crate::proto); this module only moves datagrams and reads
//! the clock.

use std::fmt::Debug;
use std::hash::{BuildHasher, RandomState};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::encoding::{Encoding, TextDecoder};
use crate::error::{Error, Result};
use crate::net::{self, IpVersion, SharedSocket};
use crate::options::prefer_option;
use crate::proto::{Event, Status, Watchlist};
use crate::Builder;

/// The methods both monitors (blocking and async) have over their [`Watchlist`], in a
/// field `watch`: the servers watched and what is known of them.
macro_rules! watched_servers {
    () => {
        /// Stops watching `addr`; its last status, if it was watched.
        pub fn remove(&mut self, addr: SocketAddr) -> Option<Status<D::Text>> {
            self.watch.remove(addr, Instant::now())
        }

        /// What is known of `addr`, if it is watched.
        pub fn status(&self, addr: SocketAddr) -> Option<&Status<D::Text>> {
            self.watch.status(addr)
        }

        /// Every watched server's status, in no particular order.
        pub fn statuses(&self) -> impl Iterator<Item = &Status<D::Text>> {
            self.watch.statuses()
        }

        /// Servers watched.
        pub fn len(&self) -> usize {
            self.watch.len()
        }

        /// Whether no server is watched.
        pub fn is_empty(&self) -> bool {
            self.watch.is_empty()
        }
    };
}

#[cfg(feature = "tokio")]
pub(crate) use watched_servers;

/// The longest one wait lasts when nothing is due (none: a server is always due).
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// A [`Monitor`]'s own options: what it polls and how often, when a server is down,
/// its pacing per IP address (its window, send rate and receive buffer are set as
/// every paced driver's are). The defaults: each server polled every 30 s (± 3 s), its info only, 3 s per query,
/// down after 3 failed polls in a row, polled at most every 5 minutes while down, at
/// most 5 queries a second to one IP address.
impl<D: TextDecoder> Builder<Monitor, D> {
    prefer_option!();

    /// Time between two polls of a server. Default 30 s.
    pub fn every(mut self, interval: Duration) -> Self {
        self.watch.every = interval;
        self
    }

    /// How far each poll may move, either way, at random (no lockstep). Default a
    /// tenth of the interval; at most half of it.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.watch.jitter = Some(jitter);
        self
    }

    /// Ask for players too: what [`Change::PlayerJoined`](crate::Change::PlayerJoined)
    /// and `PlayerLeft` need. Default off.
    pub fn players(mut self, players: bool) -> Self {
        self.watch.players = players;
        self
    }

    /// Ask for rules too. Default off.
    pub fn rules(mut self, rules: bool) -> Self {
        self.watch.rules = rules;
        self
    }

    /// Failed polls in a row after which a server is down. Default 3.
    pub fn down_after(mut self, polls: u32) -> Self {
        self.watch.down_after = polls.max(1);
        self
    }

    /// The longest time between two polls of a server that is down (the interval
    /// doubles with each failed poll up to this). Default 5 minutes.
    pub fn max_backoff(mut self, longest: Duration) -> Self {
        self.watch.max_backoff = longest;
        self
    }

    /// Most queries a second to one IP address, all its ports together; 0 for no cap.
    /// Default 5.
    pub fn host_rate(mut self, per_second: u32) -> Self {
        self.watch.host_rate = per_second;
        self
    }

    /// Player counts whose crossing is an event
    /// ([`Change::PlayersCrossed`](crate::Change::PlayersCrossed)). Default none.
    pub fn thresholds(mut self, counts: impl IntoIterator<Item = u32>) -> Self {
        self.watch.thresholds = counts.into_iter().collect();
        self
    }

    /// The monitor, its socket open, no server watched yet.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a zero timeout or interval; [`Error::Io`] when no
    /// socket can be opened or bound.
    pub fn build(self) -> Result<Monitor<D>> {
        let watch = self.watchlist()?;
        Ok(Monitor {
            socket: SharedSocket::open(&self.options)?,
            watch,
            prefer: self.options.prefer,
            bind: self.options.bind,
        })
    }

    /// The monitor for async code ([`tokio::Monitor`](crate::tokio::Monitor)), on the
    /// tokio runtime this is called from (feature `tokio`).
    ///
    /// # Errors
    /// As `build`; [`Error::Runtime`] outside a runtime with IO and
    /// time enabled.
    #[cfg(feature = "tokio")]
    pub fn build_async(self) -> Result<crate::tokio::Monitor<D>> {
        let watch = self.watchlist()?;
        crate::tokio::Monitor::open(watch, &self.options)
    }

    /// The watchlist of these options, checked.
    fn watchlist(&self) -> Result<Watchlist<D>> {
        if self.options.endpoint.exchange.timeout.is_zero() {
            return Err(Error::InvalidInput(net::ZERO_TIMEOUT));
        }
        if self.watch.every.is_zero() {
            return Err(Error::InvalidInput("a zero interval would poll without end; give one, e.g. 30 s"));
        }
        let mut watch = self.watch.clone();
        watch.endpoint = self.options.endpoint;
        watch.seed = RandomState::new().hash_one(Instant::now());
        Ok(Watchlist::new(watch, self.options.decoder))
    }
}

/// Many servers watched from one thread: each polled on a schedule, its state kept (up
/// or down, debounced, with the reason of each failure) and what changes told as
/// [`Event`]s: up, down, map changed, players joined, ...
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{Change, Monitor};
/// # let mut info = a2s_query::SourceInfo::default();
/// # info.map_name = "de_dust2".into();
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
///
/// let mut monitor = Monitor::builder().every(Duration::from_secs(30)).build()?;
/// monitor.add(addr)?;
/// let event = monitor.next_event().expect("a server is watched");
/// match &event.change {
///     Change::Up { info } => println!("{} is up, on {}", event.addr, info.map_name()),
///     Change::Down { reason, error } => println!("{} is down ({reason}): {error}", event.addr),
///     other => println!("{}: {other:?}", event.addr),
/// }
/// assert!(matches!(event.change, Change::Up { .. }));
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// [`Monitor::next_event`] blocks until something changes (the monitor works only while
/// it runs); [`Monitor::next_event_before`] returns at a deadline too, for a loop that
/// does other work between polls (adding and removing servers, publishing
/// [`Monitor::statuses`]). What each server's state means, which events come and what a
/// server costs in memory: see [`Watchlist`], the I/O-free core this drives.
///
/// One UDP socket sends to every server (IPv4 and IPv6 alike, as the
/// [`Batch`](crate::Batch)'s); the window and the send rate bound the work at once, and
/// `host_rate` the queries to one IP address.
#[derive(Debug)]
pub struct Monitor<D: TextDecoder = Encoding> {
    watch: Watchlist<D>,
    socket: SharedSocket,
    prefer: IpVersion,
    bind: Option<SocketAddr>,
}

impl Monitor<Encoding> {
    /// Options for a monitor, starting from the defaults.
    pub fn builder() -> Builder<Monitor> {
        Builder::default()
    }
}

impl<D: TextDecoder> Monitor<D> {
    /// Watches the server at `addr` (a name is resolved now, once), its first poll at
    /// once. The address watched, as events and statuses name it.
    ///
    /// # Errors
    /// [`Error::Resolve`] or [`Error::Address`] when `addr` names no address.
    pub fn add<A: ToSocketAddrs + Debug>(&mut self, addr: A) -> Result<SocketAddr> {
        let addrs = addr.to_socket_addrs().map_err(|e| net::resolve_error(&addr, e))?;
        let addr = net::pick(addrs, self.prefer, self.bind)?;
        self.watch.add(addr, Instant::now());
        Ok(addr)
    }

    watched_servers!();

    /// The socket's local address.
    ///
    /// # Errors
    /// [`Error::Io`] when the operating system cannot say.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket.udp.socket.local_addr()?)
    }

    /// Polls until something changes on a server, and tells it; `None` when no server
    /// is watched.
    pub fn next_event(&mut self) -> Option<Event<D::Text>> {
        loop {
            if self.watch.is_empty() {
                return self.watch.poll_event();
            }
            let deadline = Instant::now() + LONGEST_WAIT;
            if let Some(event) = self.next_event_before(deadline) {
                return Some(event);
            }
        }
    }

    /// Polls until something changes on a server or `deadline` passes. (An event
    /// already found is handed out even past the deadline: a loop that must stop at
    /// it checks the clock too.)
    pub fn next_event_before(&mut self, deadline: Instant) -> Option<Event<D::Text>> {
        loop {
            if let Some(event) = self.watch.poll_event() {
                return Some(event);
            }
            self.socket.turn(&mut self.watch);
            if let Some(event) = self.watch.poll_event() {
                return Some(event);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let wake = self.watch.poll_timeout().map_or(deadline, |wake| wake.min(deadline));
            if wake <= now {
                continue;
            }
            self.socket.wait(&mut self.watch, wake - now);
        }
    }

    /// The events as a blocking iterator ([`Monitor::next_event`] each); it ends when
    /// no server is watched.
    pub fn events(&mut self) -> Events<'_, D> {
        Events { monitor: self }
    }
}

/// The events of a [`Monitor`], blocking: see [`Monitor::events`].
#[derive(Debug)]
pub struct Events<'a, D: TextDecoder = Encoding> {
    monitor: &'a mut Monitor<D>,
}

impl<D: TextDecoder> Iterator for Events<'_, D> {
    type Item = Event<D::Text>;

    fn next(&mut self) -> Option<Self::Item> {
        self.monitor.next_event()
    }
}
