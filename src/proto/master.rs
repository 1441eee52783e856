//! The UDP master server protocol's bytes (`A2M_GET_SERVERS_BATCH2`): the request for
//! one page of a server list, and the page that answers it. No I/O.
//!
//! A walk asks for pages in turn, each seeded with the last address of the page before
//! (the first with `0.0.0.0:0`), over one socket (a new source port starts the list
//! again); the entry `0.0.0.0:0` ends the list.

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::exchange::later;
use super::filter::Region;
use crate::error::{Error, Result};

/// The request's type byte (`'1'`).
pub(crate) const A2M_GET_SERVERS_BATCH2: u8 = 0x31;
/// The start of every reply page: `FF FF FF FF 66 0A`.
pub(crate) const M2A_SERVER_BATCH: [u8; 6] = [0xFF, 0xFF, 0xFF, 0xFF, 0x66, 0x0A];
/// The seed of a walk's first request, and the entry that ends the list.
pub(crate) const LIST_END: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
/// Bytes per address in a page: 4 for the IP, 2 for the port (big-endian).
const ENTRY_LEN: usize = 6;
/// Most addresses one walk gives out (and remembers, about 20 MB at most): Valve's
/// largest lists held about a hundred thousand.
pub const MAX_LISTED: usize = 1_000_000;

/// The request with the filter already rendered.
fn request_bytes(region: Region, seed: SocketAddrV4, filter: &str) -> Vec<u8> {
    let seed = seed.to_string();
    let mut out = Vec::with_capacity(4 + seed.len() + filter.len());
    out.push(A2M_GET_SERVERS_BATCH2);
    out.push(region.to_byte());
    out.extend_from_slice(seed.as_bytes());
    out.push(0);
    out.extend_from_slice(filter.as_bytes());
    out.push(0);
    out
}

/// One page of a server list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MasterPage {
    /// The addresses, in the master's order, without the end marker.
    pub servers: Vec<SocketAddrV4>,
    /// Whether the page ended the list (it held `0.0.0.0:0`).
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

/// How a [`MasterWalk`] paces and bounds itself.
///
/// New options may come (`#[non_exhaustive]`): start from `default()` and set the
/// fields you change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MasterConfig {
    /// The region asked for. Default [`Region::World`].
    pub region: Region,
    /// The filter, rendered.
    pub filter: String,
    /// How long to wait for a page before asking again. Default 3 s; each retry of the
    /// same page waits twice as long as the one before (back-off).
    pub page_timeout: Duration,
    /// Extra requests for a page that got no answer. Default 3.
    pub retries: u8,
    /// The least time between two requests. Default 2 s: 30 a minute, what Valve's
    /// master allowed before it stopped answering for a minute.
    pub pace: Duration,
    /// Bounds the whole walk. Default 5 minutes.
    pub timeout: Duration,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            region: Region::World,
            filter: String::new(),
            page_timeout: Duration::from_secs(3),
            retries: 3,
            pace: Duration::from_secs(2),
            timeout: Duration::from_secs(300),
        }
    }
}

/// A walk of a master server's list, I/O-free: requests out, pages in, addresses out,
/// as [`Exchange`](super::Exchange) does for one query. The driver sends what
/// [`MasterWalk::poll_transmit`] gives over one socket, hands in what comes back, and
/// calls [`MasterWalk::handle_timeout`] at [`MasterWalk::poll_timeout`].
///
/// The walk ends well only at the master's end marker. A page equal to one already
/// read is a copy, whenever it comes (pages carry no id: a retried request may be
/// answered twice, the copy after the next request went out), and is ignored. Anything
/// else ends it with [`Error::MasterIncomplete`], saying how far it got: the master
/// stops answering (or sends only copies), a page does not move on (its last address is
/// the seed it was asked with) without the end marker, or the deadline passes.
#[derive(Debug)]
pub struct MasterWalk {
    config: MasterConfig,
    seed: SocketAddrV4,
    deadline: Instant,
    /// When the next request may go (the pace); `None` while one is out.
    send_at: Option<Instant>,
    last_sent: Option<Instant>,
    /// When the request out is given up on.
    give_up_at: Option<Instant>,
    attempts: u8,
    /// Every page read, by content: a copy must read neither as the end of the list
    /// nor as a page.
    read: HashSet<(u64, usize, Option<SocketAddrV4>)>,
    /// Copies ignored while the request out waited (for the reason, if it fails).
    copies: u32,
    /// Every address given out, so none is given twice.
    seen: HashSet<SocketAddrV4>,
    pages: u32,
    servers: u64,
    ready: VecDeque<SocketAddrV4>,
    outcome: Option<Result<()>>,
    /// Whether the walk ended (its outcome may have been taken since).
    over: bool,
}

