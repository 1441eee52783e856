//! Split replies: reassembling fragments, and cutting a reply into them.
//!
//! Three header layouts exist (spec §4): Source with a size field (12 bytes), the
//! pre-Orange-Box Source layout without it (10 bytes), and GoldSrc (9 bytes, fragment
//! number and total packed in one byte). A bzip2-compressed Source reply (bit 31 of
//! the id) adds its inflated size and CRC32 to fragment 0. The layout is recognised
//! from fragment 0's payload, which starts with the reply's own `FF FF FF FF` header
//! (or `BZh` when compressed), so no hint is needed; [`SplitFormat`] can force one.

use std::io::{Read, Write};

use super::packet::{SINGLE_HEADER, SPLIT_HEADER};
use super::reader::Reader;
use crate::error::{Error, Result};
use crate::limits::Limits;

/// Bit of the split id that marks a bzip2-compressed reply.
pub(crate) const COMPRESSED_FLAG: u32 = 0x8000_0000;
/// Payload bytes per fragment a Source server uses by default (1260 - 12).
pub(crate) const DEFAULT_SPLIT_SIZE: usize = 1248;
/// Most fragments the GoldSrc layout can number (a nibble).
pub(crate) const GOLDSRC_MAX_FRAGMENTS: usize = 15;
/// App ids whose servers leave the size field out, at protocol 7 (spec §4.3).
pub(crate) const APPS_WITHOUT_SPLIT_SIZE: [u32; 4] = [215, 17550, 17700, 240];

const BZIP2_MAGIC: &[u8; 3] = b"BZh";

/// Which split header layout to read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SplitFormat {
    /// Recognise the layout from fragment 0 (reading); the Source layout (writing).
    #[default]
    Auto,
    /// Source: id, total, number, size (12-byte header).
    Source,
    /// Pre-Orange-Box Source: id, total, number, no size field (10-byte header).
    SourceWithoutSize,
    /// GoldSrc: id, then one byte with the number (high nibble) and total (low nibble).
    GoldSrc,
}

/// `recognised`, `Source`, `Source without size`, `GoldSrc`: the layout's name.
impl std::fmt::Display for SplitFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SplitFormat::Auto => "recognised",
            SplitFormat::Source => "Source",
            SplitFormat::SourceWithoutSize => "Source without size",
            SplitFormat::GoldSrc => "GoldSrc",
        })
    }
}

impl SplitFormat {
    /// The layout a server is known to use from its info reply (spec §4.3, §4.4):
    /// protocol 7 with app 215, 17550, 17700 or 240 omits the size field; Steam-era
    /// GoldSrc servers answering in the Source layout (protocol 47 or 48) split
    /// GoldSrc-style. Anything else is [`SplitFormat::Auto`].
    pub fn for_server(app_id: u32, protocol: u8) -> SplitFormat {
        match protocol {
            7 if APPS_WITHOUT_SPLIT_SIZE.contains(&app_id) => SplitFormat::SourceWithoutSize,
            47 | 48 => SplitFormat::GoldSrc,
            _ => SplitFormat::Auto,
        }
    }
}

/// A resolved header layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    GoldSrc,
    Source { size_field: bool, compressed: bool },
}

/// Byte offsets of a split header's fields.
const ID_AT: usize = 4;
const TOTAL_AT: usize = 8;
const NUMBER_AT: usize = 9;
/// Reply type bytes a reassembled payload may start with when a server leaves out its
/// inner `FF FF FF FF` (challenge, players, rules, info, GoldSrc info).
const REPLY_TYPES: [u8; 5] = [0x41, 0x44, 0x45, 0x49, 0x6D];

impl Layout {
    fn forced(format: SplitFormat, id: u32) -> Option<Layout> {
        let compressed = id & COMPRESSED_FLAG != 0;
        match format {
            SplitFormat::Auto => None,
            SplitFormat::Source => Some(Layout::Source { size_field: true, compressed }),
            SplitFormat::SourceWithoutSize => Some(Layout::Source { size_field: false, compressed }),
            SplitFormat::GoldSrc => Some(Layout::GoldSrc),
        }
    }

    /// Recognises the layout from fragment 0, whose payload starts with `FF FF FF FF`
    /// (or `BZh` when compressed), and whose size field, when it has one, matches its
    /// payload. Other fragments give `None`.
    fn sniff(d: &[u8], id: u32) -> Option<Layout> {
        let at = |offset: usize, pattern: &[u8]| d.get(offset..offset + pattern.len()) == Some(pattern);
        let source_first = d.get(NUMBER_AT) == Some(&0);
        let goldsrc_first = d.get(TOTAL_AT).is_some_and(|b| b >> 4 == 0);
        let compressed = id & COMPRESSED_FLAG != 0;
        // Every Source fragment but the last carries exactly `size` payload bytes.
        let size_fits = d.get(TOTAL_AT) == Some(&1) || size_field_fits(d);
        if source_first && size_fits && at(12, &SINGLE_HEADER) {
            Some(Layout::Source { size_field: true, compressed: false })
        } else if source_first && at(10, &SINGLE_HEADER) {
            Some(Layout::Source { size_field: false, compressed: false })
        } else if goldsrc_first && at(9, &SINGLE_HEADER) {
            Some(Layout::GoldSrc)
        } else if compressed && source_first && at(20, BZIP2_MAGIC) {
            Some(Layout::Source { size_field: true, compressed: true })
        } else if compressed && source_first && at(18, BZIP2_MAGIC) {
            Some(Layout::Source { size_field: false, compressed: true })
        } else {
            None
        }
    }

