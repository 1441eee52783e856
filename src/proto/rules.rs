//! A2S_RULES replies (`0x45`).

use super::packet::{Message, SINGLE_HEADER};
use super::reader::Reader;
use super::writer::Writer;
use crate::encoding::TextDecoder;
use crate::error::{Error, Result};

/// Reply type byte of a rules list (`'E'`).
pub const S2A_RULES: u8 = 0x45;

/// A server's rules (console variables): name/value pairs in wire order.
///
/// Looks up like a map ([`Rules::get`]; a name sent twice answers with its last value)
/// and keeps what a map would lose: order, duplicates, the declared count and whether
/// the reply was cut short.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rules<S = String> {
    /// The rule count the server declared.
    pub count: u16,
    /// The pairs read, in wire order.
    pub entries: Vec<(S, S)>,
    /// True when the reply ended before `count` whole pairs (a cut-off reply): the
    /// pairs read are kept, a pair missing its value is dropped.
    pub truncated: bool,
}

impl<S> Default for Rules<S> {
    fn default() -> Self {
        Rules { count: 0, entries: Vec::new(), truncated: false }
    }
}

impl<S: AsRef<[u8]>> Rules<S> {
    /// The value of rule `name` (the last one, if the server sent it twice).
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&S> {
        let name = name.as_ref();
        self.entries.iter().rev().find(|(n, _)| n.as_ref() == name).map(|(_, v)| v)
    }

    /// True when rule `name` was sent.
    pub fn contains(&self, name: impl AsRef<[u8]>) -> bool {
        self.get(name).is_some()
    }
}

impl<S> Rules<S> {
    /// Number of pairs read.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no pair was read.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pairs in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, (S, S)> {
        self.entries.iter()
    }

    /// Parses the body of a `0x45` message.
    ///
    /// # Errors
    /// [`Error::Truncated`] when even the count is missing; [`Error::InvalidText`] from
    /// a strict decoder. A list cut short is not an error: see [`Rules::truncated`].
    pub fn parse<D: TextDecoder<Text = S>>(body: &[u8], decoder: D) -> Result<Self> {
        let view = RulesView::parse(body)?;
        // Each pair takes at least two bytes: the capacity never exceeds the payload.
        let mut entries = Vec::with_capacity(usize::from(view.count).min(view.pairs.len() / 2));
        let mut offset = Message::BODY_OFFSET + 2;
        for (name, value) in view.iter() {
            let decode = |bytes: &[u8], field, at: usize| {
                decoder.decode(bytes).map_err(|e| Error::InvalidText { field, offset: at + e.valid_up_to })
            };
            let n = decode(name, "rule name", offset)?;
            let v = decode(value, "rule value", offset + name.len() + 1)?;
            offset += name.len() + value.len() + 2;
            entries.push((n, v));
        }
        let truncated = entries.len() < usize::from(view.count);
        Ok(Rules { count: view.count, entries, truncated })
    }

    /// A map of the rules, for callers who want one (a later duplicate wins).
    pub fn into_map(self) -> std::collections::HashMap<S, S>
    where
        S: std::hash::Hash + Eq,
    {
        self.entries.into_iter().collect()
    }
}

/// A rules reply read in place: the pairs borrow the message bytes, nothing is
/// allocated or decoded. For hot paths and for binary rule values; [`Rules::parse`] is
/// built on it.
///
/// ```
/// use a2s_query::proto::RulesView;
/// let body = b"\x02\x00sv_gravity\x00800\x00mp_timelimit\x0030\x00";
/// let view = RulesView::parse(body)?;
/// assert_eq!(view.len(), 2);
/// assert_eq!(view.get("mp_timelimit"), Some(&b"30"[..]));
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesView<'a> {
    /// The rule count the server declared.
    pub count: u16,
    /// The bytes after the count.
    pairs: &'a [u8],
}

impl<'a> RulesView<'a> {
    /// Reads the count of the body of a `0x45` message; the pairs are found as they
    /// are iterated, in one pass.
    ///
    /// # Errors
    /// [`Error::Truncated`] when even the count is missing.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Message::BODY_OFFSET);
        let count = r.u16("rule count")?;
        Ok(RulesView { count, pairs: r.rest() })
    }

    /// The whole pairs as raw bytes (without their NULs), in wire order: at most
    /// `count`, stopping at a pair cut short.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let mut r = Reader::new(self.pairs, 0);
        std::iter::from_fn(move || Some((r.cstr("rule name").ok()?, r.cstr("rule value").ok()?)))
            .take(usize::from(self.count))
    }

    /// Number of whole pairs (walks them).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there is no whole pair.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// True when the reply ended before `count` whole pairs (walks them).
    pub fn is_truncated(&self) -> bool {
        self.len() < usize::from(self.count)
    }

    /// The raw value of rule `name` (the last one, if sent twice).
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&'a [u8]> {
        let name = name.as_ref();
        self.iter().filter(|(n, _)| *n == name).last().map(|(_, v)| v)
    }
}

impl<S: AsRef<[u8]>> Rules<S> {
    /// Appends a whole rules reply (`FF FF FF FF 45 ...`) to `out`. The count written is
    /// the number of entries.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for more than 65 535 rules or a string holding a NUL.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        encode_rules(self.entries.iter().map(|(n, v)| (n, v)), out)
    }
}

