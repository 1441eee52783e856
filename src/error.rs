//! The one error type of the crate.

use std::fmt;
use std::io;
use std::time::Duration;

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong asking a server, or parsing and building A2S bytes.
///
/// Variants say *when* they happen. The enum is `#[non_exhaustive]`: match the variants
/// you care about and keep a `_` arm.
///
/// ```
/// use std::time::Duration;
/// // A port where nothing answers.
/// let silent = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let result = a2s_query::info(silent.local_addr()?, Duration::from_millis(200), Default::default());
/// let said = match &result {
///     Ok(info) => format!("{} is up", info.server_name()),
///     Err(e) if e.is_timeout() => format!("no answer: down, or not the query port ({e})"),
///     Err(a2s_query::Error::Io(e)) => format!("network: {e}"),
///     Err(e) => format!("a broken or hostile answer: {e}"),
/// };
/// assert_eq!(said, "no answer: down, or not the query port (no reply within 200ms)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `{:?}` leads with the same sentence as `{}`, then names the variant, so
/// `fn main() -> Result<(), a2s_query::Error>` prints what went wrong and what to do:
///
/// ```
/// let e = a2s_query::Error::InvalidInput("give the time a query may take, e.g. 3 s");
/// assert_eq!(
///     format!("{e:?}"),
///     "invalid argument: give the time a query may take, e.g. 3 s (a2s_query::Error::InvalidInput)"
/// );
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The whole call ran past its timeout: no complete reply of the asked type arrived.
    ///
    /// `fragments` tells how far a split reply had got, as (received, total), when one
    /// was being collected at the deadline; `ignored` what came instead and was skipped
    /// (an HTTP server's answer, a reply of another type, ...), with a hint in the
    /// message when it suggests the wrong port.
    #[error("no reply within {timeout:?}{}{}", Incomplete(*.fragments), .ignored)]
    Timeout {
        /// The timeout the call was given.
        timeout: Duration,
        /// `(received, total)` of the split reply still being collected, if any.
        fragments: Option<(u8, u8)>,
        /// The datagrams skipped while waiting.
        ignored: Ignored,
    },

    /// An I/O operation failed: the operating system refused a socket operation (bind,
    /// connect, send, receive). The message includes the cause; `source()` does not
    /// repeat it. Encoding errors are never this variant (they are
    /// [`Error::Unencodable`]).
    ///
    /// Of kind `ConnectionRefused`, the server's host said nothing listens on that UDP
    /// port (ICMP port unreachable), and the message says so.
    #[error("{}", io_message(.0))]
    Io(io::Error),

    /// The address could not be resolved, or resolved to nothing. The message includes
    /// the cause (and a hint when the port is missing); `source()` does not repeat it.
    #[error("cannot resolve server address: {}{}", .0, PortHint(.0))]
    Resolve(io::Error),

    /// An argument cannot work (a zero timeout, an address of the other family than the
    /// bound one); the message says what to give instead.
    #[error("invalid argument: {0}")]
    InvalidInput(&'static str),

    /// A server's address written in a way that cannot work, told before any lookup:
    /// a port out of range, a missing port, an IPv6 address without brackets, something
    /// that is not a port after the last colon. The message quotes the address and says
    /// how to write it.
    #[error("invalid server address {0}")]
    Address(String),

    /// A datagram or reply ended before a field it must contain.
    #[error("truncated reply: {field} missing at byte {offset}")]
    Truncated {
        /// The field that was being read.
        field: &'static str,
        /// Its offset from the start of the bytes being parsed.
        offset: usize,
    },

    /// A reply is present but breaks the protocol's rules (an impossible split header,
    /// a fragment total that changes within one reply, ...).
    #[error("malformed reply: {reason} (at byte {offset})")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
        /// Where in the bytes being parsed.
        offset: usize,
    },

    /// A datagram does not start with an A2S header (`FF FF FF FF` or `FE FF FF FF`).
    #[error("not an A2S datagram: header {}", Hex(.header))]
    NotA2s {
        /// The first (up to) four bytes that were seen.
        header: [u8; 4],
    },

    /// A reply of another type than the one asked for (for example a rules reply where
    /// players were expected), seen by the codec's parsers.
    #[error("unexpected reply type {} (expected {})", TypeByte(*.got), TypeByte(*.expected))]
    UnexpectedType {
        /// The type byte the parser wanted.
        expected: u8,
        /// The type byte it got.
        got: u8,
    },

    /// A string was not valid UTF-8 and the strict UTF-8 encoding was asked for.
    #[error("invalid UTF-8 in {field} at byte {offset}")]
    InvalidText {
        /// The field holding the string.
        field: &'static str,
        /// Offset of the first invalid byte.
        offset: usize,
    },

    /// A bzip2-compressed split reply could not be decompressed. The message includes
    /// the cause; `source()` does not repeat it.
    #[error("bzip2 decompression failed: {0}")]
    Decompress(io::Error),

    /// A decompressed reply's length differs from the size its header declared.
    #[error("decompressed reply is {actual} bytes, header declared {declared}")]
    SizeMismatch {
        /// Size declared in the first fragment.
        declared: u32,
        /// Bytes actually produced (at most `declared + 1`: decompression stops there).
        actual: u64,
    },

    /// A decompressed reply's CRC32 differs from the one its header declared.
    #[error("checksum mismatch: header says {expected:#010x}, data has {actual:#010x}")]
    Checksum {
        /// CRC32 declared in the first fragment.
        expected: u32,
        /// CRC32 of the decompressed data.
        actual: u32,
    },

    /// Arma 3 / DayZ binary rules with a chunk missing: the reply was cut short (often
    /// by the server's `steamProtocolMaxDataSize`, which must be raised for long mod
    /// lists). Nothing is decoded rather than a shortened mod list.
    #[error(
        "Arma rules chunk {index} of {total} missing: the reply was cut short (the server's steamProtocolMaxDataSize?)"
    )]
    MissingChunk {
        /// The first missing chunk's index, from 1.
        index: u8,
        /// The chunk count every chunk declares.
        total: u8,
    },

    /// A master server walk ended before the end of the list: the master stopped
    /// answering (its retries spent) or the walk's deadline passed. The addresses
    /// already given out stay valid; `pages` and `servers` say how far it got.
    #[error("server list incomplete: {reason} after {pages} pages ({servers} servers listed)")]
    MasterIncomplete {
        /// Why it ended.
        reason: &'static str,
        /// Pages received.
        pages: u32,
        /// Addresses given out.
        servers: u64,
    },

    /// A split reply declares more fragments than the limit allows.
    #[error("split reply of {total} fragments exceeds the limit of {max}")]
    TooManyFragments {
        /// Fragment count the server declared.
        total: u8,
        /// The configured limit.
        max: u8,
    },

    /// A reply (single or reassembled) holds more bytes than the limit allows.
    #[error("reply exceeds the limit of {max} bytes")]
    ReplyTooLarge {
        /// The configured limit, in bytes.
        max: usize,
    },

    /// A compressed reply declares, or would inflate to, more bytes than the limit allows.
    #[error("compressed reply inflates to {declared} bytes, over the limit of {max}")]
    DecompressedTooLarge {
        /// Size the server declared.
        declared: u32,
        /// The configured limit, in bytes.
        max: usize,
    },

    /// The server answered every challenged request with yet another challenge.
    #[error("server kept sending challenges ({rounds} rounds)")]
    TooManyChallenges {
        /// Challenge rounds made before giving up.
        rounds: u8,
    },

    /// More stray datagrams (junk, leftovers, replies of other types) arrived during
    /// one call than the limit tolerates.
    #[error("gave up after {count} stray datagrams")]
    TooManyStrayDatagrams {
        /// Stray datagrams seen.
        count: u32,
    },

    /// From async code (`a2s_query::tokio`): the query cannot run on the tokio runtime
    /// it was called from: there is none, it has no IO or no timers, or it shut down
    /// while the query was under way. The message says what to do.
    #[error("{0}")]
    Runtime(&'static str),

    /// A value cannot be written in A2S form (a string holding a NUL byte, more players
    /// than a count byte holds, ...). Only the encoders return this.
    #[error("cannot encode: {0}")]
    Unencodable(&'static str),
}

/// A copy; an I/O error inside is rebuilt from its OS code, or its kind and message
/// (`io::Error` is not `Clone`). For answers given to several callers at once.
impl Clone for Error {
    fn clone(&self) -> Self {
        match self {
            Error::Timeout { timeout, fragments, ignored } => {
                Error::Timeout { timeout: *timeout, fragments: *fragments, ignored: *ignored }
            }
            Error::Io(e) => Error::Io(copy_io(e)),
            Error::Resolve(e) => Error::Resolve(copy_io(e)),
            Error::Decompress(e) => Error::Decompress(copy_io(e)),
            Error::InvalidInput(why) => Error::InvalidInput(why),
            Error::Address(fault) => Error::Address(fault.clone()),
            Error::Truncated { field, offset } => Error::Truncated { field, offset: *offset },
            Error::Malformed { reason, offset } => Error::Malformed { reason, offset: *offset },
            Error::NotA2s { header } => Error::NotA2s { header: *header },
            Error::UnexpectedType { expected, got } => Error::UnexpectedType { expected: *expected, got: *got },
            Error::InvalidText { field, offset } => Error::InvalidText { field, offset: *offset },
            Error::SizeMismatch { declared, actual } => Error::SizeMismatch { declared: *declared, actual: *actual },
            Error::Checksum { expected, actual } => Error::Checksum { expected: *expected, actual: *actual },
            Error::MissingChunk { index, total } => Error::MissingChunk { index: *index, total: *total },
            Error::MasterIncomplete { reason, pages, servers } => {
                Error::MasterIncomplete { reason, pages: *pages, servers: *servers }
            }
            Error::TooManyFragments { total, max } => Error::TooManyFragments { total: *total, max: *max },
            Error::ReplyTooLarge { max } => Error::ReplyTooLarge { max: *max },
            Error::DecompressedTooLarge { declared, max } => {
                Error::DecompressedTooLarge { declared: *declared, max: *max }
            }
            Error::TooManyChallenges { rounds } => Error::TooManyChallenges { rounds: *rounds },
            Error::TooManyStrayDatagrams { count } => Error::TooManyStrayDatagrams { count: *count },
            Error::Unencodable(why) => Error::Unencodable(why),
            Error::Runtime(why) => Error::Runtime(why),
        }
    }
}

/// An I/O error's sentence: a refusal in plain words (over UDP it is only ever the
/// host's "port unreachable").
fn io_message(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "refused: nothing listens on that UDP port (the host answered port unreachable)".to_string()
        }
        _ => format!("I/O error: {e}"),
    }
}

