//! The async client's task: one per runtime a client is used from. It owns the
//! sockets and the timer and moves datagrams and time between them and the engine
//! ([`Endpoint`]); everything about servers is the engine's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ::tokio::net::UdpSocket;
use ::tokio::sync::{mpsc, oneshot};

use super::socket::{readable, wait_until, Socket};
use crate::encoding::{TextBuf, TextDecoder};
use crate::error::Result;
use crate::net::{self, RECV_BUFFER};
use crate::proto::{AnyAnswer, AnyQuery, Endpoint, EndpointConfig, IdMap, Kind, QueryId};
use crate::Recording;

pub(super) const NO_IO: &str =
    "the tokio runtime has no IO driver: build it with enable_all() (or enable_io() and enable_time())";
pub(super) const NO_TIMERS: &str =
    "the tokio runtime has no timers: build it with enable_all() (or enable_time() and enable_io())";
/// What the current runtime lacks of what a driver needs, if anything: its time
/// driver, its IO driver. (tokio panics on a timer or a socket without them, and has
/// no way to ask: a probe of each is tried, once per runtime a client is used from; a
/// probe that panics prints tokio's message, and under `panic = "abort"` aborts.)
pub(super) fn runtime_lacks() -> Option<&'static str> {
    if std::panic::catch_unwind(|| drop(::tokio::time::sleep(Duration::ZERO))).is_err() {
        return Some(NO_TIMERS);
    }
    // (A probe that cannot be opened says nothing: the real socket will tell.)
    let probe = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)).ok()?;
    probe.set_nonblocking(true).ok()?;
    let registered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| UdpSocket::from_std(probe).is_ok()));
    registered.is_err().then_some(NO_IO)
}

/// Where an answer goes.
#[derive(Debug)]
pub(super) enum Waiter<S: TextBuf> {
    /// One awaited query.
    One(oneshot::Sender<AnyAnswer<S>>),
    /// One address of a [`Many`], with its token and the address as given.
    Many { tx: mpsc::UnboundedSender<Answered<S>>, token: u64, addr: SocketAddr },
}

/// A [`Many`]'s query answered: its token, its address as given, the answer.
pub(super) type Answered<S> = (u64, SocketAddr, AnyAnswer<S>);

#[derive(Debug)]
pub(super) enum Command<S: TextBuf> {
    /// A query, timed from `from` (the call) or, without it, from its first send.
    Query {
        token: u64,
        addr: SocketAddr,
        kind: Kind,
        from: Option<Instant>,
        waiter: Waiter<S>,
    },
    Cancel {
        token: u64,
    },
}

/// The client's task on one runtime: its sockets, the engine, and who waits for what.
pub(super) struct Driver<D: TextDecoder> {
    endpoint: Endpoint<AnyQuery<D>, D>,
    bind: Option<SocketAddr>,
    /// The kernel receive buffer each socket asks for.
    recv_buffer: usize,
    v4: Option<Socket>,
    v6: Option<Socket>,
    /// The caller of each query the engine has, and each caller's query.
    waiters: IdMap<QueryId, (u64, Waiter<D::Text>)>,
    queries: IdMap<u64, QueryId>,
    buf: Vec<u8>,
    /// Where each datagram sent and received is noted, if anywhere.
    recording: Option<Recording>,
}

