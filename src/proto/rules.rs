//! A2S_RULES replies (`0x45`).

use super::packet::{Message, SINGLE_HEADER};
use super::reader::Reader;
use super::writer::Writer;
use crate::encoding::{TextBuf, TextDecoder};
use crate::error::{Error, Result};

/// Reply type byte of a rules list (`'E'`).
pub(crate) const S2A_RULES: u8 = 0x45;

/// A server's rules (console variables): name/value pairs in wire order.
///
/// Looks up like a map ([`Rules::get`]; a name sent twice answers with its last value)
/// and keeps what a map would lose: order, duplicates, the declared count and whether
/// the reply was cut short. All names and values live in one buffer and are handed out
/// as slices (`&str`, or `&[u8]` with [`Raw`](crate::Raw)): a reply of a thousand rules
/// costs two allocations, not two thousand.
///
/// ```
/// use std::time::Duration;
/// use a2s_query::Encoding;
/// # let set = vec![("sv_gravity".to_string(), "800".to_string()), ("mp_timelimit".to_string(), "30".to_string())];
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(Default::default()), vec![], set).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
/// let rules = a2s_query::rules(addr, Duration::from_secs(3), Encoding::Utf8)?;
/// assert_eq!(&rules["mp_timelimit"], "30");
/// assert_eq!(rules.get("sv_cheats"), None);
/// for (name, value) in &rules {
///     println!("{name} = {value}");
/// }
/// // Or build a set by hand:
/// let mine: a2s_query::Rules = [("sv_gravity", "800")].into_iter().collect();
/// assert_eq!(mine.get("sv_gravity"), Some("800"));
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Clone)]
pub struct Rules<S = String> {
    /// The rule count the server declared.
    pub count: u16,
    /// True when the reply ended before `count` whole pairs (a cut-off reply): the
    /// pairs read are kept, a pair missing its value is dropped.
    pub truncated: bool,
    /// Every name and value, decoded, back to back.
    text: S,
    /// Where each pair's name and value lie in `text`.
    spans: Vec<Span>,
}

/// Where one pair lies in [`Rules::text`]: `(start, end)` of the name and the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// `rules["sv_tags"]`: the value of a rule, as python-a2s's dict gives it. Panics when
/// the server did not send the rule, as a `HashMap` does; [`Rules::get`] gives an
/// `Option` instead.
///
/// ```
/// use a2s_query::Rules;
/// let rules: Rules = [("sv_tags", "casual,dm")].into_iter().collect();
/// assert_eq!(&rules["sv_tags"], "casual,dm");
/// assert_eq!(rules.get("sv_cheats"), None);
/// ```
impl<S: TextBuf> std::ops::Index<&str> for Rules<S> {
    type Output = S::Slice;

    // Index's contract, as HashMap's: the caller asked for a rule by hand; nothing a
    // server sends reaches this panic.
    #[allow(clippy::panic)]
    fn index(&self, name: &str) -> &S::Slice {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no rule named {name:?} in this reply; use Rules::get for an Option"),
        }
    }
}

impl<S: TextBuf> Default for Rules<S> {
    fn default() -> Self {
        Rules { count: 0, truncated: false, text: S::default(), spans: Vec::new() }
    }
}

impl<S: TextBuf> Rules<S> {
    /// The value of rule `name` (the last one, if the server sent it twice).
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&S::Slice> {
        let name = name.as_ref();
        self.iter().rev().find(|(n, _)| n.as_ref() == name).map(|(_, v)| v)
    }

    /// True when rule `name` was sent.
    pub fn contains(&self, name: impl AsRef<[u8]>) -> bool {
        self.get(name).is_some()
    }

    /// Number of pairs read.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when no pair was read.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The pairs in wire order.
    pub fn iter(&self) -> RulesIter<'_, S> {
        RulesIter { text: &self.text, spans: self.spans.iter() }
    }

    /// Appends a pair (the declared [`count`](Rules::count) is left alone).
    pub fn push(&mut self, name: &S::Slice, value: &S::Slice) {
        let start = self.text.byte_len();
        self.text.push_text(name);
        let mid = self.text.byte_len();
        self.text.push_text(value);
        self.spans.push(Span { name: (start, mid), value: (mid, self.text.byte_len()) });
    }

    /// Parses the body of a `0x45` message.
    ///
    /// # Errors
    /// [`Error::Truncated`] when even the count is missing; [`Error::InvalidText`] from
    /// a strict decoder. A list cut short is not an error: see [`Rules::truncated`].
    pub fn parse<D: TextDecoder<Text = S>>(body: &[u8], decoder: D) -> Result<Self> {
        let view = RulesView::parse(body)?;
        // Each pair takes at least two bytes: the capacity never exceeds the payload.
        let mut spans = Vec::with_capacity(usize::from(view.count).min(view.pairs.len() / 2));
        spans.extend(view.spans());
        // The whole pairs, each value's NUL included.
        let used = spans.last().map_or(0, |s| s.value.1 + 1);
        let whole = view.pairs.get(..used).unwrap_or_default();
        let mut text = with_capacity::<S>(whole.len());
        // Usually every string is valid as it is: one copy, and the spans stay as found.
        if !decoder.decode_verbatim(whole, &mut text) {
            for span in &mut spans {
                *span = Span {
                    name: decode_at(decoder, whole, span.name, &mut text, "rule name")?,
                    value: decode_at(decoder, whole, span.value, &mut text, "rule value")?,
                };
            }
        }
        let truncated = spans.len() < usize::from(view.count);
        Ok(Rules { count: view.count, truncated, text, spans })
    }
}

