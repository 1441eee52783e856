//! Framing: the four-byte headers, datagram classification, challenges and requests.

use std::fmt;

use super::reader::Reader;
use crate::error::{Error, Result};

/// Header of a reply (and every request) sent in one datagram: -1 as little-endian i32.
pub(crate) const SINGLE_HEADER: [u8; 4] = [0xFF, 0xFF, 0xFF, 0xFF];
/// Header of one fragment of a split reply: -2 as little-endian i32.
pub(crate) const SPLIT_HEADER: [u8; 4] = [0xFE, 0xFF, 0xFF, 0xFF];

/// Request type byte of A2S_INFO (`'T'`).
pub(crate) const A2S_INFO: u8 = 0x54;
/// Request type byte of A2S_PLAYER (`'U'`).
pub(crate) const A2S_PLAYER: u8 = 0x55;
/// Request type byte of A2S_RULES (`'V'`).
pub(crate) const A2S_RULES: u8 = 0x56;
/// Request type byte of the legacy A2S_SERVERQUERY_GETCHALLENGE (`'W'`).
pub(crate) const A2S_GETCHALLENGE: u8 = 0x57;
/// Reply type byte of S2C_CHALLENGE (`'A'`).
pub(crate) const S2C_CHALLENGE: u8 = 0x41;
/// The fixed payload of A2S_INFO, terminator included.
pub(crate) const INFO_PAYLOAD: &[u8; 20] = b"Source Engine Query\0";

/// The four opaque bytes a server hands out and expects echoed back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Challenge(pub [u8; 4]);

impl Challenge {
    /// The placeholder (-1) that asks a server for a challenge.
    pub const REQUEST: Challenge = Challenge([0xFF; 4]);
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Challenge({:08X})", u32::from_le_bytes(self.0))
    }
}

/// One reply message: its type byte and the bytes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The type byte (`0x49` info, `0x44` players, `0x45` rules, ...).
    pub kind: u8,
    /// Everything after the type byte.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Offset of the body in a single datagram (header + type byte); parsers report
    /// error offsets from the start of the datagram.
    pub const BODY_OFFSET: usize = 5;

    /// Reads a reassembled split reply. The reassembled bytes normally start with their
    /// own `FF FF FF FF` header; some servers leave it out, so it is skipped only when
    /// present.
    ///
    /// # Errors
    /// [`Error::Truncated`] when no type byte is left.
    pub fn from_reassembled(payload: &'a [u8]) -> Result<Self> {
        let body = payload.strip_prefix(&SINGLE_HEADER).unwrap_or(payload);
        let (&kind, body) =
            body.split_first().ok_or(Error::Truncated { field: "message type", offset: payload.len() })?;
        Ok(Message { kind, body })
    }

    /// The challenge this message carries, if it is an S2C_CHALLENGE.
    ///
    /// # Errors
    /// [`Error::Truncated`] when a challenge message is shorter than four bytes.
    pub fn challenge(&self) -> Result<Option<Challenge>> {
        if self.kind != S2C_CHALLENGE {
            return Ok(None);
        }
        let mut r = Reader::new(self.body, Self::BODY_OFFSET);
        Ok(Some(Challenge(r.array4("challenge")?)))
    }
}

/// What a received datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Datagram<'a> {
    /// A whole reply in one datagram (`FF FF FF FF` header), other than a challenge.
    Single(Message<'a>),
    /// One fragment of a split reply (`FE FF FF FF` header): the whole datagram, to be
    /// fed to a [`Reassembler`](super::Reassembler).
    Split(&'a [u8]),
    /// A server challenge (`FF FF FF FF 41`): resend the request with these bytes.
    Challenge(Challenge),
}

impl<'a> Datagram<'a> {
    /// Classifies one received datagram by its header.
    ///
    /// ```
    /// use a2s_query::proto::{Challenge, Datagram};
    ///
    /// let challenge = Datagram::classify(b"\xFF\xFF\xFF\xFFA\x01\x02\x03\x04")?;
    /// assert_eq!(challenge, Datagram::Challenge(Challenge([1, 2, 3, 4])));
    /// assert!(matches!(Datagram::classify(b"\xFE\xFF\xFF\xFF\x07\x00\x00\x00\x02\x00")?, Datagram::Split(_)));
    /// assert!(Datagram::classify(b"HTTP/1.1 400").is_err());
    /// # Ok::<(), a2s_query::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Truncated`] for a datagram too short for its header or type byte, or a
    /// challenge without its four bytes; [`Error::NotA2s`] for any other header (naming
    /// the bytes seen).
    pub fn classify(datagram: &'a [u8]) -> Result<Self> {
        let (header, rest) = datagram.split_at(datagram.len().min(4));
        if header.len() < 4 {
            let mut seen = [0; 4];
            seen.get_mut(..header.len()).unwrap_or_default().copy_from_slice(header);
            if datagram.is_empty() || SINGLE_HEADER.starts_with(header) || SPLIT_HEADER.starts_with(header) {
                return Err(Error::Truncated { field: "packet header", offset: datagram.len() });
            }
            return Err(Error::NotA2s { header: seen });
        }
        if header == SPLIT_HEADER {
            return Ok(Datagram::Split(datagram));
        }
        if header != SINGLE_HEADER {
            let mut seen = [0; 4];
            seen.copy_from_slice(header);
            return Err(Error::NotA2s { header: seen });
        }
        let (&kind, body) = rest.split_first().ok_or(Error::Truncated { field: "message type", offset: 4 })?;
        let message = Message { kind, body };
        Ok(match message.challenge()? {
            Some(c) => Datagram::Challenge(c),
            None => Datagram::Single(message),
        })
    }
}

/// A request a client sends, as a server reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Query {
    /// A2S_INFO, first sent without a challenge, then with the one the server gave.
    Info(Option<Challenge>),
    /// A2S_PLAYER with a challenge, or [`Challenge::REQUEST`] to ask for one.
    Players(Challenge),
    /// A2S_RULES with a challenge, or [`Challenge::REQUEST`] to ask for one.
    Rules(Challenge),
    /// The legacy A2S_SERVERQUERY_GETCHALLENGE, answered with S2C_CHALLENGE.
    GetChallenge,
}

