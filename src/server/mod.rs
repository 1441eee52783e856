//! A small A2S responder: answers info, player and rules queries for a server state.
//!
//! For game servers written in Rust, for test suites that need a real server on
//! loopback, and for this crate's demo and tests. [`Responder::respond`] is I/O-free
//! (request bytes in, reply datagrams out); [`Responder::spawn`] runs it on a UDP socket
//! in a thread. [`Farm`] serves thousands of simulated servers from one thread, each on
//! its own loopback address, some silent or lossy, replies held back by a delay: for
//! testing and benchmarking clients that query many servers.
//!
//! # What it sends
//!
//! By default it speaks as a current Source server does, so that the common clients
//! (python-a2s, little-a2s, node-gamedig, qstat, this crate) all read it:
//!
//! - every query, INFO included, is first answered with a challenge (`0x41`), then
//!   with the reply to the request that echoes it;
//! - info as `0x49` for a [`SourceInfo`](crate::proto::SourceInfo), or as the obsolete
//!   `0x6D` for a [`GoldSrcInfo`](crate::proto::GoldSrcInfo), with the server type and
//!   OS in upper case as real GoldSrc servers write them;
//! - The Ship's deaths and money in one block after all players
//!   ([`ShipLayout::Trailing`]), as real The Ship servers send them: clients that know
//!   nothing of those fields still read every player;
//! - replies longer than 1248 bytes split in the Source layout with the size field,
//!   uncompressed, as Orange Box and later engines do.
//!
//! # Safe to expose
//!
//! Challenges are keyed with a random key per responder (std's SipHash), so no one can
//! compute the challenge of an address they do not receive at. Until a request proves
//! it came from its source address (by echoing that address's challenge), the responder
//! never answers it with more bytes than the request carried: a spoofed request cannot
//! turn it into an amplifier against someone else. The one exception is loopback, which
//! cannot be spoofed from outside: there [`Responder::require_challenge`] off answers
//! everything directly, as the tests need. [`FakeMaster`], whose protocol has no
//! challenge, answers loopback clients only.
//!
//! The state's text can be of any encoding: a `Responder<Vec<u8>>` sends its bytes as
//! they are (a Latin-1 or Windows-1251 server, say), and [`Running::update`]
//! changes the state in place while it serves.
//!
//! The module needs nothing beyond the crate's own dependencies, so it is always built:
//! the demo, the examples and any test suite get it without a feature.
//!
//! It can also play older or odder servers, to test clients: no challenge
//! ([`Responder::require_challenge`]), The Ship's fields after each player
//! ([`ShipLayout::Interleaved`]), other split sizes and layouts (Source without the size
//! field, GoldSrc), bzip2-compressed splits, and silence on rules queries.

mod farm;
mod master;
mod running;
#[cfg(feature = "web-api")]
mod web_api;

pub use farm::{Farm, Fault};
pub use master::{FakeMaster, MasterRequest, RateLimit};
pub use running::Running;
use running::{Background, Served};
#[cfg(feature = "web-api")]
pub use web_api::{FakeWebApi, WebApiRequest};

use std::hash::{BuildHasher, RandomState};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::proto::{
    encode_challenge, encode_players, encode_rules, split_packet, Challenge, Info, Player, Query, ShipLayout,
    SplitFormat, DEFAULT_SPLIT_SIZE,
};
use master::Pacing;

/// How often the serving thread checks whether it should stop.
const POLL: Duration = Duration::from_millis(20);

