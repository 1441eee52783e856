//! The same queries from async code (feature `tokio`): `info`, `players` and `rules` as
//! async functions, and a [`Client`] that every task shares. No protocol lives here:
//! each query is an [`Exchange`] in an [`Endpoint`], as in the blocking
//! [`Batch`](crate::Batch), driven by one task per client over tokio's UDP socket and
//! timer. No thread per query, no blocking call on the runtime.
//!
//! ```no_run
//! use std::time::Duration;
//! use a2s_query::tokio::Client;
//!
//! # async fn run() -> a2s_query::Result<()> {
//! // One client for the whole program: clone it into every task.
//! let client = Client::builder().timeout(Duration::from_secs(2)).build();
//! let (info, players) = tokio::join!(client.info("203.0.113.7:27015"), client.players("203.0.113.7:27015"));
//! println!("{} with {} players", info?.name(), players?.len());
//!
//! // One call, python-a2s's `ainfo`:
//! let info = a2s_query::tokio::info("203.0.113.8:27015", Duration::from_secs(3), Default::default()).await?;
//! # Ok(()) }
//! ```
//!
//! **Cancel safety.** Every future here may be dropped at any await point (a
//! `tokio::time::timeout` around it, a losing `select!` branch): its query is dropped
//! from the client, the client's other queries go on untouched, and a reply that
//! arrives for the dropped query is never taken as the answer to a later query to that
//! server (nothing that came before a request went out answers it).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ::tokio::io::Interest;
use ::tokio::net::{lookup_host, ToSocketAddrs, UdpSocket};
use ::tokio::sync::{mpsc, oneshot};

use crate::batch::is_transient;
use crate::client::{open_socket, pick, IpVersion, ZERO_TIMEOUT};
use crate::encoding::{Encoding, TextBuf, TextDecoder};
use crate::error::{Error, Result};
use crate::limits::Limits;
use kinds::{Asked, Kind, Reply};

use crate::proto::{
    normalized, ArmaRules, Endpoint, EndpointConfig, Exchange, ExchangeConfig, Info, Job, Learned, Player, Players,
    Request, Rules, SplitFormat, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SEND_RATE,
};

/// Receive buffer: the largest UDP payload there is.
const RECV_BUFFER: usize = 65_536;
/// Most datagrams read in one go before the driver looks at its other work.
const READ_BATCH: usize = 1024;

/// Asks the server at `addr` for its info, from async code. As [`crate::info`]; the
/// name is resolved without blocking, within the timeout.
///
/// # Errors
/// As [`Client::info`].
pub async fn info<A: ToSocketAddrs>(addr: A, timeout: Duration, encoding: Encoding) -> Result<Info> {
    one_use(timeout, encoding).info(addr).await
}

/// Asks the server at `addr` who is playing, from async code. As [`crate::players`].
///
/// # Errors
/// As [`Client::players`].
pub async fn players<A: ToSocketAddrs>(addr: A, timeout: Duration, encoding: Encoding) -> Result<Vec<Player>> {
    one_use(timeout, encoding).players(addr).await
}

/// Asks the server at `addr` for its rules, from async code. As [`crate::rules`].
///
/// # Errors
/// As [`Client::rules`].
pub async fn rules<A: ToSocketAddrs>(addr: A, timeout: Duration, encoding: Encoding) -> Result<Rules> {
    one_use(timeout, encoding).rules(addr).await
}

fn one_use(timeout: Duration, encoding: Encoding) -> Client {
    Client::builder().timeout(timeout).encoding(encoding).build()
}

/// Options of an async [`Client`]: those of the blocking
/// [`ClientBuilder`](crate::ClientBuilder), under the same names, and the
/// many-servers engine's pacing ([`ClientBuilder::max_in_flight`],
/// [`ClientBuilder::send_rate`]).
#[derive(Debug, Clone)]
pub struct ClientBuilder<D: TextDecoder = Encoding> {
    base: crate::ClientBuilder<D>,
    max_in_flight: usize,
    send_rate: u32,
}

