//! The monitor from async code: the [`Watchlist`] driven over tokio's socket and timer,
//! its events as a `Stream`.

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ::tokio::net::ToSocketAddrs;

use super::driver::runtime_lacks;
use super::socket::{readable, wait_until, Socket};
use super::NO_RUNTIME;
use crate::encoding::{Encoding, TextDecoder};
use crate::error::{Error, Result};
use crate::net::{self, IpVersion, RECV_BUFFER};
use crate::proto::{Event, Status, Watchlist};
use crate::Recording;

/// Many servers watched from async code: the blocking [`Monitor`](crate::Monitor)'s
/// schedule, states and events, over tokio's socket and timer. Build it with
/// [`Builder::build_async`](crate::Builder::build_async) inside a
/// runtime; [`Monitor::next_event`] waits for the next change (cancel safe: a dropped
/// wait loses nothing), and [`Monitor::events`] is the same as a `Stream`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> a2s_query::Result<()> {
/// use std::time::Duration;
/// use a2s_query::{Change, Monitor};
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(Default::default()), vec![], vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
///
/// let mut monitor = Monitor::builder().every(Duration::from_secs(30)).build_async()?;
/// monitor.add(addr).await?;
/// let event = monitor.next_event().await.expect("a server is watched");
/// assert!(matches!(event.change, Change::Up { .. }));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Monitor<D: TextDecoder = Encoding> {
    watch: Watchlist<D>,
    socket: Socket,
    /// Whether the socket is IPv6 (taking IPv4 at mapped addresses).
    dual: bool,
    prefer: IpVersion,
    bind: Option<SocketAddr>,
    buf: Vec<u8>,
    recording: Option<Recording>,
    timer: Pin<Box<::tokio::time::Sleep>>,
}

impl<D: TextDecoder> Monitor<D> {
    /// The monitor of `watch`, its socket opened as `options` say, on the current
    /// runtime.
    pub(crate) fn open(watch: Watchlist<D>, options: &crate::options::Options<D>) -> Result<Monitor<D>> {
        ::tokio::runtime::Handle::try_current().map_err(|_| Error::Runtime(NO_RUNTIME))?;
        if let Some(missing) = runtime_lacks() {
            return Err(Error::Runtime(missing));
        }
        let (socket, _, dual) = net::open_shared(options)?;
        Ok(Monitor {
            watch,
            socket: Socket::new(socket)?,
            dual,
            prefer: options.prefer,
            bind: options.bind,
            buf: vec![0; RECV_BUFFER],
            recording: options.recording.clone(),
            timer: Box::pin(::tokio::time::sleep_until(::tokio::time::Instant::now())),
        })
    }

    /// Watches the server at `addr` (a name is resolved now, by tokio), its first poll
    /// at once. The address watched, as events and statuses name it.
    ///
    /// # Errors
    /// [`Error::Resolve`] or [`Error::Address`] when `addr` names no address.
    pub async fn add<A: ToSocketAddrs + Debug>(&mut self, addr: A) -> Result<SocketAddr> {
        let addrs = ::tokio::net::lookup_host(&addr).await.map_err(|e| net::resolve_error(&addr, e))?;
        let addr = net::pick(addrs, self.prefer, self.bind)?;
        self.watch.add(addr, Instant::now());
        Ok(addr)
    }

    crate::monitor::watched_servers!();

    /// The socket's local address.
    ///
    /// # Errors
    /// [`Error::Io`] when the operating system cannot say.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Polls until something changes on a server, and tells it; `None` when no server
    /// is watched. Cancel safe: dropped at its await, nothing is lost (the polls go on
    /// at the next call).
    pub async fn next_event(&mut self) -> Option<Event<D::Text>> {
        loop {
            if let Some(event) = self.watch.poll_event() {
                return Some(event);
            }
            if self.watch.is_empty() {
                return None;
            }
            self.turn();
            if let Some(event) = self.watch.poll_event() {
                return Some(event);
            }
            let wake = self.watch.poll_timeout();
            if wake.is_some_and(|w| w <= Instant::now()) {
                continue;
            }
            ::tokio::select! {
                () = readable(Some(&self.socket)) => {}
                () = wait_until(self.timer.as_mut(), wake) => {}
            }
        }
    }

    /// The events as a `Stream` ([`Monitor::next_event`] each); it ends when no server
    /// is watched.
    pub fn events(&mut self) -> Events<'_, D> {
        Events { state: State::Idle(self) }
    }

    /// Hands the watchlist what is queued, moves its timers, and sends what is due,
    /// reading again before each send (nothing that came before a request may be read
    /// after it, as its answer).
    fn turn(&mut self) {
        self.socket.read_queued(&mut self.buf, self.recording.as_ref(), &mut self.watch);
        self.watch.handle_timeout(Instant::now());
        while let Some((to, request)) = self.watch.poll_transmit(Instant::now()) {
            let sent = net::destination(to, self.dual)
                .and_then(|dest| self.socket.send(&request, dest, self.recording.as_ref(), &mut self.watch));
            if let Err(e) = sent {
                self.watch.handle_send_error(to, e, Instant::now());
            }
            self.socket.read_queued(&mut self.buf, self.recording.as_ref(), &mut self.watch);
        }
    }
}

/// The events of a [`Monitor`] as a `Stream` ([`futures_core::Stream`]): see
/// [`Monitor::events`].
pub struct Events<'a, D: TextDecoder = Encoding> {
    state: State<'a, D>,
}

/// A wait under way, which hands the monitor back with its event.
type Waiting<'a, D> =
    Pin<Box<dyn Future<Output = (&'a mut Monitor<D>, Option<Event<<D as TextDecoder>::Text>>)> + Send + 'a>>;

enum State<'a, D: TextDecoder> {
    Idle(&'a mut Monitor<D>),
    Waiting(Waiting<'a, D>),
    Over,
}

impl<D: TextDecoder> Debug for Events<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl<'a, D: TextDecoder + Send + 'a> futures_core::Stream for Events<'a, D>
where
    D::Text: Send,
{
    type Item = Event<D::Text>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match std::mem::replace(&mut self.state, State::Over) {
                State::Idle(monitor) => {
                    self.state = State::Waiting(Box::pin(async move {
                        let event = monitor.next_event().await;
                        (monitor, event)
                    }));
                }
                State::Waiting(mut waiting) => match waiting.as_mut().poll(cx) {
                    Poll::Ready((monitor, event)) => {
                        if event.is_some() {
                            self.state = State::Idle(monitor);
                        }
                        return Poll::Ready(event);
                    }
                    Poll::Pending => {
                        self.state = State::Waiting(waiting);
                        return Poll::Pending;
                    }
                },
                State::Over => return Poll::Ready(None),
            }
        }
    }
}