/// What a [`Responder`] answers with, and how.
///
/// `S` is the text type of the state: `String` (sent as UTF-8), or `Vec<u8>` for bytes
/// sent as they are, to play a server of another encoding (a Latin-1 or Windows-1251
/// name) or one that sends invalid text:
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{server::Responder, Encoding, Info, SourceInfo};
///
/// let mut state = SourceInfo::empty();
/// state.server_name = b"Caf\xE9".to_vec(); // Latin-1, as old servers send
/// let server = Responder::new(Info::Source(state), vec![], vec![]).spawn("127.0.0.1:0")?;
/// let t = Duration::from_secs(2);
/// assert_eq!(a2s_query::info(server.local_addr(), t, Encoding::Latin1)?.server_name(), "Café");
/// assert_eq!(a2s_query::info(server.local_addr(), t, Encoding::Utf8)?.server_name(), "Caf\u{FFFD}");
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Responder<S = String> {
    /// The info reply (its layout decides 0x49 or 0x6D).
    pub info: Info<S>,
    /// The player list.
    pub players: Vec<Player<S>>,
    /// The rules, in order.
    pub rules: Vec<(S, S)>,
    /// Rules as bytes, sent instead of `rules` when set: binary rules such as an Arma
    /// 3 or DayZ server's ([`ArmaRules::to_rules`](crate::proto::ArmaRules::to_rules)).
    pub raw_rules: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// Ask for a challenge before answering (every query, INFO included), as current
    /// Source servers do. Default on.
    pub require_challenge: bool,
    /// Payload bytes per fragment; replies longer than this are split. Default 1248.
    pub split_size: usize,
    /// Split header layout. Default Source.
    pub split_format: SplitFormat,
    /// bzip2-compress split replies (old Source engines). Default off.
    pub compress: bool,
    /// Where The Ship's deaths and money go, when players carry them. Default
    /// [`ShipLayout::Trailing`], what real servers send (python-a2s, little-a2s and
    /// node-gamedig misread every player after the first in the interleaved layout).
    pub ship_layout: ShipLayout,
    /// Answer rules queries. Default on; off plays a server that never answers them
    /// (CS2 by default, Conan Exiles): rules requests get no reply at all.
    pub answer_rules: bool,
    /// Answer player queries. Default on; off plays a server that answers INFO only
    /// (CS2 with `host_players_show` below 2).
    pub answer_players: bool,
    /// A recorded server's replies, sent as they were received instead of the state's
    /// (`a2s replay`). Default none.
    pub replay: Option<Replay>,
    /// A flood filter, as game servers have: past the limit, requests from everyone go
    /// unanswered for its silence. Applied by [`Responder::spawn`]'s thread (the one
    /// with a clock). Default none.
    pub rate_limit: Option<RateLimit>,
    /// The random key of the challenges handed out.
    key: RandomState,
    split_id: u32,
}

impl<S: AsRef<[u8]>> Responder<S> {
    /// A responder for this server state, with the defaults above.
    pub fn new(info: Info<S>, players: Vec<Player<S>>, rules: Vec<(S, S)>) -> Self {
        Responder {
            info,
            players,
            rules,
            raw_rules: None,
            require_challenge: true,
            split_size: DEFAULT_SPLIT_SIZE,
            split_format: SplitFormat::Source,
            compress: false,
            ship_layout: ShipLayout::Trailing,
            answer_rules: true,
            answer_players: true,
            replay: None,
            rate_limit: None,
            key: RandomState::new(),
            split_id: 0,
        }
    }

    /// The challenge handed to `client`: stable per address for this responder, keyed
    /// with its random key (SipHash), so it cannot be computed from outside.
    pub fn challenge_for(&self, client: SocketAddr) -> Challenge {
        let h = self.key.hash_one((client.ip(), client.port()));
        // 31 bits: never the -1 placeholder.
        Challenge(((h as u32) & 0x7FFF_FFFF).to_le_bytes())
    }

    /// The datagrams answering one request from `client`: a challenge when one is
    /// required and the request lacks the right one (a stale challenge gets the current
    /// one, as Source servers do), else the reply, split when long; no datagram (an empty
    /// list) for bytes that are not an A2S request. A request that has not proven its
    /// source (by its challenge) never gets more bytes back than it carried, unless it
    /// comes from loopback: it gets the challenge instead, or nothing when even that is
    /// larger (a 5-byte GETCHALLENGE).
    ///
    /// # Errors
    /// [`Error::Unencodable`](crate::Error::Unencodable) when the state cannot be
    /// written (a NUL in a string, more than 255 players, too many fragments).
    pub fn respond(&mut self, request: &[u8], client: SocketAddr) -> Result<Vec<Vec<u8>>> {
        let Ok(query) = Query::parse(request) else { return Ok(Vec::new()) };
        if (matches!(query, Query::Rules(_)) && !self.answer_rules)
            || (matches!(query, Query::Players(_)) && !self.answer_players)
        {
            return Ok(Vec::new());
        }
        let expected = self.challenge_for(client);
        let given = match query {
            Query::Info(c) => c,
            Query::Players(c) | Query::Rules(c) => Some(c),
            Query::GetChallenge => None,
        };
        let proven = given == Some(expected) || from_loopback(client);
        let mut out = Vec::new();
        if query == Query::GetChallenge || (self.require_challenge && given != Some(expected)) {
            encode_challenge(expected, &mut out);
            return Ok(if proven || out.len() <= request.len() { vec![out] } else { Vec::new() });
        }
        if let Some(replay) = &self.replay {
            let recorded = match query {
                Query::Info(_) => &replay.info,
                Query::Players(_) => &replay.players,
                _ => &replay.rules,
            };
            return Ok(self.guarded(recorded.clone(), proven, request.len(), expected));
        }
        match query {
            Query::Info(_) => self.info.encode(&mut out)?,
            Query::Players(_) => encode_players(&self.players, self.ship_layout, &mut out)?,
            Query::Rules(_) => match &self.raw_rules {
                Some(raw) => encode_rules(raw.iter().map(|(n, v)| (n, v)), &mut out)?,
                None => encode_rules(self.rules.iter().map(|(n, v)| (n, v)), &mut out)?,
            },
            Query::GetChallenge => {}
        }
        let reply = if out.len() <= self.split_size {
            vec![out]
        } else {
            self.split_id = self.split_id.wrapping_add(1) & 0x7FFF_FFFF;
            split_packet(&out, self.split_id, self.split_format, self.split_size, self.compress)?
        };
        Ok(self.guarded(reply, proven, request.len(), expected))
    }

