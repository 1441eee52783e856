//! The wire codec: every A2S message parsed and built, with no I/O.
//!
//! Pure functions and small state machines over `&[u8]`: no sockets, no clocks. The
//! blocking [`Client`](crate::Client) is built on it; so can anyone with their own
//! event loop, and servers can answer queries with the encoders.
//!
//! | concern | items |
//! |---|---|
//! | framing | [`Datagram::classify`], [`Message`], [`Challenge`] |
//! | requests | [`Query`] (build with [`Query::encode`], read with [`Query::parse`]) |
//! | split replies | [`Reassembler`], [`split_packet`], [`SplitFormat`] |
//! | one query | [`Exchange`]: challenges, retries, reassembly, strays, the deadline |
//! | Arma 3 / DayZ | [`ArmaRules`]: the binary rules decoded and encoded |
//! | server lists | [`Filter`] (the filter both listers take), [`Region`], [`MasterWalk`] (the requests, the paging), [`MasterPage`] |
//! | every server's lifecycle | [`Endpoint`]: queries queued and joined per server, routed by address, drained, paced; [`Job`], [`AnyQuery`] |
//! | servers watched over time | [`Watchlist`]: polls on a schedule, [`State`] debounced, [`Event`]s, failure [`Reason`]s |
//! | info | [`Info`], [`SourceInfo`], [`GoldSrcInfo`] (`parse` / `encode`) |
//! | players | [`Players`], [`Player`], [`encode_players`] |
//! | rules | [`Rules`], [`RulesView`] (zero-copy), [`encode_rules`] |
//!
//! A client's receive path, in short:
//!
//! ```
//! use a2s_query::proto::{Datagram, Info, Message, Reassembler, SourceInfo};
//! use a2s_query::Encoding;
//! # fn main() -> a2s_query::Result<()> {
//! # let mut datagram = Vec::new();
//! # let mut sample: SourceInfo = SourceInfo::default();
//! # sample.server_name = "my server".into();
//! # sample.encode(&mut datagram)?;
//! let mut reassembler = Reassembler::new(Default::default());
//! let message = match Datagram::classify(&datagram)? {
//!     Datagram::Single(m) => m,
//!     Datagram::Challenge(c) => todo!("resend the request with {c:?}"),
//!     Datagram::Split(fragment) => match reassembler.push(fragment)? {
//!         Some(whole) => Message::from_reassembled(whole)?,
//!         None => todo!("wait for more fragments"),
//!     },
//!     // New kinds may come (the enum is `#[non_exhaustive]`): skip them as strays.
//!     _ => todo!("skip it"),
//! };
//! let info = Info::parse(message, Encoding::Utf8)?;
//! assert_eq!(info.server_name(), "my server");
//! # Ok(()) }
//! ```

mod addr_hash;
mod arma;
mod endpoint;
mod exchange;
mod filter;
mod fragment;
mod info;
mod job;
mod master;
mod packet;
mod players;
mod reader;
mod rules;
#[cfg(feature = "serde")]
mod serialize;
mod watchlist;
mod writer;

// The result types and the limits have their pages at the crate's root, where a newcomer
// looks; here they are re-exported only (one page each).
#[doc(no_inline)]
pub use crate::limits::Limits;
#[doc(no_inline)]
pub use arma::ArmaRules;
pub use arma::{ArmaMod, Difficulty, Dlc};

/// Keeps [`Job`] and [`Answer`] to the crate's own types, so their methods can change
/// without breaking anyone.
pub(crate) mod sealed {
    /// Implemented by the crate's jobs and answers only.
    pub trait Sealed {}
}
#[cfg(feature = "tokio")]
pub(crate) use addr_hash::IdMap;
pub use endpoint::{Endpoint, EndpointConfig, QueryId};
pub(crate) use exchange::later;
pub use exchange::{Answer, Draining, Exchange, ExchangeConfig, InfoReplies, Learned};
pub use filter::{Condition, Filter, Region};
#[doc(no_inline)]
pub use fragment::SplitFormat;
pub(crate) use fragment::DEFAULT_SPLIT_SIZE;
pub use fragment::{split_packet, Reassembler};
#[doc(no_inline)]
pub use info::{GoldSrcInfo, Info, Platform, ServerType, SourceInfo, TheShip};
#[doc(no_inline)]
pub use job::Answers;
pub(crate) use job::Asked;
pub use job::{AllQueries, AnyAnswer, AnyQuery, Job, Kind};
pub use master::{MasterConfig, MasterPage, MasterWalk};
pub(crate) use master::{A2M_GET_SERVERS_BATCH2, LIST_END};
pub use packet::{encode_challenge, Challenge, Datagram, Message, Query, Request};
pub use players::{encode_players, ShipLayout};
#[doc(no_inline)]
pub use players::{Player, Players};
#[doc(no_inline)]
pub use rules::Rules;
pub use rules::{encode_rules, RulesIter, RulesView};
#[doc(no_inline)]
pub use watchlist::{Change, Event, Reason, State, Status};
pub use watchlist::{WatchConfig, Watchlist};
