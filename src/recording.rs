//! A record of every datagram a client sends and receives, with its time: what `a2s
//! --record` writes as a test case, for programs too ([`ClientBuilder::record`],
//! [`BatchBuilder::record`]).
//!
//! [`ClientBuilder::record`]: crate::ClientBuilder::record
//! [`BatchBuilder::record`]: crate::BatchBuilder::record

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes of datagrams a recording keeps; past them, datagrams are counted, not kept.
const MAX_RECORDED_BYTES: usize = 64 << 20;

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
        if log.bytes.saturating_add(bytes.len()) > MAX_RECORDED_BYTES {
            log.dropped = log.dropped.saturating_add(1);
            return;
        }
        log.bytes += bytes.len();
        // A dual-stack socket's IPv4 peers as IPv4.
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        log.captured.push(Captured { at: now.duration_since(started), peer, sent, bytes: bytes.to_vec() });
    }
}