/// The pairs as owned values, in wire order: `Vec::from(rules)`.
impl<S: TextBuf> From<Rules<S>> for Vec<(S, S)> {
    fn from(rules: Rules<S>) -> Self {
        Self::from(&rules)
    }
}

/// A map of the rules, as python-a2s returns them (a later duplicate wins):
/// `HashMap::from(rules)`.
impl<S: TextBuf> From<Rules<S>> for std::collections::HashMap<S, S> {
    fn from(rules: Rules<S>) -> Self {
        Self::from(&rules)
    }
}

/// The pairs as owned values, the rules kept: `Vec::from(&rules)`.
impl<S: TextBuf> From<&Rules<S>> for Vec<(S, S)> {
    fn from(rules: &Rules<S>) -> Self {
        rules.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect()
    }
}

/// A map of the rules, the rules kept: `HashMap::from(&rules)`.
impl<S: TextBuf> From<&Rules<S>> for std::collections::HashMap<S, S> {
    fn from(rules: &Rules<S>) -> Self {
        rules.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect()
    }
}

/// Decodes `wire[start..end]` onto the end of `text`; returns where it landed.
fn decode_at<D: TextDecoder>(
    decoder: D,
    wire: &[u8],
    (start, end): (usize, usize),
    text: &mut D::Text,
    field: &'static str,
) -> Result<(usize, usize)> {
    let at = text.byte_len();
    let bytes = wire.get(start..end).unwrap_or_default();
    decoder.decode_into(bytes, text).map_err(|e| Error::InvalidText {
        field,
        // From the datagram's start: header, type byte, count.
        offset: Message::BODY_OFFSET + 2 + start + e.valid_up_to,
    })?;
    Ok((at, text.byte_len()))
}

/// An empty buffer with room for `bytes`.
fn with_capacity<S: TextBuf>(bytes: usize) -> S {
    let mut text = S::default();
    text.reserve_bytes(bytes);
    text
}

/// The pairs of a [`Rules`], in wire order, as `(name, value)` slices.
#[derive(Debug, Clone)]
pub struct RulesIter<'a, S> {
    text: &'a S,
    spans: std::slice::Iter<'a, Span>,
}

impl<'a, S: TextBuf> RulesIter<'a, S> {
    fn pair(&self, span: &Span) -> (&'a S::Slice, &'a S::Slice) {
        (self.text.slice(span.name.0..span.name.1), self.text.slice(span.value.0..span.value.1))
    }
}

impl<'a, S: TextBuf> Iterator for RulesIter<'a, S> {
    type Item = (&'a S::Slice, &'a S::Slice);

    fn next(&mut self) -> Option<Self::Item> {
        let span = self.spans.next()?;
        Some(self.pair(span))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl<S: TextBuf> DoubleEndedIterator for RulesIter<'_, S> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let span = self.spans.next_back()?;
        Some(self.pair(span))
    }
}

impl<S: TextBuf> ExactSizeIterator for RulesIter<'_, S> {}

impl<'a, S: TextBuf> IntoIterator for &'a Rules<S> {
    type Item = (&'a S::Slice, &'a S::Slice);
    type IntoIter = RulesIter<'a, S>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<S: TextBuf, N: AsRef<S::Slice>, V: AsRef<S::Slice>> FromIterator<(N, V)> for Rules<S> {
    /// Rules from pairs; the declared count is the number of pairs (saturating).
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        let mut rules = Rules::default();
        for (n, v) in pairs {
            rules.push(n.as_ref(), v.as_ref());
        }
        rules.count = u16::try_from(rules.len()).unwrap_or(u16::MAX);
        rules
    }
}

/// Equal when the counts, the truncation flags and the pairs in order are equal.
impl<S: TextBuf> PartialEq for Rules<S> {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.truncated == other.truncated && self.iter().eq(other.iter())
    }
}

impl<S: TextBuf> Eq for Rules<S> {}

impl<S: TextBuf> std::hash::Hash for Rules<S> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.count.hash(state);
        self.truncated.hash(state);
        self.len().hash(state);
        for pair in self {
            pair.hash(state);
        }
    }
}

