//! The exporter's HTTP: a small HTTP/1.1 server of GET requests, bounded against the
//! clients it cannot trust. Each connection has a thread of its own (a probe holds its
//! connection for the probe's time, never a shared worker), at most
//! [`MAX_CONNECTIONS`] at once (one more is closed at once); a request's head is read
//! within [`HEAD_TIME`] and [`MAX_HEAD`] bytes; its body is never read (nothing served
//! takes one), and each connection answers one request and closes.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections served at once, at most: room for every probe the exporter runs at
/// once and for scrapes of `/metrics` beside them.
pub(super) const MAX_CONNECTIONS: usize = 512;
/// The most bytes of a request's head (its request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// The longest a client may take to send a request's head.
const HEAD_TIME: Duration = Duration::from_secs(10);
/// The longest the answer may take to write: a client that does not read it in that
/// time loses it.
const WRITE_TIME: Duration = Duration::from_secs(30);
/// How long a closing connection waits for its client to close too.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// The most bytes read and dropped from a closing connection.
const MAX_LINGER_BYTES: usize = 1024 * 1024;
/// How long the acceptor rests after an error that may pass (no file descriptor left,
/// say), rather than spin.
const ACCEPT_REST: Duration = Duration::from_millis(50);
/// Failed accepts in a row after which the socket is given up on (about 10 s of them).
const ACCEPT_TRIES: u32 = 200;

/// A request's method, path and query, and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) method: String,
    /// The request target as sent: a path and its query (`/probe?target=...`).
    pub(super) target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    /// The value of the header `name` (any case), if sent.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An answer: its status, the type of its body, and the body.
#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) content_type: &'static str,
    pub(super) body: Vec<u8>,
}

impl Response {
    /// A plain-text answer.
    pub(super) fn text(status: u16, body: &str) -> Self {
        Response { status, content_type: "text/plain; charset=utf-8", body: body.as_bytes().to_vec() }
    }
}

/// Reads a request's head from its bytes up to the blank line: `None` when they are
/// not an HTTP/1 request head.
pub(super) fn parse_head(bytes: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.split("\r\n");
    let mut request = lines.next()?.split(' ');
    let (method, target, version) = (request.next()?, request.next()?, request.next()?);
    if request.next().is_some() || method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return None;
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Some(Head { method: method.to_string(), target: target.to_string(), headers })
}

/// Where the head read so far ends (just past its blank line), if it is all in.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

/// Why a head could not be read: the answer to give, if any can be.
#[derive(Debug, PartialEq, Eq)]
enum Unread {
    /// The client closed the connection, or was too slow, or the socket failed.
    Gone,
    /// The head is past [`MAX_HEAD`].
    TooLarge,
}

/// Reads a request's head from `stream` within [`HEAD_TIME`].
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Unread> {
    let deadline = Instant::now() + HEAD_TIME;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let Some(n) = read_by(stream, &mut chunk, deadline) else { return Err(Unread::Gone) };
        // (The blank line may straddle two reads: look from three bytes back.)
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(end) = head.get(from..).and_then(head_end) {
            head.truncate(from + end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(Unread::TooLarge);
        }
    }
}

/// Writes `response` (its body left out for a `HEAD` request) and closes.
fn respond(mut stream: TcpStream, response: &Response, head_only: bool) {
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let header = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    let body: &[u8] = if head_only { &[] } else { &response.body };
    let deadline = Instant::now() + WRITE_TIME;
    let _ =
        write_within(&mut stream, header.as_bytes(), deadline).and_then(|()| write_within(&mut stream, body, deadline));
    let _ = stream.shutdown(Shutdown::Write);
    // What the client sent past the head is read and dropped until it closes (a
    // little, briefly): a socket closed with input unread resets the connection, and
    // the client may then lose the answer.
    let deadline = Instant::now() + LINGER_TIME;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < MAX_LINGER_BYTES {
        let Some(n) = read_by(&mut stream, &mut sink, deadline) else { break };
        drained += n;
    }
}

/// The time left until `deadline`; `None` once it has passed.
fn time_left(deadline: Instant) -> Option<Duration> {
    Some(deadline.saturating_duration_since(Instant::now())).filter(|left| !left.is_zero())
}

