//! A record of every datagram a client sends and receives, with its time: what `a2s
//! --record` writes as a test case, for programs too ([`Builder::record`], on
//! every driver's builder).
//!
//! [`Builder::record`]: crate::Builder::record

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::proto::{Datagram, Kind, Query};

/// Bytes of datagrams a recording keeps; past them, datagrams are counted, not kept.
/// Each datagram counts its bytes and [`NOTE_COST`] more (its note's own memory).
const MAX_RECORDED_BYTES: usize = 64 << 20;
/// What each datagram kept costs besides its bytes (its note and its allocation): so
/// that a flood of empty datagrams fills the recording too.
const NOTE_COST: usize = 64;
/// The most fragments a reply of a recorded query keeps: as many as one split reply
/// can have.
const MAX_REPLY_FRAGMENTS: usize = 255;

/// A shared log of datagrams: give it to a builder, read it with [`Recording::take`].
/// Clones share one log. It keeps at most 64 MiB of datagrams (then counts what it
/// drops: [`Recording::dropped`]).
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{Client, Recording};
/// # let mut local = a2s_query::SourceInfo::default();
/// # local.server_name = "recorded".into();
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(local), vec![], vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
///
/// let recording = Recording::new();
/// let mut client = Client::builder().timeout(Duration::from_secs(2)).record(&recording).build();
/// client.info(addr)?;
/// let datagrams = recording.take();
/// // The request, the server's challenge, the request again, the reply.
/// assert_eq!(datagrams.iter().map(|d| d.sent).collect::<Vec<_>>(), [true, false, true, false]);
/// assert!(datagrams.iter().all(|d| d.peer == addr));
/// assert_eq!(&datagrams[3].bytes[..5], b"\xFF\xFF\xFF\xFFI");
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Recording {
    log: Arc<Mutex<Log>>,
}

#[derive(Debug, Default)]
struct Log {
    /// When the first datagram was noted: offsets count from it.
    started: Option<Instant>,
    captured: Vec<Captured>,
    bytes: usize,
    dropped: u64,
}

/// One datagram of a [`Recording`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Captured {
    /// When, from the recording's first datagram.
    pub at: Duration,
    /// The server it went to or came from.
    pub peer: SocketAddr,
    /// Sent by the client (a request), or received.
    pub sent: bool,
    /// The datagram's bytes.
    pub bytes: Vec<u8>,
}

impl Recording {
    /// An empty recording.
    pub fn new() -> Self {
        Recording::default()
    }

    /// The datagrams noted since the last `take`, in the order they were sent and
    /// received.
    pub fn take(&self) -> Vec<Captured> {
        match self.log.lock() {
            Ok(mut log) => {
                log.bytes = 0;
                std::mem::take(&mut log.captured)
            }
            Err(_) => Vec::new(),
        }
    }

    /// Datagrams not kept because the recording was full.
    pub fn dropped(&self) -> u64 {
        self.log.lock().map_or(0, |log| log.dropped)
    }

    /// Notes one datagram, now.
    pub(crate) fn note(&self, peer: SocketAddr, sent: bool, bytes: &[u8]) {
        let Ok(mut log) = self.log.lock() else { return };
        let now = Instant::now();
        let started = *log.started.get_or_insert(now);
        let cost = bytes.len().saturating_add(NOTE_COST);
        if log.bytes.saturating_add(cost) > MAX_RECORDED_BYTES {
            log.dropped = log.dropped.saturating_add(1);
            return;
        }
        log.bytes += cost;
        // A dual-stack socket's IPv4 peers as IPv4.
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        log.captured.push(Captured { at: now.duration_since(started), peer, sent, bytes: bytes.to_vec() });
    }
}

