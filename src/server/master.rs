//! A fake master server, for testing list walks: a given list served in pages of a
//! given size, with lost replies, a master that goes silent on request, and the rate
//! limit Valve's masters kept (so many requests a window, then a silence).

use std::net::{SocketAddrV4, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::running::{self, Background, Served};
use super::{from_loopback, Running};
use crate::error::Result;
use crate::proto::{MasterPage, A2M_GET_SERVERS_BATCH2, LIST_END};

/// How often the serving thread checks whether it should stop.
const POLL: Duration = Duration::from_millis(20);

/// One request the fake master received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MasterRequest {
    /// The region byte.
    pub region: u8,
    /// The seed, as sent.
    pub seed: String,
    /// The filter, as sent.
    pub filter: String,
}

/// A master server playing back `servers` in pages of `page_size`.
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{master::MasterQuery, server::FakeMaster};
/// let list: Vec<_> = (1..=5u8).map(|i| format!("192.0.2.{i}:27015").parse().unwrap()).collect();
/// let master = FakeMaster::new(list.clone(), 2).spawn("127.0.0.1:0")?;
/// let walk = MasterQuery::new(master.local_addr())?.pace(Duration::ZERO).walk()?;
/// let got: Vec<_> = walk.collect::<Result<_, _>>()?;
/// assert_eq!(got, list.iter().map(|&a| std::net::SocketAddr::V4(a)).collect::<Vec<_>>());
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FakeMaster {
    /// The list, in order.
    pub servers: Vec<SocketAddrV4>,
    /// Addresses per page.
    pub page_size: usize,
    /// Requests (counted from 0) left unanswered, as lost replies.
    pub lose: Vec<usize>,
    /// Stop answering new pages after this many (a master that goes silent); a page
    /// already answered is answered again when asked again (a retry).
    pub silent_after: Option<usize>,
    /// A rate limit: past it, requests go unanswered for a while.
    pub rate_limit: Option<RateLimit>,
}

/// A rate limit, a master's or a game server's: at most `requests` answered in any
/// `window`; one more and it answers nothing for `silence`. Valve's masters: 30 a
/// minute, then 60 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests answered in any window.
    pub requests: usize,
    /// The window.
    pub window: Duration,
    /// How long it stays silent once the limit is passed.
    pub silence: Duration,
}

impl RateLimit {
    /// Valve's: 30 requests a minute, then a minute of silence.
    pub const VALVE: RateLimit = RateLimit::new(30, Duration::from_secs(60), Duration::from_secs(60));

    /// At most `requests` answered in any `window`, then `silence`.
    pub const fn new(requests: usize, window: Duration, silence: Duration) -> Self {
        RateLimit { requests, window, silence }
    }
}

/// What a rate-limited server has answered lately.
#[derive(Debug, Default)]
pub(crate) struct Pacing {
    answered: Vec<Instant>,
    silent_until: Option<Instant>,
}

impl Pacing {
    /// Whether a request arriving `now` may be answered under `limit`.
    pub(crate) fn allows(&mut self, limit: &RateLimit, now: Instant) -> bool {
        if self.silent_until.is_some_and(|until| now < until) {
            return false;
        }
        self.answered.retain(|&t| now.duration_since(t) < limit.window);
        if self.answered.len() >= limit.requests {
            self.silent_until = Some(crate::proto::later(now, limit.silence));
            return false;
        }
        self.answered.push(now);
        true
    }
}

impl FakeMaster {
    /// A master serving `servers`, `page_size` a page, losing nothing.
    pub fn new(servers: Vec<SocketAddrV4>, page_size: usize) -> Self {
        FakeMaster { servers, page_size: page_size.max(1), lose: Vec::new(), silent_after: None, rate_limit: None }
    }

    /// The same, leaving the requests in `lose` (counted from 0) unanswered.
    pub fn lose(mut self, lose: Vec<usize>) -> Self {
        self.lose = lose;
        self
    }

    /// The same, silent on new pages after `pages` of them.
    pub fn silent_after(mut self, pages: usize) -> Self {
        self.silent_after = Some(pages);
        self
    }