fn copy_io(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// The sentence first (what `main` prints for an `Err`), then the variant to match on.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} (a2s_query::Error::{})", self.variant())
    }
}

impl Error {
    /// The variant's name, for `Debug`.
    fn variant(&self) -> &'static str {
        match self {
            Error::Timeout { .. } => "Timeout",
            Error::Io(_) => "Io",
            Error::Resolve(_) => "Resolve",
            Error::InvalidInput(_) => "InvalidInput",
            Error::Address(_) => "Address",
            Error::Truncated { .. } => "Truncated",
            Error::Malformed { .. } => "Malformed",
            Error::NotA2s { .. } => "NotA2s",
            Error::UnexpectedType { .. } => "UnexpectedType",
            Error::InvalidText { .. } => "InvalidText",
            Error::Decompress(_) => "Decompress",
            Error::SizeMismatch { .. } => "SizeMismatch",
            Error::Checksum { .. } => "Checksum",
            Error::MissingChunk { .. } => "MissingChunk",
            Error::MasterIncomplete { .. } => "MasterIncomplete",
            Error::TooManyFragments { .. } => "TooManyFragments",
            Error::ReplyTooLarge { .. } => "ReplyTooLarge",
            Error::DecompressedTooLarge { .. } => "DecompressedTooLarge",
            Error::TooManyChallenges { .. } => "TooManyChallenges",
            Error::TooManyStrayDatagrams { .. } => "TooManyStrayDatagrams",
            Error::Runtime(_) => "Runtime",
            Error::Unencodable(_) => "Unencodable",
        }
    }

    /// Whether the call ran out of time ([`Error::Timeout`]): the server is silent, down,
    /// or never answers this kind of query.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether the server answered with something broken: a reply that does not parse,
    /// decompress or check out.
    pub fn is_broken_reply(&self) -> bool {
        matches!(
            self,
            Error::Truncated { .. }
                | Error::Malformed { .. }
                | Error::NotA2s { .. }
                | Error::UnexpectedType { .. }
                | Error::InvalidText { .. }
                | Error::Decompress(_)
                | Error::SizeMismatch { .. }
                | Error::Checksum { .. }
                | Error::MissingChunk { .. }
        )
    }

    /// Whether a [`Limits`](crate::Limits) cap stopped the call.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Error::TooManyFragments { .. }
                | Error::ReplyTooLarge { .. }
                | Error::DecompressedTooLarge { .. }
                | Error::TooManyChallenges { .. }
                | Error::TooManyStrayDatagrams { .. }
        )
    }
}