/// One query's share of a recording: every datagram of its exchange with its server,
/// and the reply's datagrams alone, each kept once in the order they came (no
/// challenge, no stray), ready to be parsed or written as a test case.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedQuery {
    /// The server asked.
    pub server: SocketAddr,
    /// What it was asked: [`Kind::Info`], [`Kind::Players`] or [`Kind::Rules`].
    pub kind: Kind,
    /// Every datagram both ways, from the first request of this query on.
    pub exchange: Vec<Captured>,
    /// The reply's datagrams (a whole reply, or the fragments of a split one). Empty
    /// when none came.
    pub reply: Vec<Vec<u8>>,
}

impl RecordedQuery {
    /// A recording cut into its queries, in the order they were first asked. A request
    /// of the kind under way with its server (a retry, the request again with its
    /// challenge) continues that query; a challenge request belongs to the query it
    /// precedes.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use a2s_query::{Client, Recording, RecordedQuery, proto::Kind};
    /// # let state = a2s_query::Info::Source(a2s_query::SourceInfo::default());
    /// # let server = a2s_query::server::Responder::new(state, vec![], vec![]).spawn("127.0.0.1:0")?;
    /// # let addr = server.local_addr();
    /// let recording = Recording::new();
    /// let mut client = Client::builder().timeout(Duration::from_secs(2)).record(&recording).build();
    /// client.info(addr)?;
    /// client.players(addr)?;
    /// let queries = RecordedQuery::split(&recording.take());
    /// assert_eq!(queries.iter().map(|q| q.kind).collect::<Vec<_>>(), [Kind::Info, Kind::Players]);
    /// assert_eq!(queries[0].exchange.len(), 4, "request, challenge, request, reply");
    /// assert_eq!(queries[0].reply.len(), 1);
    /// # Ok::<(), a2s_query::Error>(())
    /// ```
    pub fn split(captured: &[Captured]) -> Vec<RecordedQuery> {
        let mut queries: Vec<RecordedQuery> = Vec::new();
        // The latest query with each server, and of each kind with it (a recording of a
        // long list is cut in one pass).
        let mut latest_with: HashMap<SocketAddr, usize> = HashMap::new();
        let mut latest_of: HashMap<(SocketAddr, Kind), usize> = HashMap::new();
        // Challenge requests waiting for the query they precede, per server.
        let mut waiting: HashMap<SocketAddr, Vec<Captured>> = HashMap::new();
        for datagram in captured {
            let latest = latest_with.get(&datagram.peer).copied();
            if datagram.sent {
                let kind = match Query::parse(&datagram.bytes) {
                    Ok(Query::Info(_)) => Kind::Info,
                    Ok(Query::Players(_)) => Kind::Players,
                    Ok(Query::Rules(_)) => Kind::Rules,
                    _ => {
                        waiting.entry(datagram.peer).or_default().push(datagram.clone());
                        continue;
                    }
                };
                // The same query again while unanswered (a retry, the request with its
                // challenge) goes on; once answered, the same kind is a new query.
                let going_on = latest.and_then(|i| queries.get_mut(i)).filter(|q| q.kind == kind && q.reply.is_empty());
                match going_on {
                    Some(query) => query.exchange.push(datagram.clone()),
                    None => {
                        let mut exchange = waiting.remove(&datagram.peer).unwrap_or_default();
                        exchange.push(datagram.clone());
                        latest_with.insert(datagram.peer, queries.len());
                        latest_of.insert((datagram.peer, kind), queries.len());
                        queries.push(RecordedQuery { server: datagram.peer, kind, exchange, reply: Vec::new() });
                    }
                }
                continue;
            }
            let reply_kind = reply_kind(&datagram.bytes);
            // A whole reply goes to the latest query of its kind with that server; a
            // fragment, a challenge or a stray to the latest query.
            let owner = match reply_kind {
                Some(kind) => latest_of.get(&(datagram.peer, kind)).copied().or(latest),
                None => latest,
            };
            let Some(query) = owner.and_then(|i| queries.get_mut(i)) else { continue };
            query.exchange.push(datagram.clone());
            query.take_into_reply(&datagram.bytes, reply_kind.is_some());
        }
        queries
    }

