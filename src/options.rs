//! The options every driver takes, in one place: the [`ClientBuilder`](crate::ClientBuilder),
//! the [`BatchBuilder`](crate::BatchBuilder) and the async client's builder each hold
//! an [`Options`] and get the setters they share from the macros below.

use std::net::SocketAddr;

use crate::client::DEFAULT_TIMEOUT;
use crate::encoding::Encoding;
use crate::net::{IpVersion, MAX_SOCKET_RECV_BUFFER};
use crate::proto::{EndpointConfig, ExchangeConfig};

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

/// The setters of a query's options, on a builder `$builder<D>` with a field
/// `options: Options<D>`.
macro_rules! query_options {
    ($builder:ident $(, $field:ident)*) => {
        /// How strings become text: an [`Encoding`](crate::Encoding) (giving `String`s)
        /// or [`Raw`](crate::Raw) (giving `Vec<u8>`). Default
        /// [`Encoding::Utf8`](crate::Encoding::Utf8).
        pub fn encoding<E: TextDecoder>(self, decoder: E) -> $builder<E> {
            $builder { options: self.options.with_decoder(decoder) $(, $field: self.$field)* }
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
        /// (`0x49`) reply that old HLDS and dproto servers send too; the Source reply
        /// wins when it comes in time, never past the query's timeout. By default the
        /// wait is learned per server: 300 ms the first time, none for a server that
        /// then sent only `0x6D`, until the `0x49` for one known to send both (HLDS sends it with its next frame, not
        /// with the `0x6D`). A fixed grace here replaces that; zero takes the first
        /// reply.
        pub fn goldsrc_grace(mut self, grace: std::time::Duration) -> Self {
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
        /// server's exact bytes, for a bug report or a test case (what `a2s
        /// --record` writes). Default none.
        pub fn record(mut self, recording: &crate::Recording) -> Self {
            self.options.recording = Some(recording.clone());
            self
        }
    };
}

/// A builder `$builder` with the default options, and its timeout setter (whose
/// meaning, said in `$doc`, differs per driver).
macro_rules! builder {
    ($builder:ident, $doc:literal $(, $field:ident)*) => {
        impl Default for $builder<crate::Encoding> {
            fn default() -> Self {
                $builder { options: crate::options::Options::default() $(, $field: Default::default())* }
            }
        }

        impl<D: TextDecoder> $builder<D> {
            #[doc = $doc]
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.endpoint.exchange.timeout = timeout;
                self
            }
        }
    };
}

/// `new()`, `builder()` and `Default` of a client `$client` built by `$builder`.
macro_rules! constructors {
    ($client:ident, $builder:ident) => {
        impl Default for $client<crate::Encoding> {
            fn default() -> Self {
                $client::new()
            }
        }

        impl $client<crate::Encoding> {
            /// A client with the default options (3 s timeout, lossy UTF-8, no retries).
            pub fn new() -> Self {
                $builder::default().build()
            }

            /// Options for a client, starting from the defaults.
            pub fn builder() -> $builder<crate::Encoding> {
                $builder::default()
            }
        }
    };
}

/// The setters of where one query goes from: the family a name resolves to, the
/// local address.
macro_rules! address_options {
    () => {
        /// Which family to use when a name resolves to both. Default IPv4.
        pub fn prefer(mut self, version: IpVersion) -> Self {
            self.options.prefer = version;
            self
        }

        /// The local address to send from (default: any address, a free port, of the
        /// target's family). Only targets of this address's family can then be queried.
        pub fn bind(mut self, local: std::net::SocketAddr) -> Self {
            self.options.bind = Some(local);
            self
        }
    };
}

/// The setters of the pacing of many servers at once.
macro_rules! pacing_options {
    () => {
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
    };
}

/// The setters of the one unconnected socket that many servers share (the batch's,
/// the monitor's).
macro_rules! shared_socket_options {
    () => {
        /// The local address to send from. Default: every address, a free port, over one
        /// IPv6 socket that takes IPv4 too (or an IPv4 socket where IPv6 is not
        /// available). An IPv4 address here limits it to IPv4 servers.
        pub fn bind(mut self, local: std::net::SocketAddr) -> Self {
            self.options.bind = Some(local);
            self
        }

        /// The kernel receive buffer to ask for, in bytes: room for the replies of a
        /// window of servers arriving at once. Default 4 MiB (Linux grants at most
        /// `net.core.rmem_max`, often 208 KiB); 0 keeps the system's default.
        pub fn recv_buffer(mut self, bytes: usize) -> Self {
            self.options.recv_buffer = bytes;
            self
        }
    };
}

pub(crate) use {address_options, builder, constructors, pacing_options, query_options, shared_socket_options};
