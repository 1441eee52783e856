//! Server lists from a UDP master server: a blocking driver of [`MasterWalk`] over one
//! socket. Valve's own master stopped answering in 2025; community masters of mods and
//! older engines still speak the protocol, so the caller names the master.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::net::{self, IpVersion};
use crate::proto::{Filter, MasterConfig, MasterWalk, Region};

/// The largest reply page read: the largest UDP payload, so a page of any size is read
/// whole (a master may send 1 400 addresses, 8 406 bytes, a page).
const PAGE_BUFFER: usize = 65_536;

/// A list query to one master server. Build it, then [`MasterQuery::walk`].
///
/// ```no_run
/// use a2s_query::{master::MasterQuery, proto::{Condition::*, Filter, Region}};
/// let walk = MasterQuery::new("master.example.net:27010")?
///     .region(Region::Europe)
///     .filter(Filter::from_iter([AppId(70), NotEmpty]))
///     .walk()?;
/// for addr in walk {
///     println!("{}", addr?);
/// }
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MasterQuery {
    master: SocketAddr,
    config: MasterConfig,
    filter: Filter,
}

impl MasterQuery {
    /// A query to the master at `master` (resolved now), every region, no filter, the
    /// default pacing (30 requests a minute at most) and bounds.
    ///
    /// # Errors
    /// [`Error::Address`] for an address written in a way that cannot work (no port, a
    /// port out of range, ...); [`Error::Resolve`] when it does not resolve.
    pub fn new<A: ToSocketAddrs + std::fmt::Debug>(master: A) -> Result<Self> {
        let addrs = master.to_socket_addrs().map_err(|e| net::resolve_error(&master, e))?;
        let master = net::pick(addrs, IpVersion::V4, None)?;
        Ok(MasterQuery { master, config: MasterConfig::default(), filter: Filter::new() })
    }

    /// The region to list. Default every region.
    pub fn region(mut self, region: Region) -> Self {
        self.config.region = region;
        self
    }

    /// The filter servers must match.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// How long to wait for a page before asking again (doubling each retry). Default 3 s.
    pub fn page_timeout(mut self, wait: Duration) -> Self {
        self.config.page_timeout = wait;
        self
    }

    /// Extra requests for a page that got no answer. Default 3.
    pub fn retries(mut self, retries: u8) -> Self {
        self.config.retries = retries;
        self
    }

    /// The least time between two requests. Default 2 s (30 a minute).
    pub fn pace(mut self, pace: Duration) -> Self {
        self.config.pace = pace;
        self
    }

    /// Bounds the whole walk. Default 5 minutes.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Starts the walk: one socket for all of it (a new source port would start the
    /// list again), pages asked for as the addresses are taken.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for a filter that cannot be written; [`Error::Io`] when
    /// the socket cannot be opened.
    pub fn walk(&self) -> Result<MasterList> {
        let mut config = self.config.clone();
        config.filter = self.filter.render()?;
        let socket = UdpSocket::bind(net::any_local(self.master))?;
        socket.connect(self.master)?;
        Ok(MasterList { socket, walk: MasterWalk::new(config, Instant::now()), buf: vec![0; PAGE_BUFFER], over: false })
    }
}

/// The addresses of a master's list, paged in lazily: `Ok` for each, then, if the walk
/// ended early, one `Err` saying how far it got.
#[derive(Debug)]
pub struct MasterList {
    socket: UdpSocket,
    walk: MasterWalk,
    buf: Vec<u8>,
    over: bool,
}

impl Iterator for MasterList {
    type Item = Result<SocketAddr>;

    fn next(&mut self) -> Option<Result<SocketAddr>> {
        loop {
            if let Some(addr) = self.walk.poll_address() {
                return Some(Ok(SocketAddr::V4(addr)));
            }
            if self.over {
                return None;
            }
            if let Some(outcome) = self.walk.poll_outcome() {
                self.over = true;
                return outcome.err().map(Err);
            }
            let now = Instant::now();
            if let Some(request) = self.walk.poll_transmit(now) {
                // A failed send is a lost page: the retries deal with it.
                let _ = self.socket.send(&request);
            }
            let Some(wake) = self.walk.poll_timeout() else { continue };
            let now = Instant::now();
            if wake <= now {
                self.walk.handle_timeout(now);
                continue;
            }
            if self.socket.set_read_timeout(Some(wake - now)).is_err() {
                std::thread::sleep(wake - now);
                continue;
            }
            match self.socket.recv(&mut self.buf) {
                Ok(n) => self.walk.handle_datagram(self.buf.get(..n).unwrap_or_default(), Instant::now()),
                Err(_) => self.walk.handle_timeout(Instant::now()),
            }
        }
    }
}