/// Appends a rules reply for any sequence of pairs (see [`Rules::encode`]).
///
/// # Errors
/// [`Error::Unencodable`] for more than 65 535 rules or a string holding a NUL.
pub fn encode_rules<N, V, I>(pairs: I, out: &mut Vec<u8>) -> Result<()>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
    I: IntoIterator<Item = (N, V)>,
{
    let start = out.len();
    let mut w = Writer::new(out);
    w.bytes(&SINGLE_HEADER).u8(S2A_RULES).u16(0);
    let mut count: u16 = 0;
    for (n, v) in pairs {
        count = count.checked_add(1).ok_or(Error::Unencodable("more than 65535 rules"))?;
        w.cstr(n)?.cstr(v)?;
    }
    let at = start + SINGLE_HEADER.len() + 1;
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&count.to_le_bytes());
    }
    Ok(())
}

impl<'a, S> IntoIterator for &'a Rules<S> {
    type Item = &'a (S, S);
    type IntoIter = std::slice::Iter<'a, (S, S)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<S> IntoIterator for Rules<S> {
    type Item = (S, S);
    type IntoIter = std::vec::IntoIter<(S, S)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(feature = "serde")]
impl<S: serde::Serialize> serde::Serialize for Rules<S> {
    /// A JSON-style object of name to value, in wire order.
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> std::result::Result<Ser::Ok, Ser::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (n, v) in &self.entries {
            map.serialize_entry(n, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoding;

    fn parse(buf: &[u8]) -> Rules {
        let m = Message::from_reassembled(buf).unwrap();
        assert_eq!(m.kind, S2A_RULES);
        Rules::parse(m.body, Encoding::Utf8).unwrap()
    }

    fn sample() -> Vec<(String, String)> {
        (0..20).map(|i| (format!("rule_{i}"), format!("{}", i * 7))).collect()
    }

    #[test]
    fn rules_round_trip_in_order() {
        let mut buf = Vec::new();
        encode_rules(sample(), &mut buf).unwrap();
        let back = parse(&buf);
        assert_eq!(back.count, 20);
        assert_eq!(back.entries, sample());
        assert!(!back.truncated);
        assert_eq!(back.get("rule_3").map(String::as_str), Some("21"));
        assert_eq!(back.get("nope"), None);
    }

    #[test]
    fn cut_off_list_keeps_whole_pairs() {
        let mut buf = Vec::new();
        encode_rules(sample(), &mut buf).unwrap();
        // Cut inside the last value: the last pair is dropped.
        buf.truncate(buf.len() - 1);
        let back = parse(&buf);
        assert_eq!(back.count, 20);
        assert_eq!(back.entries, sample()[..19].to_vec());
        assert!(back.truncated);
    }

    #[test]
    fn duplicate_names_last_wins_but_all_kept() {
        let mut buf = Vec::new();
        encode_rules([("a", "1"), ("b", "2"), ("a", "3")], &mut buf).unwrap();
        let back = parse(&buf);
        assert_eq!(back.len(), 3);
        assert_eq!(back.get("a").map(String::as_str), Some("3"));
        assert_eq!(back.clone().into_map().len(), 2);
    }

    #[test]
    fn huge_declared_count_allocates_by_payload() {
        let back = parse(b"\xFF\xFF\xFF\xFFE\xFF\xFFa\0b\0");
        assert_eq!(back.count, u16::MAX);
        assert_eq!(back.entries, vec![("a".to_string(), "b".to_string())]);
        assert!(back.truncated);
    }

    #[test]
    fn empty_values_and_names_are_kept() {
        let back = parse(b"\xFF\xFF\xFF\xFFE\x02\x00description\0\0\0x\0");
        assert_eq!(back.entries, vec![("description".into(), "".into()), ("".into(), "x".into())]);
    }

    #[test]
    fn view_borrows_pairs_in_place() {
        let body = b"\x03\x00a\x001\x00\x00empty name\x00b\x00";
        let view = RulesView::parse(body).unwrap();
        assert_eq!(view.len(), 2);
        assert!(view.is_truncated(), "the third pair lacks its value");
        let pairs: Vec<_> = view.iter().collect();
        assert_eq!(pairs, vec![(&b"a"[..], &b"1"[..]), (&b""[..], &b"empty name"[..])]);
        assert_eq!(view.get(""), Some(&b"empty name"[..]));
        assert_eq!(view.get("b"), None);
        assert!(RulesView::parse(b"\x01").is_err());
    }

    #[test]
    fn strict_errors_point_at_the_bad_byte_of_names_and_values() {
        // Offsets count from the datagram start: header 4, type 1, count 2.
        let body = b"\x02\x00ab\x00c\xFF\x00";
        match Rules::parse(body, Encoding::Utf8Strict) {
            Err(Error::InvalidText { field: "rule value", offset }) => assert_eq!(offset, 7 + 3 + 1),
            other => panic!("{other:?}"),
        }
        let body = b"\x01\x00\xFEx\x00v\x00";
        assert!(matches!(
            Rules::parse(body, Encoding::Utf8Strict),
            Err(Error::InvalidText { field: "rule name", offset: 7 })
        ));
    }
}
