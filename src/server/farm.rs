//! Many simulated servers on one thread: a farm of [`Responder`]s, each on its own
//! socket (its own address and port), for testing and benchmarking many-server
//! clients on loopback.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::running::{self, Background, Served};
use super::{Responder, Running};
use crate::error::{Error, Result};

/// The serving thread's first sleep when no socket had anything; it doubles while
/// nothing comes, up to [`MAX_IDLE_SLEEP`].
const MIN_IDLE_SLEEP: Duration = Duration::from_micros(50);
/// Its longest sleep: the most latency an idle farm adds to a first request.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(2);
/// Attempts at finding a port free on every address of a farm.
const PORT_ATTEMPTS: usize = 8;
/// Requests read from one server's socket in a sweep of the farm, at most.
const SWEEP_BURST: usize = 64;
/// Replies held back by the delay, at most (past it, a reply is lost).
const MAX_HELD: usize = 1 << 20;

/// How a simulated server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fault {
    /// Answers every request.
    #[default]
    None,
    /// Never answers (a server that is down, or drops queries).
    Silent,
    /// Loses its first `n` replies (every datagram of each), then answers: a lossy
    /// link that a retry gets through.
    LoseFirst(u32),
}

/// One simulated server: its responder and its fault.
#[derive(Debug)]
struct Simulated {
    socket: UdpSocket,
    responder: Responder,
    fault: Fault,
    lost: u32,
}

/// Thousands of simulated servers served from one thread: each [`Responder`] on its own
/// UDP socket, every socket polled in turn, replies held back by a delay (a simulated
/// network latency: these are loopback sockets) or lost as each server's [`Fault`]
/// says.
///
/// ```
/// use std::time::Duration;
/// use a2s_query::server::{Farm, Fault, Responder};
/// use a2s_query::{Info, SourceInfo};
///
/// let farm = Farm::new()
///     .delay(Duration::from_millis(10))
///     .spawn_loopback(3, |i| {
///         let mut info = SourceInfo::default();
///         info.server_name = format!("server {i}");
///         (Responder::new(Info::Source(info), vec![], vec![]), if i == 2 { Fault::Silent } else { Fault::None })
///     })?;
/// let addrs = farm.addrs().to_vec();
/// let info = a2s_query::info(addrs[1], Duration::from_secs(2), Default::default())?;
/// assert_eq!(info.server_name(), "server 1");
/// assert!(a2s_query::info(addrs[2], Duration::from_millis(100), Default::default()).unwrap_err().is_timeout());
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Farm {
    servers: Vec<Simulated>,
    delay: Duration,
}

impl Farm {
    /// A farm with no server and no delay.
    pub fn new() -> Self {
        Farm::default()
    }

