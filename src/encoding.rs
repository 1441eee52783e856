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
//! | [`Encoding::Latin1`] (ISO-8859-1, not Windows-1252) | `String` | cannot happen: each byte is one char |
//! | `Encoding::Whatwg` (feature `encoding_rs`: Windows-1251, GBK, Shift_JIS, ...) | `String` | replaced by U+FFFD |
//! | [`Raw`] | `Vec<u8>` | cannot happen: bytes kept as sent (python-a2s's `encoding=None`) |
//!
//! [`TextDecoder`] is open: implement it for a code page none of these knows.

use std::fmt::Debug;
use std::hash::Hash;
use std::ops::Range;

/// How a string's bytes (without the terminating NUL) become a string value.
///
/// A code page of your own (here a one-letter stand-in for KOI8-R, where `0xC1` is
/// `а`): implement `decode`, and hand the decoder to a [`Client`](crate::Client) or a
/// parser.
///
/// ```
/// use a2s_query::{DecodeError, TextDecoder};
/// use a2s_query::proto::Players;
///
/// #[derive(Clone, Copy)]
/// struct Koi8;
///
/// impl TextDecoder for Koi8 {
///     type Text = String;
///     fn decode(self, bytes: &[u8]) -> Result<String, DecodeError> {
///         Ok(bytes.iter().map(|&b| if b == 0xC1 { 'а' } else { char::from(b) }).collect())
///     }
/// }
///
/// let body = b"\x01\x00\xC1b\x00\x00\x00\x00\x00\x00\x00\x00\x00";
/// assert_eq!(Players::parse(body, Koi8)?.entries[0].name, "аb");
/// let client = a2s_query::Client::builder().encoding(Koi8).build();
/// # drop(client);
/// # Ok::<(), a2s_query::Error>(())
/// ```
pub trait TextDecoder: Copy {
    /// The type of every string field in results parsed with this decoder.
    type Text: TextBuf;

    /// Decodes one string.
    ///
    /// # Errors
    /// Returns [`DecodeError`] when the bytes are not valid in this encoding; the parser
    /// turns it into [`Error::InvalidText`](crate::Error::InvalidText) naming the field.
    fn decode(self, bytes: &[u8]) -> Result<Self::Text, DecodeError>;

    /// Decodes one string onto the end of `out`, so that many strings can share one
    /// buffer ([`Rules`](crate::Rules) keeps all of its text in one). On an error `out`
    /// may hold part of the string; the caller discards it.
    ///
    /// The provided version decodes into a new value and appends it; the crate's
    /// decoders override it to append without the intermediate allocation.
    ///
    /// # Errors
    /// As [`TextDecoder::decode`].
    fn decode_into(self, bytes: &[u8], out: &mut Self::Text) -> Result<(), DecodeError> {
        let text = self.decode(bytes)?;
        out.push_text(text.slice(0..text.byte_len()));
        Ok(())
    }

    /// Appends `bytes`, a run of NUL-separated strings, to `out` in one copy and returns
    /// true when each of those strings decodes to exactly its own bytes (valid UTF-8 for
    /// the UTF-8 decoders, ASCII for Latin-1, anything for [`Raw`]). Otherwise appends
    /// nothing and returns false, and the strings are decoded one by one. A fast path:
    /// the provided version always returns false.
    fn decode_verbatim(self, bytes: &[u8], out: &mut Self::Text) -> bool {
        let _ = (bytes, out);
        false
    }
}

/// An owned string type a [`TextDecoder`] produces: `String`, or `Vec<u8>` for
/// undecoded bytes. Lets one buffer hold many strings that are handed out as slices.
///
/// Sealed: the two types are all the parsers need, and a decoder of your own returns
/// one of them ([`TextDecoder`] shows a custom code page returning `String`).
pub trait TextBuf: sealed::Sealed + Clone + Debug + Default + PartialEq + Eq + Hash + AsRef<[u8]> {
    /// The borrowed form handed out for a part of the buffer: `str` or `[u8]`.
    type Slice: ?Sized + Debug + PartialEq + Eq + Hash + AsRef<[u8]> + ToOwned<Owned = Self>;

    /// The part of the buffer in `range`; empty when `range` is not a valid part of it
    /// (never a panic).
    fn slice(&self, range: Range<usize>) -> &Self::Slice;

    /// Appends `other`.
    fn push_text(&mut self, other: &Self::Slice);

    /// Makes room for at least `additional` more bytes.
    fn reserve_bytes(&mut self, additional: usize);

    /// Length in bytes.
    fn byte_len(&self) -> usize {
        self.as_ref().len()
    }
}

/// Keeps [`TextBuf`] to the crate's two text types.
mod sealed {
    pub trait Sealed {}
    impl Sealed for String {}
    impl Sealed for Vec<u8> {}
}

impl TextBuf for String {
    type Slice = str;

    fn slice(&self, range: Range<usize>) -> &str {
        self.get(range).unwrap_or_default()
    }

    fn push_text(&mut self, other: &str) {
        self.push_str(other);
    }