impl MasterWalk {
    /// A walk starting at `now`, its first request due at once.
    pub fn new(config: MasterConfig, now: Instant) -> Self {
        // A timeout past what the clock can hold is no deadline at all.
        let deadline = later(now, config.timeout);
        MasterWalk {
            config,
            seed: LIST_END,
            deadline,
            send_at: Some(now),
            last_sent: None,
            give_up_at: None,
            attempts: 0,
            read: HashSet::new(),
            copies: 0,
            seen: HashSet::new(),
            pages: 0,
            servers: 0,
            ready: VecDeque::new(),
            outcome: None,
            over: false,
        }
    }

    /// The request to send now, if one is due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.over || self.send_at.is_none_or(|t| now < t) {
            return None;
        }
        self.send_at = None;
        self.last_sent = Some(now);
        // Each retry of a page waits twice as long: 1, 2, 4, 8 page timeouts.
        let wait = self.config.page_timeout.saturating_mul(1 << self.attempts.min(8));
        self.give_up_at = Some(now.checked_add(wait).unwrap_or(self.deadline).min(self.deadline));
        Some(request_bytes(self.config.region, self.seed, &self.config.filter))
    }

    /// When to call [`MasterWalk::handle_timeout`]; `None` once over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.over {
            return None;
        }
        Some(self.send_at.or(self.give_up_at).unwrap_or(self.deadline).min(self.deadline))
    }

    /// Moves the timers to `now`: a page given up on is asked for again, or the walk
    /// ends when its retries are spent or its deadline passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.over {
            return;
        }
        if now >= self.deadline {
            return self.stop("the walk's deadline passed");
        }
        if self.give_up_at.is_some_and(|t| now >= t) {
            self.give_up_at = None;
            if self.attempts >= self.config.retries {
                return self.stop(if self.copies > 0 {
                    "the master sent only pages already read"
                } else {
                    "the master stopped answering"
                });
            }
            self.attempts += 1;
            self.send_at = Some(now);
        }
    }

    /// Takes one datagram from the master. A datagram that is not a page, or that
    /// comes with no request out, is ignored.
    pub fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        self.handle_timeout(now);
        if self.over {
            return;
        }
        let Ok(page) = MasterPage::parse(datagram) else { return };
        let print = fingerprint(&page);
        if self.read.contains(&print) {
            // A copy of a page already read (its request went more than once, or the
            // network doubled it): counted while a request waits, for the reason.
            if self.give_up_at.is_some() {
                self.copies = self.copies.saturating_add(1);
            }
            return;
        }
        if self.give_up_at.is_none() {
            // No request out: not an answer.
            return;
        }
        let progress = page.servers.last().is_some_and(|&last| last != self.seed);
        let new = page.servers.iter().filter(|a| !self.seen.contains(a)).count();
        if self.seen.len().saturating_add(new) > MAX_LISTED || self.read.len() >= MAX_LISTED {
            return self.stop("the list passed the most servers a walk keeps");
        }
        self.give_up_at = None;
        self.attempts = 0;
        self.copies = 0;
        self.pages = self.pages.saturating_add(1);
        self.read.insert(print);
        // (A master may repeat the seed first, or list a server twice: each is given
        // out once.)
        for &addr in &page.servers {
            if self.seen.insert(addr) {
                self.ready.push_back(addr);
                self.servers = self.servers.saturating_add(1);
            }
        }
        if page.last {
            self.outcome = Some(Ok(()));
            self.over = true;
            return;
        }
        if !progress {
            return self.stop("a page did not move on, and the master never sent the end of the list");
        }
        if let Some(&last) = page.servers.last() {
            self.seed = last;
        }
        let paced = self.last_sent.map_or(now, |t| later(t, self.config.pace));
        self.send_at = Some(paced.max(now));
    }

    /// The next address listed, in the master's order.
    pub fn poll_address(&mut self) -> Option<SocketAddrV4> {
        self.ready.pop_front()
    }

    /// How the walk ended, once it has (taken): `Ok` at the end of the list.
    pub fn poll_outcome(&mut self) -> Option<Result<()>> {
        if self.ready.is_empty() {
            self.outcome.take()
        } else {
            None
        }
    }

    /// Whether the walk is over (addresses may still wait in [`MasterWalk::poll_address`]).
    pub fn is_over(&self) -> bool {
        self.over
    }

    fn stop(&mut self, reason: &'static str) {
        self.give_up_at = None;
        self.outcome = Some(Err(Error::MasterIncomplete { reason, pages: self.pages, servers: self.servers }));
        self.over = true;
    }
}