impl Default for ClientBuilder<Encoding> {
    fn default() -> Self {
        ClientBuilder {
            base: crate::ClientBuilder::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            send_rate: DEFAULT_SEND_RATE,
        }
    }
}

impl<D: TextDecoder> ClientBuilder<D> {
    /// Bounds each query, from its first send. Default 3 s. Resolving a host name
    /// comes first, within the same time.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.base = self.base.timeout(timeout);
        self
    }

    /// How server text becomes text. As [`crate::ClientBuilder::encoding`].
    pub fn encoding<E: TextDecoder>(self, decoder: E) -> ClientBuilder<E> {
        ClientBuilder {
            base: self.base.encoding(decoder),
            max_in_flight: self.max_in_flight,
            send_rate: self.send_rate,
        }
    }

    /// Extra sends of a request that got no answer. As [`crate::ClientBuilder::retries`].
    pub fn retries(mut self, retries: u8) -> Self {
        self.base = self.base.retries(retries);
        self
    }

    /// Which family to use when a name resolves to both. As
    /// [`crate::ClientBuilder::prefer`].
    pub fn prefer(mut self, version: IpVersion) -> Self {
        self.base = self.base.prefer(version);
        self
    }

    /// The local address to send from. As [`crate::ClientBuilder::bind`].
    pub fn bind(mut self, local: SocketAddr) -> Self {
        self.base = self.base.bind(local);
        self
    }

    /// Caps on what a server may make a query hold. As [`crate::ClientBuilder::limits`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.base = self.base.limits(limits);
        self
    }

    /// The split header layout. As [`crate::ClientBuilder::split_format`].
    pub fn split_format(mut self, format: SplitFormat) -> Self {
        self.base = self.base.split_format(format);
        self
    }

    /// The wait for a Source reply after a GoldSrc one. As
    /// [`crate::ClientBuilder::goldsrc_grace`].
    pub fn goldsrc_grace(mut self, grace: Duration) -> Self {
        self.base = self.base.goldsrc_grace(grace);
        self
    }

    /// Whether a server's last challenge goes with the first request. As
    /// [`crate::ClientBuilder::reuse_challenges`].
    pub fn reuse_challenges(mut self, reuse: bool) -> Self {
        self.base = self.base.reuse_challenges(reuse);
        self
    }

    /// Most servers queried at once; more wait their turn. Default 512, as the
    /// [`BatchBuilder`](crate::BatchBuilder).
    pub fn max_in_flight(mut self, servers: usize) -> Self {
        self.max_in_flight = servers.max(1);
        self
    }

    /// Most datagrams sent a second; 0 for no cap. Default 2 000, as the
    /// [`BatchBuilder`](crate::BatchBuilder).
    pub fn send_rate(mut self, per_second: u32) -> Self {
        self.send_rate = per_second;
        self
    }

    /// The client. No socket is opened and no task started until the first query.
    pub fn build(self) -> Client<D> {
        Client { shared: Arc::new(Shared { options: self, driver: Mutex::new(None), next_id: AtomicU64::new(0) }) }
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
/// known). The timeout bounds each query from its first send, as in the blocking
/// client: a query waiting its turn, or for room in the window, waits longer.
///
/// ```no_run
/// use std::time::Duration;
/// use a2s_query::tokio::Client;
///
/// # async fn run() -> a2s_query::Result<()> {
/// let client = Client::builder().timeout(Duration::from_secs(2)).retries(1).build();
/// let mut tasks = tokio::task::JoinSet::new();
/// for addr in ["203.0.113.7:27015", "203.0.113.8:27015"] {
///     let client = client.clone();
///     tasks.spawn(async move { (addr, client.info(addr).await) });
/// }
/// while let Some(Ok((addr, info))) = tasks.join_next().await {
///     match info {
///         Ok(info) => println!("{addr}: {} ({} players)", info.name(), info.player_count()),
///         Err(e) => println!("{addr}: {e}"),
///     }
/// }
/// # Ok(()) }
/// ```
///
/// The client's work runs in a task spawned on the runtime of its first query (which
/// must have IO and time enabled, as `#[tokio::main]` does); it ends once every clone
/// is dropped and nothing is under way. Use a client from the runtime that runs it: a
/// runtime no longer driven (a current-thread one whose `block_on` returned) leaves the
/// queries of other runtimes waiting. If its runtime shuts down, the next query starts
/// a new task on the caller's runtime.
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
    options: ClientBuilder<D>,
    /// The running driver's inbox; replaced if its runtime went away.
    driver: Mutex<Option<mpsc::UnboundedSender<Command<D::Text>>>>,
    next_id: AtomicU64,
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

impl<D> Client<D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    /// Asks a server for its info. As [`crate::Client::info`]. Cancel safe.
    ///
    /// # Errors
    /// As [`crate::Client::info`]; [`Error::Resolve`] also when resolving the name takes
    /// longer than the timeout, and [`Error::Io`] when called outside a tokio runtime or
    /// when the client's task went away with its runtime.
    pub async fn info<A: ToSocketAddrs>(&self, addr: A) -> Result<Info<D::Text>> {
        self.query(addr).await
    }

    /// Asks a server who is playing. As [`crate::Client::players`]. Cancel safe.
    ///
    /// # Errors
    /// As [`Client::info`].
    pub async fn players<A: ToSocketAddrs>(&self, addr: A) -> Result<Vec<Player<D::Text>>> {
        Ok(self.player_list(addr).await?.entries)
    }

    /// Asks a server who is playing, with the header's count and the cut-off flag. As
    /// [`crate::Client::player_list`]. Cancel safe.
    ///
    /// # Errors
    /// As [`Client::info`].
    pub async fn player_list<A: ToSocketAddrs>(&self, addr: A) -> Result<Players<D::Text>> {
        self.query(addr).await
    }

    /// Asks a server for its rules. As [`crate::Client::rules`]. Cancel safe.
    ///
    /// # Errors
    /// As [`Client::info`].
    pub async fn rules<A: ToSocketAddrs>(&self, addr: A) -> Result<Rules<D::Text>> {
        self.query(addr).await
    }

    /// Asks an Arma 3 or DayZ server for its rules, decoded. As
    /// [`crate::Client::arma_rules`]. Cancel safe.
    ///
    /// # Errors
    /// As [`crate::Client::arma_rules`].
    pub async fn arma_rules<A: ToSocketAddrs>(&self, addr: A) -> Result<ArmaRules<D::Text>> {
        self.query(addr).await
    }

    /// Asks every server of `addrs` for its info, paced by the client's window and
    /// rate: `(address, result)` from [`Many::next`] as each completes, every address
    /// exactly once. The iterator is read as the window frees: give one that does not
    /// block (a `Vec`, a range, a list already fetched).
    pub fn info_many<I>(&self, addrs: I) -> Many<Info<D::Text>, D>
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        Many::new(self.clone(), addrs)
    }

    /// Asks every server of `addrs` who is playing (with each header). See
    /// [`Client::info_many`].
    pub fn player_lists_many<I>(&self, addrs: I) -> Many<Players<D::Text>, D>
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        Many::new(self.clone(), addrs)
    }

    /// Asks every server of `addrs` for its rules. See [`Client::info_many`].
    pub fn rules_many<I>(&self, addrs: I) -> Many<Rules<D::Text>, D>
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        Many::new(self.clone(), addrs)
    }

    async fn query<A: ToSocketAddrs, T: Asked<D::Text>>(&self, addr: A) -> Result<T> {
        let options = &self.shared.options;
        let timeout = options.base.config.timeout;
        if timeout.is_zero() {
            return Err(Error::InvalidInput(ZERO_TIMEOUT));
        }
        // (tokio's timer would panic outside a runtime: an error says it instead.)
        runtime()?;
        // An address needs no resolving and no timer; a name gets the timeout.
        let mut lookup = std::pin::pin!(lookup_host(addr));
        let ready = std::future::poll_fn(|cx| std::task::Poll::Ready(lookup.as_mut().poll(cx))).await;
        let resolved = match ready {
            std::task::Poll::Ready(resolved) => resolved,
            std::task::Poll::Pending => ::tokio::time::timeout(timeout, lookup).await.map_err(|_| {
                Error::Resolve(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "resolving the name took longer than the timeout",
                ))
            })?,
        };
        let target = pick(resolved.map_err(Error::Resolve)?, options.base.prefer, options.base.bind)?;
        let (tx, rx) = oneshot::channel();
        let (id, _) = self.send(target, T::KIND, Waiter::One(tx))?;
        // Dropped before the answer: the driver forgets the query.
        let guard = CancelOnDrop { client: self, id: Some(id) };
        let reply = rx.await.map_err(|_| driver_gone())?;
        guard.defuse();
        answer(reply)
    }

    /// Hands a query to the driver (starting it if needed); its id, and the inbox of
    /// the driver that has it (closed if that driver goes away).
    fn send(&self, addr: SocketAddr, kind: Kind, waiter: Waiter<D::Text>) -> Result<(u64, Inbox<D::Text>)> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let inbox = self.inbox()?;
        inbox.send(Command::Query { id, addr, kind, waiter }).map_err(|_| driver_gone())?;
        Ok((id, inbox))
    }

    fn cancel(&self, id: u64) {
        let driver = self.shared.driver.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(inbox) = driver.as_ref() {
            let _ = inbox.send(Command::Cancel { id });
        }
    }

    /// The driver's inbox, the driver spawned on the current runtime if none runs.
    fn inbox(&self) -> Result<mpsc::UnboundedSender<Command<D::Text>>> {
        let mut driver = self.shared.driver.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(inbox) = driver.as_ref().filter(|i| !i.is_closed()) {
            return Ok(inbox.clone());
        }
        let runtime = runtime()?;
        let (inbox, commands) = mpsc::unbounded_channel();
        let options = &self.shared.options;
        let config = EndpointConfig {
            exchange: options.base.config,
            max_in_flight: options.max_in_flight,
            send_rate: options.send_rate,
        };
        let state = Driver::new(config, options.base.decoder, options.base.bind);
        runtime.spawn(state.run(commands));
        *driver = Some(inbox.clone());
        Ok(inbox)
    }
}

