//! The same queries from async code (feature `tokio`): `info`, `players` and `rules` as
//! async functions, and a [`Client`] that every task shares. No protocol lives here:
//! the engine ([`Endpoint`](crate::proto::Endpoint)) that runs the blocking
//! [`Client`](crate::Client) and [`Batch`](crate::Batch) runs these queries too, driven
//! by one task per runtime (its `driver` module) over tokio's UDP socket and timer. No
//! thread per query, no blocking call on the runtime. [`Monitor`] watches many servers
//! over time as the blocking [`Monitor`](crate::Monitor) does, its events a `Stream`.
//!
//! ```no_run
//! use std::time::Duration;
//! use a2s_query::tokio::Client;
//!
//! # async fn run() -> a2s_query::Result<()> {
//! // One client for the whole program: clone it into every task.
//! let client = Client::builder().timeout(Duration::from_secs(2)).build();
//! let (info, players) = tokio::join!(client.info("203.0.113.7:27015"), client.players("203.0.113.7:27015"));
//! println!("{} with {} players", info?.server_name(), players?.len());
//!
//! // One call, python-a2s's `ainfo`:
//! let info = a2s_query::tokio::info("203.0.113.8:27015", Duration::from_secs(3), Default::default()).await?;
//! # Ok(()) }
//! ```
//!
//! **Cancel safety.** Every future here may be dropped at any await point (a
//! `tokio::time::timeout` around it, a losing `select!` branch): its query is dropped
//! from the client, the client's other queries go on untouched, and no reply the
//! dropped query drew ever answers a later one (its server drains what it owes first;
//! see [`Endpoint`](crate::proto::Endpoint)).
//!
//! **Runtimes.** A client runs its work in a task on the runtime of the query that
//! asks (one task per runtime it is used from, each with its own sockets), so a query
//! answers or fails within its timeout on any runtime, whatever the others do. The
//! runtime needs IO and time enabled (as `#[tokio::main]` does): without them, or
//! outside a runtime, a query fails at once with [`Error::Runtime`].

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::tokio::net::{lookup_host, ToSocketAddrs};
use ::tokio::runtime::{Handle, Id};
use ::tokio::sync::{mpsc, oneshot};

use crate::encoding::{Encoding, TextBuf, TextDecoder};
use crate::error::{Error, Result};
use crate::net::{self, ZERO_TIMEOUT};
use crate::options::{constructors, prefer_option, Options};
use crate::proto::{Answers, AnyAnswer, ArmaRules, Asked, IdMap, Info, Kind, Players, Rules};
use crate::Builder;
use driver::{runtime_lacks, Answered, Command, Driver, Waiter};

mod driver;
mod monitor;
mod socket;

pub use monitor::{Events, Monitor};

/// Asks the server at `addr` for its info, from async code. As [`crate::info`]; the
/// name is resolved without blocking, within the timeout.
///
/// # Errors
/// As [`Client::info`].
pub async fn info<A: ToSocketAddrs + std::fmt::Debug>(addr: A, timeout: Duration, encoding: Encoding) -> Result<Info> {
    one_use(timeout, encoding).info(addr).await
}

/// Asks the server at `addr` who is playing, from async code. As [`crate::players`].
///
/// # Errors
/// As [`Client::players`].
pub async fn players<A: ToSocketAddrs + std::fmt::Debug>(
    addr: A,
    timeout: Duration,
    encoding: Encoding,
) -> Result<Players> {
    one_use(timeout, encoding).players(addr).await
}

/// Asks the server at `addr` for its rules, from async code. As [`crate::rules`].
///
/// # Errors
/// As [`Client::rules`].
pub async fn rules<A: ToSocketAddrs + std::fmt::Debug>(
    addr: A,
    timeout: Duration,
    encoding: Encoding,
) -> Result<Rules> {
    one_use(timeout, encoding).rules(addr).await
}

fn one_use(timeout: Duration, encoding: Encoding) -> Client {
    Client::builder().timeout(timeout).encoding(encoding).build()
}

/// An async [`Client`]'s own options: the family a name resolving to both is asked
/// over (its pacing of many servers at once and its sockets' receive buffer are set
/// as every paced driver's are, a [`Batch`](crate::Batch)'s too).
impl<D: TextDecoder> Builder<Client, D> {
    prefer_option!();