impl<S: TextBuf> std::fmt::Debug for Rules<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("count", &self.count)
            .field("truncated", &self.truncated)
            .field("pairs", &self.iter().collect::<Vec<_>>())
            .finish()
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
        let pairs = self.pairs;
        let bytes = move |(start, end): (usize, usize)| pairs.get(start..end).unwrap_or_default();
        self.spans().map(move |span| (bytes(span.name), bytes(span.value)))
    }

    /// Where the whole pairs lie in the bytes after the count (the walk behind
    /// [`RulesView::iter`] and [`Rules::parse`]).
    fn spans(&self) -> impl Iterator<Item = Span> + 'a {
        let mut r = Reader::new(self.pairs, 0);
        std::iter::from_fn(move || {
            let name_at = r.offset();
            let name = r.cstr("rule name").ok()?;
            let value_at = r.offset();
            let value = r.cstr("rule value").ok()?;
            Some(Span { name: (name_at, name_at + name.len()), value: (value_at, value_at + value.len()) })
        })
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

impl<S: TextBuf> Rules<S> {
    /// Appends a whole rules reply (`FF FF FF FF 45 ...`) to `out`. The count written is
    /// the number of pairs.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for more than 65 535 rules or a string holding a NUL.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        encode_rules(self.iter(), out)
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
        assert_eq!(Vec::from(&back), sample());
        assert!(!back.truncated);
        assert_eq!(back.get("rule_3"), Some("21"));
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
        assert_eq!(Vec::from(&back), sample()[..19].to_vec());
        assert!(back.truncated);
    }

    #[test]
    fn duplicate_names_last_wins_but_all_kept() {
        let mut buf = Vec::new();
        encode_rules([("a", "1"), ("b", "2"), ("a", "3")], &mut buf).unwrap();
        let back = parse(&buf);
        assert_eq!(back.len(), 3);
        assert_eq!(back.get("a"), Some("3"));
        assert_eq!(std::collections::HashMap::from(&back).len(), 2);
    }

    #[test]
    fn huge_declared_count_allocates_by_payload() {
        let back = parse(b"\xFF\xFF\xFF\xFFE\xFF\xFFa\0b\0");
        assert_eq!(back.count, u16::MAX);
        assert_eq!(Vec::from(&back), vec![("a".to_string(), "b".to_string())]);
        assert!(back.truncated);
    }

    #[test]
    fn empty_values_and_names_are_kept() {
        let back = parse(b"\xFF\xFF\xFF\xFFE\x02\x00description\0\0\0x\0");
        assert_eq!(Vec::from(&back), vec![("description".into(), "".into()), ("".into(), "x".into())]);
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

    #[test]
    fn shared_buffer_decodes_each_string_as_alone() {
        // Bad bytes at the ends of strings must not merge across the NUL boundaries.
        let body = b"\x03\x00n\xC3\x00\xA9v\x00\xFF\x00\x00ok\x00caf\xC3\xA9\x00";
        for encoding in [Encoding::Utf8, Encoding::Latin1] {
            let rules = Rules::parse(body, encoding).unwrap();
            let alone: Vec<(String, String)> = RulesView::parse(body)
                .unwrap()
                .iter()
                .map(|(n, v)| (encoding.decode(n).unwrap(), encoding.decode(v).unwrap()))
                .collect();
            assert_eq!(Vec::from(&rules), alone, "{encoding:?}");
        }
        let lossy = Rules::parse(body, Encoding::Utf8).unwrap();
        assert_eq!(Vec::from(&lossy)[0], ("n\u{FFFD}".to_string(), "\u{FFFD}v".to_string()));
        assert_eq!(lossy.get("ok"), Some("café"));
        let latin1 = Rules::parse(body, Encoding::Latin1).unwrap();
        assert_eq!(latin1.get("ok"), Some("cafÃ©"));
        let raw = Rules::parse(body, crate::Raw).unwrap();
        assert_eq!(raw.get(b"\xFF"), Some(&b""[..]));
    }

    #[test]
    fn built_rules_equal_parsed_ones_and_read_both_ways() {
        let built: Rules = [("a", "1"), ("b", "2"), ("c", "")].into_iter().collect();
        assert_eq!(built.count, 3);
        let mut buf = Vec::new();
        built.encode(&mut buf).unwrap();
        assert_eq!(parse(&buf), built, "equality looks at the pairs, not at the buffer");
        let names: Vec<&str> = built.iter().rev().map(|(n, _)| n).collect();
        assert_eq!(names, ["c", "b", "a"]);
        assert_eq!(built.iter().len(), 3);
        assert_eq!(
            format!("{built:?}"),
            r#"Rules { count: 3, truncated: false, pairs: [("a", "1"), ("b", "2"), ("c", "")] }"#
        );
        let mut pushed = Rules::<String>::default();
        pushed.push("a", "1");
        assert_eq!(Vec::from(&pushed), vec![("a".to_string(), "1".to_string())]);
        assert_ne!(pushed, built);
    }
}