/// One read into `buf` that waits until `deadline` at most: what it read, or `None`
/// when the client closed, the time is up or the socket failed.
fn read_by(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Option<usize> {
    stream.set_read_timeout(Some(time_left(deadline)?)).ok()?;
    stream.read(buf).ok().filter(|&n| n > 0)
}

/// Writes all of `bytes` by `deadline` (a client that reads a little at a time gets no
/// more time for it).
fn write_within(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = time_left(deadline).ok_or(io::ErrorKind::TimedOut)?;
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Serves one connection: its request read, answered by `answer`, and the connection
/// closed.
fn serve(mut stream: TcpStream, answer: &(dyn Fn(&Head) -> Response + Sync)) {
    let head = match read_head(&mut stream) {
        Ok(head) => head,
        Err(Unread::Gone) => return,
        Err(Unread::TooLarge) => return respond(stream, &Response::text(431, "request head too large\n"), false),
    };
    let Some(head) = parse_head(&head) else {
        return respond(stream, &Response::text(400, "not an HTTP/1 request\n"), false);
    };
    let head_only = head.method == "HEAD";
    if head.method != "GET" && !head_only {
        return respond(stream, &Response::text(405, "only GET is served\n"), false);
    }
    respond(stream, &answer(&head), head_only);
}

/// The listening side: the socket, the acceptor's stop flag, and why it stopped
/// serving on its own, if it did.
#[derive(Debug)]
pub(super) struct Listener {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<String>>>,
}

/// The socket to serve on, bound to `addr` (the error says which address failed).
pub(super) fn bind(addr: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

impl Listener {
    /// Serves each request on `listener` with `answer`, each connection on a thread of
    /// its own, until dropped.
    pub(super) fn spawn<F>(listener: TcpListener, answer: F) -> io::Result<Listener>
    where
        F: Fn(&Head) -> Response + Send + Sync + 'static,
    {
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let (stop_flag, failed) = (Arc::clone(&stop), Arc::clone(&failure));
        let answer = Arc::new(answer);
        std::thread::Builder::new()
            .name("a2s-http".into())
            .spawn(move || accept_loop(&listener, &stop_flag, &failed, &answer))?;
        Ok(Listener { local, stop, failure })
    }

    /// The address it listens on.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Why it stopped serving on its own, if it did.
    pub(super) fn failure(&self) -> Option<String> {
        self.failure.lock().map_or_else(|e| e.into_inner().clone(), |f| f.clone())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the acceptor, which then sees the flag and closes the socket. (The
        // address as bound, its IPv6 scope kept; loopback for an unspecified one.)
        let wake = match self.local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), self.local.port()),
            IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), self.local.port()),
            _ => self.local,
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}

/// Accepts connections until stopped, each served on a thread of its own.
fn accept_loop<F>(listener: &TcpListener, stop: &AtomicBool, failure: &Mutex<Option<String>>, answer: &Arc<F>)
where
    F: Fn(&Head) -> Response + Send + Sync + 'static,
{
    let open = Arc::new(AtomicUsize::new(0));
    let mut failing = 0;
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((stream, _)) => {
                failing = 0;
                stream
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Most errors pass (a connection aborted, no file descriptor or buffer
                // left for now): rest and try again. One that lasts ends the serving,
                // which `Exporter::serving` then tells.
                failing += 1;
                if failing >= ACCEPT_TRIES {
                    if let Ok(mut failure) = failure.lock() {
                        failure.get_or_insert(e.to_string());
                    }
                    return;
                }
                std::thread::sleep(ACCEPT_REST);
                continue;
            }
        };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // (Given back when the connection's thread ends.)
        let Some(slot) = super::ProbeSlot::take(&open, MAX_CONNECTIONS) else {
            // Too many at once: closed unanswered, the client tries again.
            continue;
        };
        let answer = Arc::clone(answer);
        // (A thread that cannot start drops the connection: the client tries again.)
        let _ = std::thread::Builder::new().name("a2s-http-conn".into()).spawn(move || {
            let _slot = slot;
            serve(stream, &*answer);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_read_with_its_headers() {
        let head = parse_head(
            b"GET /probe?target=a%3A1 HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds:  4.5 \r\n\r\n",
        );
        let head = head.unwrap();
        assert_eq!((head.method.as_str(), head.target.as_str()), ("GET", "/probe?target=a%3A1"));
        assert_eq!(head.header("x-prometheus-scrape-timeout-seconds"), Some("4.5"));
        assert_eq!(head.header("Host"), Some("x"));
        assert_eq!(head.header("Content-Length"), None);
    }

    #[test]
    fn what_is_not_an_http_head_is_refused() {
        for bad in [
            b"GET /metrics\r\n\r\n".as_slice(),
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"\xFF\xFE /metrics HTTP/1.1\r\n\r\n",
            b"",
        ] {
            assert_eq!(parse_head(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_end_of_a_head_is_found_across_reads() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }

    /// One client over loopback: what it sends, and what it reads back until closed.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.write_all(request).unwrap();
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn requests_are_answered_and_bodies_never_read() {
        let server =
            Listener::spawn(bind("127.0.0.1:0").unwrap(), |head: &Head| Response::text(200, &head.target)).unwrap();
        let addr = server.local_addr();
        let answer = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Content-Length: 8\r\n") && answer.ends_with("\r\n\r\n/metrics"), "{answer}");
        // A body declared a terabyte long is never read nor made room for (tiny_http,
        // before, allocated what the header said when dropping the request).
        let answer = exchange(addr, b"GET /x HTTP/1.1\r\nContent-Length: 1099511627776\r\n\r\nabc");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("/x"), "{answer}");
        // HEAD: the head only.
        let answer = exchange(addr, b"HEAD /x HTTP/1.1\r\n\r\n");
        assert!(answer.contains("Content-Length: 2\r\n") && answer.ends_with("\r\n\r\n"), "{answer}");
        // Other methods, and what is not HTTP.
        assert!(exchange(addr, b"POST /x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        assert!(exchange(addr, b"hello\r\n\r\n").starts_with("HTTP/1.1 400 "));
        // A head past the cap is refused, not gathered without end.
        let mut long = b"GET /x HTTP/1.1\r\nX-Long: ".to_vec();
        long.resize(MAX_HEAD + 4096, b'a');
        assert!(exchange(addr, &long).starts_with("HTTP/1.1 431 "));
        assert_eq!(server.failure(), None);
    }
}
