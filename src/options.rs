//! The options every driver takes, in one place: one [`Builder`] for every driver,
//! its shared setters here, each driver's own (and its `build`) beside the driver.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use crate::client::DEFAULT_TIMEOUT;
use crate::encoding::{Encoding, TextDecoder};
use crate::net::{IpVersion, MAX_SOCKET_RECV_BUFFER};
use crate::proto::{EndpointConfig, ExchangeConfig, WatchConfig};

/// What a driver is built with.
#[derive(Debug, Clone)]
pub(crate) struct Options<D> {
    /// Each query's options, the window and the send rate.
    pub(crate) endpoint: EndpointConfig,
    pub(crate) decoder: D,
    /// Which family a name resolving to both is asked over.
    pub(crate) prefer: IpVersion,
    pub(crate) bind: Option<SocketAddr>,
    /// The kernel receive buffer asked for (a many-servers socket).
    pub(crate) recv_buffer: usize,
    /// Where every datagram sent and received is noted, if anywhere.
    pub(crate) recording: Option<crate::Recording>,
}

impl Default for Options<Encoding> {
    fn default() -> Self {
        let exchange = ExchangeConfig { timeout: DEFAULT_TIMEOUT, ..ExchangeConfig::default() };
        Options {
            endpoint: EndpointConfig { exchange, ..EndpointConfig::default() },
            decoder: Encoding::Utf8,
            prefer: IpVersion::V4,
            bind: None,
            recv_buffer: MAX_SOCKET_RECV_BUFFER,
            recording: None,
        }
    }
}

impl<D> Options<D> {
    /// The same options with another decoder.
    pub(crate) fn with_decoder<E>(self, decoder: E) -> Options<E> {
        Options {
            endpoint: self.endpoint,
            decoder,
            prefer: self.prefer,
            bind: self.bind,
            recv_buffer: self.recv_buffer,
            recording: self.recording,
        }
    }
}

/// Options of a driver, set one by one, then `build()`: a [`Client`](crate::Client)'s
/// (from [`Client::builder`](crate::Client::builder)), a [`Batch`](crate::Batch)'s, a
/// [`Monitor`](crate::Monitor)'s or an async `tokio::Client`'s (feature `tokio`).
/// The options every driver takes have one setter each, here; those of the drivers
/// that ask many servers at once (pacing, the receive buffer) one each too, for
/// those; a driver's own (`prefer` where it resolves names, a monitor's polling) are
/// on `Builder<ThatDriver>` below. The drivers' marker traits are sealed and not
/// exported: code generic over the driver sticks to the setters every driver has.
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{Client, Encoding, Limits};
/// # let mut info = a2s_query::SourceInfo::default();
/// # info.server_name = "built".into();
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
///
/// let mut limits = Limits::default();
/// limits.max_fragments = 32;
/// let mut client = Client::builder()
///     .timeout(Duration::from_secs(2))
///     .retries(1)
///     .encoding(Encoding::Latin1)
///     .limits(limits)
///     .build();
/// let info = client.info(addr)?;
/// assert_eq!(info.server_name(), "built");
/// # Ok::<(), a2s_query::Error>(())
/// ```
pub struct Builder<K, D: TextDecoder = Encoding> {
    pub(crate) options: Options<D>,
    /// What a monitor polls, and how often (a monitor's builder only).
    pub(crate) watch: WatchConfig,
    driver: PhantomData<fn() -> K>,
}

impl<K, D: TextDecoder> Clone for Builder<K, D> {
    fn clone(&self) -> Self {
        Builder { options: self.options.clone(), watch: self.watch.clone(), driver: PhantomData }
    }
}

impl<K, D: TextDecoder + std::fmt::Debug> std::fmt::Debug for Builder<K, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("driver", &std::any::type_name::<K>())
            .field("options", &self.options)
            .field("watch", &self.watch)
            .finish()
    }
}