/// The inbox of a client's driver.
type Inbox<S> = mpsc::UnboundedSender<Command<S>>;

/// The runtime this is called from.
fn runtime() -> Result<::tokio::runtime::Handle> {
    ::tokio::runtime::Handle::try_current().map_err(|_| {
        Error::Io(io::Error::other(
            "a2s_query::tokio runs on a tokio runtime (with IO and time enabled); none is running here",
        ))
    })
}

/// The result a query of `T` asked for (a reply of another kind cannot come: each
/// caller waits on its own query's kind).
fn answer<T: Asked<S>, S: TextBuf>(reply: Reply<S>) -> Result<T> {
    T::take(reply).unwrap_or_else(|| Err(Error::Io(io::Error::other("an answer of another kind came back"))))
}

fn driver_gone() -> Error {
    Error::Io(io::Error::other("the client's task stopped (its runtime shut down)"))
}

/// Cancels a query whose future is dropped before its answer.
struct CancelOnDrop<'a, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    client: &'a Client<D>,
    id: Option<u64>,
}

impl<D> CancelOnDrop<'_, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    fn defuse(mut self) {
        self.id = None;
    }
}

impl<D> Drop for CancelOnDrop<'_, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.client.cancel(id);
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
    tx: mpsc::UnboundedSender<(u64, SocketAddr, Reply<D::Text>)>,
    rx: mpsc::UnboundedReceiver<(u64, SocketAddr, Reply<D::Text>)>,
    /// The queries under way, by id: the address each was asked for.
    under_way: HashMap<u64, SocketAddr>,
    /// The driver they went to: if it goes away, they end with an error.
    inbox: Option<Inbox<D::Text>>,
    /// An address that could not be handed to the client, with why.
    failed: VecDeque<(SocketAddr, Error)>,
    _answer: PhantomData<fn() -> T>,
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