    /// Holds every reply this long before sending it: a simulated one-way latency
    /// (a query with its challenge then takes two of these round trips). Default 0.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Adds a server bound at `addr` (port 0 picks a free one).
    ///
    /// # Errors
    /// [`Error::Io`] when the address cannot be bound.
    pub fn add(mut self, addr: SocketAddr, responder: Responder, fault: Fault) -> Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        self.push(socket, responder, fault)?;
        Ok(self)
    }

    fn push(&mut self, socket: UdpSocket, responder: Responder, fault: Fault) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        self.servers.push(Simulated { socket, responder, fault, lost: 0 });
        Ok(())
    }

    /// Adds `count` servers on one port of as many loopback addresses
    /// (127.0.0.1, 127.0.0.2, ...: Linux answers on all of 127.0.0.0/8; on other
    /// systems use [`Farm::add`] with ports of 127.0.0.1), server `i` made by
    /// `make(i)`, then serves them all ([`Farm::spawn`]).
    ///
    /// # Errors
    /// [`Error::Io`] when the addresses cannot be bound (too many open files: raise
    /// `ulimit -n`), or no port is free on all of them; [`Error::InvalidInput`] for a
    /// farm left with no server (`count` 0, none added).
    pub fn spawn_loopback(
        mut self,
        count: usize,
        mut make: impl FnMut(usize) -> (Responder, Fault),
    ) -> Result<Running<Farm>> {
        let sockets = bind_spread(count)?;
        for (i, socket) in sockets.into_iter().enumerate() {
            let (responder, fault) = make(i);
            self.push(socket, responder, fault)?;
        }
        self.spawn()
    }

    /// Serves every server added, in one new thread, until the handle is dropped.
    ///
    /// # Errors
    /// [`Error::Io`] when an address cannot be read back; [`Error::InvalidInput`] for a
    /// farm with no server.
    pub fn spawn(self) -> Result<Running<Farm>> {
        let addrs = self.servers.iter().map(|s| s.socket.local_addr()).collect::<io::Result<Vec<_>>>()?;
        let requests = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&requests);
        let Some(&first) = addrs.first() else {
            return Err(Error::InvalidInput("a farm with no server: add one before spawning"));
        };
        let serving = Background::spawn(move |stop| self.serve(stop, &count));
        Ok(Running::new(first, (addrs, requests), serving))
    }

    fn serve(mut self, stop: &AtomicBool, requests: &AtomicU64) {
        let mut buf = vec![0; 2048];
        // Replies held back by the delay, due in order (the delay is the same for all).
        let mut held: VecDeque<(Instant, usize, SocketAddr, Vec<u8>)> = VecDeque::new();
        let mut idle = MIN_IDLE_SLEEP;
        while !stop.load(Ordering::Relaxed) {
            let mut busy = false;
            for (i, server) in self.servers.iter_mut().enumerate() {
                // (A burst a sweep per server: a flooded one holds up neither the other
                // servers nor the replies due.)
                for _ in 0..SWEEP_BURST {
                    let Ok((n, from)) = server.socket.recv_from(&mut buf) else { break };
                    busy = true;
                    requests.fetch_add(1, Ordering::Relaxed);
                    let replies = server.answer(buf.get(..n).unwrap_or_default(), from);
                    for reply in replies {
                        if self.delay.is_zero() {
                            let _ = server.socket.send_to(&reply, from);
                        } else if held.len() < MAX_HELD {
                            // (Past the cap a reply is lost, as a full network queue
                            // loses it.)
                            held.push_back((crate::proto::later(Instant::now(), self.delay), i, from, reply));
                        }
                    }
                }
            }
            let now = Instant::now();
            while let Some((due, i, to, reply)) = held.pop_front() {
                if due > now {
                    held.push_front((due, i, to, reply));
                    break;
                }
                if let Some(server) = self.servers.get(i) {
                    let _ = server.socket.send_to(&reply, to);
                }
                busy = true;
            }
            // Idle: sleep, longer the longer nothing comes (a sweep of every socket
            // costs about a microsecond each), but never past a held reply's time.
            idle = if busy { MIN_IDLE_SLEEP } else { (idle * 2).min(MAX_IDLE_SLEEP) };
            if !busy {
                let next = held.front().map_or(idle, |h| h.0.saturating_duration_since(now));
                std::thread::sleep(next.min(idle));
            }
        }
    }
}

impl Simulated {
    /// The datagrams answering one request, after the fault.
    fn answer(&mut self, request: &[u8], from: SocketAddr) -> Vec<Vec<u8>> {
        let replies = self.responder.respond(request, from).unwrap_or_default();
        match self.fault {
            Fault::None => replies,
            Fault::Silent => Vec::new(),
            Fault::LoseFirst(n) if self.lost < n && !replies.is_empty() => {
                self.lost += 1;
                Vec::new()
            }
            Fault::LoseFirst(_) => replies,
        }
    }
}

/// `count` sockets on one port of 127.0.0.1, 127.0.0.2, ...
fn bind_spread(count: usize) -> Result<Vec<UdpSocket>> {
    let mut last = None;
    for _ in 0..PORT_ATTEMPTS {
        let Some(first) = count.checked_sub(1).map(|_| UdpSocket::bind(loopback_v4(0, 0))) else {
            return Ok(Vec::new());
        };
        let first = first?;
        let port = first.local_addr()?.port();
        let mut sockets = vec![first];
        let rest = (1..count).map(|i| UdpSocket::bind(loopback_v4(i, port)));
        match rest.collect::<io::Result<Vec<_>>>() {
            Ok(more) => {
                sockets.extend(more);
                return Ok(sockets);
            }
            // The port is taken on one of them: try another.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Err(Error::Io(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse))))
}

/// The `i`-th loopback address of a farm, from 127.0.0.1.
pub(crate) fn loopback_v4(i: usize, port: u16) -> SocketAddr {
    let n = (i as u32).wrapping_add(1) & 0x00FF_FFFF;
    let [_, a, b, c] = n.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, a, b, c)), port)
}

/// What a farm's handle reads: every server's address, the requests counted.
impl Served for Farm {
    type Seen = (Vec<SocketAddr>, Arc<AtomicU64>);
}
impl running::sealed::Sealed for Farm {}

impl Running<Farm> {
    /// Every server's address, in the order added.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.seen.0
    }

    /// Requests received so far, by all servers (answered or not).
    pub fn requests(&self) -> u64 {
        self.seen.1.load(Ordering::Relaxed)
    }
}