/// The defaults: 3 s, lossy UTF-8, no retries; each driver's own listed with it.
impl<K> Default for Builder<K, Encoding> {
    fn default() -> Self {
        Builder { options: Options::default(), watch: WatchConfig::default(), driver: PhantomData }
    }
}

impl<K, D: TextDecoder> Builder<K, D> {
    /// Bounds each query. Default 3 s. A zero timeout is refused: by each call of a
    /// client ([`Error::InvalidInput`](crate::Error::InvalidInput)), by `build()` for a
    /// batch or a monitor.
    ///
    /// - [`Client`](crate::Client): each whole call, every challenge round trip, every
    ///   fragment, every retry, and a wait for the server to drain what an earlier call
    ///   left owed. Resolving a host name comes first and is not bounded by it: pass a
    ///   `SocketAddr` where that matters.
    /// - `tokio::Client` (feature `tokio`): each whole query from the call, resolving a
    ///   host name included, and waiting for its turn at a server, for room in the
    ///   window or for a server to drain (the queries of `info_many` and the like count
    ///   from their first send, as a batch's).
    /// - [`Batch`](crate::Batch) and [`Monitor`](crate::Monitor): each server's query
    ///   from its first send: its challenge round trip, fragments and retries
    ///   ([`Batch::all`](crate::Batch::all) gives each of its three queries this time).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.endpoint.exchange.timeout = timeout;
        self
    }

    /// How strings become text: an [`Encoding`] (giving `String`s) or
    /// [`Raw`](crate::Raw) (giving `Vec<u8>`). Default [`Encoding::Utf8`].
    pub fn encoding<E: TextDecoder>(self, decoder: E) -> Builder<K, E> {
        Builder { options: self.options.with_decoder(decoder), watch: self.watch, driver: PhantomData }
    }

    /// Extra sends of a request that got no answer, for lossy links. The timeout is
    /// shared out: with `n` retries each attempt waits about `timeout / (n + 1)`.
    /// Default 0: one request per round trip, as python-a2s.
    pub fn retries(mut self, retries: u8) -> Self {
        self.options.endpoint.exchange.retries = retries;
        self
    }

    /// Caps on what a server may make a query hold or do (see
    /// [`Limits`](crate::Limits)).
    pub fn limits(mut self, limits: crate::Limits) -> Self {
        self.options.endpoint.exchange.limits = limits;
        self
    }

    /// Forces a split header layout for odd servers. Default
    /// [`SplitFormat::Auto`](crate::SplitFormat::Auto): recognised from each reply.
    pub fn split_format(mut self, format: crate::SplitFormat) -> Self {
        self.options.endpoint.exchange.split_format = format;
        self
    }

    /// How long an info query waits, after a GoldSrc (`0x6D`) reply, for the Source
    /// (`0x49`) reply that old HLDS and dproto servers send too; the Source reply wins
    /// when it comes in time, never past the query's timeout. By default the wait is
    /// learned per server: 300 ms the first time, none for a server that then sent
    /// only `0x6D`, until the `0x49` for one known to send both (HLDS sends it with
    /// its next frame, not with the `0x6D`). A fixed grace here replaces that; zero
    /// takes the first reply.
    pub fn goldsrc_grace(mut self, grace: Duration) -> Self {
        self.options.endpoint.exchange.goldsrc_grace = Some(grace);
        self
    }

    /// Whether to send each server the challenge it gave last time, saving the
    /// challenge round trip on repeated polls. Default on; a server that rotated its
    /// challenge just answers with a new one and the query carries on, and one that
    /// dropped it in silence is asked for a fresh one at the next send.
    pub fn reuse_challenges(mut self, reuse: bool) -> Self {
        self.options.endpoint.exchange.reuse_challenge = reuse;
        self
    }

    /// Notes every datagram sent and received in `recording`, with its time: a
    /// server's exact bytes, for a bug report or a test case (what `a2s --record`
    /// writes). Default none.
    pub fn record(mut self, recording: &crate::Recording) -> Self {
        self.options.recording = Some(recording.clone());
        self
    }

    /// The local address to send from. Default: any address and a free port, over a
    /// socket of each server's family (the clients) or over one IPv6 socket that takes
    /// IPv4 too (a batch, a monitor; an IPv4 socket where IPv6 is not available).
    ///
    /// An IPv4 address limits every driver to IPv4 servers. An IPv6 address limits the
    /// clients, and the names and addresses given to [`Monitor::add`](crate::Monitor::add),
    /// to IPv6 servers; a batch bound to the IPv6 any address (`[::]:PORT`) still
    /// reaches IPv4 servers where the OS lets an IPv6 socket take IPv4 (Linux does,
    /// unless `net.ipv6.bindv6only` is set).
    pub fn bind(mut self, local: SocketAddr) -> Self {
        self.options.bind = Some(local);
        self
    }
}