/// What tells a page from another: a hash of its addresses and end marker, their count
/// and its last address.
fn fingerprint(page: &MasterPage) -> (u64, usize, Option<SocketAddrV4>) {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    page.hash(&mut hasher);
    (hasher.finish(), page.servers.len(), page.servers.last().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Condition::{AppId, NotEmpty};
    use crate::proto::Filter;
    use std::str::FromStr;

    fn request(region: Region, seed: SocketAddrV4, filter: &Filter) -> Vec<u8> {
        request_bytes(region, seed, &filter.render().unwrap())
    }

    /// The region byte a request carries (its second byte, after the message type).
    fn region_byte(region: Region) -> u8 {
        request(region, LIST_END, &Filter::new())[1]
    }

    #[test]
    fn a_request_carries_region_seed_and_filter() {
        let seed: SocketAddrV4 = "203.0.113.7:27015".parse().unwrap();
        let r = request(Region::World, seed, &Filter::from_iter([AppId(440), NotEmpty]));
        assert_eq!(r, b"1\xFF203.0.113.7:27015\0\\appid\\440\\empty\\1\0");
        let first = request(Region::UsEast, LIST_END, &Filter::new());
        assert_eq!(first, b"1\x000.0.0.0:0\0\0", "an empty filter is a single NUL");
        let europe = request(Region::Europe, LIST_END, &Filter::from(AppId(440)));
        assert_eq!(europe, b"1\x030.0.0.0:0\0\\appid\\440\0");
        let regions = [
            (Region::UsWest, 1),
            (Region::SouthAmerica, 2),
            (Region::Europe, 3),
            (Region::Asia, 4),
            (Region::Australia, 5),
            (Region::MiddleEast, 6),
            (Region::Africa, 7),
            (Region::Other(9), 9),
        ];
        for (region, byte) in regions {
            assert_eq!(region_byte(region), byte);
        }
    }

    #[test]
    fn regions_by_name_and_byte() {
        assert_eq!(Region::from_str("europe").unwrap(), Region::Europe);
        assert_eq!(Region::from_str("US_East").unwrap(), Region::UsEast);
        assert_eq!(region_byte(Region::from_str("middle-east").unwrap()), 6);
        assert_eq!(region_byte(Region::from_str("world").unwrap()), 0xFF);
        assert_eq!(Region::from_str("7").unwrap(), Region::Africa);
        assert_eq!(Region::from_str("9").unwrap(), Region::Other(9));
        assert!(Region::from_str("mars").unwrap_err().to_string().contains("europe"));
        for b in 0..=255u8 {
            assert_eq!(region_byte(Region::from_str(&b.to_string()).unwrap()), b);
        }
    }
}