    fn reserve_bytes(&mut self, additional: usize) {
        self.reserve(additional);
    }
}

impl TextBuf for Vec<u8> {
    type Slice = [u8];

    fn slice(&self, range: Range<usize>) -> &[u8] {
        self.get(range).unwrap_or_default()
    }

    fn push_text(&mut self, other: &[u8]) {
        self.extend_from_slice(other);
    }

    fn reserve_bytes(&mut self, additional: usize) {
        self.reserve(additional);
    }
}

/// Bytes that a [`TextDecoder`] refused. A decoder of your own makes one with
/// [`DecodeError::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeError {
    /// How many leading bytes were valid.
    pub valid_up_to: usize,
}

impl DecodeError {
    /// The bytes were valid up to `valid_up_to`.
    pub fn new(valid_up_to: usize) -> Self {
        DecodeError { valid_up_to }
    }
}

/// Decoders that produce `String`s. `Utf8` (lossy) is the default. `Latin1` is
/// ISO-8859-1 (one char per byte), not Windows-1252.
///
/// ```
/// use a2s_query::{Encoding, TextDecoder};
///
/// let name = b"caf\xE9";
/// assert_eq!(Encoding::Utf8.decode(name).unwrap(), "caf\u{FFFD}");
/// assert!(Encoding::Utf8Strict.decode(name).is_err());
/// assert_eq!(Encoding::Latin1.decode(name).unwrap(), "café");
/// ```
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
    /// Any encoding of the WHATWG Encoding Standard (Windows-1251 for old Russian
    /// servers, GBK, Shift_JIS, ...); bytes it cannot map become U+FFFD. Made with
    /// `"windows-1251".parse()`.
    #[cfg(feature = "encoding_rs")]
    Whatwg(&'static encoding_rs::Encoding),
}

/// Its label, as [`str::parse`] reads it: `utf8`, `utf8-strict`, `latin1`, or
/// the WHATWG name (`windows-1251`).
impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encoding::Utf8 => f.write_str("utf8"),
            Encoding::Utf8Strict => f.write_str("utf8-strict"),
            Encoding::Latin1 => f.write_str("latin1"),
            #[cfg(feature = "encoding_rs")]
            Encoding::Whatwg(e) => f.write_str(&e.name().to_ascii_lowercase()),
        }
    }
}

impl TextDecoder for Encoding {
    type Text = String;

    fn decode(self, bytes: &[u8]) -> Result<String, DecodeError> {
        // Valid UTF-8, by far the most common text, is taken as it is.
        if let (Encoding::Utf8 | Encoding::Utf8Strict, Ok(text)) = (self, std::str::from_utf8(bytes)) {
            return Ok(text.to_owned());
        }
        // Decoded text is as long as the bytes unless some need replacing: one allocation.
        let mut out = String::with_capacity(bytes.len());
        self.decode_into(bytes, &mut out)?;
        Ok(out)
    }

    fn decode_into(self, bytes: &[u8], out: &mut String) -> Result<(), DecodeError> {
        match self {
            Encoding::Utf8 => {
                for chunk in bytes.utf8_chunks() {
                    out.push_str(chunk.valid());
                    if !chunk.invalid().is_empty() {
                        out.push(char::REPLACEMENT_CHARACTER);
                    }
                }
            }
            Encoding::Utf8Strict => match std::str::from_utf8(bytes) {
                Ok(s) => out.push_str(s),
                Err(e) => return Err(DecodeError { valid_up_to: e.valid_up_to() }),
            },
            Encoding::Latin1 => latin1_into(bytes, out),
            #[cfg(feature = "encoding_rs")]
            Encoding::Whatwg(encoding) => out.push_str(&encoding.decode_without_bom_handling(bytes).0),
        }
        Ok(())
    }

    fn decode_verbatim(self, bytes: &[u8], out: &mut String) -> bool {
        let ascii_only = match self {
            Encoding::Utf8 | Encoding::Utf8Strict => false,
            Encoding::Latin1 => true,
            #[cfg(feature = "encoding_rs")]
            Encoding::Whatwg(encoding) if encoding.is_ascii_compatible() => encoding != encoding_rs::UTF_8,
            #[cfg(feature = "encoding_rs")]
            Encoding::Whatwg(_) => return false,
        };
        // UTF-8 is self-synchronising: split at NULs, valid text stays valid.
        match std::str::from_utf8(bytes) {
            Ok(text) if !ascii_only || text.is_ascii() => {
                out.push_str(text);
                true
            }
            _ => false,
        }
    }
}

fn latin1_into(bytes: &[u8], out: &mut String) {
    // ASCII is valid UTF-8 and Latin-1 alike: one copy, no per-char work.
    match std::str::from_utf8(bytes) {
        Ok(ascii) if ascii.is_ascii() => out.push_str(ascii),
        _ => out.extend(bytes.iter().map(|&b| char::from(b))),
    }
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

    fn decode_into(self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        out.extend_from_slice(bytes);
        Ok(())
    }

    fn decode_verbatim(self, bytes: &[u8], out: &mut Vec<u8>) -> bool {
        out.extend_from_slice(bytes);
        true
    }
}

