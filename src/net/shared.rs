//! One unconnected socket for many servers, and the turn of a blocking driver over it:
//! what the [`Batch`](crate::Batch) and the [`Monitor`](crate::Monitor) share.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::{Udp, RECV_BUFFER};
use crate::encoding::TextDecoder;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::proto::{Endpoint, Job, Request, Watchlist};

/// The wait after a socket error with nothing else to do.
pub(crate) const IDLE_WAIT: Duration = Duration::from_millis(1);

/// What a blocking driver moves datagrams and time for: the engine, or what is built
/// on it.
pub(crate) trait Engine {
    fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant);
    fn handle_send_error(&mut self, to: SocketAddr, error: Error, now: Instant);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Request)>;
}

impl<J: Job<D>, D: TextDecoder> Engine for Endpoint<J, D> {
    fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) {
        Endpoint::handle_datagram(self, from, datagram, now);
    }
    fn handle_send_error(&mut self, to: SocketAddr, error: Error, now: Instant) {
        Endpoint::handle_send_error(self, to, error, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Request)> {
        Endpoint::poll_transmit(self, now)
    }
}

impl<D: TextDecoder> Engine for Watchlist<D> {
    fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) {
        Watchlist::handle_datagram(self, from, datagram, now);
    }
    fn handle_send_error(&mut self, to: SocketAddr, error: Error, now: Instant) {
        Watchlist::handle_send_error(self, to, error, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Watchlist::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Request)> {
        Watchlist::poll_transmit(self, now)
    }
}

/// One unconnected UDP socket sending to every server: an IPv6 socket taking IPv4 too
/// where the system has one (one blocking wait covers both families), else IPv4.
#[derive(Debug)]
pub(crate) struct SharedSocket {
    pub(crate) udp: Udp,
    /// Whether the socket is IPv6 (taking IPv4 at mapped addresses).
    dual: bool,
    /// The kernel receive buffer granted.
    pub(crate) recv_buffer: usize,
    buf: Vec<u8>,
    /// The socket failed at the last read: the next wait sleeps instead of spinning.
    failing: bool,
}

impl SharedSocket {
    /// Opens the socket as `options` say (their bind address and receive buffer).
    pub(crate) fn open<D>(options: &Options<D>) -> Result<Self> {
        let (socket, recv_buffer, dual) = open_shared(options)?;
        Ok(SharedSocket {
            udp: Udp::new(socket, options.recording.clone()),
            dual,
            recv_buffer,
            buf: vec![0; RECV_BUFFER],
            failing: false,
        })
    }

    /// One turn before a wait: hands `engine` what is queued on the socket (before any
    /// send: nothing that came before a request may be read after it, as its answer),
    /// moves its timers to now, and sends what is due.
    pub(crate) fn turn(&mut self, engine: &mut impl Engine) {
        self.failing = self.udp.read_queued(&mut self.buf, |heard| heard.hand_to(engine)).is_err();
        engine.handle_timeout(Instant::now());
        // Each send is stamped when it goes: the ping counts from there.
        while let Some((to, request)) = engine.poll_transmit(Instant::now()) {
            if let Err(e) = self.send(to, &request, engine) {
                engine.handle_send_error(to, e, Instant::now());
            }
        }
    }

    /// Waits at most `wait` for one datagram (or the OS's report of a closed port) and
    /// hands it to `engine`.
    pub(crate) fn wait(&mut self, engine: &mut impl Engine, wait: Duration) {
        if self.failing {
            // A socket that keeps failing: the deadlines end the work; no spinning.
            std::thread::sleep(IDLE_WAIT.min(wait));
            return;
        }
        match self.udp.recv_wait(&mut self.buf, wait) {
            Ok((n, from)) => engine.handle_datagram(from, self.buf.get(..n).unwrap_or_default(), Instant::now()),
            // The wait ran out.
            Err(e) if super::is_timeout(&e) => {}
            // An ICMP error: which server it concerns is told where the OS says it
            // (Linux: the reports behind the error); elsewhere the timers deal with it.
            Err(e) => {
                if super::read_failed(&self.udp.socket, &e, |heard| heard.hand_to(engine)) {
                    std::thread::sleep(IDLE_WAIT.min(wait));
                }
            }
        }
    }

    /// Sends one request; a transient failure (a full send queue) is taken as a loss.
    fn send(&mut self, to: SocketAddr, request: &[u8], engine: &mut impl Engine) -> Result<()> {
        let to = destination(to, self.dual)?;
        match super::send_to(&self.udp.socket, request, to, |heard| heard.hand_to(engine)) {
            Ok(_) => {
                self.udp.note_sent(to, request);
                Ok(())
            }
            // As if the datagram were lost on the way: the retries and timeout deal with it.
            Err(e) if super::is_transient(&e) => Ok(()),
            Err(e) => Err(Error::Io(e)),
        }
    }
}

/// Opens one socket for many servers as `options` say: bound where they say, else an
/// IPv6 socket taking IPv4 too, else IPv4; the receive buffer granted, and whether it
/// is IPv6 (taking IPv4 at mapped addresses). A closed port's report is turned on.
pub(crate) fn open_shared<D>(options: &Options<D>) -> Result<(UdpSocket, usize, bool)> {
    let any_v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);
    let any_v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let (socket, recv_buffer) = match options.bind {
        Some(local) => super::open(local, false, options.recv_buffer)?,
        None => match super::open(any_v6, true, options.recv_buffer) {
            Ok(opened) => opened,
            Err(_) => super::open(any_v4, false, options.recv_buffer)?,
        },
    };
    let dual = socket.local_addr()?.is_ipv6();
    // A closed port is told at once where the OS says which server it concerns.
    super::report_unreachable(&socket);
    Ok((socket, recv_buffer, dual))
}

/// Where a datagram to `to` goes from a shared socket: an IPv4 server at its
/// IPv4-mapped address from an IPv6 socket; an IPv6 server from an IPv4 socket is an
/// error saying why.
pub(crate) fn destination(to: SocketAddr, dual: bool) -> Result<SocketAddr> {
    match to {
        SocketAddr::V4(v4) if dual => Ok(SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())),
        SocketAddr::V6(_) if !dual => Err(Error::InvalidInput(
            "an IPv6 server, but the socket is IPv4 (bound so, or IPv6 is not available here); \
             leave the bind address out, or bind an IPv6 one",
        )),
        other => Ok(other),
    }
}