    /// The layout of a reply none of whose fragments [`Layout::sniff`] could place
    /// (fragment 0's payload lacks the inner `FF FF FF FF`), from the header bytes of
    /// the fragments `parked` (spec §4.4): a complete set read as Source (one total,
    /// every number below it) or as GoldSrc (the same in nibbles). The size field is
    /// there when fragment 0's matches its payload, or when its payload starts with a
    /// reply type byte after it rather than in its place, unless the server's `hint`
    /// (spec §4.3) says.
    /// Gives fragment 0's span too.
    fn infer(parked: &[Parked], data: &[u8], id: u32, hint: SplitFormat) -> Option<(Layout, Span)> {
        let compressed = id & COMPRESSED_FLAG != 0;
        let source = |p: &Parked| p.key.1.map(|number| (p.key.0, number));
        let goldsrc = |p: &Parked| Some((p.key.0 & 0x0F, p.key.0 >> 4));
        if let Some(first) = complete_set(parked, source) {
            let d = data.get(first.start..first.start + first.len).unwrap_or_default();
            let total = d.get(TOTAL_AT).copied().unwrap_or(0);
            let size_matches = total > 1 && size_field_fits(d);
            let reply_at = |offset: usize| d.get(offset).is_some_and(|b| REPLY_TYPES.contains(b));
            let size_field = match hint {
                SplitFormat::SourceWithoutSize => false,
                SplitFormat::Source => true,
                SplitFormat::Auto | SplitFormat::GoldSrc => size_matches || reply_at(12) || !reply_at(10),
            };
            return Some((Layout::Source { size_field, compressed }, first));
        }
        complete_set(parked, goldsrc).map(|first| (Layout::GoldSrc, first))
    }
}

/// Whether `d`, read as a Source fragment with the size field, carries exactly that
/// many payload bytes (as every fragment but the last does).
fn size_field_fits(d: &[u8]) -> bool {
    let size = d.get(10..12).and_then(|s| <[u8; 2]>::try_from(s).ok()).map(u16::from_le_bytes);
    size.is_some_and(|size| d.len().checked_sub(12) == Some(usize::from(size)))
}

/// When some of the fragments `parked`, read with `read` as (total, number), make up
/// a whole reply (a fragment 0 and every number below its total, with that total),
/// that fragment 0's span. Fragments of other totals are left out: strays.
fn complete_set(parked: &[Parked], read: impl Fn(&Parked) -> Option<(u8, u8)>) -> Option<Span> {
    parked.iter().find_map(|first| {
        let (total, 0) = read(first)? else { return None };
        let mut seen = [false; 256];
        let mut count = 0;
        for (t, number) in parked.iter().filter_map(&read) {
            if t == total && number < total {
                if let Some(slot) = seen.get_mut(usize::from(number)).filter(|s| !**s) {
                    *slot = true;
                    count += 1;
                }
            }
        }
        (total > 0 && count == usize::from(total)).then_some(first.span)
    })
}

/// What a fragment's header says.
struct Header {
    total: u8,
    number: u8,
    /// Where the payload starts in the datagram.
    payload_at: usize,
    /// Inflated size and CRC32 (compressed fragment 0 only).
    compressed: Option<(u32, u32)>,
}

fn read_header(d: &[u8], layout: Layout) -> Result<Header> {
    let mut r = Reader::new(d, 0);
    r.bytes(TOTAL_AT, "split header")?;
    let (total, number) = match layout {
        Layout::GoldSrc => {
            let b = r.u8("fragment number")?;
            (b & 0x0F, b >> 4)
        }
        Layout::Source { .. } => (r.u8("fragment total")?, r.u8("fragment number")?),
    };
    let mut compressed = None;
    if let Layout::Source { size_field, compressed: is_compressed } = layout {
        if size_field {
            r.u16("split size")?;
        }
        if is_compressed && number == 0 {
            compressed = Some((r.u32("decompressed size")?, r.u32("crc32")?));
        }
    }
    if total == 0 {
        return Err(Error::Malformed { reason: "split reply of zero fragments", offset: TOTAL_AT });
    }
    if number >= total {
        return Err(Error::Malformed { reason: "fragment number not below the fragment total", offset: TOTAL_AT });
    }
    Ok(Header { total, number, payload_at: r.offset(), compressed })
}

/// Where a kept datagram sits in a bucket's `data`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

/// A fragment that came before its reply's layout was known: the datagram, and the
/// two header bytes that tell one fragment from another in every layout (Source:
/// total and number; GoldSrc: number and total, then the first payload byte, equal in
/// copies), so copies are dropped before the layout is known too.
#[derive(Debug, Clone, Copy)]
struct Parked {
    key: (u8, Option<u8>),
    span: Span,
}

/// One split reply being collected (one message id).
#[derive(Debug, Default)]
struct Bucket {
    id: u32,
    /// Last update, for dropping the stalest bucket.
    touched: u64,
    layout: Option<Layout>,
    /// Fragment total (0 until the first fragment is filed).
    total: u8,
    received: u8,
    /// Per fragment number: where its payload is in `data`.
    slots: Vec<Option<Span>>,
    /// Fragments that arrived before the layout was known.
    parked: Vec<Parked>,
    /// Every kept datagram, whole, back to back.
    data: Vec<u8>,
    /// Inflated size and CRC32, from compressed fragment 0.
    declared: Option<(u32, u32)>,
}