impl<T: Asked<D::Text>, D> Many<T, D>
where
    D: TextDecoder + Send + Sync + 'static,
    D::Text: Send + 'static,
{
    fn new<I>(client: Client<D>, addrs: I) -> Self
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        Many {
            client,
            addrs: Box::new(addrs.into_iter()),
            tx,
            rx,
            under_way: HashMap::new(),
            inbox: None,
            failed: VecDeque::new(),
            _answer: PhantomData,
        }
    }

    /// The next server to complete and its result; `None` once every address has
    /// come back. Cancel safe: a call dropped before it returns loses nothing.
    pub async fn next(&mut self) -> Option<(SocketAddr, Result<T>)> {
        let window = self.client.shared.options.max_in_flight;
        while self.under_way.len() < window {
            let Some(addr) = self.addrs.next() else { break };
            let waiter = Waiter::Many { tx: self.tx.clone(), addr };
            match self.client.send(addr, T::KIND, waiter) {
                Ok((id, inbox)) => {
                    self.under_way.insert(id, addr);
                    self.inbox = Some(inbox);
                }
                Err(e) => self.failed.push_back((addr, e)),
            }
        }
        if let Some((addr, e)) = self.failed.pop_front() {
            return Some((addr, Err(e)));
        }
        if self.under_way.is_empty() {
            return None;
        }
        let inbox = self.inbox.clone()?;
        ::tokio::select! {
            biased;
            got = self.rx.recv() => {
                let (id, addr, reply) = got?;
                self.under_way.remove(&id);
                Some((addr, answer(reply)))
            }
            // The driver went away (its runtime shut down): what it had ends so.
            () = inbox.closed() => {
                let id = *self.under_way.keys().next()?;
                let addr = self.under_way.remove(&id)?;
                Some((addr, Err(driver_gone())))
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
        for &id in self.under_way.keys() {
            self.client.cancel(id);
        }
    }
}

/// The kinds of query and their answers (public in name only, for [`Many`]'s bound).
mod kinds {
    use super::{ArmaRules, Info, Players, Result, Rules, TextBuf};

    /// Which query.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Kind {
        #[default]
        Info,
        Players,
        Rules,
        Arma,
    }

    /// Any query's answer.
    #[derive(Debug, Clone)]
    pub enum Reply<S: TextBuf> {
        Info(Result<Info<S>>),
        Players(Result<Players<S>>),
        Rules(Result<Rules<S>>),
        Arma(Result<ArmaRules<S>>),
    }

    /// A result type a query gives, and how it is taken out of a [`Reply`] (sealed: the
    /// four kinds of answer).
    pub trait Asked<S: TextBuf>: Sized {
        const KIND: Kind;
        fn take(reply: Reply<S>) -> Option<Result<Self>>;
    }

    impl<S: TextBuf> Asked<S> for Info<S> {
        const KIND: Kind = Kind::Info;
        fn take(reply: Reply<S>) -> Option<Result<Self>> {
            if let Reply::Info(r) = reply {
                Some(r)
            } else {
                None
            }
        }
    }

    impl<S: TextBuf> Asked<S> for Players<S> {
        const KIND: Kind = Kind::Players;
        fn take(reply: Reply<S>) -> Option<Result<Self>> {
            if let Reply::Players(r) = reply {
                Some(r)
            } else {
                None
            }
        }
    }

    impl<S: TextBuf> Asked<S> for Rules<S> {
        const KIND: Kind = Kind::Rules;
        fn take(reply: Reply<S>) -> Option<Result<Self>> {
            if let Reply::Rules(r) = reply {
                Some(r)
            } else {
                None
            }
        }
    }

    impl<S: TextBuf> Asked<S> for ArmaRules<S> {
        const KIND: Kind = Kind::Arma;
        fn take(reply: Reply<S>) -> Option<Result<Self>> {
            if let Reply::Arma(r) = reply {
                Some(r)
            } else {
                None
            }
        }
    }
}