    /// The client. No socket is opened and no task started until the first query.
    pub fn build(self) -> Client<D> {
        Client {
            shared: Arc::new(Shared {
                options: self.options,
                drivers: Mutex::new(HashMap::new()),
                next_token: AtomicU64::new(0),
            }),
        }
    }
}

/// An async A2S client, shared by every task: `Send + Sync`, cheap to clone (clones
/// share everything), its methods take `&self`. Any number of queries may be under
/// way at once, to any servers, over one socket per address family; each reply goes to
/// the query of its server, and a server's challenge is remembered for the next query.
///
/// Queries to one server run one after another, as replies carry no id to tell two
/// apart: two identical queries to one server at once (the same kind, say two
/// `info`) are **joined**, the second getting the first's answer (which may have left
/// the server before the second was asked, or be a timeout that comes early for it);
/// different kinds wait their turn (each takes one round trip once the challenge is
/// known). The timeout bounds each whole query, from the call, as in the blocking
/// client: a query that waited its turn, for room in the window or for its server to
/// drain has that much less time (a drain holds it for half its time at most). A
/// closed port whose host answers ICMP "port unreachable" ends as [`Error::Io`] of kind
/// `ConnectionRefused` in about a round trip on Linux (the socket is not connected:
/// elsewhere it costs the timeout).
///
/// ```
/// use std::time::Duration;
/// use a2s_query::tokio::Client;
/// # let servers = ["one", "two"].map(|name| {
/// #     let mut local = a2s_query::SourceInfo::default();
/// #     local.server_name = name.into();
/// #     a2s_query::server::Responder::new(a2s_query::Info::Source(local), vec![], vec![]).spawn("127.0.0.1:0").unwrap()
/// # });
/// # let addrs = servers.each_ref().map(|s| s.local_addr());
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let client = Client::builder().timeout(Duration::from_secs(2)).retries(1).build();
/// let mut tasks = tokio::task::JoinSet::new();
/// // addrs: ["203.0.113.7:27015", "203.0.113.8:27015"], say (local servers here).
/// for addr in addrs {
///     let client = client.clone();
///     tasks.spawn(async move { (addr, client.info(addr).await) });
/// }
/// let mut answered = 0;
/// while let Some(Ok((addr, info))) = tasks.join_next().await {
///     match info {
///         Ok(info) => { answered += 1; println!("{addr}: {} ({} players)", info.server_name(), info.player_count()) }
///         Err(e) => println!("{addr}: {e}"),
///     }
/// }
/// assert_eq!(answered, 2);
/// # });
/// ```
///
/// The client's work runs in a task on the runtime of the query that asks: one per
/// runtime it is used from (each with its own sockets and its own memory of servers),
/// ending once every clone is dropped and nothing is under way. The runtime needs IO
/// and time enabled (as `#[tokio::main]` does).
#[derive(Debug)]
pub struct Client<D: TextDecoder = Encoding> {
    shared: Arc<Shared<D>>,
}

impl<D: TextDecoder> Clone for Client<D> {
    fn clone(&self) -> Self {
        Client { shared: Arc::clone(&self.shared) }
    }
}

#[derive(Debug)]
struct Shared<D: TextDecoder> {
    options: Options<D>,
    /// The driver on each runtime the client is used from (or what that runtime
    /// lacks to run one).
    drivers: Mutex<HashMap<Id, Driving<D::Text>>>,
    next_token: AtomicU64,
}

constructors!(Client);