    /// The same, under a rate limit ([`RateLimit::VALVE`], say).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The page answering a request seeded with `seed`: the addresses after it.
    pub fn page_after(&self, seed: SocketAddrV4) -> MasterPage {
        let start =
            if seed == LIST_END { 0 } else { self.servers.iter().position(|&a| a == seed).map_or(0, |i| i + 1) };
        let end = start.saturating_add(self.page_size).min(self.servers.len());
        let servers = self.servers.get(start..end).unwrap_or_default().to_vec();
        MasterPage { servers, last: end >= self.servers.len() }
    }

    /// Serves on `addr` in a new thread until the handle is dropped.
    ///
    /// It answers clients on loopback only, wherever it is bound: the master protocol
    /// has no challenge, so a page (up to 1.4 KB for a request of a few dozen bytes)
    /// sent to any source address would let a spoofed request aim it at someone else.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) when the socket cannot be bound.
    pub fn spawn<A: ToSocketAddrs>(self, addr: A) -> Result<Running<FakeMaster>> {
        let socket = UdpSocket::bind(addr)?;
        socket.set_read_timeout(Some(POLL))?;
        let local_addr = socket.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let serving = Background::spawn(move |stop| self.serve(&socket, stop, &log));
        Ok(Running::new(local_addr, requests, serving))
    }

    fn serve(&self, socket: &UdpSocket, stop: &AtomicBool, requests: &Mutex<Vec<MasterRequest>>) {
        let mut buf = [0u8; 1500];
        let mut pages: Vec<String> = Vec::new();
        let mut pacing = Pacing::default();
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
            // Nothing proves a source address here: loopback only.
            if !from_loopback(from) {
                continue;
            }
            let Some(request) = parse_request(buf.get(..n).unwrap_or_default()) else { continue };
            let count = match requests.lock() {
                Ok(mut r) => {
                    r.push(request.clone());
                    r.len() - 1
                }
                Err(_) => return,
            };
            let new_page = !pages.contains(&request.seed);
            if self.lose.contains(&count) || (new_page && self.silent_after.is_some_and(|s| pages.len() >= s)) {
                continue;
            }
            if self.rate_limit.is_some_and(|limit| !pacing.allows(&limit, Instant::now())) {
                continue;
            }
            if new_page {
                pages.push(request.seed.clone());
            }
            let seed = request.seed.parse().unwrap_or(LIST_END);
            let mut out = Vec::new();
            self.page_after(seed).encode(&mut out);
            let _ = socket.send_to(&out, from);
        }
    }
}

fn parse_request(bytes: &[u8]) -> Option<MasterRequest> {
    let (&kind, rest) = bytes.split_first()?;
    let (&region, rest) = rest.split_first()?;
    if kind != A2M_GET_SERVERS_BATCH2 {
        return None;
    }
    let mut parts = rest.split(|&b| b == 0);
    let seed = String::from_utf8_lossy(parts.next()?).into_owned();
    let filter = String::from_utf8_lossy(parts.next()?).into_owned();
    Some(MasterRequest { region, seed, filter })
}

/// What a fake master's handle reads: the requests it received.
impl Served for FakeMaster {
    type Seen = Arc<Mutex<Vec<MasterRequest>>>;
}
impl running::sealed::Sealed for FakeMaster {}

impl Running<FakeMaster> {
    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<MasterRequest> {
        self.seen.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_answers_so_many_a_window_then_stays_silent() {
        let limit = RateLimit { requests: 3, window: Duration::from_secs(10), silence: Duration::from_secs(30) };
        let mut pacing = Pacing::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let answered: Vec<bool> = [0, 1, 2, 3, 4].iter().map(|&s| pacing.allows(&limit, at(s))).collect();
        assert_eq!(answered, [true, true, true, false, false], "the fourth in the window starts the silence");
        // Silent until 3 + 30 s, though the window has long moved on.
        assert!(!pacing.allows(&limit, at(20)));
        assert!(!pacing.allows(&limit, at(32)));
        assert!(pacing.allows(&limit, at(33)));
        assert!(pacing.allows(&limit, at(34)));
        // Requests spread wider than the window never hit the limit.
        let mut spread = Pacing::default();
        assert!((0..20).all(|i| spread.allows(&limit, at(i * 4))));
    }
}
