//! The drivers' part in "no late reply answers a later query": each hands the engine
//! what its socket has queued before it sends. A late reply sits in the socket's queue
//! while no call runs; the next call must read it before its request goes out, or it
//! would look like that request's answer. (The engine's own rules, the drain and the
//! stale timing, are scripted in `endpoint.rs` and `exchange.rs`; here the drain
//! window has passed, so only the driver's read stands between the late reply and the
//! next call.) Each test is deterministic: the scripted server is a socket this thread
//! reads and writes, and loopback delivers a datagram before `send_to` returns.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use a2s_query::proto::{Query, SourceInfo};
use a2s_query::{Batch, Client};

/// How long a finished query drains when no round trip of its server is known (documented
/// on `Exchange::draining`).
const DRAIN_UNKNOWN_ROUND_TRIP: Duration = Duration::from_millis(250);

/// A scripted server: a socket on loopback that the test drives by hand.
struct Scripted(UdpSocket);

impl Scripted {
    fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Scripted(socket)
    }

    fn addr(&self) -> SocketAddr {
        self.0.local_addr().unwrap()
    }

    /// The next request and where it came from.
    fn request(&self) -> (Query, SocketAddr) {
        let mut buf = [0; 1500];
        let (n, from) = self.0.recv_from(&mut buf).expect("a request within 10 s");
        (Query::parse(&buf[..n]).unwrap(), from)
    }

    fn answer(&self, to: SocketAddr, name: &str) {
        let mut info = SourceInfo::default();
        info.server_name = name.to_string();
        let mut reply = Vec::new();
        info.encode(&mut reply).unwrap();
        self.0.send_to(&reply, to).unwrap();
    }
}

/// Past the drain of a query that timed out with no round trip known.
fn after_the_drain() {
    std::thread::sleep(DRAIN_UNKNOWN_ROUND_TRIP + Duration::from_millis(50));
}

#[test]
fn the_client_reads_a_late_reply_before_its_next_request() {
    let server = Scripted::new();
    let mut client = Client::builder().timeout(Duration::from_millis(300)).build();
    let client_addr = std::thread::scope(|s| {
        let call = s.spawn(|| client.info(server.addr()));
        let (query, from) = server.request();
        assert_eq!(query, Query::Info(None));
        // No answer in time.
        assert!(call.join().unwrap().unwrap_err().is_timeout());
        from
    });
    server.answer(client_addr, "late, for the first call");
    after_the_drain();

    let mut client2 = client;
    std::thread::scope(|s| {
        let call = s.spawn(|| client2.info(server.addr()));
        let (_, from) = server.request();
        server.answer(from, "fresh");
        let info = call.join().unwrap().unwrap();
        assert_eq!(info.server_name(), "fresh", "the late reply was taken for the answer");
    });
}

#[test]
fn the_batch_reads_a_late_reply_before_its_next_run_sends() {
    let server = Scripted::new();
    let mut batch = Batch::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let batch_port = batch.local_addr().unwrap().port();
    let first: Vec<_> = std::thread::scope(|s| {
        let run = s.spawn(|| batch.info([server.addr()]).collect::<Vec<_>>());
        let (query, _) = server.request();
        assert_eq!(query, Query::Info(None));
        run.join().unwrap()
    });
    assert!(first[0].1.as_ref().unwrap_err().is_timeout());
    server.answer(SocketAddr::from(([127, 0, 0, 1], batch_port)), "late, for the first run");
    after_the_drain();

    std::thread::scope(|s| {
        let run = s.spawn(|| batch.info([server.addr()]).collect::<Vec<_>>());
        let (_, from) = server.request();
        server.answer(from, "fresh");
        let items = run.join().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].1.as_ref().unwrap().server_name(), "fresh", "the late reply was taken for the answer");
    });
    assert_eq!(batch.unmatched(), 1, "the late reply, dropped");
}
