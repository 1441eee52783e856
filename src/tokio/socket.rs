//! A UDP socket as the async drivers use it (the client's task and the monitor): read
//! through tokio and with a plain system call, sent to with the OS's reports of closed
//! ports handed on, waited for with the timer. What comes in goes to an engine.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use ::tokio::io::Interest;
use ::tokio::net::UdpSocket;

use crate::error::{Error, Result};
use crate::net::{self, Engine, IDLE_WAIT, READ_BATCH};
use crate::Recording;

/// One socket, as tokio's (to wait for it) and as a second handle on the same socket
/// (to read what is queued with a real system call: tokio's `try_recv_from` answers
/// from what its reactor last saw, and a datagram it has not seen yet would be read
/// only after the next request went out).
#[derive(Debug)]
pub(super) struct Socket {
    pub(super) tokio: UdpSocket,
    raw: std::net::UdpSocket,
    /// The last read failed with an error that is neither "nothing queued" nor a
    /// closed port's report: [`readable`] then sleeps instead of waiting on the socket,
    /// whose readiness such an error does not clear (no spinning on it).
    failing: bool,
}

impl Socket {
    /// Registers `socket` with the runtime, non-blocking, its closed-port reports on.
    pub(super) fn new(socket: std::net::UdpSocket) -> Result<Socket> {
        socket.set_nonblocking(true)?;
        // A closed port is told at once where the OS says which server it concerns.
        net::report_unreachable(&socket);
        let raw = socket.try_clone()?;
        let tokio = UdpSocket::from_std(socket)?;
        Ok(Socket { tokio, raw, failing: false })
    }

    pub(super) fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.raw.local_addr()?)
    }

    /// Sends one request; a transient failure (a full send queue) is taken as a loss
    /// (the retries and the timeout deal with it).
    pub(super) fn send(
        &self,
        request: &[u8],
        to: SocketAddr,
        recording: Option<&Recording>,
        engine: &mut impl Engine,
    ) -> Result<()> {
        match net::send_to(&self.raw, request, to, |heard| heard.hand_to(engine)) {
            Ok(_) => {
                if let Some(recording) = recording {
                    recording.note(to, true, request);
                }
                Ok(())
            }
            Err(e) if net::is_transient(&e) => Ok(()),
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// Hands `engine` every datagram queued, and the OS's reports of closed ports. An
    /// error of another kind ends the reading and marks the socket failing, until a
    /// reading meets no such error (the deadlines end the queries meanwhile).
    pub(super) fn read_queued(&mut self, buf: &mut [u8], recording: Option<&Recording>, engine: &mut impl Engine) {
        self.failing = false;
        // First through tokio, which clears its readiness once the socket is empty
        // (never losing a datagram that arrives meanwhile); then with a plain system
        // call, for datagrams its reactor has not seen yet (they wake it later: a
        // spurious wake at most).
        'passes: for through_tokio in [true, false] {
            for _ in 0..READ_BATCH {
                let read = if through_tokio {
                    self.tokio.try_io(Interest::READABLE, || self.raw.recv_from(buf))
                } else {
                    self.raw.recv_from(buf)
                };
                match read {
                    Ok((n, from)) => {
                        let datagram = buf.get(..n).unwrap_or_default();
                        if let Some(recording) = recording {
                            recording.note(from, false, datagram);
                        }
                        engine.handle_datagram(from, datagram, Instant::now());
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // An ICMP error: which server it concerns is told where the OS says
                    // it (Linux: the reports behind the error); elsewhere the timers
                    // deal with it.
                    Err(e) => {
                        if net::read_failed(&self.raw, &e, |heard| heard.hand_to(engine)) {
                            self.failing = true;
                            break 'passes;
                        }
                    }
                }
            }
        }
        // The reports the reactor saw (which wake the task: see `readable`), its
        // readiness cleared with them.
        if cfg!(target_os = "linux") {
            let _ = self.tokio.try_io(Interest::ERROR, || {
                net::take_unreachable(&self.raw, |heard| heard.hand_to(engine));
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    }
}

/// Until the socket has a datagram, or (Linux) an ICMP report queued; a failing
/// socket is tried again after a short sleep.
pub(super) async fn readable(socket: Option<&Socket>) {
    let interest = if cfg!(target_os = "linux") { Interest::READABLE | Interest::ERROR } else { Interest::READABLE };
    match socket {
        Some(socket) if socket.failing => ::tokio::time::sleep(IDLE_WAIT).await,
        Some(socket) => {
            let _ = socket.tokio.ready(interest).await;
        }
        None => std::future::pending().await,
    }
}

pub(super) async fn wait_until(mut timer: std::pin::Pin<&mut ::tokio::time::Sleep>, wake: Option<Instant>) {
    match wake {
        Some(at) => {
            if timer.deadline() != at.into() {
                timer.as_mut().reset(at.into());
            }
            timer.await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::proto::{Endpoint, EndpointConfig, Exchange, Info};
    use crate::Encoding;

    /// A socket whose reads fail with an error that is neither "nothing queued" nor a
    /// closed port's report (here a TCP socket not connected: `ENOTCONN`): marked
    /// failing, so the drivers sleep instead of spinning on it, and no longer once a
    /// reading meets no such error (connected, it finds nothing queued).
    #[test]
    fn a_socket_that_keeps_failing_is_slept_on_not_spun_on() {
        let runtime = ::tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let tcp = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            let raw = std::net::UdpSocket::from(std::os::fd::OwnedFd::from(tcp.try_clone().unwrap()));
            let mut socket = Socket::new(raw).unwrap();
            let mut engine: Endpoint<Exchange<Info, Encoding>> =
                Endpoint::new(EndpointConfig::default(), Encoding::Utf8);
            let mut buf = vec![0; 64];

            socket.read_queued(&mut buf, None, &mut engine);
            assert!(socket.failing);
            assert_eq!(engine.unmatched(), 0);
            // The wait is a sleep, not the socket's readiness (which, for this socket,
            // is there at once): it ends, and not before the sleep's time (tokio's
            // sleeps never end early).
            let started = Instant::now();
            ::tokio::time::timeout(Duration::from_secs(30), readable(Some(&socket))).await.unwrap();
            assert!(started.elapsed() >= IDLE_WAIT);

            // Connected, the same socket reads "nothing queued": not failing.
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            // (The socket's mode is shared with the driver's handles: blocking for the
            // connect only.)
            tcp.set_nonblocking(false).unwrap();
            tcp.connect(&listener.local_addr().unwrap().into()).unwrap();
            tcp.set_nonblocking(true).unwrap();
            socket.read_queued(&mut buf, None, &mut engine);
            assert!(!socket.failing);
            assert_eq!(engine.unmatched(), 0);
        });
    }
}