impl Bucket {
    /// Whether a fragment with header `h` can be filed: its total agrees with the
    /// reply's, and its number is not filed yet (`Ok(false)`: a copy).
    fn accepts(&self, h: &Header) -> Result<bool> {
        if self.total != 0 && h.total != self.total {
            return Err(Error::Malformed { reason: "fragment total changed within one reply", offset: TOTAL_AT });
        }
        Ok(!self.slots.get(usize::from(h.number)).is_some_and(Option::is_some))
    }

    /// Files a fragment whose header `h` was accepted, its datagram at `at` in `data`.
    fn file(&mut self, h: &Header, at: Span) {
        if self.total == 0 {
            self.total = h.total;
            // `slots` may be a finished reply's, kept for reuse: refill, keep capacity.
            self.slots.clear();
            self.slots.resize(usize::from(h.total), None);
        }
        if let Some(slot) = self.slots.get_mut(usize::from(h.number)) {
            *slot = Some(Span { start: at.start + h.payload_at, len: at.len - h.payload_at });
            self.received += 1;
            if h.compressed.is_some() {
                self.declared = h.compressed;
            }
        }
    }

    /// Files the parked fragments once the layout is known. Those that do not read
    /// in it (bad header, other total, copies) are dropped: strays.
    fn file_parked(&mut self, layout: Layout, max_fragments: u8) {
        let parked = std::mem::take(&mut self.parked);
        for p in &parked {
            let d = self.data.get(p.span.start..p.span.start + p.span.len).unwrap_or_default();
            let Ok(h) = read_header(d, layout) else { continue };
            if h.total <= max_fragments && matches!(self.accepts(&h), Ok(true)) {
                self.file(&h, p.span);
            }
        }
        // Keep the (now empty) vector's capacity for the next reply.
        self.parked = parked;
        self.parked.clear();
    }

    fn complete(&self) -> bool {
        self.total != 0 && self.received == self.total
    }
}

/// What one fragment handed to [`Reassembler::push_fragment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed<'a> {
    /// The reply is complete: its bytes, starting with `FF FF FF FF` (decompressed and
    /// verified if it was compressed), valid until the next push.
    Complete(&'a [u8]),
    /// A new fragment was stored: its reply now has `received` fragments filed of
    /// `total` (both 0 while the reply's layout is not known yet: the fragment waits).
    Stored {
        /// Fragments of this reply filed.
        received: u8,
        /// Fragments it declares (0 while not known).
        total: u8,
    },
    /// A copy of a fragment already held: nothing changed.
    Duplicate,
}

/// Collects split-reply fragments, one datagram at a time, into whole replies.
///
/// Fragments may come in any order; duplicates are ignored; fragments of different
/// message ids go to separate buckets, so a reply never mixes in another's bytes.
/// Counts and sizes are checked against [`Limits`] before anything is stored, and a
/// fragment's whole header is checked before any reply is touched: a bad fragment is
/// refused alone, the replies being collected go on.
///
/// ```
/// use a2s_query::proto::{split_packet, Reassembler, SplitFormat, Message};
/// # fn main() -> a2s_query::Result<()> {
/// let mut reply = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x45, 0x00, 0x00];
/// reply.resize(3000, b'x');
/// let fragments = split_packet(&reply, 7, SplitFormat::Source, 1248, false)?;
/// assert_eq!(fragments.len(), 3);
///
/// let mut r = Reassembler::new(Default::default());
/// let mut done = None;
/// for f in fragments.iter().rev() {
///     if let Some(whole) = r.push(f)? {
///         done = Some(whole.to_vec());
///     }
/// }
/// assert_eq!(done.as_deref(), Some(&reply[..]));
/// assert_eq!(Message::from_reassembled(&reply)?.kind, 0x45);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Reassembler {
    limits: Limits,
    format: SplitFormat,
    hint: SplitFormat,
    buckets: Vec<Bucket>,
    clock: u64,
    /// The last completed reply.
    out: Vec<u8>,
    /// Its decompressed form, when it was compressed.
    inflated: Vec<u8>,
    /// Whether the last completed reply is in `inflated` rather than `out`.
    last_was_compressed: bool,
    /// Buffers kept from a finished reply, reused by the next one.
    spare: Spare,
}

/// A finished bucket's buffers, so that polling does not allocate per split reply.
#[derive(Debug, Default)]
struct Spare {
    data: Vec<u8>,
    slots: Vec<Option<Span>>,
    parked: Vec<Parked>,
}

impl Reassembler {
    /// A reassembler that recognises the layout by itself.
    pub fn new(limits: Limits) -> Self {
        Reassembler {
            limits,
            format: SplitFormat::Auto,
            hint: SplitFormat::Auto,
            buckets: Vec::new(),
            clock: 0,
            out: Vec::new(),
            inflated: Vec::new(),
            last_was_compressed: false,
            spare: Spare::default(),
        }
    }

    /// Forces a header layout instead of recognising it ([`SplitFormat::Auto`] again
    /// recognises).
    pub fn set_format(&mut self, format: SplitFormat) {
        self.format = format;
    }

    /// What the server's info reply said of its split layout
    /// ([`SplitFormat::for_server`]), for replies whose fragment 0 lacks the inner
    /// `FF FF FF FF` that tells the layout: their fragments wait until they make up a
    /// whole reply read in one layout, and the hint then tells whether a Source header
    /// has the size field. [`SplitFormat::Auto`] (the default): no hint.
    pub fn set_hint(&mut self, hint: SplitFormat) {
        self.hint = hint;
    }