impl<D> Client<D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    /// Asks a server for its info. As [`crate::Client::info`]. Cancel safe.
    ///
    /// # Errors
    /// As [`crate::Client::info`]; [`Error::Resolve`] also when resolving the name takes
    /// longer than the timeout; [`Error::Runtime`] outside a tokio runtime, on one
    /// without IO or time, or when the runtime shut down under the query.
    pub async fn info<A: ToSocketAddrs + std::fmt::Debug>(&self, addr: A) -> Result<Info<D::Text>> {
        self.query(addr, Kind::Info).await.and_then(Asked::from_answer)
    }

    /// Asks a server who is playing. As [`crate::Client::players`]. Cancel safe.
    ///
    /// # Errors
    /// As [`Client::info`].
    pub async fn players<A: ToSocketAddrs + std::fmt::Debug>(&self, addr: A) -> Result<Players<D::Text>> {
        self.query(addr, Kind::Players).await.and_then(Asked::from_answer)
    }

    /// Asks a server for its rules. As [`crate::Client::rules`]. Cancel safe.
    ///
    /// # Errors
    /// As [`Client::info`].
    pub async fn rules<A: ToSocketAddrs + std::fmt::Debug>(&self, addr: A) -> Result<Rules<D::Text>> {
        self.query(addr, Kind::Rules).await.and_then(Asked::from_answer)
    }

    /// Asks an Arma 3 or DayZ server for its rules, decoded. As
    /// [`crate::Client::arma_rules`]. Cancel safe.
    ///
    /// # Errors
    /// As [`crate::Client::arma_rules`].
    pub async fn arma_rules<A: ToSocketAddrs + std::fmt::Debug>(&self, addr: A) -> Result<ArmaRules<D::Text>> {
        self.query(addr, Kind::ArmaRules).await.and_then(Asked::from_answer)
    }

    /// Asks for the info, the players and the rules, one after another, the challenge
    /// learned once; each part its own result and its own timeout, from its first send
    /// (a server answering only the info query takes three timeouts; one silent to the
    /// info query is not asked the others).
    ///
    /// # Errors
    /// A part that fails holds its error; a bad address or a zero timeout fails all three.
    pub async fn all<A: ToSocketAddrs + std::fmt::Debug>(&self, addr: A) -> Answers<D::Text> {
        match self.query(addr, Kind::All).await {
            Ok(answer) => Answers::from_answer(answer),
            Err(e) => Answers::from_answer(AnyAnswer::failed(Kind::All, e)),
        }
    }

    /// Asks every server of `addrs` for its info, paced by the client's window and
    /// rate: `(address, result)` from [`Many::next`] as each completes, every address
    /// exactly once. The iterator is read as the window frees: give one that does not
    /// block (a `Vec`, a range, a list already fetched).
    pub fn info_many<I>(&self, addrs: I) -> Many<Result<Info<D::Text>>, D>
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        Many::new(self.clone(), addrs, Kind::Info, Asked::from_answer)
    }

    /// Asks every server of `addrs` who is playing. See [`Client::info_many`].
    pub fn players_many<I>(&self, addrs: I) -> Many<Result<Players<D::Text>>, D>
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        Many::new(self.clone(), addrs, Kind::Players, Asked::from_answer)
    }

    /// Asks every server of `addrs` for its rules. See [`Client::info_many`].
    pub fn rules_many<I>(&self, addrs: I) -> Many<Result<Rules<D::Text>>, D>
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        Many::new(self.clone(), addrs, Kind::Rules, Asked::from_answer)
    }

    /// Asks every server of `addrs` for its rules as Arma 3 / DayZ encode them. See
    /// [`Client::info_many`].
    pub fn arma_rules_many<I>(&self, addrs: I) -> Many<Result<ArmaRules<D::Text>>, D>
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        Many::new(self.clone(), addrs, Kind::ArmaRules, Asked::from_answer)
    }

    /// Asks every server of `addrs` for its info, players and rules, one after another
    /// (one timeout each; a server silent to the first is not asked the others). See
    /// [`Client::info_many`].
    pub fn all_many<I>(&self, addrs: I) -> Many<Answers<D::Text>, D>
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        Many::new(self.clone(), addrs, Kind::All, Asked::from_answer)
    }

    async fn query<A: ToSocketAddrs + std::fmt::Debug>(&self, addr: A, kind: Kind) -> Result<AnyAnswer<D::Text>> {
        let options = &self.shared.options;
        let timeout = options.endpoint.exchange.timeout;
        if timeout.is_zero() {
            return Err(Error::InvalidInput(ZERO_TIMEOUT));
        }
        // The query's time counts from here: resolving, waiting for its turn, sending.
        let started = Instant::now();
        // (tokio's timer would panic outside a runtime: an error says it instead.)
        let inbox = self.inbox()?;
        // An address needs no resolving and no timer; a name gets the query's time.
        let mut lookup = std::pin::pin!(lookup_host(&addr));
        let ready = std::future::poll_fn(|cx| std::task::Poll::Ready(lookup.as_mut().poll(cx))).await;
        let resolved = match ready {
            std::task::Poll::Ready(resolved) => resolved,
            std::task::Poll::Pending => {
                ::tokio::time::timeout_at(crate::proto::later(started, timeout).into(), lookup).await.map_err(|_| {
                    Error::Resolve(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "resolving the name took longer than the timeout",
                    ))
                })?
            }
        };
        let target = net::pick(resolved.map_err(|e| net::resolve_error(&addr, e))?, options.prefer, options.bind)?;
        let (tx, rx) = oneshot::channel();
        let token = self.shared.next_token.fetch_add(1, Ordering::Relaxed);
        // (`all` runs three queries, each its own timeout from its first send, as in a
        // batch: no deadline from the call, which would end it mid-way.)
        let from = (kind != Kind::All).then_some(started);
        let query = Command::Query { token, addr: target, kind, from, waiter: Waiter::One(tx) };
        inbox.send(query).map_err(|_| driver_gone())?;
        // Dropped before the answer: the driver drops the query.
        let guard = CancelOnDrop { inbox: &inbox, token: Some(token) };
        let answer = rx.await.map_err(|_| driver_gone())?;
        guard.defuse();
        Ok(answer)
    }

    /// The inbox of the driver on the caller's runtime, started if none runs there.
    fn inbox(&self) -> Result<Inbox<D::Text>> {
        let runtime = Handle::try_current().map_err(|_| Error::Runtime(NO_RUNTIME))?;
        let mut drivers = self.shared.drivers.lock().unwrap_or_else(PoisonError::into_inner);
        match drivers.get(&runtime.id()) {
            Some(Ok(inbox)) if !inbox.is_closed() => return Ok(inbox.clone()),
            Some(Err(missing)) => return Err(Error::Runtime(missing)),
            _ => {}
        }
        // Drivers of runtimes that shut down are forgotten.
        drivers.retain(|_, driver| driver.as_ref().map_or(true, |inbox| !inbox.is_closed()));
        if let Some(missing) = runtime_lacks() {
            drivers.insert(runtime.id(), Err(missing));
            return Err(Error::Runtime(missing));
        }
        let (inbox, commands) = mpsc::unbounded_channel();
        let options = &self.shared.options;
        let driver = Driver::new(
            options.endpoint,
            options.decoder,
            options.bind,
            options.recv_buffer,
            options.recording.clone(),
        );
        runtime.spawn(driver.run(commands));
        drivers.insert(runtime.id(), Ok(inbox.clone()));
        Ok(inbox)
    }
}