    /// Keeps `datagram` as part of the reply when it is one: one whole reply (a Source
    /// info reply over a GoldSrc one, as a client takes it; otherwise the first), or
    /// the fragments of the first split reply, each once.
    fn take_into_reply(&mut self, datagram: &[u8], whole: bool) {
        if whole {
            let source_over_goldsrc =
                matches!((self.reply.first().and_then(|r| r.get(4)), datagram.get(4)), (Some(0x6D), Some(0x49)));
            if self.reply.is_empty() || (self.reply.len() == 1 && source_over_goldsrc) {
                self.reply = vec![datagram.to_vec()];
            }
            return;
        }
        // (At most as many fragments as one reply has: a server sending more under one
        // id fills no more.)
        if !matches!(Datagram::classify(datagram), Ok(Datagram::Split(_)))
            || self.reply.len() >= MAX_REPLY_FRAGMENTS
            || self.reply.iter().any(|r| r == datagram)
        {
            return;
        }
        // Fragments of one reply share its id (the four bytes after the header); a
        // resent reply's come under another.
        let id = |d: &[u8]| d.get(4..8).map(<[u8]>::to_vec);
        let same_reply = self.reply.first().is_none_or(|first| first.starts_with(&[0xFE]) && id(first) == id(datagram));
        if same_reply {
            self.reply.push(datagram.to_vec());
        }
    }
}

