//! Ask Valve game servers about themselves over the A2S query protocol: who they are
//! ([`info`]), who is playing ([`players`]) and how they are set up ([`rules`]).
//! Source and GoldSrc servers and every engine that speaks their protocol: CS2, TF2,
//! Rust, ARK, DayZ, GMod, CS 1.6 and more.
//!
//! ```no_run
//! use std::time::Duration;
//! let t = Duration::from_secs(3);
//! let info = a2s_query::info("203.0.113.7:27015", t, a2s_query::Encoding::Utf8)?;
//! let players = a2s_query::players(("play.example.net", 27015), t, Default::default())?;
//! let rules = a2s_query::rules("[2001:db8::7]:27015", t, Default::default())?;
//! println!("{} on {}, {}/{} players, ping {:?}", info.server_name(), info.map_name(), info.player_count(), info.max_players(), info.ping());
//! for p in &players {
//!     println!("{:>5} {:>8.0}s {}", p.score, p.duration, p.name);
//! }
//! println!("sv_gravity = {:?}", rules.get("sv_gravity"));
//! # Ok::<(), a2s_query::Error>(())
//! ```
//!
//! # How the crate is organised
//!
//! - The face: the free functions [`info`], [`players`] and [`rules`], each a one-use
//!   [`Client`]; keep a `Client` (built with [`Client::builder`]) to poll servers, to
//!   set retries, limits or the address family, or to get raw bytes with [`Raw`].
//! - Many servers at once: [`Batch`] (built with [`Batch::builder`]) asks a whole list
//!   from one thread and yields each `(address, result)` as it completes, every address
//!   exactly once; [`info_many`] and friends are one-use batches, [`addresses`] reads a
//!   list of `host:port` lines; a [`Feed`] runs a slow source (a paced master walk, a
//!   pipe) on its own thread so the batch keeps reading replies.
//! - From async code: `tokio` (feature `tokio`) has `info`, `players` and `rules` as
//!   async functions and a `Client` that every task shares: many queries in flight over
//!   one socket, cancel safe.
//! - Arma 3 and DayZ: [`arma_rules`] (and [`Client::arma_rules`]) decode the binary
//!   rules those servers send: mods, DLCs, difficulty, signatures ([`ArmaRules`]).
//! - Server lists: [`master::MasterQuery`] walks a UDP master server's list (community
//!   masters: Valve's stopped answering in 2025), filtered with [`proto::Filter`];
//!   `web_api::WebApi` (feature `web-api`) gets the list from the Steam Web API.
//! - [`Error`]: one enum; [`Error::Timeout`] is its own variant.
//! - [`Encoding`] and [`TextDecoder`]: how wire bytes become text. Lossy UTF-8 is the
//!   default, so one odd byte in a name never fails a query.
//! - [`Limits`]: caps on everything a server controls.
//! - [`proto`]: the protocol with no I/O: requests, framing, every reply's parser and
//!   encoder, split reassembly, [`proto::Exchange`], the state machine of one query,
//!   and [`proto::Endpoint`], the engine that owns every server's lifecycle (its queries
//!   queued and joined, routed by address, paced, drained) and that [`Client`],
//!   [`Batch`] and the async client drive. Use them with your own event loop, or to
//!   answer queries.
//! - [`server`]: a small responder that answers queries for a server state, on a
//!   socket of its own (for game servers, test suites and the demo), and a farm of
//!   thousands of simulated servers on one thread (for testing many-server clients).
//!
//! # Features
//!
//! - `serde` (off by default): `serde::Serialize` and `Deserialize` for every result
//!   type: [`Info`], [`SourceInfo`], [`GoldSrcInfo`], [`TheShip`], [`ServerType`],
//!   [`Platform`], [`Player`], [`Players`] and [`Rules`] (each impl labelled with the
//!   feature on its page). What is written reads back as the same value, except
//!   what JSON leaves out of [`Rules`]: a name sent twice keeps its last value, and
//!   the declared `count` and `truncated` flag become those of the pairs read back.
//! - `encoding_rs` (off by default): any WHATWG encoding label as an [`Encoding`]
//!   (`"windows-1251".parse()`, `gbk`, `shift_jis`, ...), as python-a2s
//!   takes any codec name.
//! - `web-api` (off by default): `web_api`, server lists from the Steam Web API
//!   with your key, and the servers at an IP address; brings an HTTPS client (ureq)
//!   and JSON parsing. Needs Rust 1.85.
//! - `tokio` (off by default): `tokio`, the same queries from async code, and
//!   `tokio::Monitor`; brings tokio (its socket, timer, task and channel parts) and
//!   futures-core (the `Stream` trait). Its newest releases need Rust 1.85 and 1.88;
//!   CONTRIBUTING.md says how to build on 1.82.
//! - `exporter` (off by default): `exporter`, Prometheus metrics of a [`Monitor`]'s
//!   servers and a `/probe` endpoint over HTTP; brings prometheus-client.
//! - `cli` (off by default): the `a2s` command (`cargo install --path . --features
//!   cli`), a tool for one server or ten thousand; its dependencies (clap, serde_json,
//!   unicode-width, ctrlc) come only with it.
//!
//! # Timeouts
//!
//! The timeout bounds the whole call: the challenge round trip, every fragment of a
//! split reply and every retry share it, and each wait is for what is left. Name
//! resolution happens first and is the operating system's: the timeout does not bound
//! it. Pass a `SocketAddr` (or resolve once and keep it) where that matters.
//!
//! # The server is untrusted
//!
//! No bytes a server sends can make this crate panic; counts and lengths are checked
//! before use and allocations are capped by [`Limits`]; only datagrams from the queried
//! address and port are taken (the [`Client`]'s socket is connected; the others route
//! each datagram by its source), and stray datagrams (junk, replies of other types,
//! fragments of another reply, copies) are skipped: one bad datagram never ends a call
//! (a broken reply is kept as the error while a good one may still come).
//!
//! # No late reply answers a later query
//!
//! A2S replies carry no id, so staleness is told by what the engine knows of each
//! server: the same engine ([`proto::Endpoint`]) runs under the [`Client`], the
//! [`Batch`] and the async client. A query that ends with replies still owed (a request
//! sent twice and answered once, a timeout, a query cancelled or dropped) leaves its
//! server draining: what comes from it is dropped, and the next request to it waits
//! until the owed replies came or two of its round trips passed (250 ms when none is
//! known); a server that owes nothing is asked again at once, so a poll costs one round
//! trip. Each driver reads what its socket has queued before it sends, so nothing that
//! came before a request passes for its answer. A reply that comes later still is told
//! by its timing: sooner after the request than half the server's shortest round trip
//! (less 5 ms), it cannot answer it, and is skipped (one later than the drain and than
//! that, from a server that stalls for seconds or one on a LAN whose round trip is
//! under 10 ms, cannot be told from the answer: the protocol has no id to tell it by).
//! A server known to send both info
//! replies is waited for until its Source one, so the GoldSrc reply trailing an earlier
//! query never answers a later one. Identical queries to one server at once are joined:
//! each caller gets the one answer (which may have left the server before the later
//! caller asked).