impl<D: TextDecoder> Driver<D>
where
    D::Text: Send,
{
    pub(super) fn new(
        config: EndpointConfig,
        decoder: D,
        bind: Option<SocketAddr>,
        recv_buffer: usize,
        recording: Option<Recording>,
    ) -> Self {
        Driver {
            recording,
            endpoint: Endpoint::new(config, decoder),
            bind,
            recv_buffer,
            v4: None,
            v6: None,
            waiters: IdMap::default(),
            queries: IdMap::default(),
            buf: vec![0; RECV_BUFFER],
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command<D::Text>>) {
        let mut open = true;
        // One timer for the driver, moved to each next wake (not one made per turn).
        let mut timer = std::pin::pin!(::tokio::time::sleep_until(::tokio::time::Instant::now()));
        loop {
            while open {
                match commands.try_recv() {
                    Ok(command) => self.command(command),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => open = false,
                }
            }
            let now = Instant::now();
            if self.endpoint.poll_timeout().is_some_and(|wake| wake <= now) {
                self.endpoint.handle_timeout(now);
            }
            self.transmit();
            self.deliver();
            if !open && self.waiters.is_empty() {
                return;
            }
            let wake = self.endpoint.poll_timeout();
            if wake.is_some_and(|w| w <= Instant::now()) {
                continue;
            }
            let command = ::tokio::select! {
                command = commands.recv(), if open => Some(command),
                () = readable(self.v4.as_ref()) => None,
                () = readable(self.v6.as_ref()) => None,
                () = wait_until(timer.as_mut(), wake) => None,
            };
            match command {
                Some(Some(command)) => self.command(command),
                Some(None) => open = false,
                None => {}
            }
        }
    }

    fn command(&mut self, command: Command<D::Text>) {
        match command {
            Command::Query { token, addr, kind, from, waiter } => {
                let id = match from {
                    Some(from) => self.endpoint.push_at(addr, kind, from),
                    None => self.endpoint.push_kind(addr, kind),
                };
                self.waiters.insert(id, (token, waiter));
                self.queries.insert(token, id);
            }
            Command::Cancel { token } => {
                if let Some(id) = self.queries.remove(&token) {
                    self.waiters.remove(&id);
                    self.endpoint.cancel(id, Instant::now());
                }
            }
        }
    }

    /// Gives each finished query's answer to its caller (a caller gone meanwhile is no
    /// one's loss).
    fn deliver(&mut self) {
        while let Some((id, _, answer)) = self.endpoint.poll_output() {
            let Some((token, waiter)) = self.waiters.remove(&id) else { continue };
            self.queries.remove(&token);
            match waiter {
                Waiter::One(tx) => {
                    let _ = tx.send(answer);
                }
                Waiter::Many { tx, token, addr } => {
                    let _ = tx.send((token, addr, answer));
                }
            }
        }
    }

    /// Sends every request due, each after handing the engine what is queued: nothing
    /// that came before a request went out may be read after it (it would look like
    /// its answer).
    fn transmit(&mut self) {
        loop {
            self.read_queued();
            let Some((to, request)) = self.endpoint.poll_transmit(Instant::now()) else { break };
            if let Err(e) = self.socket_for(to) {
                self.endpoint.handle_send_error(to, e, Instant::now());
                continue;
            }
            let socket = if to.is_ipv4() { self.v4.as_ref() } else { self.v6.as_ref() };
            let Some(socket) = socket else { continue };
            if let Err(e) = socket.send(&request, to, self.recording.as_ref(), &mut self.endpoint) {
                self.endpoint.handle_send_error(to, e, Instant::now());
            }
        }
    }

    /// The socket of `to`'s family, opened on first use.
    fn socket_for(&mut self, to: SocketAddr) -> Result<&Socket> {
        let (slot, bind) = match to {
            SocketAddr::V4(_) => (&mut self.v4, self.bind.filter(SocketAddr::is_ipv4)),
            SocketAddr::V6(_) => (&mut self.v6, self.bind.filter(SocketAddr::is_ipv6)),
        };
        if let Some(socket) = slot {
            return Ok(socket);
        }
        let (socket, _) = net::open_for(to, bind, self.recv_buffer)?;
        Ok(slot.insert(Socket::new(socket)?))
    }

    /// Hands every datagram queued on the sockets to the engine.
    fn read_queued(&mut self) {
        for socket in [self.v4.as_mut(), self.v6.as_mut()].into_iter().flatten() {
            socket.read_queued(&mut self.buf, self.recording.as_ref(), &mut self.endpoint);
        }
    }
}