/// One [`Exchange`] of any kind: the endpoint's job for a client whose queries differ.
#[derive(Debug)]
enum AnyQuery<D: TextDecoder> {
    Info(Exchange<Info<D::Text>, D>),
    Players(Exchange<Players<D::Text>, D>),
    Rules(Exchange<Rules<D::Text>, D>),
    Arma(Exchange<ArmaRules<D::Text>, D>),
}

/// Runs `$body` on the exchange inside, whatever its kind.
macro_rules! each {
    ($query:expr, $e:ident => $body:expr) => {
        match $query {
            AnyQuery::Info($e) => $body,
            AnyQuery::Players($e) => $body,
            AnyQuery::Rules($e) => $body,
            AnyQuery::Arma($e) => $body,
        }
    };
}

impl<D: TextDecoder> crate::proto::sealed::Sealed for AnyQuery<D> {}

impl<D: TextDecoder> Job<D> for AnyQuery<D> {
    type Output = Reply<D::Text>;
    type Kind = Kind;

    fn start(kind: Kind, config: ExchangeConfig, decoder: D, learned: Learned, now: Instant) -> Self {
        match kind {
            Kind::Info => AnyQuery::Info(Exchange::new(config, decoder, learned, now)),
            Kind::Players => AnyQuery::Players(Exchange::new(config, decoder, learned, now)),
            Kind::Rules => AnyQuery::Rules(Exchange::new(config, decoder, learned, now)),
            Kind::Arma => AnyQuery::Arma(Exchange::new(config, decoder, learned, now)),
        }
    }
    fn has_transmit(&self) -> bool {
        each!(self, e => e.has_transmit())
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Request> {
        each!(self, e => e.poll_transmit(now))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        each!(self, e => e.poll_timeout())
    }
    fn handle_timeout(&mut self, now: Instant) {
        each!(self, e => e.handle_timeout(now));
    }
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        each!(self, e => e.handle_datagram(datagram, now));
    }
    fn poll_output(&mut self) -> Option<Reply<D::Text>> {
        match self {
            AnyQuery::Info(e) => e.poll_outcome().map(Reply::Info),
            AnyQuery::Players(e) => e.poll_outcome().map(Reply::Players),
            AnyQuery::Rules(e) => e.poll_outcome().map(Reply::Rules),
            AnyQuery::Arma(e) => e.poll_outcome().map(Reply::Arma),
        }
    }
    fn learned(&self) -> Learned {
        each!(self, e => e.learned())
    }
    fn fail(&mut self, error: Error, _now: Instant) {
        each!(self, e => e.fail(error));
    }
}

