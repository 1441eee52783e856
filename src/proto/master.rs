//! The UDP master server protocol's bytes (`A2M_GET_SERVERS_BATCH2`): the request for
//! one page of a server list, and the page that answers it. No I/O.
//!
//! A walk asks for pages in turn, each seeded with the last address of the page before
//! (the first with `0.0.0.0:0`), over one socket (a new source port starts the list
//! again); the entry `0.0.0.0:0` ends the list.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::filter::{Filter, Region};
use crate::error::{Error, Result};

/// The request's type byte (`'1'`).
pub const A2M_GET_SERVERS_BATCH2: u8 = 0x31;
/// The start of every reply page: `FF FF FF FF 66 0A`.
pub const M2A_SERVER_BATCH: [u8; 6] = [0xFF, 0xFF, 0xFF, 0xFF, 0x66, 0x0A];
/// The seed of a walk's first request, and the entry that ends the list.
pub const LIST_END: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
/// Bytes per address in a page: 4 for the IP, 2 for the port (big-endian).
const ENTRY_LEN: usize = 6;

/// The request for the page after `seed` (the last address of the page before, or
/// [`LIST_END`] for the first).
///
/// ```
/// use a2s_query::proto::{encode_master_request, Filter, Region, LIST_END};
/// # fn main() -> a2s_query::Result<()> {
/// let request = encode_master_request(Region::Europe, LIST_END, &Filter::new().app_id(440))?;
/// assert_eq!(request, b"1\x030.0.0.0:0\0\\appid\\440\0");
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`Filter::render`].
pub fn encode_master_request(region: Region, seed: SocketAddrV4, filter: &Filter) -> Result<Vec<u8>> {
    let filter = filter.render()?;
    let seed = seed.to_string();
    let mut out = Vec::with_capacity(4 + seed.len() + filter.len());
    out.push(A2M_GET_SERVERS_BATCH2);
    out.push(region.to_byte());
    out.extend_from_slice(seed.as_bytes());
    out.push(0);
    out.extend_from_slice(filter.as_bytes());
    out.push(0);
    Ok(out)
}

/// One page of a server list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterPage {
    /// The addresses, in the master's order, without the end marker.
    pub servers: Vec<SocketAddrV4>,
    /// Whether the page ended the list (it held [`LIST_END`]).
    pub last: bool,
}

impl MasterPage {
    /// Reads a reply page.
    ///
    /// ```
    /// use std::net::SocketAddrV4;
    /// use a2s_query::proto::MasterPage;
    /// # fn main() -> a2s_query::Result<()> {
    /// let page = MasterPage::parse(b"\xFF\xFF\xFF\xFF\x66\x0A\xC0\x00\x02\x07\x69\x87\0\0\0\0\0\0")?;
    /// assert_eq!(page.servers, ["192.0.2.7:27015".parse::<SocketAddrV4>().unwrap()]);
    /// assert!(page.last);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NotA2s`] when it does not start with `FF FF FF FF 66 0A`;
    /// [`Error::Truncated`] when it ends inside an address.
    pub fn parse(datagram: &[u8]) -> Result<Self> {
        let Some(entries) = datagram.strip_prefix(&M2A_SERVER_BATCH) else {
            let mut header = [0; 4];
            for (h, b) in header.iter_mut().zip(datagram) {
                *h = *b;
            }
            return Err(Error::NotA2s { header });
        };
        let chunks = entries.chunks_exact(ENTRY_LEN);
        if !chunks.remainder().is_empty() {
            let offset = M2A_SERVER_BATCH.len() + entries.len() - chunks.remainder().len();
            return Err(Error::Truncated { field: "server address", offset });
        }
        let mut servers = Vec::with_capacity(entries.len() / ENTRY_LEN);
        let mut last = false;
        for entry in chunks {
            let [a, b, c, d, hi, lo] = <[u8; ENTRY_LEN]>::try_from(entry).unwrap_or_default();
            let addr = SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), u16::from_be_bytes([hi, lo]));
            if addr == LIST_END {
                last = true;
                break;
            }
            servers.push(addr);
        }
        Ok(MasterPage { servers, last })
    }

    /// Writes a page (for a fake master in tests): `servers`, then the end marker when
    /// `last`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&M2A_SERVER_BATCH);
        let end = self.last.then_some(LIST_END);
        for addr in self.servers.iter().chain(end.iter()) {
            out.extend_from_slice(&addr.ip().octets());
            out.extend_from_slice(&addr.port().to_be_bytes());
        }
    }
}
