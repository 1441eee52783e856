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
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The whole call ran past its timeout: no complete reply of the asked type arrived.
    ///
    /// `fragments` tells how far a split reply had got, as (received, total), when one
    /// was being collected at the deadline.
    #[error("no reply within {timeout:?}{}", Incomplete(*.fragments))]
    Timeout {
        /// The timeout the call was given.
        timeout: Duration,
        /// `(received, total)` of the split reply still being collected, if any.
        fragments: Option<(u8, u8)>,
    },

    /// The operating system refused a socket operation (bind, connect, send, receive).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    /// The address could not be resolved, or resolved to nothing usable.
    #[error("cannot resolve server address: {0}")]
    Resolve(#[source] io::Error),

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

    /// A bzip2-compressed split reply could not be decompressed.
    #[error("bzip2 decompression failed: {0}")]
    Decompress(#[source] io::Error),

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

    /// A value cannot be written in A2S form (a string holding a NUL byte, more players
    /// than a count byte holds, ...). Only the encoders return this.
    #[error("cannot encode: {0}")]
    Unencodable(&'static str),
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
        let e = Error::Timeout { timeout: Duration::from_secs(2), fragments: Some((2, 3)) };
        assert_eq!(e.to_string(), "no reply within 2s (split reply incomplete: 2 of 3 fragments)");
        let e = Error::Timeout { timeout: Duration::from_millis(500), fragments: None };
        assert_eq!(e.to_string(), "no reply within 500ms");
    }
}