/// Where an answer goes.
#[derive(Debug)]
enum Waiter<S: TextBuf> {
    /// One awaited query.
    One(oneshot::Sender<Reply<S>>),
    /// One address of a [`Many`], with the address as given.
    Many { tx: mpsc::UnboundedSender<(u64, SocketAddr, Reply<S>)>, addr: SocketAddr },
}

#[derive(Debug)]
enum Command<S: TextBuf> {
    Query { id: u64, addr: SocketAddr, kind: Kind, waiter: Waiter<S> },
    Cancel { id: u64 },
}

/// A query asked of a server: the callers joined to it, and whether it runs.
#[derive(Debug)]
struct Pending<S: TextBuf> {
    addr: SocketAddr,
    kind: Kind,
    waiters: Vec<(u64, Waiter<S>)>,
    started: bool,
}

/// One socket, as tokio's (to wait for it) and as a second handle on the same socket
/// (to read what is queued with a real system call: tokio's `try_recv_from` answers
/// from what its reactor last saw, and a datagram it has not seen yet would be read
/// only after the next request went out, then taken as its answer).
struct Socket {
    tokio: UdpSocket,
    raw: std::net::UdpSocket,
}

/// The client's task: its sockets, the endpoint, and who waits for what.
struct Driver<D: TextDecoder> {
    endpoint: Endpoint<AnyQuery<D>, D>,
    limits: Limits,
    bind: Option<SocketAddr>,
    v4: Option<Socket>,
    v6: Option<Socket>,
    /// Each server's queries in the order asked; only the first runs.
    servers: HashMap<SocketAddr, VecDeque<Pending<D::Text>>>,
    /// Servers whose first query waits for room in the window.
    ready: VecDeque<SocketAddr>,
    /// The server of each caller's query.
    owners: HashMap<u64, SocketAddr>,
    buf: Vec<u8>,
}