    /// The reply, when the client proved its address or it is no larger than the
    /// request; otherwise the challenge, when that is no larger; otherwise nothing.
    fn guarded(&self, reply: Vec<Vec<u8>>, proven: bool, request: usize, challenge: Challenge) -> Vec<Vec<u8>> {
        if proven || reply.iter().map(Vec::len).sum::<usize>() <= request {
            return reply;
        }
        // Not proven and larger than the request: the challenge, never the reply.
        let mut out = Vec::new();
        encode_challenge(challenge, &mut out);
        if out.len() <= request {
            vec![out]
        } else {
            Vec::new()
        }
    }

    /// Serves on a UDP socket bound to `addr` (port 0 picks a free one) in a new
    /// thread, until the returned handle is dropped or stopped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use a2s_query::{server::Responder, Info, SourceInfo};
    ///
    /// let mut state = SourceInfo::default();
    /// state.server_name = "local".into();
    /// let server = Responder::new(Info::Source(state), vec![], vec![]).spawn("127.0.0.1:0")?;
    /// let info = a2s_query::info(server.local_addr(), Duration::from_secs(1), Default::default())?;
    /// assert_eq!(info.server_name(), "local");
    /// # Ok::<(), a2s_query::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) when the socket cannot be bound.
    pub fn spawn<A: ToSocketAddrs>(self, addr: A) -> Result<Running<Responder<S>>>
    where
        S: Send + 'static,
    {
        let socket = UdpSocket::bind(addr)?;
        socket.set_read_timeout(Some(POLL))?;
        let local_addr = socket.local_addr()?;
        let served = Arc::new(AtomicU64::new(0));
        let state = Arc::new(Mutex::new(self));
        let serving = {
            let (served, state) = (Arc::clone(&served), Arc::clone(&state));
            Background::spawn(move |stop| serve(&socket, &state, stop, &served))
        };
        Ok(Running::new(local_addr, (served, state), serving))
    }
}

fn serve<S: AsRef<[u8]>>(socket: &UdpSocket, state: &Mutex<Responder<S>>, stop: &AtomicBool, served: &AtomicU64) {
    let mut buf = vec![0; 2048];
    let mut pacing = Pacing::default();
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
        let request = buf.get(..n).unwrap_or_default();
        served.fetch_add(1, Ordering::Relaxed);
        let replies = match state.lock() {
            Ok(mut s) => match s.rate_limit {
                Some(limit) if !pacing.allows(&limit, Instant::now()) => Vec::new(),
                _ => s.respond(request, from).unwrap_or_default(),
            },
            Err(_) => return,
        };
        for r in replies {
            let _ = socket.send_to(&r, from);
        }
    }
}

/// Whether `from` is a loopback address (an IPv4-mapped one included): the one source
/// that cannot be spoofed from outside, so the servers here trust it unproven.
pub(crate) fn from_loopback(from: SocketAddr) -> bool {
    from.ip().to_canonical().is_loopback()
}