impl Query {
    /// The request's bytes, ready to send. Allocation-free.
    pub fn encode(&self) -> Request {
        let mut r = Request { bytes: [0; Request::MAX_LEN], len: 0 };
        r.push(&SINGLE_HEADER);
        match *self {
            Query::Info(challenge) => {
                r.push(&[A2S_INFO]);
                r.push(INFO_PAYLOAD);
                if let Some(c) = challenge {
                    r.push(&c.0);
                }
            }
            Query::Players(c) => {
                r.push(&[A2S_PLAYER]);
                r.push(&c.0);
            }
            Query::Rules(c) => {
                r.push(&[A2S_RULES]);
                r.push(&c.0);
            }
            Query::GetChallenge => r.push(&[A2S_GETCHALLENGE]),
        }
        r
    }

    /// The same request carrying `challenge` (no-op for [`Query::GetChallenge`]).
    pub fn with_challenge(self, challenge: Challenge) -> Query {
        match self {
            Query::Info(_) => Query::Info(Some(challenge)),
            Query::Players(_) => Query::Players(challenge),
            Query::Rules(_) => Query::Rules(challenge),
            Query::GetChallenge => Query::GetChallenge,
        }
    }

    /// Reads a request datagram, as a server (or a test's fake server) receives it.
    ///
    /// Lenient where servers are: a challenge missing from PLAYER or RULES reads as
    /// [`Challenge::REQUEST`], and trailing bytes after GETCHALLENGE are ignored.
    ///
    /// # Errors
    /// [`Error::NotA2s`] / [`Error::Truncated`] for a bad header, [`Error::Malformed`]
    /// for an unknown request type or an INFO request without its payload.
    pub fn parse(datagram: &[u8]) -> Result<Query> {
        let mut r = Reader::new(datagram, 0);
        let header = r.array4("packet header")?;
        if header != SINGLE_HEADER {
            return Err(Error::NotA2s { header });
        }
        let kind = r.u8("request type")?;
        let challenge = |r: &mut Reader<'_>| -> Option<Challenge> { r.array4("challenge").ok().map(Challenge) };
        match kind {
            A2S_INFO => {
                let payload = r.bytes(INFO_PAYLOAD.len(), "info payload")?;
                if payload != INFO_PAYLOAD {
                    return Err(Error::Malformed {
                        reason: "A2S_INFO payload is not \"Source Engine Query\"",
                        offset: 5,
                    });
                }
                Ok(Query::Info(challenge(&mut r)))
            }
            A2S_PLAYER => Ok(Query::Players(challenge(&mut r).unwrap_or(Challenge::REQUEST))),
            A2S_RULES => Ok(Query::Rules(challenge(&mut r).unwrap_or(Challenge::REQUEST))),
            A2S_GETCHALLENGE => Ok(Query::GetChallenge),
            _ => Err(Error::Malformed { reason: "unknown request type", offset: 4 }),
        }
    }
}

/// Encoded request bytes, stored inline (the longest request is 29 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Request {
    bytes: [u8; Request::MAX_LEN],
    len: usize,
}

impl Request {
    /// Length of the longest request: A2S_INFO with a challenge.
    pub const MAX_LEN: usize = 29;

    fn push(&mut self, b: &[u8]) {
        let end = self.len + b.len();
        if let Some(dst) = self.bytes.get_mut(self.len..end) {
            dst.copy_from_slice(b);
            self.len = end;
        }
    }
}

impl AsRef<[u8]> for Request {
    fn as_ref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl std::ops::Deref for Request {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_ref()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Request({:02X?})", self.as_ref())
    }
}