/// `new()`, `builder()` and `Default` of a client `$client`.
macro_rules! constructors {
    ($client:ident) => {
        impl Default for $client<crate::Encoding> {
            fn default() -> Self {
                $client::new()
            }
        }

        impl $client<crate::Encoding> {
            /// A client with the default options (3 s timeout, lossy UTF-8, no retries).
            pub fn new() -> Self {
                $client::builder().build()
            }

            /// Options for a client, starting from the defaults.
            pub fn builder() -> crate::Builder<$client> {
                crate::Builder::default()
            }
        }
    };
}

/// The setter of the family a name resolving to both is asked over.
macro_rules! prefer_option {
    () => {
        /// Which family to use when a name resolves to both (a name given to a query,
        /// or to [`Monitor::add`](crate::Monitor::add)). Default IPv4.
        pub fn prefer(mut self, version: crate::IpVersion) -> Self {
            self.options.prefer = version;
            self
        }
    };
}

/// The drivers that ask many servers at once over one socket per address family,
/// paced by the engine: [`Batch`](crate::Batch), [`Monitor`](crate::Monitor) and the
/// async `tokio::Client` (feature `tokio`). Sealed: the crate's drivers.
pub trait Paced: sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for crate::Batch {}
impl Paced for crate::Batch {}
impl sealed::Sealed for crate::Monitor {}
impl Paced for crate::Monitor {}
#[cfg(feature = "tokio")]
impl sealed::Sealed for crate::tokio::Client {}
#[cfg(feature = "tokio")]
impl Paced for crate::tokio::Client {}

/// The pacing of many servers at once, and the receive buffer of the socket they
/// share: for a [`Batch`](crate::Batch), a [`Monitor`](crate::Monitor) and an async
/// `tokio::Client`.
impl<K: Paced, D: TextDecoder> Builder<K, D> {
    /// Most servers under way at once; more wait their turn. Default 512; memory
    /// grows with it. For the shortest wall time over a long list with silent
    /// servers, let it hold what the rate sends in one timeout (`send_rate` ×
    /// timeout): each silent server keeps its place for the whole timeout, and a
    /// full window holds new servers back. First contacts go before follow-ups,
    /// so every timeout starts as early as the rate allows.
    pub fn max_in_flight(mut self, servers: usize) -> Self {
        self.options.endpoint.max_in_flight = servers.max(1);
        self
    }

    /// Most datagrams sent per second (first requests, challenge answers and retries
    /// alike; first requests first, a follow-up waiting a quarter of the timeout at
    /// most); 0 for no cap. Default 2 000.
    pub fn send_rate(mut self, per_second: u32) -> Self {
        self.options.endpoint.send_rate = per_second;
        self
    }

    /// The kernel receive buffer to ask for, in bytes: room for the replies of a
    /// window of servers arriving at once. Default 4 MiB (Linux grants at most
    /// `net.core.rmem_max`, often 208 KiB); 0 keeps the system's default.
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.options.recv_buffer = bytes;
        self
    }
}

pub(crate) use {constructors, prefer_option};