#![forbid(unsafe_code)]
// docs.rs labels every item that needs a feature with that feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic))]

// (First: rustdoc lists the `Builder`'s shared setters before each driver's own.)
mod options;

mod batch;
mod client;
mod encoding;
mod error;
#[cfg(feature = "exporter")]
pub mod exporter;
mod feed;
mod limits;
pub mod master;
mod monitor;
mod net;
pub mod proto;
mod recording;
pub mod server;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "web-api")]
pub mod web_api;

use std::net::ToSocketAddrs;
use std::time::Duration;

pub use batch::{addresses, all_many, info_many, players_many, rules_many, BadLine, Batch, Results};
pub use client::{Client, DEFAULT_TIMEOUT};
pub use encoding::{DecodeError, Encoding, Raw, TextBuf, TextDecoder};
pub use error::{Error, Ignored, Result, Stray};
pub use feed::{Feed, IntoInput};
pub use limits::Limits;
pub use monitor::{Events, Monitor};
pub use net::IpVersion;
pub use options::Builder;
pub use recording::{Captured, RecordedQuery, Recording};
// The result types have their pages here, where a newcomer looks, not only under `proto`.
#[doc(inline)]
pub use proto::{
    Answers, ArmaRules, Change, Event, GoldSrcInfo, Info, Platform, Player, Players, Reason, Rules, ServerType,
    SourceInfo, SplitFormat, State, Status, TheShip,
};

fn one_use(timeout: Duration, encoding: Encoding) -> Client {
    Client::builder().timeout(timeout).encoding(encoding).build()
}

/// Asks the server at `addr` for its info (name, map, player counts, ...).
///
/// `addr` is anything [`ToSocketAddrs`] takes: `"host:port"`, `(host, port)`, a
/// `SocketAddr`, IPv4 or IPv6. `timeout` bounds the whole call. See [`Client::info`].
///
/// ```
/// use std::time::Duration;
/// # let mut local = a2s_query::SourceInfo::default();
/// # (local.server_name, local.player_count, local.max_players) = ("Local".into(), 3, 16);
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(local), vec![], vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
/// // addr: "203.0.113.7:27015", ("play.example.net", 27015), ... (a local server here)
/// let info = a2s_query::info(addr, Duration::from_secs(3), Default::default())?;
/// println!("{} ({}/{})", info.server_name(), info.player_count(), info.max_players());
/// assert_eq!((info.server_name(), info.player_count(), info.max_players()), ("Local", 3, 16));
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// # Errors
/// [`Error::Timeout`] when no answer comes in time; see [`Client::info`] for the rest.
pub fn info<A: ToSocketAddrs + std::fmt::Debug>(addr: A, timeout: Duration, encoding: Encoding) -> Result<Info> {
    one_use(timeout, encoding).info(addr)
}