/// Encodes an S2C_CHALLENGE reply (`FF FF FF FF 41` + the four bytes).
pub fn encode_challenge(challenge: Challenge, out: &mut Vec<u8>) {
    out.extend_from_slice(&SINGLE_HEADER);
    out.push(S2C_CHALLENGE);
    out.extend_from_slice(&challenge.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &[u8] = b"\xFF\xFF\xFF\xFFTSource Engine Query\0";

    #[test]
    fn info_request_without_challenge_is_25_bytes() {
        let r = Query::Info(None).encode();
        assert_eq!(&*r, INFO);
        assert_eq!(r.len(), 25);
    }

    #[test]
    fn info_request_appends_challenge_after_nul() {
        let r = Query::Info(Some(Challenge([1, 2, 3, 4]))).encode();
        assert_eq!(r.len(), 29);
        assert_eq!(&r[..25], INFO);
        assert_eq!(&r[25..], &[1, 2, 3, 4]);
    }

    #[test]
    fn player_and_rules_requests_carry_minus_one_or_challenge() {
        assert_eq!(&*Query::Players(Challenge::REQUEST).encode(), b"\xFF\xFF\xFF\xFFU\xFF\xFF\xFF\xFF");
        assert_eq!(&*Query::Rules(Challenge([9, 8, 7, 6])).encode(), b"\xFF\xFF\xFF\xFFV\x09\x08\x07\x06");
        assert_eq!(&*Query::GetChallenge.encode(), b"\xFF\xFF\xFF\xFFW");
    }

    #[test]
    fn requests_parse_back() {
        for q in [
            Query::Info(None),
            Query::Info(Some(Challenge([5, 6, 7, 8]))),
            Query::Players(Challenge::REQUEST),
            Query::Rules(Challenge([1, 0, 0, 0])),
            Query::GetChallenge,
        ] {
            assert_eq!(Query::parse(&q.encode()).unwrap(), q);
        }
        assert!(matches!(Query::parse(b"\xFF\xFF\xFF\xFFZ"), Err(Error::Malformed { .. })));
        assert!(matches!(Query::parse(b"\xFF\xFF\xFF\xFFTSource"), Err(Error::Truncated { .. })));
    }

    #[test]
    fn classify_single_split_and_challenge() {
        let single = b"\xFF\xFF\xFF\xFFD\x00";
        assert_eq!(Datagram::classify(single).unwrap(), Datagram::Single(Message { kind: 0x44, body: &[0] }));
        let split = b"\xFE\xFF\xFF\xFF\x01\x00\x00\x00\x02\x00";
        assert_eq!(Datagram::classify(split).unwrap(), Datagram::Split(split));
        let mut c = Vec::new();
        encode_challenge(Challenge([0xAA, 0xBB, 0xCC, 0xDD]), &mut c);
        assert_eq!(Datagram::classify(&c).unwrap(), Datagram::Challenge(Challenge([0xAA, 0xBB, 0xCC, 0xDD])));
    }

    #[test]
    fn classify_rejects_what_is_not_a2s() {
        assert!(matches!(Datagram::classify(b""), Err(Error::Truncated { .. })));
        assert!(matches!(Datagram::classify(b"\xFF\xFF"), Err(Error::Truncated { .. })));
        assert!(matches!(Datagram::classify(b"\xFF\xFF\xFF\xFF"), Err(Error::Truncated { field: "message type", .. })));
        assert!(matches!(
            Datagram::classify(b"\xFF\xFF\xFF\xFFA\x01\x02"),
            Err(Error::Truncated { field: "challenge", .. })
        ));
        match Datagram::classify(&[0; 64]) {
            Err(e @ Error::NotA2s { header: [0, 0, 0, 0] }) => {
                assert_eq!(e.to_string(), "not an A2S datagram: header 00 00 00 00");
            }
            other => panic!("{other:?}"),
        }
        // -3 is the engine's LZSS net-channel header, never an A2S reply.
        assert!(matches!(
            Datagram::classify(b"\xFD\xFF\xFF\xFFabc"),
            Err(Error::NotA2s { header: [0xFD, 0xFF, 0xFF, 0xFF] })
        ));
        assert!(matches!(Datagram::classify(b"hi"), Err(Error::NotA2s { header: [b'h', b'i', 0, 0] })));
    }

    #[test]
    fn reassembled_payload_with_or_without_header() {
        let m = Message::from_reassembled(b"\xFF\xFF\xFF\xFFE\x00\x00").unwrap();
        assert_eq!((m.kind, m.body), (0x45, &[0u8, 0][..]));
        let m = Message::from_reassembled(b"E\x00\x00").unwrap();
        assert_eq!((m.kind, m.body), (0x45, &[0u8, 0][..]));
        assert!(Message::from_reassembled(b"\xFF\xFF\xFF\xFF").is_err());
    }
}