/// A recorded server's replies for a [`Responder`] to send as they were: the datagrams
/// of each kind of reply, in the order they came. A kind left empty goes unanswered.
/// The responder's own challenges guard them, as they guard its state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replay {
    /// The info reply's datagrams.
    pub info: Vec<Vec<u8>>,
    /// The players reply's datagrams.
    pub players: Vec<Vec<u8>>,
    /// The rules reply's datagrams.
    pub rules: Vec<Vec<u8>>,
}

/// What a responder's handle reads: the requests counted, the state it answers with.
impl<S> Served for Responder<S> {
    type Seen = (Arc<AtomicU64>, Arc<Mutex<Responder<S>>>);
}
impl<S> running::sealed::Sealed for Responder<S> {}

impl<S> Running<Responder<S>> {
    /// Requests received so far (answered or not).
    pub fn requests(&self) -> u64 {
        self.seen.0.load(Ordering::Relaxed)
    }

    /// Changes the served state in place while it runs (nothing is copied); requests
    /// wait until `change` returns.
    ///
    /// ```
    /// use std::time::Duration;
    /// use a2s_query::{server::Responder, Info, Player, SourceInfo};
    ///
    /// let server = Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]).spawn("127.0.0.1:0")?;
    /// server.update(|state| state.players.push(Player::new("late".to_string(), 0, 1.0)));
    /// let players = a2s_query::players(server.local_addr(), Duration::from_secs(2), Default::default())?;
    /// assert_eq!(players[0].name, "late");
    /// # Ok::<(), a2s_query::Error>(())
    /// ```
    pub fn update(&self, change: impl FnOnce(&mut Responder<S>)) {
        if let Ok(mut s) = self.seen.1.lock() {
            change(&mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Datagram, SourceInfo};

    /// Only loopback sources go unproven (the fake master answers nothing else), in
    /// either family.
    #[test]
    fn only_loopback_clients_are_answered() {
        for ok in ["127.0.0.1:5", "127.9.8.7:5", "[::1]:5", "[::ffff:127.0.0.1]:5"] {
            assert!(from_loopback(ok.parse().unwrap()), "{ok}");
        }
        for no in ["192.0.2.1:5", "10.0.0.1:5", "[2001:db8::1]:5", "[::ffff:192.0.2.1]:5", "0.0.0.0:5"] {
            assert!(!from_loopback(no.parse().unwrap()), "{no}");
        }
    }

    fn client() -> SocketAddr {
        "127.0.0.1:5555".parse().unwrap()
    }

    fn responder() -> Responder {
        let info = SourceInfo { server_name: "r".to_string(), ..Default::default() };
        Responder::new(Info::Source(info), vec![], vec![("a".into(), "b".into())])
    }

    #[test]
    fn asks_for_a_challenge_then_answers() {
        let mut r = responder();
        let first = r.respond(&Query::Rules(Challenge::REQUEST).encode(), client()).unwrap();
        let Ok(Datagram::Challenge(c)) = Datagram::classify(&first[0]) else { panic!("{first:?}") };
        assert_eq!(c, r.challenge_for(client()));
        let second = r.respond(&Query::Rules(c).encode(), client()).unwrap();
        assert!(matches!(Datagram::classify(&second[0]), Ok(Datagram::Single(m)) if m.kind == 0x45));
    }

    #[test]
    fn challenges_differ_per_client_and_are_never_minus_one() {
        let r = responder();
        let other: SocketAddr = "127.0.0.1:5556".parse().unwrap();
        assert_ne!(r.challenge_for(client()), r.challenge_for(other));
        assert_ne!(r.challenge_for(client()), Challenge::REQUEST);
    }

    #[test]
    fn answers_directly_without_challenges_and_splits_long_replies() {
        let mut r = responder();
        r.require_challenge = false;
        r.rules = (0..300).map(|i| (format!("rule{i}"), "x".repeat(20))).collect();
        let out = r.respond(&Query::Rules(Challenge::REQUEST).encode(), client()).unwrap();
        assert!(out.len() > 3);
        assert!(out.iter().all(|d| matches!(Datagram::classify(d), Ok(Datagram::Split(_)))));
        assert!(r.respond(b"junk", client()).unwrap().is_empty());
    }

    #[test]
    fn challenges_are_keyed_per_responder() {
        let (a, b) = (responder(), responder());
        let keyed = (0..4u16).filter(|p| {
            let c: SocketAddr = SocketAddr::new(client().ip(), 5000 + p);
            a.challenge_for(c) != b.challenge_for(c)
        });
        // Two random 31-bit values collide once in two billion: four in a row never.
        assert!(keyed.count() >= 3);
        assert_eq!(a.challenge_for(client()), a.challenge_for(client()), "stable per address");
    }

    /// No reflection: a spoofed request (one that has not echoed its address's
    /// challenge) from outside loopback never draws more bytes than it carried.
    #[test]
    fn unproven_requests_are_never_amplified() {
        let victim: SocketAddr = "203.0.113.9:27005".parse().unwrap();
        let mut r = responder();
        r.require_challenge = false;
        r.rules = (0..300).map(|i| (format!("rule{i}"), "x".repeat(20))).collect();
        r.info = Info::Source(crate::proto::SourceInfo { server_name: "x".repeat(100), ..Default::default() });
        r.players = (0..10)
            .map(|i| Player { index: 0, name: format!("p{i}"), score: 0, duration: 1.0, deaths: None, money: None })
            .collect();
        for query in [Query::Info(None), Query::Players(Challenge::REQUEST), Query::Rules(Challenge::REQUEST)] {
            let request = query.encode();
            let out = r.respond(&request, victim).unwrap();
            let sent: usize = out.iter().map(Vec::len).sum();
            assert!(sent <= request.len(), "{query:?}: {sent} bytes for {}", request.len());
            let Ok(Datagram::Challenge(c)) = Datagram::classify(&out[0]) else { panic!("{query:?}: {out:?}") };
            // With the challenge echoed, the address is proven: the whole reply.
            let whole = r.respond(&query.with_challenge(c).encode(), victim).unwrap();
            assert!(whole.iter().map(Vec::len).sum::<usize>() > request.len(), "{query:?}");
        }
        // The 5-byte legacy GETCHALLENGE would draw 9: nothing; its 9-byte form is answered.
        assert!(r.respond(&Query::GetChallenge.encode(), victim).unwrap().is_empty());
        let padded = [&Query::GetChallenge.encode()[..], &[0xFF; 4]].concat();
        assert_eq!(r.respond(&padded, victim).unwrap().len(), 1);
        // Loopback cannot be spoofed from outside: answered directly, as tests need.
        let direct = r.respond(&Query::Info(None).encode(), client()).unwrap();
        assert!(matches!(Datagram::classify(&direct[0]), Ok(Datagram::Single(m)) if m.kind == 0x49));
    }

    /// A replayed recording is guarded as the state is: an unproven address gets the
    /// challenge (never more than it sent), a proven one the recorded datagrams as they
    /// were, and a kind not recorded nothing.
    #[test]
    fn a_replay_is_never_amplified_either() {
        let victim: SocketAddr = "203.0.113.9:27005".parse().unwrap();
        let mut r = responder();
        r.require_challenge = false;
        let fragments = vec![vec![0xFE; 1200], vec![0xFE; 900]];
        r.replay = Some(Replay {
            info: vec![b"\xFF\xFF\xFF\xFFI recorded".to_vec()],
            players: vec![],
            rules: fragments.clone(),
        });
        let request = Query::Rules(Challenge::REQUEST).encode();
        let out = r.respond(&request, victim).unwrap();
        assert!(out.iter().map(Vec::len).sum::<usize>() <= request.len(), "{out:?}");
        let Ok(Datagram::Challenge(c)) = Datagram::classify(&out[0]) else { panic!("{out:?}") };
        assert_eq!(r.respond(&Query::Rules(c).encode(), victim).unwrap(), fragments, "proven: as recorded");
        assert!(r.respond(&Query::Players(c).encode(), victim).unwrap().is_empty(), "not recorded: no reply");
        let info = r.respond(&Query::Info(Some(c)).encode(), victim).unwrap();
        assert_eq!(info, [b"\xFF\xFF\xFF\xFFI recorded".to_vec()]);
    }

    #[test]
    fn a_server_that_never_answers_rules_stays_silent_but_answers_the_rest() {
        let mut r = responder();
        r.answer_rules = false;
        r.require_challenge = false;
        assert!(r.respond(&Query::Rules(Challenge::REQUEST).encode(), client()).unwrap().is_empty());
        let c = r.challenge_for(client());
        assert!(r.respond(&Query::Rules(c).encode(), client()).unwrap().is_empty());
        let info = r.respond(&Query::Info(None).encode(), client()).unwrap();
        assert!(matches!(Datagram::classify(&info[0]), Ok(Datagram::Single(m)) if m.kind == 0x49));
    }
}