/// Asks the server at `addr` who is playing. See [`Client::players`].
///
/// ```no_run
/// use std::time::Duration;
/// for p in a2s_query::players("203.0.113.7:27015", Duration::from_secs(3), Default::default())? {
///     println!("{} scored {} in {:.0} s", p.name, p.score, p.duration);
/// }
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// # Errors
/// [`Error::Timeout`] when no answer comes in time; see [`Client::players`].
pub fn players<A: ToSocketAddrs + std::fmt::Debug>(addr: A, timeout: Duration, encoding: Encoding) -> Result<Players> {
    one_use(timeout, encoding).players(addr)
}

/// Asks the server at `addr` for its rules (console variables). See [`Client::rules`].
///
/// ```no_run
/// use std::time::Duration;
/// let rules = a2s_query::rules("203.0.113.7:27015", Duration::from_secs(3), Default::default())?;
/// if let Some(tags) = rules.get("sv_tags") {
///     println!("tags: {tags}");
/// }
/// for (name, value) in &rules {
///     println!("{name} = {value}");
/// }
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// # Errors
/// [`Error::Timeout`] when no answer comes in time; see [`Client::rules`].
pub fn rules<A: ToSocketAddrs + std::fmt::Debug>(addr: A, timeout: Duration, encoding: Encoding) -> Result<Rules> {
    one_use(timeout, encoding).rules(addr)
}

/// Asks an Arma 3 or DayZ server at `addr` for its rules, decoded: mods, DLCs,
/// difficulty, signatures. See [`Client::arma_rules`].
///
/// ```no_run
/// use std::time::Duration;
/// let arma = a2s_query::arma_rules("203.0.113.7:2303", Duration::from_secs(3), Default::default())?;
/// for m in &arma.mods {
///     println!("{} (Workshop {:?})", m.name, m.workshop_id);
/// }
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// # Errors
/// As [`Client::arma_rules`].
pub fn arma_rules<A: ToSocketAddrs + std::fmt::Debug>(
    addr: A,
    timeout: Duration,
    encoding: Encoding,
) -> Result<ArmaRules> {
    one_use(timeout, encoding).arma_rules(addr)
}

/// What the public surface promises, checked by code that must not compile.
///
/// Types that will grow are `#[non_exhaustive]`: outside the crate a struct literal
/// fails (build from `default()` or a constructor and set fields) and a `match` needs a
/// `_` arm.
///
/// ```compile_fail,E0639
/// let _ = a2s_query::SourceInfo { server_name: "x".into(), ..Default::default() };
/// ```
///
/// ```compile_fail,E0639
/// let _ = a2s_query::Limits { max_fragments: 8, ..Default::default() };
/// ```
///
/// ```compile_fail,E0639
/// let _ = a2s_query::Player { index: 0, name: String::new(), score: 0, duration: 0.0, deaths: None, money: None };
/// ```
///
/// ```compile_fail,E0004
/// use a2s_query::proto::Datagram;
/// fn kind(d: Datagram<'_>) -> u8 {
///     match d {
///         Datagram::Single(_) => 0,
///         Datagram::Split(_) => 1,
///         Datagram::Challenge(_) => 2,
///     }
/// }
/// ```
///
/// `proto` holds what a codec user calls, not the parsers' helpers:
///
/// ```compile_fail,E0432
/// use a2s_query::proto::Reader;
/// ```
///
/// ```compile_fail,E0432
/// use a2s_query::proto::escape;
/// ```
///
/// What a batch reads its addresses through, and how an answer becomes what a driver's
/// caller asked for, are the crate's own: a batch takes an iterable or a `Feed`.
///
/// ```compile_fail,E0432
/// use a2s_query::Input;
/// ```
///
/// ```compile_fail,E0432
/// use a2s_query::proto::Asked;
/// ```
///
/// `TextBuf` is sealed: its methods can change without breaking anyone.
///
/// ```compile_fail,E0277
/// #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
/// struct Mine(Vec<u8>);
/// impl AsRef<[u8]> for Mine {
///     fn as_ref(&self) -> &[u8] { &self.0 }
/// }
/// impl a2s_query::TextBuf for Mine {
///     type Slice = Mine;
///     fn slice(&self, _: std::ops::Range<usize>) -> &Mine { self }
///     fn push_text(&mut self, other: &Mine) { self.0.extend_from_slice(&other.0) }
///     fn reserve_bytes(&mut self, n: usize) { self.0.reserve(n) }
/// }
/// ```
#[cfg(doctest)]
struct SurfaceDoctests;

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    /// A `Client` can move to another thread (a bot's worker, say).
    #[test]
    fn client_is_send() {
        fn send<T: Send>() {}
        send::<crate::Client>();
        send::<crate::Client<crate::Raw>>();
        send::<crate::Error>();
        send::<crate::Batch>();
    }
}