impl<D: TextDecoder> Driver<D>
where
    D::Text: Send,
{
    fn new(config: EndpointConfig, decoder: D, bind: Option<SocketAddr>) -> Self {
        Driver {
            endpoint: Endpoint::new(config, decoder),
            limits: config.exchange.limits,
            bind,
            v4: None,
            v6: None,
            servers: HashMap::new(),
            ready: VecDeque::new(),
            owners: HashMap::new(),
            buf: vec![0; RECV_BUFFER],
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command<D::Text>>) {
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
            self.read_queued();
            let now = Instant::now();
            if self.endpoint.poll_timeout().is_some_and(|wake| wake <= now) {
                self.endpoint.handle_timeout(now);
            }
            self.deliver();
            self.start_waiting();
            self.transmit();
            self.deliver();
            if !open && self.servers.is_empty() {
                return;
            }
            // A query that ended on a failed send may have freed a server's next one.
            if !self.ready.is_empty() && self.endpoint.wants_input() {
                continue;
            }
            let wake = self.endpoint.poll_timeout();
            if wake.is_some_and(|w| w <= Instant::now()) {
                continue;
            }
            let command = ::tokio::select! {
                command = commands.recv(), if open => Some(command),
                () = readable(self.v4.as_ref().map(|s| &s.tokio)) => None,
                () = readable(self.v6.as_ref().map(|s| &s.tokio)) => None,
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
            Command::Query { id, addr, kind, waiter } => {
                let key = normalized(addr);
                self.owners.insert(id, key);
                let queue = self.servers.entry(key).or_default();
                // The same query to the same server already asked: joined.
                if let Some(same) = queue.iter_mut().find(|p| p.kind == kind) {
                    same.waiters.push((id, waiter));
                    return;
                }
                queue.push_back(Pending { addr, kind, waiters: vec![(id, waiter)], started: false });
                if queue.len() == 1 {
                    self.ready.push_back(key);
                }
            }
            Command::Cancel { id } => {
                let Some(key) = self.owners.remove(&id) else { return };
                let Some(queue) = self.servers.get_mut(&key) else { return };
                let Some(at) = queue.iter().position(|p| p.waiters.iter().any(|(w, _)| *w == id)) else { return };
                let Some(pending) = queue.get_mut(at) else { return };
                pending.waiters.retain(|(w, _)| *w != id);
                if !pending.waiters.is_empty() {
                    return;
                }
                if let Some(dropped) = queue.remove(at) {
                    if dropped.started {
                        self.endpoint.cancel(dropped.addr);
                        if !queue.is_empty() {
                            self.ready.push_back(key);
                        }
                    }
                }
                if queue.is_empty() {
                    self.servers.remove(&key);
                }
            }
        }
    }

    /// Starts the first query of each server that waits, while the window has room.
    fn start_waiting(&mut self) {
        while self.endpoint.wants_input() {
            let Some(key) = self.ready.pop_front() else { break };
            if let Some(first) = self.servers.get_mut(&key).and_then(|q| q.front_mut()) {
                if !first.started {
                    first.started = true;
                    self.endpoint.push_kind(first.addr, first.kind);
                }
            }
        }
    }

    /// Gives each finished query's answer to every caller joined to it.
    fn deliver(&mut self) {
        while let Some((addr, reply)) = self.endpoint.poll_output() {
            let key = normalized(addr);
            let Some(queue) = self.servers.get_mut(&key) else { continue };
            let Some(done) = queue.pop_front() else { continue };
            if queue.is_empty() {
                self.servers.remove(&key);
            } else {
                self.ready.push_back(key);
            }
            // Joined callers get copies; the last one the answer itself.
            let mut waiters = done.waiters;
            let last = waiters.pop();
            for (id, waiter) in waiters {
                self.answer(id, waiter, reply.clone());
            }
            if let Some((id, waiter)) = last {
                self.answer(id, waiter, reply);
            }
        }
    }

    fn answer(&mut self, id: u64, waiter: Waiter<D::Text>, reply: Reply<D::Text>) {
        self.owners.remove(&id);
        // A caller gone meanwhile is no one's loss.
        match waiter {
            Waiter::One(tx) => {
                let _ = tx.send(reply);
            }
            Waiter::Many { tx, addr } => {
                let _ = tx.send((id, addr, reply));
            }
        }
    }

    /// Sends every request due.
    /// Sends every request due, each after reading what is queued: nothing that came
    /// before a request went out answers it (the late reply of a dropped query).
    /// (The caller has just read the socket: the first send needs no read of its own.)
    fn transmit(&mut self) {
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) {
                self.read_queued();
            }
            let Some((to, request)) = self.endpoint.poll_transmit(Instant::now()) else { break };
            // (An IPv4-mapped IPv6 address goes out on the IPv4 socket, as IPv4.)
            let dest = normalized(to);
            let sent = match self.socket_for(dest) {
                Ok(socket) => socket.raw.send_to(&request, dest),
                Err(e) => {
                    self.endpoint.handle_send_error(to, e, Instant::now());
                    continue;
                }
            };
            match sent {
                Ok(_) => {}
                // A full send queue, say: as if lost on the way; the retries and the
                // timeout deal with it, and the reads go on meanwhile.
                Err(e) if is_transient(&e) => {}
                Err(e) => self.endpoint.handle_send_error(to, Error::Io(e), Instant::now()),
            }
        }
    }

    /// The socket of `to`'s family, opened on first use.
    fn socket_for(&mut self, to: SocketAddr) -> Result<&Socket> {
        let to = normalized(to);
        let (slot, bind) = match to {
            SocketAddr::V4(_) => (&mut self.v4, self.bind.filter(SocketAddr::is_ipv4)),
            SocketAddr::V6(_) => (&mut self.v6, self.bind.filter(SocketAddr::is_ipv6)),
        };
        if let Some(socket) = slot {
            return Ok(socket);
        }
        let (socket, _) = open_socket(to, bind, &self.limits)?;
        socket.set_nonblocking(true)?;
        let raw = socket.try_clone()?;
        Ok(slot.insert(Socket { tokio: UdpSocket::from_std(socket)?, raw }))
    }

    /// Hands every datagram queued on the sockets to the endpoint.
    fn read_queued(&mut self) {
        for v4 in [true, false] {
            let socket = if v4 { self.v4.as_ref() } else { self.v6.as_ref() };
            let Some(socket) = socket else { continue };
            // First through tokio, which clears its readiness once the socket is empty
            // (never losing a datagram that arrives meanwhile); then with a plain system
            // call, for datagrams its reactor has not seen yet (they wake it later: a
            // spurious wake at most).
            for through_tokio in [true, false] {
                for _ in 0..READ_BATCH {
                    let read = if through_tokio {
                        socket.tokio.try_io(Interest::READABLE, || socket.raw.recv_from(&mut self.buf))
                    } else {
                        socket.raw.recv_from(&mut self.buf)
                    };
                    match read {
                        Ok((n, from)) => {
                            let datagram = self.buf.get(..n).unwrap_or_default();
                            self.endpoint.handle_datagram(from, datagram, Instant::now());
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // An ICMP error from some server (Windows reports them on
                        // unconnected sockets): the timers deal with it.
                        Err(_) => {}
                    }
                }
            }
        }
    }
}

async fn readable(socket: Option<&UdpSocket>) {
    match socket {
        Some(socket) => {
            let _ = socket.readable().await;
        }
        None => std::future::pending().await,
    }
}

async fn wait_until(mut timer: std::pin::Pin<&mut ::tokio::time::Sleep>, wake: Option<Instant>) {
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