/// Socket errors (`?` on `std::net` calls) become [`Error::Io`]; nothing else in the
/// crate converts an `io::Error` this way.
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// What a call skipped while it waited for its answer (see [`Error::Timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Ignored {
    /// Datagrams skipped: junk, replies of other types, copies, fragments that could not
    /// be filed.
    pub count: u32,
    /// The most telling of them: the first that was not A2S or a reply of another type,
    /// else the first.
    pub telling: Option<Stray>,
}

/// One kind of skipped datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stray {
    /// Not an A2S datagram (no `FF FF FF FF` or `FE FF FF FF` header): its first bytes.
    NotA2s {
        /// Up to four first bytes.
        bytes: [u8; 4],
        /// How many of `bytes` the datagram had.
        len: u8,
    },
    /// An A2S reply of another type than the one asked for.
    OtherReply {
        /// Its type byte.
        kind: u8,
    },
    /// An A2S datagram that could not be used: cut short, or a split-reply fragment
    /// that could not be filed (a bad header, a copy, a total past the limit).
    Unusable,
    /// A repeat of something already handled: a copy of a challenge already answered,
    /// a second GoldSrc info reply while the first is held.
    Repeat,
    /// Anything handed in before the request went out (it answers an earlier one).
    Early,
    /// A reply that came too soon after the request to answer it (sooner than half the
    /// server's shortest round trip, less 5 ms): a late reply to an earlier query.
    Stale,
}