/// The query a whole (unsplit) reply answers, by its type byte; `None` for a fragment,
/// a challenge or anything else.
fn reply_kind(datagram: &[u8]) -> Option<Kind> {
    match Datagram::classify(datagram) {
        Ok(Datagram::Single(message)) => match message.kind {
            0x49 | 0x6D => Some(Kind::Info),
            0x44 => Some(Kind::Players),
            0x45 => Some(Kind::Rules),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, peer: &str, sent: bool, bytes: &[u8]) -> Captured {
        Captured { at: Duration::from_millis(ms), peer: peer.parse().unwrap(), sent, bytes: bytes.to_vec() }
    }

    /// Queries are cut by their requests, per server; a retry continues its query; a
    /// copy of the reply, a challenge and a stray stay out of the reply; a query with
    /// no reply keeps its exchange.
    #[test]
    fn a_recording_cuts_into_its_queries() {
        let (a, b) = ("127.0.0.1:1", "127.0.0.2:2");
        let info = Query::Info(None).encode().to_vec();
        let reply = b"\xFF\xFF\xFF\xFFI\x11x".to_vec();
        let challenge = b"\xFF\xFF\xFF\xFFA\x01\x02\x03\x04".to_vec();
        let players = Query::Players(crate::proto::Challenge([1, 2, 3, 4])).encode().to_vec();
        let captured = [
            at(0, a, true, &info),
            at(1, b, true, &info),
            at(2, a, false, &challenge),
            at(3, a, true, &info),
            at(4, a, false, &reply),
            at(5, a, false, &reply),
            at(6, a, false, b"HTTP"),
            at(7, a, true, &players),
            at(8, b, true, &info),
        ];
        let queries = RecordedQuery::split(&captured);
        let summary: Vec<(SocketAddr, Kind, usize, usize)> =
            queries.iter().map(|q| (q.server, q.kind, q.exchange.len(), q.reply.len())).collect();
        let (a, b): (SocketAddr, SocketAddr) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(summary, [(a, Kind::Info, 6, 1), (b, Kind::Info, 2, 0), (a, Kind::Players, 1, 0)]);
        assert_eq!(queries[0].reply, [reply]);
    }

    /// A late copy of an earlier query's reply goes to that query, not the one under
    /// way; a second info call after an answer is a query of its own; a Source info
    /// reply wins over the GoldSrc one; a resent split reply's fragments stay out.
    #[test]
    fn each_reply_goes_to_its_own_query() {
        let a = "127.0.0.1:1";
        let info = Query::Info(None).encode().to_vec();
        let players = Query::Players(crate::proto::Challenge([1, 2, 3, 4])).encode().to_vec();
        let (goldsrc, source) = (b"\xFF\xFF\xFF\xFFm old".to_vec(), b"\xFF\xFF\xFF\xFFI\x11new".to_vec());
        let list = b"\xFF\xFF\xFF\xFFD\x00".to_vec();
        let fragment = |id: u8, n: u8| [&b"\xFE\xFF\xFF\xFF"[..], &[id, 0, 0, 0, 2, n, 0xE0, 0x04], b"x"].concat();
        let rules = Query::Rules(crate::proto::Challenge([1, 2, 3, 4])).encode().to_vec();
        let captured = [
            at(0, a, true, &info),
            at(1, a, false, &goldsrc),
            at(2, a, false, &source),
            at(3, a, true, &players),
            at(4, a, false, &source),
            at(5, a, false, &list),
            at(6, a, true, &info),
            at(7, a, false, &source),
            at(8, a, true, &rules),
            at(9, a, false, &fragment(7, 0)),
            at(10, a, false, &fragment(9, 0)),
            at(11, a, false, &fragment(7, 1)),
        ];
        let queries = RecordedQuery::split(&captured);
        let kinds: Vec<Kind> = queries.iter().map(|q| q.kind).collect();
        assert_eq!(kinds, [Kind::Info, Kind::Players, Kind::Info, Kind::Rules]);
        assert_eq!(queries[0].reply, std::slice::from_ref(&source), "the Source reply, over the GoldSrc one");
        assert_eq!(queries[0].exchange.len(), 4, "with the late copy");
        assert_eq!(queries[1].reply, [list], "the late info copy is not the players' reply");
        assert_eq!(queries[2].reply, [source]);
        assert_eq!(queries[3].reply, [fragment(7, 0), fragment(7, 1)], "one reply's fragments");
    }

    /// A server sending fragments under one id without end fills a reply with as many
    /// as one reply can have, no more (each would be a file of the test case).
    #[test]
    fn a_reply_keeps_at_most_one_split_replys_fragments() {
        let a = "127.0.0.1:27015";
        let rules = Query::Rules(crate::proto::Challenge([1, 2, 3, 4])).encode().to_vec();
        let mut captured = vec![at(0, a, true, &rules)];
        for i in 0..1000u16 {
            let [hi, lo] = i.to_be_bytes();
            let fragment = [&b"\xFE\xFF\xFF\xFF"[..], &[7, 0, 0, 0, 2, 0, 0xE0, 0x04], &[hi, lo]].concat();
            captured.push(at(1, a, false, &fragment));
        }
        let queries = RecordedQuery::split(&captured);
        assert_eq!(queries.len(), 1);
        assert_eq!(queries[0].reply.len(), MAX_REPLY_FRAGMENTS);
        assert_eq!(queries[0].exchange.len(), 1001, "the exchange keeps every datagram");
    }

    /// Past its cap a recording counts what it drops.
    #[test]
    fn a_full_recording_counts_what_it_drops() {
        let recording = Recording::new();
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let big = vec![0u8; MAX_RECORDED_BYTES / 2 - NOTE_COST];
        for _ in 0..3 {
            recording.note(peer, false, &big);
        }
        assert_eq!((recording.take().len(), recording.dropped()), (2, 1));
    }

    /// Empty datagrams fill a recording too: each costs its note.
    #[test]
    fn empty_datagrams_count_against_the_cap() {
        let recording = Recording::new();
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        recording.note(peer, false, &vec![0u8; MAX_RECORDED_BYTES - 10 * NOTE_COST]);
        for _ in 0..20 {
            recording.note(peer, false, &[]);
        }
        assert_eq!((recording.take().len(), recording.dropped()), (10, 11));
    }
}
