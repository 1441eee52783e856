//! Ask Valve game servers about themselves over the A2S query protocol.

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod encoding;
mod error;
mod limits;
pub mod proto;

pub use encoding::{DecodeError, Encoding, Raw, TextDecoder};
pub use error::{Error, Result};
pub use limits::Limits;
pub use proto::{GoldSrcInfo, Info, Platform, Player, Rules, ServerType, SourceInfo, TheShip};