impl Stray {
    /// Whether this says more than the others about what is on the other end.
    pub(crate) fn is_telling(&self) -> bool {
        matches!(self, Stray::NotA2s { .. } | Stray::OtherReply { .. })
    }
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(telling) = self.telling else { return Ok(()) };
        let n = self.count;
        let (s, one) = if n == 1 { ("", ":") } else { ("s", ", one") };
        write!(f, "; ignored {n} datagram{s}{one} {telling}")
    }
}

/// What the datagram was, and for one that is not A2S what that suggests.
impl fmt::Display for Stray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Stray::NotA2s { bytes, len } => {
                let shown = bytes.get(..usize::from(len)).unwrap_or_default();
                write!(f, "not A2S (")?;
                for (i, b) in shown.iter().enumerate() {
                    write!(f, "{}{b:02X}", if i == 0 { "" } else { " " })?;
                }
                if !shown.is_empty() && shown.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                    write!(f, " \"{}\"", String::from_utf8_lossy(shown))?;
                }
                write!(f, "); is this the query port? Many games answer queries on a port of their own")
            }
            Stray::OtherReply { kind } => {
                write!(f, "a reply of another type ({}); something answers there, but not this query", TypeByte(kind))
            }
            Stray::Unusable => write!(f, "an A2S datagram that could not be used"),
            Stray::Repeat => write!(f, "a repeat of something already handled"),
            Stray::Early => write!(f, "handed in before the request went out"),
            Stray::Stale => {
                write!(f, "a reply too soon after the request to answer it (a late reply to an earlier query)")
            }
        }
    }
}

/// A hint for an address that failed for want of a port.
struct PortHint<'a>(&'a io::Error);

impl fmt::Display for PortHint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.kind() != io::ErrorKind::InvalidInput {
            return Ok(());
        }
        // What std says of a "host" or "ip" without ":port", and of "[::1]", "host:" or
        // "host:http" (what follows the last colon is not a port).
        match self.0.to_string().as_str() {
            "invalid socket address" => write!(f, " (is the port there? Add :PORT, the query port, often 27015)"),
            "invalid port value" => write!(
                f,
                " (no port after the last colon: write HOST:PORT or [IPv6]:PORT, the query port, often 27015)"
            ),
            _ => Ok(()),
        }
    }
}

struct Incomplete(Option<(u8, u8)>);

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((got, total)) => write!(f, " (split reply incomplete: {got} of {total} fragments)"),
            None => Ok(()),
        }
    }
}

struct Hex<'a>(&'a [u8; 4]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = *self.0;
        write!(f, "{a:02X} {b:02X} {c:02X} {d:02X}")
    }
}

struct TypeByte(u8);

