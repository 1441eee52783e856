//! The encoding option: the one place where wire bytes become text.
//!
//! A2S strings are NUL-terminated bytes. The protocol says UTF-8, but real servers send
//! Latin-1 names, control bytes and binary rule values. Every parser takes a
//! [`TextDecoder`] and builds its string fields with it, so the caller chooses:
//!
//! | decoder | string fields are | on a bad byte |
//! |---|---|---|
//! | [`Encoding::Utf8`] (default) | `String` | replaced by U+FFFD, never fails |
//! | [`Encoding::Utf8Strict`] | `String` | [`Error::InvalidText`](crate::Error::InvalidText) |
//! | [`Encoding::Latin1`] | `String` | cannot happen: each byte is one char |
//! | [`Raw`] | `Vec<u8>` | cannot happen: bytes kept as sent (python-a2s's `encoding=None`) |
//!
//! The trait is open: implement it to decode a code page this crate does not know
//! (old Russian servers send Windows-1251, for example).

use std::fmt::Debug;
use std::hash::Hash;

/// How a string's bytes (without the terminating NUL) become a string value.
pub trait TextDecoder: Copy {
    /// The type of every string field in results parsed with this decoder.
    type Text: Clone + Debug + PartialEq + Eq + Hash + AsRef<[u8]>;

    /// Decodes one string.
    ///
    /// # Errors
    /// Returns [`DecodeError`] when the bytes are not valid in this encoding; the parser
    /// turns it into [`Error::InvalidText`](crate::Error::InvalidText) naming the field.
    fn decode(self, bytes: &[u8]) -> Result<Self::Text, DecodeError>;
}

/// Bytes that a [`TextDecoder`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// How many leading bytes were valid.
    pub valid_up_to: usize,
}

/// Decoders that produce `String`s. `Utf8` (lossy) is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// UTF-8; invalid sequences become U+FFFD. A bad byte never fails a query.
    #[default]
    Utf8,
    /// UTF-8; invalid sequences fail the parse with
    /// [`Error::InvalidText`](crate::Error::InvalidText).
    Utf8Strict,
    /// ISO-8859-1: every byte is the char of the same number. Lossless, so the original
    /// bytes can be recovered with `s.chars().map(|c| c as u8)`.
    Latin1,
}

impl TextDecoder for Encoding {
    type Text = String;

    fn decode(self, bytes: &[u8]) -> Result<String, DecodeError> {
        match self {
            Encoding::Utf8 => Ok(String::from_utf8_lossy(bytes).into_owned()),
            Encoding::Utf8Strict => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(s.to_owned()),
                Err(e) => Err(DecodeError { valid_up_to: e.valid_up_to() }),
            },
            Encoding::Latin1 => Ok(latin1(bytes)),
        }
    }
}

fn latin1(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        // ASCII is valid UTF-8 and Latin-1 alike: one copy, no per-char work.
        return String::from_utf8_lossy(bytes).into_owned();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Keeps every string as the bytes the server sent (`Vec<u8>`), undecoded.
///
/// For binary rule values (Arma 3, DayZ) and for callers who decode names themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Raw;

impl TextDecoder for Raw {
    type Text = Vec<u8>;

    fn decode(self, bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
        Ok(bytes.to_vec())
    }
}

impl std::str::FromStr for Encoding {
    type Err = String;

    /// Parses the names the CLI uses: `utf8`, `utf8-strict`, `latin1`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "utf8" | "utf-8" => Ok(Encoding::Utf8),
            "utf8-strict" | "utf-8-strict" => Ok(Encoding::Utf8Strict),
            "latin1" | "latin-1" | "iso-8859-1" => Ok(Encoding::Latin1),
            other => Err(format!("unknown encoding {other:?} (utf8, utf8-strict, latin1)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD: &[u8] = b"ab\xFFc";

    #[test]
    fn utf8_replaces_bad_bytes() {
        assert_eq!(Encoding::Utf8.decode(BAD).unwrap(), "ab\u{FFFD}c");
        assert_eq!(Encoding::Utf8.decode("Zoë".as_bytes()).unwrap(), "Zoë");
    }

    #[test]
    fn strict_utf8_reports_where() {
        assert_eq!(Encoding::Utf8Strict.decode(BAD), Err(DecodeError { valid_up_to: 2 }));
        assert_eq!(Encoding::Utf8Strict.decode(b"ok").unwrap(), "ok");
    }

    #[test]
    fn latin1_maps_each_byte_to_one_char() {
        assert_eq!(Encoding::Latin1.decode(b"Zo\xEB").unwrap(), "Zoë");
        assert_eq!(Encoding::Latin1.decode(BAD).unwrap(), "ab\u{FF}c");
        let back: Vec<u8> = "ab\u{FF}c".chars().map(|c| c as u8).collect();
        assert_eq!(back, BAD);
    }

    #[test]
    fn raw_keeps_bytes() {
        assert_eq!(Raw.decode(BAD).unwrap(), BAD.to_vec());
    }

    #[test]
    fn names_parse() {
        assert_eq!("utf8".parse::<Encoding>().unwrap(), Encoding::Utf8);
        assert_eq!("UTF8-STRICT".parse::<Encoding>().unwrap(), Encoding::Utf8Strict);
        assert_eq!("latin1".parse::<Encoding>().unwrap(), Encoding::Latin1);
        assert!("ebcdic".parse::<Encoding>().is_err());
    }
}
