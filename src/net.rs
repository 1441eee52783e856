//! The socket plumbing the blocking drivers and the async one share: opening a UDP
//! socket, reading what is queued, waiting for one datagram, picking an address. No
//! protocol here: that is [`proto`](crate::proto)'s.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::Recording;

mod shared;
#[cfg(target_os = "linux")]
mod unreachable;

#[cfg(feature = "tokio")]
pub(crate) use shared::{destination, open_shared};
pub(crate) use shared::{Engine, SharedSocket, IDLE_WAIT};

/// Receive buffer: the largest UDP payload there is, so no datagram is ever cut
/// (Rust servers send single datagrams up to ~64 KiB; DayZ sends 2.5 KB unsplit).
pub(crate) const RECV_BUFFER: usize = 65_536;
/// The smallest kernel receive buffer a one-server socket asks for: a burst of
/// fragments is kept.
const MIN_SOCKET_RECV_BUFFER: usize = 256 * 1024;
/// The largest asked for, however large the limits; the default of a many-servers
/// socket (room for the replies of a window of servers arriving at once).
pub(crate) const MAX_SOCKET_RECV_BUFFER: usize = 4 * 1024 * 1024;
/// A read timeout already set is kept while it is this close to the wait wanted,
/// saving a system call per datagram.
const TIMEOUT_SLACK: Duration = Duration::from_micros(500);
/// Most datagrams read in one go before a driver looks at its other work.
pub(crate) const READ_BATCH: usize = 1024;

/// Why a zero timeout is refused.
pub(crate) const ZERO_TIMEOUT: &str =
    "a zero timeout would end every query at once; give the time a query may take, e.g. 3 s";

/// Which address family to use when a host name resolves to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IpVersion {
    /// IPv4 first (the default).
    #[default]
    V4,
    /// IPv6 first.
    V6,
}

/// `IPv4` or `IPv6`.
impl std::fmt::Display for IpVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IpVersion::V4 => "IPv4",
            IpVersion::V6 => "IPv6",
        })
    }
}

/// The kernel receive buffer for a socket that talks to one server at a time: room
/// for a whole split reply at the limits (Linux charges each datagram about twice its
/// size, hence the factor).
pub(crate) fn buffer_for(limits: &Limits) -> usize {
    limits.max_reply_bytes.saturating_mul(2).clamp(MIN_SOCKET_RECV_BUFFER, MAX_SOCKET_RECV_BUFFER)
}