impl fmt::Display for TypeByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "0x{:02X} '{}'", self.0, char::from(self.0))
        } else {
            write!(f, "0x{:02X}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The port hint follows what std says of a missing port, and nothing else.
    #[test]
    fn the_port_hint_is_given_for_a_missing_port_only() {
        let hinted = |why: io::Error| Error::Resolve(why).to_string().contains("the query port, often 27015");
        assert!(hinted(io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address")));
        assert!(hinted(io::Error::new(io::ErrorKind::InvalidInput, "invalid port value")));
        assert!(!hinted(io::Error::other("failed to lookup address information: Name or service not known")));
        assert!(!hinted(io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")));
        // What std really says today: if its wording changes, this fails.
        use std::net::ToSocketAddrs;
        for no_port in ["192.0.2.7", "[2001:db8::7]", "host:"] {
            assert!(hinted(no_port.to_socket_addrs().unwrap_err()), "{no_port}");
        }
    }

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 32, "{}", std::mem::size_of::<Error>());
    }

    #[test]
    fn messages_name_the_cause() {
        let e = Error::NotA2s { header: [0x00, 0x01, 0xAB, 0xFF] };
        assert_eq!(e.to_string(), "not an A2S datagram: header 00 01 AB FF");
        let e = Error::UnexpectedType { expected: 0x44, got: 0x45 };
        assert_eq!(e.to_string(), "unexpected reply type 0x45 'E' (expected 0x44 'D')");
        let e =
            Error::Timeout { timeout: Duration::from_secs(2), fragments: Some((2, 3)), ignored: Ignored::default() };
        assert_eq!(e.to_string(), "no reply within 2s (split reply incomplete: 2 of 3 fragments)");
        let e = Error::Timeout { timeout: Duration::from_millis(500), fragments: None, ignored: Ignored::default() };
        assert_eq!(e.to_string(), "no reply within 500ms");
        assert!(e.is_timeout() && !e.is_limit() && !e.is_broken_reply());
    }

    #[test]
    fn a_timeout_says_what_came_instead() {
        let http = Ignored { count: 3, telling: Some(Stray::NotA2s { bytes: *b"HTTP", len: 4 }) };
        let e = Error::Timeout { timeout: Duration::from_secs(1), fragments: None, ignored: http };
        assert_eq!(
            e.to_string(),
            "no reply within 1s; ignored 3 datagrams, one not A2S (48 54 54 50 \"HTTP\"); is this the query port? \
             Many games answer queries on a port of their own"
        );
        let other = Ignored { count: 1, telling: Some(Stray::OtherReply { kind: 0x45 }) };
        let e = Error::Timeout { timeout: Duration::from_secs(1), fragments: None, ignored: other };
        assert_eq!(
            e.to_string(),
            "no reply within 1s; ignored 1 datagram: a reply of another type (0x45 'E'); something answers there, \
             but not this query"
        );
        assert!(Error::Checksum { expected: 1, actual: 2 }.is_broken_reply());
        assert!(Error::TooManyChallenges { rounds: 5 }.is_limit());
        assert!(!Error::TooManyChallenges { rounds: 5 }.is_broken_reply());
    }

    /// What `main() -> Result<(), Error>` prints: the sentence, not a struct dump.
    #[test]
    fn debug_leads_with_the_sentence_and_names_the_variant() {
        let http = Ignored { count: 3, telling: Some(Stray::NotA2s { bytes: *b"HTTP", len: 4 }) };
        let e = Error::Timeout { timeout: Duration::from_secs(3), fragments: None, ignored: http };
        let debug = format!("{e:?}");
        assert!(
            debug.starts_with(
                "no reply within 3s; ignored 3 datagrams, one not A2S (48 54 54 50 \"HTTP\"); is this the query port?"
            ),
            "{debug}"
        );
        assert!(debug.ends_with(" (a2s_query::Error::Timeout)"), "{debug}");
        for e in [
            Error::Resolve(io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address")),
            Error::Truncated { field: "name", offset: 6 },
            Error::Runtime("no runtime"),
        ] {
            assert_eq!(format!("{e:?}"), format!("{e} (a2s_query::Error::{})", e.variant()));
        }
    }

    #[test]
    fn causes_are_told_once() {
        use std::error::Error as _;
        let e = Error::from(io::Error::new(io::ErrorKind::PermissionDenied, "denied"));
        assert_eq!(e.to_string(), "I/O error: denied");
        assert!(e.source().is_none());
        let e = Error::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(e.to_string(), "refused: nothing listens on that UDP port (the host answered port unreachable)");
        assert!(e.source().is_none());
        let e = Error::Resolve(io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address"));
        assert_eq!(
            e.to_string(),
            "cannot resolve server address: invalid socket address (is the port there? Add :PORT, the query port, \
             often 27015)"
        );
        assert!(e.source().is_none());
        let e = Error::Resolve(io::Error::new(io::ErrorKind::InvalidInput, "invalid port value"));
        assert_eq!(
            e.to_string(),
            "cannot resolve server address: invalid port value (no port after the last colon: write HOST:PORT or \
             [IPv6]:PORT, the query port, often 27015)"
        );
        assert!(Error::Decompress(io::Error::other("bad")).source().is_none());
    }
}