/// The inbox of a client's driver.
type Inbox<S> = mpsc::UnboundedSender<Command<S>>;
/// A runtime's driver, or what the runtime lacks to run one.
type Driving<S> = std::result::Result<Inbox<S>, &'static str>;

const NO_RUNTIME: &str = "a2s_query::tokio needs a tokio runtime and none is running here: \
     call it from async code run by one (#[tokio::main], or Runtime::block_on)";
const GONE: &str =
    "the tokio runtime that ran this query shut down before it ended; query from a runtime that is running";

fn driver_gone() -> Error {
    Error::Runtime(GONE)
}

/// The items of [`Many::next`], as a stream (each `(address, result)`, every address
/// once).
impl<T, D> futures_core::Stream for Many<T, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    type Item = (SocketAddr, T);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx)
    }
}

/// Cancels a query whose future is dropped before its answer.
struct CancelOnDrop<'a, S: TextBuf> {
    inbox: &'a Inbox<S>,
    token: Option<u64>,
}

impl<S: TextBuf> CancelOnDrop<'_, S> {
    fn defuse(mut self) {
        self.token = None;
    }
}

impl<S: TextBuf> Drop for CancelOnDrop<'_, S> {
    fn drop(&mut self) {
        if let Some(token) = self.token {
            let _ = self.inbox.send(Command::Cancel { token });
        }
    }
}

/// The answers of many servers, as they complete: see [`Client::info_many`]. Dropping
/// it cancels what is still under way.
pub struct Many<T, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    client: Client<D>,
    addrs: Box<dyn Iterator<Item = SocketAddr> + Send>,
    /// Where the drivers send answers, held weakly: each query's waiter holds the
    /// sender, so the receiver says when every driver that had queries is gone.
    tx: Option<mpsc::WeakUnboundedSender<Answered<D::Text>>>,
    rx: mpsc::UnboundedReceiver<Answered<D::Text>>,
    /// The queries under way, by token: the address each was asked for.
    under_way: IdMap<u64, SocketAddr>,
    /// The driver they went to: if it goes away, they end with an error.
    inbox: Option<Inbox<D::Text>>,
    /// An address that could not be handed to the client, with why.
    failed: VecDeque<(SocketAddr, Error)>,
    /// The query each address gets.
    kind: Kind,
    /// What the caller asked for, out of each answer.
    map: fn(AnyAnswer<D::Text>) -> T,
}