/// The unspecified local address of `target`'s family, any port.
pub(crate) fn any_local(target: SocketAddr) -> SocketAddr {
    match target {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// A socket for queries to `target`'s family, bound to `bind` (or any address of that
/// family, a free port), asking for a kernel receive buffer of `kernel_buffer` bytes
/// (see [`open`]).
pub(crate) fn open_for(
    target: SocketAddr,
    bind: Option<SocketAddr>,
    kernel_buffer: usize,
) -> io::Result<(UdpSocket, usize)> {
    open(bind.unwrap_or(any_local(target)), false, kernel_buffer)
}

/// A UDP socket bound to `local`, taking IPv4 too if `dual_stack` (an IPv6 one), its
/// kernel receive buffer enlarged to `kernel_buffer` bytes where the system allows (0
/// keeps its default); with the size the kernel granted.
pub(crate) fn open(local: SocketAddr, dual_stack: bool, kernel_buffer: usize) -> io::Result<(UdpSocket, usize)> {
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    if kernel_buffer > 0 {
        // Best effort: not fatal if refused or capped (Linux: net.core.rmem_max).
        let _ = socket.set_recv_buffer_size(kernel_buffer);
    }
    let granted = socket.recv_buffer_size()?;
    socket.bind(&local.into())?;
    Ok((socket.into(), granted))
}

/// Asks the OS to say which destination each ICMP "unreachable" concerns, for an
/// unconnected socket (Linux: its error queue); elsewhere nothing changes.
pub(crate) fn report_unreachable(socket: &UdpSocket) {
    #[cfg(target_os = "linux")]
    unreachable::enable(socket);
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// Hands `take` each destination the OS reported unreachable (a closed port: the
/// error is `ConnectionRefused`) since the last call, for a socket set up with
/// [`report_unreachable`]; elsewhere nothing. How many reports were read (of any kind:
/// with reports on, the OS fails a send or a receive with the error of each).
pub(crate) fn take_unreachable(socket: &UdpSocket, mut take: impl FnMut(Heard<'_>)) -> usize {
    #[cfg(target_os = "linux")]
    return unreachable::read(socket, |to, e| take(Heard::Unreachable(to, e)));
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (socket, take);
        0
    }
}

/// After a read failed with `e`: hands `take` the OS's reports behind it (see
/// [`take_unreachable`]), and says whether the socket itself failed: no report behind
/// the error, and neither an ICMP error (other systems report those on any socket) nor
/// an interruption.
pub(crate) fn read_failed(socket: &UdpSocket, e: &io::Error, take: impl FnMut(Heard<'_>)) -> bool {
    take_unreachable(socket, take) == 0 && !is_icmp(e) && e.kind() != io::ErrorKind::Interrupted
}

/// Most tries of a send the OS fails with errors of earlier datagrams.
const SEND_TRIES: usize = 4;

/// Sends `datagram` to `to` on an unconnected socket. The OS may fail a send with the
/// ICMP error of an earlier datagram, to another server (Linux, with
/// [`report_unreachable`]: a closed port, an unreachable host, ...): the reports are
/// handed to `take` and the send tried again (a few times, then taken as lost on the
/// way: `WouldBlock`). An error with no report behind it is this send's.
pub(crate) fn send_to(
    socket: &UdpSocket,
    datagram: &[u8],
    to: SocketAddr,
    mut take: impl FnMut(Heard<'_>),
) -> io::Result<usize> {
    for _ in 0..SEND_TRIES {
        match socket.send_to(datagram, to) {
            Err(e) if !is_transient(&e) => {
                if take_unreachable(socket, &mut take) == 0 {
                    return Err(e);
                }
            }
            sent => return sent,
        }
    }
    Err(io::ErrorKind::WouldBlock.into())
}

/// What a read brought in.
#[derive(Debug)]
pub(crate) enum Heard<'a> {
    /// A datagram and its source.
    Datagram(&'a [u8], SocketAddr),
    /// The OS's word that a destination cannot be reached ([`take_unreachable`]).
    Unreachable(SocketAddr, io::Error),
}

impl Heard<'_> {
    /// Hands it to the engine, as of now.
    pub(crate) fn hand_to(self, endpoint: &mut impl Engine) {
        match self {
            Heard::Datagram(datagram, from) => endpoint.handle_datagram(from, datagram, Instant::now()),
            Heard::Unreachable(to, e) => endpoint.handle_send_error(to, Error::Io(e), Instant::now()),
        }
    }
}

/// A blocking driver's socket: reads what is queued without waiting, or waits for one
/// datagram. On unix the socket stays blocking: what is queued is looked for with one
/// system call that takes nothing (a zero-length `MSG_PEEK | MSG_DONTWAIT`), so a poll
/// is a look, a send and a receive. Elsewhere it is switched to non-blocking for the
/// reads, and back to wait.
#[derive(Debug)]
pub(crate) struct Udp {
    pub(crate) socket: UdpSocket,
    nonblocking: bool,
    /// The read timeout currently set.
    read_timeout: Option<Duration>,
    /// Where each datagram sent and received is noted, if anywhere.
    recording: Option<Recording>,
}

impl Udp {
    pub(crate) fn new(socket: UdpSocket, recording: Option<Recording>) -> Self {
        Udp { socket, nonblocking: false, read_timeout: None, recording }
    }

    /// Notes a datagram sent to `to` in the recording, if there is one.
    pub(crate) fn note_sent(&self, to: SocketAddr, datagram: &[u8]) {
        if let Some(recording) = &self.recording {
            recording.note(to, true, datagram);
        }
    }

    /// Notes a datagram received, and passes the read on.
    fn note_received(&self, read: (usize, SocketAddr), buf: &[u8]) -> (usize, SocketAddr) {
        if let Some(recording) = &self.recording {
            recording.note(read.1, false, buf.get(..read.0).unwrap_or_default());
        }
        read
    }

    /// One datagram already queued, if any, without waiting. An ICMP error queued for
    /// an earlier send (a closed port) comes back as its error.
    #[cfg(unix)]
    pub(crate) fn recv_queued(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        let look = socket2::SockRef::from(&self.socket).recv_with_flags(&mut [], libc::MSG_PEEK | libc::MSG_DONTWAIT);
        match look {
            // (Blocking, but something is there: the read returns at once.)
            Ok(_) => self.socket.recv_from(buf).map(|read| Some(self.note_received(read, buf))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One datagram already queued, if any, without waiting. An ICMP error queued for
    /// an earlier send (a closed port) comes back as its error.
    #[cfg(not(unix))]
    pub(crate) fn recv_queued(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        if !self.nonblocking {
            self.socket.set_nonblocking(true)?;
            self.nonblocking = true;
        }
        match self.socket.recv_from(buf) {
            Ok(got) => Ok(Some(self.note_received(got, buf))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hands `take` every datagram queued (at most [`READ_BATCH`]), without waiting,
    /// and the destinations reported unreachable meanwhile. An ICMP error of an earlier
    /// send is consumed; another error ends the reading.
    pub(crate) fn read_queued(&mut self, buf: &mut [u8], mut take: impl FnMut(Heard<'_>)) -> io::Result<()> {
        for _ in 0..READ_BATCH {
            match self.recv_queued(buf) {
                Ok(Some((n, from))) => take(Heard::Datagram(buf.get(..n).unwrap_or_default(), from)),
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The error of a report (Linux), or an ICMP error elsewhere: consumed.
                Err(e) => {
                    if read_failed(&self.socket, &e, &mut take) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits at most `wait` for one datagram.
    pub(crate) fn recv_wait(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<(usize, SocketAddr)> {
        if self.nonblocking {
            self.socket.set_nonblocking(false)?;
            self.nonblocking = false;
        }
        // A zero read timeout means "block forever" to the OS: wait at least 1 µs.
        let wait = wait.max(Duration::from_micros(1));
        let keep = self.read_timeout.is_some_and(|set| set <= wait + TIMEOUT_SLACK && set + TIMEOUT_SLACK >= wait);
        if !keep {
            self.socket.set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        self.socket.recv_from(buf).map(|read| self.note_received(read, buf))
    }
}

/// A receive that got nothing: the wait ran out.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// An ICMP error some server's port sent back (Windows reports those on any socket).
pub(crate) fn is_icmp(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset)
}

/// A send that failed for now (a full send queue): taken as a loss on the way.
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
        // ENOBUFS on Linux: the interface queue is full.
        || (cfg!(target_os = "linux") && e.raw_os_error() == Some(105))
}

/// The error for a server's address the resolver refused or could not find:
/// [`Error::Address`] naming the fault when the address is text (`given` as its `Debug`
/// shows it) and the fault one of the usual ones, else [`Error::Resolve`].
pub(crate) fn resolve_error(given: &dyn std::fmt::Debug, error: io::Error) -> Error {
    let shown = format!("{given:?}");
    match shown.strip_prefix('"').and_then(|s| s.strip_suffix('"')).and_then(unescape).and_then(|t| address_fault(&t)) {
        Some(fault) => Error::Address(fault),
        None => Error::Resolve(error),
    }
}

/// The text a string's `Debug` form shows (the escapes an address may hold: a line end,
/// a tab, a quote); `None` for any other escape.
fn unescape(shown: &str) -> Option<String> {
    let mut text = String::with_capacity(shown.len());
    let mut chars = shown.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        text.push(match chars.next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '0' => '\0',
            c @ ('"' | '\'' | '\\') => c,
            _ => return None,
        });
    }
    Some(text)
}

/// What is wrong with a server's address written as text, if it is one of the usual
/// faults: `"address": fault; what to write`.
pub(crate) fn address_fault(text: &str) -> Option<String> {
    const PORT: &str = "the query port, often 27015";
    let t = text.trim();
    if t.is_empty() {
        return Some(format!("{text:?}: empty; write HOST:PORT ({PORT})"));
    }
    if t.len() != text.len() {
        return Some(format!("{text:?}: a space or line end around the address; give it trimmed ({t:?})"));
    }
    if t.contains(char::is_whitespace) {
        return Some(format!("{t:?}: a space inside the address; write HOST:PORT ({PORT})"));
    }
    // An IPv6 address, with a zone (`fe80::1%eth0`) or not, and nothing after it.
    if t.split('%').next().is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok()) {
        return Some(format!("{t:?}: an IPv6 address without brackets and port; write [{t}]:PORT ({PORT})"));
    }
    if let Some(inside) = t.strip_prefix('[') {
        let Some((inner, after)) = inside.split_once(']') else {
            return Some(format!("{t:?}: no closing bracket; write [IPv6]:PORT ({PORT})"));
        };
        if after.is_empty() {
            return Some(format!("{t:?}: no port after the brackets; write [{inner}]:PORT ({PORT})"));
        }
        if !after.starts_with(':') {
            return Some(format!("{t:?}: a colon goes between the brackets and the port; write [{inner}]:PORT"));
        }
    }
    let Some((host, port)) = t.rsplit_once(':') else {
        return Some(format!("{t:?}: no port; write {t}:PORT ({PORT})"));
    };
    if port.is_empty() {
        return Some(format!("{t:?}: no port after the colon; write {host}:PORT ({PORT})"));
    }
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return match port.parse::<u16>() {
            Err(_) => Some(format!("{t:?}: port {port} is out of range; a port is a number from 1 to 65535")),
            Ok(_) if host.contains(':') && !host.starts_with('[') => {
                Some(format!("{t:?}: an IPv6 address and a port need brackets; write [{host}]:{port}"))
            }
            // (The host is what failed: the resolver's error says it.)
            Ok(_) => None,
        };
    }
    Some(format!("{t:?}: {port:?} after the last colon is not a port; write HOST:PORT ({PORT})"))
}

/// One `host:port` (an address, or a name resolved by the system), IPv4 first.
pub(crate) fn resolve_v4_first(text: &str) -> Result<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let addrs = std::net::ToSocketAddrs::to_socket_addrs(text).map_err(|e| resolve_error(&text, e))?;
    pick(addrs, IpVersion::V4, None)
}

/// The address to query among those a name resolved to, as `prefer` wants, of the
/// family of `bind` if one is given.
pub(crate) fn pick(
    addrs: impl Iterator<Item = SocketAddr>,
    prefer: IpVersion,
    bind: Option<SocketAddr>,
) -> Result<SocketAddr> {
    let wanted_v4 = prefer == IpVersion::V4;
    let (mut seen, mut first) = (false, None);
    for a in addrs {
        seen = true;
        if bind.is_some_and(|b| b.is_ipv4() != a.is_ipv4()) {
            continue;
        }
        if a.is_ipv4() == wanted_v4 {
            return Ok(a);
        }
        first = first.or(Some(a));
    }
    first.ok_or_else(|| {
        if seen {
            Error::InvalidInput(
                "the client is bound to an address of the other family (IPv4 or IPv6) than the server's; \
                 bind one of the server's family, or leave the bind address out",
            )
        } else {
            Error::Resolve(io::Error::new(io::ErrorKind::NotFound, "the address resolved to nothing"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each usual fault named as such, the address quoted; a host the resolver could not
    /// find, and a good address, left to the resolver.
    #[test]
    fn address_faults_are_named() {
        let fault = |text: &str| address_fault(text).unwrap_or_default();
        assert_eq!(
            fault("127.0.0.1:99999"),
            "\"127.0.0.1:99999\": port 99999 is out of range; a port is a number from 1 to 65535"
        );
        assert!(fault("127.0.0.1").contains("no port; write 127.0.0.1:PORT"));
        assert!(fault("play.example.net:").contains("no port after the colon; write play.example.net:PORT"));
        assert!(fault("2001:db8::7").contains("an IPv6 address without brackets and port; write [2001:db8::7]:PORT"));
        assert!(fault("[2001:db8::7]").contains("no port after the brackets; write [2001:db8::7]:PORT"));
        assert!(fault("[2001:db8::7]:70000").contains("port 70000 is out of range"));
        assert!(fault("fe80::1:2:3:4:5:6:27015").contains("need brackets; write [fe80::1:2:3:4:5:6]:27015"));
        assert!(fault("play.example.net:http").contains("\"http\" after the last colon is not a port"));
        assert!(fault("").contains("empty"));
        assert!(fault("1.2.3.4:27015\n").contains("a space or line end around the address; give it trimmed"));
        assert!(fault("1.2.3.4 27015").contains("a space inside the address"));
        assert!(fault("fe80::1%eth0").contains("an IPv6 address without brackets and port"));
        assert!(fault("[::1]27015").contains("a colon goes between the brackets and the port"));
        assert!(fault("[::1:27015").contains("no closing bracket"));
        assert_eq!(address_fault("no-such-host.invalid:27015"), None);
        // As a query sees it: only text is looked at, and only when the resolver failed.
        let e = resolve_error(&"127.0.0.1:99999", io::Error::new(io::ErrorKind::InvalidInput, "invalid port value"));
        assert_eq!(
            e.to_string(),
            "invalid server address \"127.0.0.1:99999\": port 99999 is out of range; a port is a number from 1 to 65535"
        );
        let e = resolve_error(&"1.2.3.4:27015\n".to_string(), io::Error::other("lookup failed"));
        assert!(matches!(&e, Error::Address(f) if f.starts_with("\"1.2.3.4:27015\\n\": a space or line end")), "{e}");
        let e = resolve_error(&("no-such-host.invalid", 27015), io::Error::other("lookup failed"));
        assert!(matches!(e, Error::Resolve(_)), "{e}");
    }
}