    /// Changes the limits; replies being collected are dropped.
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.clear();
    }

    /// Drops every reply being collected (buffers are kept for reuse).
    pub(crate) fn clear(&mut self) {
        while let Some(bucket) = self.buckets.pop() {
            self.recycle(bucket);
        }
    }

    /// `(received, total)` of the most advanced reply being collected, if any.
    pub fn progress(&self) -> Option<(u8, u8)> {
        self.buckets.iter().filter(|b| b.received > 0).max_by_key(|b| b.received).map(|b| (b.received, b.total))
    }

    /// Takes one split datagram (whole, `FE FF FF FF` header included). Returns the
    /// reassembled reply once its last fragment is in: the reply's own bytes, starting
    /// with `FF FF FF FF` (decompressed and verified if it was compressed), valid
    /// until the next call. A copy of a fragment already held changes nothing.
    ///
    /// # Errors
    /// Errors about the fragment alone leave every reply being collected as it was:
    /// [`Error::NotA2s`] / [`Error::Truncated`] for a datagram that is not a split
    /// fragment; [`Error::Malformed`] for an impossible header (zero total, number past
    /// total, a total other than its reply's); [`Error::TooManyFragments`] for a total
    /// past the limit; [`Error::ReplyTooLarge`] for a datagram over the byte limit.
    ///
    /// Errors about a reply drop that reply (others go on): [`Error::ReplyTooLarge`]
    /// when its fragments add up past the byte limit; [`Error::DecompressedTooLarge`],
    /// [`Error::Decompress`], [`Error::SizeMismatch`], [`Error::Checksum`] for a
    /// completed compressed reply that does not check out.
    pub fn push(&mut self, datagram: &[u8]) -> Result<Option<&[u8]>> {
        Ok(match self.push_fragment(datagram)? {
            Pushed::Complete(whole) => Some(whole),
            Pushed::Stored { .. } | Pushed::Duplicate => None,
        })
    }

    /// As [`Reassembler::push`], saying what the fragment did: completed a reply,
    /// stored a new fragment, or was a copy.
    pub(crate) fn push_fragment(&mut self, datagram: &[u8]) -> Result<Pushed<'_>> {
        let mut r = Reader::new(datagram, 0);
        let header = r.array4("split header")?;
        if header != SPLIT_HEADER {
            return Err(Error::NotA2s { header });
        }
        let id = r.u32("split id")?;
        if r.u8("fragment total")? == 0 {
            // A total of zero in every layout (Source's byte, GoldSrc's low nibble).
            return Err(Error::Malformed { reason: "split reply of zero fragments", offset: TOTAL_AT });
        }
        if datagram.len() > self.limits.max_reply_bytes {
            return Err(Error::ReplyTooLarge { max: self.limits.max_reply_bytes });
        }
        let existing = self.buckets.iter().position(|b| b.id == id);
        let known = existing.and_then(|i| self.buckets.get(i)).and_then(|b| b.layout);
        let layout = known.or_else(|| Layout::forced(self.format, id)).or_else(|| Layout::sniff(datagram, id));

        // Everything about the fragment alone is checked before a bucket is touched.
        let header = match layout {
            Some(layout) => {
                let h = read_header(datagram, layout)?;
                if h.total > self.limits.max_fragments {
                    return Err(Error::TooManyFragments { total: h.total, max: self.limits.max_fragments });
                }
                if let Some(b) = existing.and_then(|i| self.buckets.get(i)) {
                    if !b.accepts(&h)? {
                        return Ok(Pushed::Duplicate);
                    }
                }
                Some(h)
            }
            None => {
                let key = (datagram.get(TOTAL_AT).copied().unwrap_or(0), datagram.get(NUMBER_AT).copied());
                if let Some(b) = existing.and_then(|i| self.buckets.get(i)) {
                    if b.parked.iter().any(|p| p.key == key) {
                        return Ok(Pushed::Duplicate);
                    }
                    if b.parked.len() >= usize::from(self.limits.max_fragments) {
                        return Err(Error::Malformed {
                            reason: "more fragments than the limit came before the first",
                            offset: ID_AT,
                        });
                    }
                }
                None
            }
        };

        self.clock += 1;
        let index = match existing {
            Some(i) => i,
            None => self.new_bucket(id),
        };
        let (limits, clock, hint) = (self.limits, self.clock, self.hint);
        let bucket = self.buckets.get_mut(index).ok_or(Error::Malformed { reason: "no bucket", offset: 0 })?;
        bucket.touched = clock;
        if bucket.data.len() + datagram.len() > limits.max_reply_bytes {
            let dropped = self.buckets.swap_remove(index);
            self.recycle(dropped);
            return Err(Error::ReplyTooLarge { max: limits.max_reply_bytes });
        }
        let span = Span { start: bucket.data.len(), len: datagram.len() };
        bucket.data.extend_from_slice(datagram);
        match (header, layout) {
            (Some(h), Some(layout)) => {
                // This fragment first: it was checked; parked ones that disagree with
                // it are dropped.
                bucket.file(&h, span);
                if bucket.layout.is_none() {
                    bucket.layout = Some(layout);
                    bucket.file_parked(layout, limits.max_fragments);
                }
            }
            _ => {
                let key = (datagram.get(TOTAL_AT).copied().unwrap_or(0), datagram.get(NUMBER_AT).copied());
                bucket.parked.push(Parked { key, span });
                if let Some((layout, first)) = Layout::infer(&bucket.parked, &bucket.data, id, hint) {
                    bucket.layout = Some(layout);
                    // Fragment 0 first, so its total is the reply's.
                    let d = bucket.data.get(first.start..first.start + first.len).unwrap_or_default();
                    if let Ok(h) = read_header(d, layout) {
                        bucket.file(&h, first);
                    }
                    bucket.file_parked(layout, limits.max_fragments);
                }
            }
        }
        if !bucket.complete() {
            return Ok(Pushed::Stored { received: bucket.received, total: bucket.total });
        }
        let bucket = self.buckets.swap_remove(index);
        let result = self.finish(&bucket);
        self.recycle(bucket);
        result.map(|()| Pushed::Complete(self.reply()))
    }

    /// Keeps a finished or dropped bucket's buffers for the next reply, when they are
    /// bigger than those already kept.
    fn recycle(&mut self, mut bucket: Bucket) {
        if bucket.data.capacity() > self.spare.data.capacity() {
            bucket.data.clear();
            self.spare.data = bucket.data;
        }
        if bucket.slots.capacity() > self.spare.slots.capacity() {
            bucket.slots.clear();
            self.spare.slots = bucket.slots;
        }
        if bucket.parked.capacity() > self.spare.parked.capacity() {
            bucket.parked.clear();
            self.spare.parked = bucket.parked;
        }
    }

    /// The last completed reply (decompressed when it was compressed).
    fn reply(&self) -> &[u8] {
        if self.last_was_compressed {
            &self.inflated
        } else {
            &self.out
        }
    }

    /// Makes a bucket for `id` (dropping the stalest if full); its index.
    fn new_bucket(&mut self, id: u32) -> usize {
        if self.buckets.len() >= self.limits.max_pending_replies.max(1) {
            let stalest = self.buckets.iter().enumerate().min_by_key(|(_, b)| b.touched).map(|(i, _)| i);
            if let Some(i) = stalest {
                let dropped = self.buckets.swap_remove(i);
                self.recycle(dropped);
            }
        }
        let Spare { data, slots, parked } = std::mem::take(&mut self.spare);
        self.buckets.push(Bucket { id, data, slots, parked, ..Bucket::default() });
        self.buckets.len() - 1
    }

    /// Joins a complete bucket's payloads in order, and inflates them if compressed.
    fn finish(&mut self, bucket: &Bucket) -> Result<()> {
        self.out.clear();
        for span in bucket.slots.iter().flatten() {
            self.out.extend_from_slice(bucket.data.get(span.start..span.start + span.len).unwrap_or_default());
        }
        self.last_was_compressed = matches!(bucket.layout, Some(Layout::Source { compressed: true, .. }));
        if !self.last_was_compressed {
            return Ok(());
        }
        let (size, crc) = bucket
            .declared
            .ok_or(Error::Malformed { reason: "compressed reply without its size and CRC", offset: 12 })?;
        inflate(&self.out, size, crc, self.limits.max_decompressed_bytes, &mut self.inflated)
    }
}