impl<T, D> std::fmt::Debug for Many<T, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Many").field("under_way", &self.under_way.len()).finish_non_exhaustive()
    }
}

impl<T, D> Many<T, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    fn new<I>(client: Client<D>, addrs: I, kind: Kind, map: fn(AnyAnswer<D::Text>) -> T) -> Self
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        // (A channel is opened with the first query.)
        let (_, rx) = mpsc::unbounded_channel();
        Many {
            client,
            addrs: Box::new(addrs.into_iter()),
            tx: None,
            rx,
            under_way: IdMap::default(),
            inbox: None,
            failed: VecDeque::new(),
            kind,
            map,
        }
    }

    /// The next server to complete and its result; `None` once every address has
    /// come back. Cancel safe: a call dropped before it returns loses nothing. (`Many`
    /// is also a `futures_core::Stream` of the same items.)
    pub async fn next(&mut self) -> Option<(SocketAddr, T)> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    /// Gives the next item if one is there, handing the window's free places to the
    /// next addresses first.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<(SocketAddr, T)>> {
        if !self.under_way.is_empty() {
            if let Poll::Ready(item) = self.poll_answer(cx) {
                return Poll::Ready(item);
            }
        }
        let window = self.client.shared.options.endpoint.max_in_flight;
        while self.under_way.len() < window {
            // (None: the drivers of what is under way are gone; told below.)
            let Some(tx) = self.sender() else { break };
            let Some(addr) = self.addrs.next() else { break };
            let token = self.client.shared.next_token.fetch_add(1, Ordering::Relaxed);
            let waiter = Waiter::Many { tx, token, addr };
            let sent = self.client.inbox().and_then(|inbox| {
                // (Timed from its first send, as a batch's: the window's waits are wanted.)
                let query = Command::Query { token, addr, kind: self.kind, from: None, waiter };
                inbox.send(query).map_err(|_| driver_gone())?;
                Ok(inbox)
            });
            match sent {
                Ok(inbox) => {
                    self.under_way.insert(token, addr);
                    self.inbox = Some(inbox);
                }
                Err(e) => self.failed.push_back((addr, e)),
            }
        }
        if let Some((addr, e)) = self.failed.pop_front() {
            return Poll::Ready(Some((addr, (self.map)(AnyAnswer::failed(self.kind, e)))));
        }
        if self.under_way.is_empty() {
            return Poll::Ready(None);
        }
        self.poll_answer(cx)
    }

    /// A sender for the next query's answer: the open channel's, or (nothing under way)
    /// a new channel's; `None` when queries are under way but every sender is gone.
    fn sender(&mut self) -> Option<mpsc::UnboundedSender<Answered<D::Text>>> {
        if let Some(tx) = self.tx.as_ref().and_then(mpsc::WeakUnboundedSender::upgrade) {
            return Some(tx);
        }
        if !self.under_way.is_empty() {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.tx = Some(tx.downgrade());
        self.rx = rx;
        Some(tx)
    }

    /// The next answer of a query under way; with every sender gone (the driver went
    /// away: its runtime shut down), each query still under way ends so, one a call.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Option<(SocketAddr, T)>> {
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some((token, addr, answer))) => {
                    if self.under_way.remove(&token).is_some() {
                        return Poll::Ready(Some((addr, (self.map)(answer))));
                    }
                }
                Poll::Ready(None) => {
                    let Some(&token) = self.under_way.keys().next() else { return Poll::Ready(None) };
                    let Some(addr) = self.under_way.remove(&token) else { return Poll::Ready(None) };
                    return Poll::Ready(Some((addr, (self.map)(AnyAnswer::failed(self.kind, driver_gone())))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T, D> Drop for Many<T, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    fn drop(&mut self) {
        if let Some(inbox) = &self.inbox {
            for &token in self.under_way.keys() {
                let _ = inbox.send(Command::Cancel { token });
            }
        }
    }
}