/// The encoding a label names: `utf8`, `utf8-strict`, `latin1` (ISO-8859-1), and, with
/// the `encoding_rs` feature, any WHATWG label (`windows-1251`, `cp1251`, `gbk`,
/// `shift_jis`, ...). Case does not matter.
///
/// ```
/// use a2s_query::Encoding;
/// assert_eq!("UTF-8".parse(), Ok(Encoding::Utf8));
/// let unknown = "ebcdic".parse::<Encoding>().unwrap_err();
/// assert!(unknown.starts_with("unknown encoding \"ebcdic\" (utf8, utf8-strict, latin1"));
/// ```
impl std::str::FromStr for Encoding {
    type Err = String;

    fn from_str(label: &str) -> Result<Self, String> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf8" | "utf-8" => return Ok(Encoding::Utf8),
            "utf8-strict" | "utf-8-strict" => return Ok(Encoding::Utf8Strict),
            // WHATWG maps these to windows-1252; here they mean what they say.
            "latin1" | "latin-1" | "iso-8859-1" => return Ok(Encoding::Latin1),
            #[cfg(feature = "encoding_rs")]
            other => {
                if let Some(whatwg) = encoding_rs::Encoding::for_label(other.as_bytes()) {
                    return Ok(Encoding::Whatwg(whatwg));
                }
            }
            #[cfg(not(feature = "encoding_rs"))]
            _ => {}
        }
        let more = if cfg!(feature = "encoding_rs") { ", or a WHATWG label such as windows-1251" } else { "" };
        Err(format!("unknown encoding {label:?} (utf8, utf8-strict, latin1{more})"))
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
    fn lossy_utf8_matches_the_standard_library_on_every_kind_of_bad_sequence() {
        let cases: [&[u8]; 8] =
            [b"\xC3", b"a\xC3(b", b"\xE2\x82", b"\xF0\x90\x80x", b"\xED\xA0\x80", b"\xFF\xFE", b"\xC0\xAF", b"ok"];
        for bytes in cases {
            let want = String::from_utf8_lossy(bytes);
            assert_eq!(Encoding::Utf8.decode(bytes).unwrap(), want, "{bytes:?}");
            let mut appended = String::from("x");
            Encoding::Utf8.decode_into(bytes, &mut appended).unwrap();
            assert_eq!(appended, format!("x{want}"), "{bytes:?}");
        }
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
        for e in [Encoding::Utf8, Encoding::Utf8Strict, Encoding::Latin1] {
            assert_eq!(e.to_string().parse::<Encoding>().unwrap(), e, "{e}");
        }
        assert_eq!("utf8".parse::<Encoding>().unwrap(), Encoding::Utf8);
        assert_eq!("UTF8-STRICT".parse::<Encoding>().unwrap(), Encoding::Utf8Strict);
        assert_eq!("latin1".parse::<Encoding>().unwrap(), Encoding::Latin1);
        assert!("ebcdic".parse::<Encoding>().is_err());
    }

    #[cfg(feature = "encoding_rs")]
    #[test]
    fn whatwg_labels_decode_code_pages() {
        // "Привет" in Windows-1251, the code page of old Russian servers.
        let cp1251 = b"\xCF\xF0\xE8\xE2\xE5\xF2";
        for label in ["windows-1251", "cp1251", " Windows-1251 "] {
            let e: Encoding = label.parse().unwrap();
            assert_eq!(e.decode(cp1251).unwrap(), "Привет", "{label}");
        }
        // Latin-1 stays ISO-8859-1 (WHATWG would read windows-1252: 0x80 as the euro).
        assert_eq!("latin1".parse::<Encoding>().unwrap().decode(b"\x80").unwrap(), "\u{80}");
        assert_eq!("windows-1252".parse::<Encoding>().unwrap().decode(b"\x80").unwrap(), "€");
        // Bytes a code page cannot map are replaced, never an error.
        let sjis = "shift_jis".parse::<Encoding>().unwrap();
        assert_eq!(sjis.decode(b"\x82\xA0").unwrap(), "あ");
        assert_eq!(sjis.decode(b"\xFF").unwrap(), "\u{FFFD}");
        assert!("ebcdic".parse::<Encoding>().unwrap_err().contains("WHATWG"));
    }

    /// The shared-buffer fast path gives what decoding each string alone gives.
    #[cfg(feature = "encoding_rs")]
    #[test]
    fn whatwg_in_a_shared_buffer() {
        use crate::proto::Rules;
        let body = b"\x02\x00name\x00\xCF\xF0\xE8\x00ascii\x00only\x00";
        let rules = Rules::parse(body, "cp1251".parse::<Encoding>().unwrap()).unwrap();
        assert_eq!(rules.get("name"), Some("При"));
        assert_eq!(rules.get("ascii"), Some("only"));
        let utf16 = "utf-16le".parse::<Encoding>().unwrap();
        let mut out = String::new();
        assert!(!utf16.decode_verbatim(b"ab", &mut out), "not ASCII-compatible: decoded one by one");
    }
}