/// Inflates a bzip2 reply into `out`, holding at most `declared + 1` bytes, and checks
/// its size and CRC32.
fn inflate(compressed: &[u8], declared: u32, crc: u32, max: usize, out: &mut Vec<u8>) -> Result<()> {
    let size = usize::try_from(declared).unwrap_or(usize::MAX);
    if size > max {
        return Err(Error::DecompressedTooLarge { declared, max });
    }
    out.clear();
    out.reserve(size);
    let mut decoder = bzip2::read::BzDecoder::new(compressed).take(u64::from(declared) + 1);
    decoder.read_to_end(out).map_err(Error::Decompress)?;
    if out.len() != size {
        return Err(Error::SizeMismatch { declared, actual: out.len() as u64 });
    }
    let actual = crc32fast::hash(out);
    if actual != crc {
        return Err(Error::Checksum { expected: crc, actual });
    }
    Ok(())
}

/// Cuts a whole reply datagram (`FF FF FF FF` + type + body) into split fragments.
///
/// ```
/// use a2s_query::proto::{split_packet, SplitFormat};
///
/// let reply = [&b"\xFF\xFF\xFF\xFFE\x01\x00"[..], &[b'x'; 20]].concat();
/// let fragments = split_packet(&reply, 9, SplitFormat::GoldSrc, 16, false)?;
/// assert_eq!(fragments.len(), 2);
/// // FE FF FF FF, the id, then fragment number (high nibble) and total (low nibble).
/// assert_eq!(fragments[1][..9], [0xFE, 0xFF, 0xFF, 0xFF, 9, 0, 0, 0, 0x12]);
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// `fragment_size` is the payload per fragment (the Source "split size"; 1248 by
/// default on real servers). With `compress`, the reply is bzip2-compressed first and
/// bit 31 of the id is set; otherwise it is cleared for the Source layouts.
/// [`SplitFormat::Auto`] writes the Source layout.
///
/// # Errors
/// [`Error::Unencodable`] for a zero `fragment_size` (or one over 65 535 with the size
/// field), more fragments than the layout can number (255, or 15 for GoldSrc), or
/// compression with the GoldSrc layout.
pub fn split_packet(
    packet: &[u8],
    id: u32,
    format: SplitFormat,
    fragment_size: usize,
    compress: bool,
) -> Result<Vec<Vec<u8>>> {
    if fragment_size == 0 {
        return Err(Error::Unencodable("fragment size must be at least 1"));
    }
    let compressed;
    let body: &[u8] = if compress {
        if format == SplitFormat::GoldSrc {
            return Err(Error::Unencodable("GoldSrc split replies cannot be compressed"));
        }
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        let failed = |_| Error::Unencodable("bzip2 compression failed");
        enc.write_all(packet).map_err(failed)?;
        compressed = enc.finish().map_err(failed)?;
        &compressed
    } else {
        packet
    };
    let chunks: Vec<&[u8]> = body.chunks(fragment_size).collect();
    let max = if format == SplitFormat::GoldSrc { GOLDSRC_MAX_FRAGMENTS } else { usize::from(u8::MAX) };
    let total = u8::try_from(chunks.len().max(1))
        .ok()
        .filter(|&t| usize::from(t) <= max)
        .ok_or(Error::Unencodable("too many fragments for the split layout"))?;
    let size_field = match format {
        SplitFormat::Auto | SplitFormat::Source => Some(
            u16::try_from(fragment_size)
                .map_err(|_| Error::Unencodable("fragment size does not fit the size field"))?,
        ),
        SplitFormat::SourceWithoutSize | SplitFormat::GoldSrc => None,
    };
    let id = match (format, compress) {
        (SplitFormat::GoldSrc, _) => id,
        (_, true) => id | COMPRESSED_FLAG,
        (_, false) => id & !COMPRESSED_FLAG,
    };
    let chunks = if chunks.is_empty() { vec![&[][..]] } else { chunks };
    let mut out = Vec::with_capacity(chunks.len());
    for (number, chunk) in (0u8..).zip(chunks) {
        let mut d = Vec::with_capacity(chunk.len() + 20);
        d.extend_from_slice(&SPLIT_HEADER);
        d.extend_from_slice(&id.to_le_bytes());
        match format {
            SplitFormat::GoldSrc => d.push((number << 4) | total),
            SplitFormat::Auto | SplitFormat::Source | SplitFormat::SourceWithoutSize => {
                d.push(total);
                d.push(number);
                if let Some(size) = size_field {
                    d.extend_from_slice(&size.to_le_bytes());
                }
                if compress && number == 0 {
                    let size = u32::try_from(packet.len()).map_err(|_| Error::Unencodable("reply over 4 GiB"))?;
                    d.extend_from_slice(&size.to_le_bytes());
                    d.extend_from_slice(&crc32fast::hash(packet).to_le_bytes());
                }
            }
        }
        d.extend_from_slice(chunk);
        out.push(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(len: usize) -> Vec<u8> {
        // Pseudo-random bytes, so that compression leaves the fragment count alike.
        let mut p = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x45];
        let mut x = 0x2545_F491_u32;
        p.extend((0..len).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        p
    }

    fn feed(r: &mut Reassembler, fragments: &[Vec<u8>]) -> Result<Option<Vec<u8>>> {
        let mut done = None;
        for f in fragments {
            if let Some(whole) = r.push(f)? {
                assert!(done.is_none(), "completed twice");
                done = Some(whole.to_vec());
            }
        }
        Ok(done)
    }

    fn every_format() -> [(SplitFormat, bool); 5] {
        [
            (SplitFormat::Source, false),
            (SplitFormat::SourceWithoutSize, false),
            (SplitFormat::GoldSrc, false),
            (SplitFormat::Source, true),
            (SplitFormat::SourceWithoutSize, true),
        ]
    }

    #[test]
    fn every_layout_is_recognised_and_reassembled() {
        let p = reply(5000);
        for (format, compress) in every_format() {
            let fragments = split_packet(&p, 42, format, 700, compress).unwrap();
            assert!(fragments.len() > 1, "{format:?}");
            let mut r = Reassembler::new(Limits::default());
            assert_eq!(feed(&mut r, &fragments).unwrap().as_deref(), Some(&p[..]), "{format:?} {compress}");
        }
    }

    #[test]
    fn fragments_in_any_order_with_duplicates() {
        let p = reply(4000);
        for (format, compress) in every_format() {
            let mut fragments = split_packet(&p, 9, format, 500, compress).unwrap();
            fragments.reverse();
            let dup = fragments[1].clone();
            fragments.insert(0, dup.clone());
            fragments.insert(3, dup);
            fragments.swap(2, 4);
            let mut r = Reassembler::new(Limits::default());
            assert_eq!(feed(&mut r, &fragments).unwrap().as_deref(), Some(&p[..]), "{format:?}");
        }
    }

    #[test]
    fn forced_format_reads_fragments_before_the_first() {
        let p = reply(3000);
        let mut fragments = split_packet(&p, 3, SplitFormat::SourceWithoutSize, 1000, false).unwrap();
        fragments.reverse();
        let mut r = Reassembler::new(Limits::default());
        r.set_format(SplitFormat::SourceWithoutSize);
        assert!(r.push(&fragments[0]).unwrap().is_none());
        assert_eq!(r.progress(), Some((1, 4)));
        assert_eq!(feed(&mut r, &fragments[1..]).unwrap().as_deref(), Some(&p[..]));
    }

    #[test]
    fn other_ids_never_mix_in() {
        let a = reply(3000);
        let mut b = reply(3000);
        b[10] ^= 0xFF;
        let fa = split_packet(&a, 1, SplitFormat::Source, 1000, false).unwrap();
        let fb = split_packet(&b, 2, SplitFormat::Source, 1000, false).unwrap();
        let mut r = Reassembler::new(Limits::default());
        // Interleave, with B's fragment 0 missing: only A can complete.
        let mixed = [&fb[1], &fa[0], &fb[2], &fa[1], &fb[3], &fa[2], &fa[3]];
        let mut done = Vec::new();
        for f in mixed {
            if let Some(whole) = r.push(f).unwrap() {
                done.push(whole.to_vec());
            }
        }
        assert_eq!(done, vec![a]);
    }

    #[test]
    fn changed_total_is_malformed() {
        let p = reply(3000);
        let f = split_packet(&p, 5, SplitFormat::Source, 1000, false).unwrap();
        let mut other = f[2].clone();
        other[TOTAL_AT] = 7;
        let mut r = Reassembler::new(Limits::default());
        r.push(&f[0]).unwrap();
        let e = r.push(&other).unwrap_err();
        assert!(matches!(e, Error::Malformed { reason: "fragment total changed within one reply", .. }), "{e}");
    }

    #[test]
    fn impossible_headers_are_malformed() {
        let mut r = Reassembler::new(Limits::default());
        r.set_format(SplitFormat::Source);
        let zero_total = b"\xFE\xFF\xFF\xFF\x01\x00\x00\x00\x00\x00\xE0\x04abc";
        assert!(matches!(r.push(zero_total), Err(Error::Malformed { .. })));
        let past_total = b"\xFE\xFF\xFF\xFF\x01\x00\x00\x00\x02\x02\xE0\x04abc";
        assert!(matches!(r.push(past_total), Err(Error::Malformed { .. })));
        assert!(matches!(r.push(b"\xFE\xFF\xFF\xFF\x01"), Err(Error::Truncated { .. })));
        assert!(matches!(r.push(b"\xFF\xFF\xFF\xFFI"), Err(Error::NotA2s { .. })));
    }

    #[test]
    fn fragment_count_is_capped() {
        let p = reply(3000);
        let f = split_packet(&p, 5, SplitFormat::Source, 100, false).unwrap();
        let limits = Limits { max_fragments: 16, ..Limits::default() };
        let mut r = Reassembler::new(limits);
        assert!(matches!(r.push(&f[0]), Err(Error::TooManyFragments { total: 31, max: 16 })));
    }

    #[test]
    fn reply_bytes_are_capped() {
        let p = reply(3000);
        let f = split_packet(&p, 5, SplitFormat::Source, 1000, false).unwrap();
        let limits = Limits { max_reply_bytes: 2500, ..Limits::default() };
        let mut r = Reassembler::new(limits);
        r.push(&f[0]).unwrap();
        r.push(&f[1]).unwrap();
        assert!(matches!(r.push(&f[2]), Err(Error::ReplyTooLarge { max: 2500 })));
    }

    #[test]
    fn compressed_reply_checks_crc_and_size() {
        let p = reply(3000);
        let f = split_packet(&p, 5, SplitFormat::Source, 1000, true).unwrap();
        // Fragment 0 header: 12 bytes, then size (4) and CRC (4).
        let mut bad_crc = f.clone();
        bad_crc[0][16] ^= 1;
        let mut r = Reassembler::new(Limits::default());
        assert!(matches!(feed(&mut r, &bad_crc), Err(Error::Checksum { .. })));
        let mut bad_size = f.clone();
        bad_size[0][12] ^= 1;
        let mut r = Reassembler::new(Limits::default());
        assert!(matches!(feed(&mut r, &bad_size), Err(Error::SizeMismatch { .. })));
        let mut bad_data = f;
        let last = bad_data.len() - 1;
        let n = bad_data[last].len();
        bad_data[last][n - 3] ^= 0x55;
        let mut r = Reassembler::new(Limits::default());
        assert!(feed(&mut r, &bad_data).is_err());
    }

    #[test]
    fn bzip2_bomb_is_refused_without_inflating() {
        // 100 MB of zeros compresses to a few hundred bytes.
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..100 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 4096, "{}", bomb.len());
        let fragment = |declared: u32| {
            let mut d = b"\xFE\xFF\xFF\xFF\x01\x00\x00\x80\x01\x00\xE0\x04".to_vec();
            d.extend_from_slice(&declared.to_le_bytes());
            d.extend_from_slice(&0u32.to_le_bytes());
            d.extend_from_slice(&bomb);
            d
        };
        let mut r = Reassembler::new(Limits::default());
        // Declares its true size: refused before allocating.
        assert!(matches!(r.push(&fragment(100 << 20)), Err(Error::DecompressedTooLarge { declared: 104_857_600, .. })));
        // Lies about its size: inflation stops one byte past the declaration.
        assert!(matches!(r.push(&fragment(1000)), Err(Error::SizeMismatch { declared: 1000, actual: 1001 })));
    }

    /// Bug: a datagram with an in-progress reply's id that was too short for its
    /// header removed that reply.
    #[test]
    fn a_short_datagram_does_not_destroy_the_reply_of_its_id() {
        let p = reply(3000);
        let f = split_packet(&p, 7, SplitFormat::Source, 1000, false).unwrap();
        let mut r = Reassembler::new(Limits::default());
        r.push(&f[0]).unwrap();
        r.push(&f[1]).unwrap();
        assert!(r.push(b"\xFE\xFF\xFF\xFF\x07\x00\x00\x00\x04").is_err());
        let mut bad_total = f[2].clone();
        bad_total[TOTAL_AT] = 9;
        assert!(matches!(r.push(&bad_total), Err(Error::Malformed { .. })));
        assert_eq!(feed(&mut r, &f[2..]).unwrap().as_deref(), Some(&p[..]));
    }

    /// Bug: copies of a fragment that came before fragment 0 were all kept, and past
    /// `max_fragments` of them the reply failed with an invented total of 255.
    #[test]
    fn copies_before_fragment_0_are_dropped() {
        let p = reply(3000);
        for (format, compress) in every_format() {
            let f = split_packet(&p, 7, format, 1000, compress).unwrap();
            let mut r = Reassembler::new(Limits { max_fragments: 8, ..Limits::default() });
            for _ in 0..100 {
                let pushed = r.push_fragment(&f[1]).unwrap();
                assert!(matches!(pushed, Pushed::Stored { .. } | Pushed::Duplicate), "{format:?}");
            }
            assert_eq!(r.push_fragment(&f[1]).unwrap(), Pushed::Duplicate, "{format:?}");
            assert_eq!(feed(&mut r, &f).unwrap().as_deref(), Some(&p[..]), "{format:?} {compress}");
        }
    }

    /// Bug: under the automatic layout, a reply whose fragment 0 lacks the inner
    /// `FF FF FF FF` never completed.
    #[test]
    fn fragment_0_without_the_inner_header() {
        let p = reply(3000);
        let bare = &p[4..];
        for (format, hint) in [
            (SplitFormat::Source, SplitFormat::Auto),
            (SplitFormat::GoldSrc, SplitFormat::Auto),
            (SplitFormat::SourceWithoutSize, SplitFormat::SourceWithoutSize),
            (SplitFormat::Source, SplitFormat::Source),
        ] {
            let mut f = split_packet(bare, 7, format, 1000, false).unwrap();
            f.swap(0, 2);
            let mut r = Reassembler::new(Limits::default());
            r.set_hint(hint);
            assert_eq!(feed(&mut r, &f).unwrap().as_deref(), Some(bare), "{format:?}");
            assert_eq!(crate::proto::Message::from_reassembled(bare).unwrap().kind, 0x45);
        }
    }

    #[test]
    fn a_stray_of_another_total_does_not_block_the_layout() {
        let p = reply(3000);
        let bare = &p[4..];
        let f = split_packet(bare, 7, SplitFormat::Source, 1000, false).unwrap();
        let mut stray = f[1].clone();
        stray[TOTAL_AT] = 5;
        let mut r = Reassembler::new(Limits::default());
        r.push(&stray).unwrap();
        assert_eq!(feed(&mut r, &f).unwrap().as_deref(), Some(bare));
    }

    /// Fails if the stalest reply is never dropped: A, the stalest, is pushed out by
    /// two newer replies and cannot complete.
    #[test]
    fn the_stalest_reply_is_evicted() {
        let p = reply(2000);
        let limits = Limits { max_pending_replies: 2, ..Limits::default() };
        let mut r = Reassembler::new(limits);
        let fa = split_packet(&p, 1, SplitFormat::Source, 1000, false).unwrap();
        r.push(&fa[0]).unwrap();
        for id in [2, 3] {
            let other = split_packet(&p, id, SplitFormat::Source, 1000, false).unwrap();
            r.push(&other[0]).unwrap();
        }
        assert_eq!(feed(&mut r, &fa[1..]).unwrap(), None, "A was evicted");
        assert_eq!(r.progress(), Some((1, fa.len() as u8)));
    }

    #[test]
    fn stalest_reply_is_dropped_when_too_many_are_pending() {
        let p = reply(2000);
        let limits = Limits { max_pending_replies: 2, ..Limits::default() };
        let mut r = Reassembler::new(limits);
        let fa = split_packet(&p, 1, SplitFormat::Source, 1000, false).unwrap();
        r.push(&fa[0]).unwrap();
        for id in 100..110 {
            let junk = split_packet(&p, id, SplitFormat::Source, 1000, false).unwrap();
            r.push(&junk[0]).unwrap();
            // A keeps being updated, so the flood only evicts itself.
            r.push(&fa[0]).unwrap();
        }
        assert_eq!(feed(&mut r, &fa[1..]).unwrap().as_deref(), Some(&p[..]));
    }

    #[test]
    fn split_encoder_limits() {
        let p = reply(100);
        assert!(split_packet(&p, 1, SplitFormat::GoldSrc, 5, false).is_err(), "over 15 fragments");
        assert!(split_packet(&p, 1, SplitFormat::GoldSrc, 50, true).is_err(), "GoldSrc compressed");
        assert!(split_packet(&p, 1, SplitFormat::Source, 0, false).is_err());
        assert!(split_packet(&p, 1, SplitFormat::Source, 70_000, false).is_err());
        let one = split_packet(&p, 1, SplitFormat::Source, 70_000 - 69_000, false).unwrap();
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn layout_hint_from_info() {
        assert_eq!(SplitFormat::for_server(240, 7), SplitFormat::SourceWithoutSize);
        assert_eq!(SplitFormat::for_server(17550, 7), SplitFormat::SourceWithoutSize);
        assert_eq!(SplitFormat::for_server(240, 17), SplitFormat::Auto);
        assert_eq!(SplitFormat::for_server(10, 48), SplitFormat::GoldSrc);
        assert_eq!(SplitFormat::for_server(440, 17), SplitFormat::Auto);
    }
}
