//! Arma 3 and DayZ rules: the binary message Bohemia Interactive's servers put in their
//! A2S_RULES reply instead of console variables (the mod list, DLCs, difficulty,
//! accepted signatures), decoded and encoded with no I/O.
//!
//! The format, its sources and the choices made where they disagree are on
//! [`ArmaRules`].

use super::exchange::Answer;
use super::packet::{Message, Query};
use super::reader::Reader;
use super::rules::{Rules, S2A_RULES};
use crate::encoding::{Raw, TextBuf, TextDecoder};
use crate::error::{Error, Result};

/// Escaped bytes per chunk value, as servers cut them.
const CHUNK_LEN: usize = 127;
/// The escape byte.
const ESCAPE: u8 = 0x01;
/// A mod's flags: the byte length of its id.
const ID_LEN_MASK: u8 = 0x0F;
/// A mod's flags: a creator DLC (its id is a Steam app id).
const CREATOR_DLC: u8 = 0x10;

/// Arma 3's DLC bits and names.
const ARMA3_DLCS: [(u16, &str); 13] = [
    (0x0001, "Karts"),
    (0x0002, "Marksmen"),
    (0x0004, "Helicopters"),
    (0x0008, "Zeus"),
    (0x0010, "Apex"),
    (0x0020, "Jets"),
    (0x0040, "Laws of War"),
    (0x0080, "Malden"),
    (0x0100, "Tac-Ops"),
    (0x0200, "Tanks"),
    (0x0400, "Contact (platform)"),
    (0x0800, "Contact"),
    (0x1000, "Art of War"),
];

/// DayZ's DLC bits and names.
const DAYZ_DLCS: [(u16, &str); 4] = [(0x1, "Livonia"), (0x2, "Frost Line"), (0x4, "Badlands"), (0x8, "Survivor GameZ")];

/// The decoded rules of an Arma 3 or DayZ server.
///
/// # The format
///
/// The reply's rules hold the message cut into chunks: a chunk's name is two raw bytes,
/// its index (from 1) and the chunk count; its value is up to 127 bytes of the
/// *escaped* message (`01 01` stands for `01`, `01 02` for `00`, `01 03` for `FF`, so
/// no value holds a NUL). The chunks are joined in index order and then unescaped in
/// one left-to-right pass (a pass per escape, as some parsers do, turns a literal
/// `01 02` into `00`). DayZ sends ordinary text rules after the chunks.
///
/// The message (little-endian):
///
/// | field | size |
/// |---|---|
/// | protocol version (3 Arma 3; 2 DayZ since 2025, 1 before) | u8 |
/// | general flags (meanings unconfirmed: kept raw) | u8 |
/// | DLC bitmask | u16 |
/// | difficulty, crosshair (version 3 only) | u8, u8 |
/// | a DLC hash per set bit of the mask, lowest bit first | u32 each |
/// | mod count, then per mod: hash u32, flags u8 (low nibble: the id's byte length; `0x10`: a creator DLC), the id (Workshop file id, or the DLC's Steam app id), a length-prefixed name | u8, ... |
/// | signature count, then length-prefixed names | u8, ... |
/// | description, length-prefixed (DayZ version 2) | u8, ... |
///
/// Sources: the Bohemia wiki's description of the server browser protocol (as quoted in
/// WoozyMasta/a2s, `pkg/a3sb/docs`), four open implementations (ssq `src/rules/arma3.rs`,
/// thegamecracks/little-a2s `rules/arma3.py`, Austinb/GameQ `Arma3.php`, WoozyMasta/a2s
/// `pkg/a3sb`), compared in this project's research notes, and two real captures
/// (little-a2s `tests/constants.py`, MIT) that the tests decode field by field. Choices
/// where the sources disagree:
///
/// - chunk values are cut from the escaped stream at 127 bytes (every capture); the
///   decoder does not depend on it, and joins before unescaping;
/// - the chunk count is the one most two-byte `[i, n]` names (`1 <= i <= n`) share; a name
///   of another count, or a second, different value under a chunk's name, is a text rule
///   (DayZ has two-letter ones); every index from 1 to `n` must be there, so a reply cut
///   short is an error ([`Error::MissingChunk`]), never a shorter mod list;
/// - bytes after the layout are an error (a misread layout would give wrong mods); DayZ
///   version 2's description may be absent (`None`), version 1 has none;
/// - the general flags byte is kept raw; [`ArmaRules::mods_overflow`] and
///   [`ArmaRules::signatures_overflow`] read bits 0 and 1 as ssq does (the server cut its
///   own list to fit), unconfirmed on the wire;
/// - the difficulty byte is read as little-a2s reads it (level bits 0-2, AI level bits
///   3-5, advanced flight model bit 6, third person bit 7; crosshair bit 0 of the next
///   byte); the bytes are kept raw beside it ([`Difficulty::raw`]);
/// - DLC names: `0x80` is Malden (the wiki says Argo, the terrain's folder name); `0x400`
///   is Contact (platform) and `0x800` Contact, as little-a2s names them (GameQ and
///   WoozyMasta swap the two; the wiki calls `0x800` Enoch, Contact's terrain).
///
/// # Example
///
/// ```
/// use a2s_query::proto::{ArmaMod, ArmaRules, Difficulty};
/// use a2s_query::{Encoding, Raw, Rules};
/// # fn main() -> a2s_query::Result<()> {
/// let mut sent = ArmaRules::default();
/// sent.version = 3;
/// sent.difficulty = Some(Difficulty::from([0x9B, 0x00]));
/// sent.mods = vec![ArmaMod::workshop("CBA_A3", 0x1234_5678, 450_814_997)];
/// sent.signatures = vec!["cba_3.18".to_string()];
/// // What the server puts in its rules reply: binary chunks.
/// let rules: Rules<Vec<u8>> = sent.to_rules()?.into_iter().collect();
/// let got = ArmaRules::decode(&rules, Encoding::Utf8)?;
/// assert_eq!(got.mods[0].name, "CBA_A3");
/// assert_eq!(got.mods[0].workshop_id, Some(450_814_997));
/// assert_eq!(got, sent);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ArmaRules<S = String> {
    /// Protocol version: 3 for Arma 3, 2 for DayZ (1 from DayZ before 2025).
    pub version: u8,
    /// The general flags byte, raw: its bits' meanings are not confirmed (ssq reads
    /// bits 0-3 as mod overflow, signature overflow, expansion and Enoch terrain).
    pub flags: u8,
    /// The DLC bitmask.
    pub dlc_mask: u16,
    /// One entry per set bit of the mask, lowest bit first, with its hash.
    pub dlcs: Vec<Dlc>,
    /// The difficulty settings (Arma 3 only: version 3 always carries them; written as
    /// two zero bytes when `None`).
    pub difficulty: Option<Difficulty>,
    /// The mods, in the server's order.
    pub mods: Vec<ArmaMod<S>>,
    /// The signature keys the server accepts (bikey names without `.bikey`).
    pub signatures: Vec<S>,
    /// The description (DayZ version 2; empty in practice).
    pub description: Option<S>,
    /// The ordinary text rules sent beside the chunks (DayZ: `island`, `platform`, ...).
    pub rules: Vec<(S, S)>,
    /// The rules reply ended before the count it declared: some text rules may be
    /// missing (the message itself is whole, or decoding fails).
    pub truncated: bool,
}

impl<S> ArmaRules<S> {
    /// Nothing decoded yet, in any text type (`Default` gives the `String` form, so it
    /// needs no annotation).
    pub fn empty() -> Self {
        ArmaRules {
            version: 0,
            flags: 0,
            dlc_mask: 0,
            dlcs: Vec::new(),
            difficulty: None,
            mods: Vec::new(),
            signatures: Vec::new(),
            description: None,
            rules: Vec::new(),
            truncated: false,
        }
    }
}

impl Default for ArmaRules {
    fn default() -> Self {
        ArmaRules::empty()
    }
}

/// One DLC the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Dlc {
    /// Its bit in [`ArmaRules::dlc_mask`].
    pub bit: u16,
    /// Its name, for the bits known (Arma 3 for version 3, DayZ below).
    pub name: Option<&'static str>,
    /// Its hash, as sent.
    pub hash: u32,
}

/// Arma 3's difficulty settings, decoded from two bytes whose layout sources dispute
/// (the bytes are kept in `raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Difficulty {
    /// The two bytes as sent.
    pub raw: [u8; 2],
    /// Difficulty level (bits 0-2), usually 0-3: recruit, regular, veteran, custom.
    pub level: u8,
    /// AI level (bits 3-5).
    pub ai_level: u8,
    /// Advanced flight model (bit 6).
    pub advanced_flight_model: bool,
    /// Third-person view allowed (bit 7).
    pub third_person: bool,
    /// Weapon crosshair shown (bit 0 of the second byte).
    pub crosshair: bool,
}

/// Reads the two bytes: `Difficulty::from([level_byte, crosshair_byte])`.
impl From<[u8; 2]> for Difficulty {
    fn from(raw: [u8; 2]) -> Self {
        let [d, c] = raw;
        Difficulty {
            raw,
            level: d & 0x07,
            ai_level: (d >> 3) & 0x07,
            advanced_flight_model: d & 0x40 != 0,
            third_person: d & 0x80 != 0,
            crosshair: c & 0x01 != 0,
        }
    }
}

/// One mod (or creator DLC) the server runs.
///
/// `workshop_id` and `is_dlc` are read from `flags` and `id`: build one with
/// [`ArmaMod::new`] (a record as sent) or [`ArmaMod::workshop`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ArmaMod<S = String> {
    /// Its name (empty for a creator DLC).
    pub name: S,
    /// Its hash, as sent.
    pub hash: u32,
    /// The flags byte as sent: low nibble the id's byte length, `0x10` a creator DLC.
    pub flags: u8,
    /// The id as sent: a Workshop file id, or a creator DLC's Steam app id.
    pub id: u64,
    /// The Steam Workshop id: `None` for a creator DLC and for a mod sent without one
    /// (id length or id 0: not from the Workshop).
    pub workshop_id: Option<u64>,
    /// Whether it is a creator DLC (then `id` is its Steam app id).
    pub is_dlc: bool,
}

impl<S> ArmaMod<S> {
    /// A mod as sent: its name, hash, flags byte and id, the rest read from them (a
    /// creator DLC when `flags` has `0x10`; a Workshop id when not and `id` is not 0).
    ///
    /// ```
    /// use a2s_query::proto::ArmaMod;
    /// let dlc = ArmaMod::new(String::new(), 7, 0x13, 1_681_170);
    /// assert_eq!((dlc.is_dlc, dlc.workshop_id), (true, None));
    /// let local = ArmaMod::new("server side".to_string(), 2, 0x00, 0);
    /// assert_eq!((local.is_dlc, local.workshop_id), (false, None));
    /// ```
    pub fn new(name: S, hash: u32, flags: u8, id: u64) -> Self {
        let is_dlc = flags & CREATOR_DLC != 0;
        let workshop_id = (!is_dlc && id != 0).then_some(id);
        ArmaMod { name, hash, flags, id, workshop_id, is_dlc }
    }

    /// A Workshop mod, as servers send one (a 4-byte id when it fits, else 8).
    pub fn workshop(name: impl Into<S>, hash: u32, workshop_id: u64) -> Self {
        let len = if workshop_id <= u64::from(u32::MAX) { 4 } else { 8 };
        ArmaMod::new(name.into(), hash, len, workshop_id)
    }
}

impl<S: TextBuf> ArmaRules<S> {
    /// Decodes the rules of an Arma 3 or DayZ server, queried as raw bytes
    /// ([`Raw`](crate::Raw): the chunks are binary), text made with `decoder`.
    ///
    /// # Errors
    /// [`Error::MissingChunk`] when a chunk is missing (the reply cut short, often by
    /// the server's `steamProtocolMaxDataSize`); [`Error::Malformed`] when the rules
    /// hold no chunks (not an Arma 3 or DayZ server), a chunk is sent twice with other
    /// bytes, an escape is bad, or the version is unknown; [`Error::Truncated`] when the
    /// message ends before a field; [`Error::InvalidText`] from a strict decoder.
    pub fn decode<D: TextDecoder<Text = S>>(rules: &Rules<Vec<u8>>, decoder: D) -> Result<Self> {
        let mut decoded = Self::from_pairs(rules.iter(), decoder)?;
        decoded.truncated = rules.truncated;
        Ok(decoded)
    }

    /// As [`ArmaRules::decode`], from `(name, value)` byte pairs in wire order (a
    /// [`RulesView`](crate::proto::RulesView)'s, say).
    ///
    /// # Errors
    /// As [`ArmaRules::decode`].
    pub fn from_pairs<'a, D: TextDecoder<Text = S>>(
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        decoder: D,
    ) -> Result<Self> {
        let pairs: Vec<(&[u8], &[u8])> = pairs.into_iter().collect();
        // The chunk count: of the counts chunk-like names carry, one whose indexes are all
        // there, else the one most names share (the first such name breaks a tie). A
        // two-letter text rule (`ai`) is not taken for the message.
        let mut seen = vec![[false; 256]; 256];
        let mut order = Vec::new();
        for (name, _) in &pairs {
            if let Some((i, t)) = chunk_key(name, None) {
                if !order.contains(&t) {
                    order.push(t);
                }
                if let Some(flag) = seen.get_mut(usize::from(t)).and_then(|s| s.get_mut(usize::from(i))) {
                    *flag = true;
                }
            }
        }
        let found = |t: u8| seen.get(usize::from(t)).map_or(0, |s| s.iter().filter(|&&f| f).count());
        let complete = |t: u8| found(t) == usize::from(t);
        let total = order
            .iter()
            .copied()
            .filter(|&t| complete(t))
            .max_by_key(|&t| (found(t), std::cmp::Reverse(order.iter().position(|&o| o == t))))
            .or_else(|| {
                order.iter().copied().max_by_key(|&t| (found(t), std::cmp::Reverse(order.iter().position(|&o| o == t))))
            })
            .ok_or(Error::Malformed {
                reason: "no binary chunks in the rules: not an Arma 3 or DayZ server",
                offset: 0,
            })?;
        let mut chunks: Vec<Option<&[u8]>> = vec![None; usize::from(total)];
        let mut plain = Vec::new();
        for &(name, value) in &pairs {
            let slot = chunk_key(name, Some(total))
                .and_then(|(index, _)| usize::from(index).checked_sub(1))
                .and_then(|i| chunks.get_mut(i));
            match slot {
                Some(slot @ None) => *slot = Some(value),
                // An identical copy of a chunk: kept once.
                Some(Some(held)) if *held == value => {}
                // Another total, or a second, different value under a chunk's name: a
                // text rule whose name happens to look like a chunk's (DayZ's `ad`).
                _ => plain.push((decode_text(decoder, name, "rule name")?, decode_text(decoder, value, "rule value")?)),
            }
        }
        let mut escaped = Vec::with_capacity(chunks.len() * CHUNK_LEN);
        for (i, chunk) in chunks.iter().enumerate() {
            let index = u8::try_from(i + 1).unwrap_or(u8::MAX);
            escaped.extend_from_slice(chunk.ok_or(Error::MissingChunk { index, total })?);
        }
        let mut decoded = Self::from_message(&unescape(&escaped)?, decoder)?;
        decoded.rules = plain;
        Ok(decoded)
    }

    /// Decodes an unescaped message (the chunks joined and unescaped).
    ///
    /// # Errors
    /// As [`ArmaRules::decode`], less the chunk errors.
    pub fn from_message<D: TextDecoder<Text = S>>(message: &[u8], decoder: D) -> Result<Self> {
        let mut r = Reader::new(message, 0);
        let version = r.u8("protocol version")?;
        if !(1..=3).contains(&version) {
            return Err(Error::Malformed { reason: "unknown Arma rules version (1 to 3 are known)", offset: 0 });
        }
        let flags = r.u8("general flags")?;
        let dlc_mask = r.u16("DLC bitmask")?;
        let difficulty =
            if version >= 3 { Some(Difficulty::from([r.u8("difficulty")?, r.u8("crosshair")?])) } else { None };
        let names: &[(u16, &str)] = if version >= 3 { &ARMA3_DLCS } else { &DAYZ_DLCS };
        let mut dlcs = Vec::with_capacity(dlc_mask.count_ones() as usize);
        for bit in (0..16).map(|b| 1u16 << b).filter(|b| dlc_mask & b != 0) {
            let name = names.iter().find(|(b, _)| *b == bit).map(|(_, n)| *n);
            dlcs.push(Dlc { bit, name, hash: r.u32("DLC hash")? });
        }
        let count = r.u8("mod count")?;
        // At least 6 bytes a mod: never reserve more than the message can hold.
        let mut mods = Vec::with_capacity(usize::from(count).min(r.remaining() / 6));
        for _ in 0..count {
            let hash = r.u32("mod hash")?;
            let flags = r.u8("mod flags")?;
            let len = usize::from(flags & ID_LEN_MASK);
            if len > 8 {
                return Err(Error::Malformed { reason: "mod id longer than 8 bytes", offset: r.offset() });
            }
            let id = r.bytes(len, "mod id")?.iter().rev().fold(0u64, |id, &b| (id << 8) | u64::from(b));
            let name = short_text(&mut r, decoder, "mod name")?;
            mods.push(ArmaMod::new(name, hash, flags, id));
        }
        let count = r.u8("signature count")?;
        let mut signatures = Vec::with_capacity(usize::from(count).min(r.remaining()));
        for _ in 0..count {
            signatures.push(short_text(&mut r, decoder, "signature")?);
        }
        // DayZ version 2 adds a description (absent in some: `None`); version 1 ends here.
        let description =
            if version == 2 && !r.is_empty() { Some(short_text(&mut r, decoder, "description")?) } else { None };
        if !r.is_empty() {
            // More than the layout holds: a layout misread would give wrong mods.
            return Err(Error::Malformed {
                reason: "bytes after the end of the Arma rules message",
                offset: r.offset(),
            });
        }
        Ok(ArmaRules {
            version,
            flags,
            dlc_mask,
            dlcs,
            difficulty,
            mods,
            signatures,
            description,
            rules: Vec::new(),
            truncated: false,
        })
    }
}

impl<S> ArmaRules<S> {
    /// Whether the server says its mod list was cut to fit (general flags bit 0, as
    /// ssq reads it from the Arma 3 launcher; not confirmed against the wire).
    pub fn mods_overflow(&self) -> bool {
        self.flags & 0x01 != 0
    }

    /// Whether the server says its signature list was cut to fit (general flags bit 1;
    /// unconfirmed, as [`ArmaRules::mods_overflow`]).
    pub fn signatures_overflow(&self) -> bool {
        self.flags & 0x02 != 0
    }

    /// The name of the DLC at `bit` of the mask, for this message's game.
    pub fn dlc_name(&self, bit: u16) -> Option<&'static str> {
        let names: &[(u16, &str)] = if self.version >= 3 { &ARMA3_DLCS } else { &DAYZ_DLCS };
        names.iter().find(|(b, _)| *b == bit).map(|(_, n)| *n)
    }
}

impl<S: AsRef<[u8]>> ArmaRules<S> {
    /// The unescaped message, as a server builds it. The DLC entries and the mask
    /// must agree (a hash per set bit, in bit order).
    ///
    /// # Errors
    /// [`Error::Unencodable`] for more than 255 mods or signatures, a string longer
    /// than 255 bytes, a mod id longer than its flags say, or DLC entries that do not
    /// match the mask.
    pub fn to_message(&self) -> Result<Vec<u8>> {
        if !(1..=3).contains(&self.version) {
            return Err(Error::Unencodable("the Arma rules version is 1 to 3"));
        }
        // What the decoder derives must agree with what is written, or the value would
        // not read back as itself.
        match (self.version, self.difficulty) {
            (3, None) => return Err(Error::Unencodable("version 3 (Arma 3) carries the difficulty: give one")),
            (1 | 2, Some(_)) => return Err(Error::Unencodable("only version 3 (Arma 3) carries the difficulty")),
            _ => {}
        }
        if self.description.is_some() && self.version != 2 {
            return Err(Error::Unencodable("only version 2 (DayZ) carries a description"));
        }
        if self.dlcs.iter().any(|d| d.name != self.dlc_name(d.bit)) {
            return Err(Error::Unencodable("a DLC's name must be the one its bit has (or none)"));
        }
        if self.mods.iter().any(|m| {
            let dlc = m.flags & CREATOR_DLC != 0;
            m.is_dlc != dlc || m.workshop_id != (!dlc && m.id != 0).then_some(m.id)
        }) {
            return Err(Error::Unencodable(
                "a mod's is_dlc and workshop_id must follow its flags and id (see ArmaMod::workshop)",
            ));
        }
        if self.rules.iter().any(|(n, _)| chunk_key(n.as_ref(), None).is_some()) {
            return Err(Error::Unencodable("a text rule named like a chunk ([index, count] bytes)"));
        }
        let mut out = vec![self.version, self.flags];
        out.extend_from_slice(&self.dlc_mask.to_le_bytes());
        if let Some(d) = self.difficulty {
            out.extend_from_slice(&d.raw);
        }
        let bits: Vec<u16> = (0..16).map(|b| 1u16 << b).filter(|b| self.dlc_mask & b != 0).collect();
        if bits.len() != self.dlcs.len() || bits.iter().zip(&self.dlcs).any(|(b, d)| *b != d.bit) {
            return Err(Error::Unencodable("the DLC entries must be one per set bit of the mask, in bit order"));
        }
        for dlc in &self.dlcs {
            out.extend_from_slice(&dlc.hash.to_le_bytes());
        }
        out.push(u8::try_from(self.mods.len()).map_err(|_| Error::Unencodable("more than 255 mods"))?);
        for m in &self.mods {
            out.extend_from_slice(&m.hash.to_le_bytes());
            out.push(m.flags);
            let len = usize::from(m.flags & ID_LEN_MASK);
            let id = m.id.to_le_bytes();
            if len > 8 || id.iter().skip(len).any(|&b| b != 0) {
                return Err(Error::Unencodable("a mod id longer than its flags' length"));
            }
            out.extend(id.iter().take(len));
            short(&mut out, m.name.as_ref())?;
        }
        out.push(u8::try_from(self.signatures.len()).map_err(|_| Error::Unencodable("more than 255 signatures"))?);
        for s in &self.signatures {
            short(&mut out, s.as_ref())?;
        }
        if let Some(d) = &self.description {
            short(&mut out, d.as_ref())?;
        }
        Ok(out)
    }

    /// The rules a server sends: the escaped message in chunks of 127 bytes named
    /// `[index, count]`, then the text rules.
    ///
    /// # Errors
    /// As [`ArmaRules::to_message`]; more than 255 chunks.
    pub fn to_rules(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut escaped = Vec::new();
        escape(&self.to_message()?, &mut escaped);
        let chunks: Vec<&[u8]> = escaped.chunks(CHUNK_LEN).collect();
        let total = u8::try_from(chunks.len()).map_err(|_| Error::Unencodable("more than 255 chunks"))?;
        let mut rules: Vec<(Vec<u8>, Vec<u8>)> =
            (1..=total).zip(chunks).map(|(i, chunk)| (vec![i, total], chunk.to_vec())).collect();
        rules.extend(self.rules.iter().map(|(n, v)| (n.as_ref().to_vec(), v.as_ref().to_vec())));
        Ok(rules)
    }
}

/// A rules query whose reply is read as Arma 3 / DayZ binary rules: what
/// [`Client::arma_rules`](crate::Client::arma_rules) and
/// [`Batch::arma_rules`](crate::Batch::arma_rules) wait for.
impl<D: TextDecoder> Answer<D> for ArmaRules<D::Text> {
    const QUERY: Query = <Rules<D::Text> as Answer<D>>::QUERY;
    fn accepts(kind: u8) -> bool {
        kind == S2A_RULES
    }
    fn parse(message: Message<'_>, decoder: D) -> Result<Self> {
        // The chunks are binary: read the pairs as bytes, then decode the text in them.
        ArmaRules::decode(&Rules::parse(message.body, Raw)?, decoder)
    }
    /// A rules reply that is not Arma's, or is cut short, is so in every copy.
    fn is_final_error(_: &Error) -> bool {
        true
    }
}

/// `[index, total]` when `name` is a chunk's (of `total` chunks, if given).
fn chunk_key(name: &[u8], total: Option<u8>) -> Option<(u8, u8)> {
    let [index, count] = *name else { return None };
    (index >= 1 && index <= count && total.is_none_or(|t| t == count)).then_some((index, count))
}

fn decode_text<D: TextDecoder>(decoder: D, bytes: &[u8], field: &'static str) -> Result<D::Text> {
    decoder.decode(bytes).map_err(|e| Error::InvalidText { field, offset: e.valid_up_to })
}

/// A string with a one-byte length before it.
fn short_text<D: TextDecoder>(r: &mut Reader<'_>, decoder: D, field: &'static str) -> Result<D::Text> {
    let len = r.u8(field)?;
    let start = r.offset();
    let bytes = r.bytes(usize::from(len), field)?;
    decoder.decode(bytes).map_err(|e| Error::InvalidText { field, offset: start + e.valid_up_to })
}

fn short(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    out.push(u8::try_from(bytes.len()).map_err(|_| Error::Unencodable("a string longer than 255 bytes"))?);
    out.extend_from_slice(bytes);
    Ok(())
}

/// The message from its escaped form, in one left-to-right pass.
///
/// # Errors
/// [`Error::Malformed`] for an escape byte followed by anything but `01`, `02` or
/// `03`, or at the very end.
fn unescape(escaped: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter().enumerate();
    while let Some((at, &b)) = bytes.next() {
        if b != ESCAPE {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some((_, 0x01)) => 0x01,
            Some((_, 0x02)) => 0x00,
            Some((_, 0x03)) => 0xFF,
            _ => return Err(Error::Malformed { reason: "bad escape in the Arma rules", offset: at }),
        });
    }
    Ok(out)
}

/// Appends the escaped form of `message` to `out` (no `00` left in it).
fn escape(message: &[u8], out: &mut Vec<u8>) {
    for &b in message {
        match b {
            0x01 => out.extend_from_slice(&[ESCAPE, 0x01]),
            0x00 => out.extend_from_slice(&[ESCAPE, 0x02]),
            0xFF => out.extend_from_slice(&[ESCAPE, 0x03]),
            b => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoding;

    /// One pass, left to right: `01 01 02` is a literal `01` then `02`, not `01 00` (three
    /// replaces from the last escape, as little-a2s does) nor `00` (from the first, GameQ).
    #[test]
    fn escapes_are_undone_in_one_pass() {
        assert_eq!(unescape(&[0x01, 0x01, 0x02]).unwrap(), [0x01, 0x02]);
        assert_eq!(unescape(&[0x01, 0x02, 0x01, 0x03, 0x01, 0x01, 0x41]).unwrap(), [0x00, 0xFF, 0x01, 0x41]);
        for bad in [&[0x01][..], &[0x41, 0x01, 0x04], &[0x01, 0x00]] {
            assert!(matches!(unescape(bad), Err(Error::Malformed { .. })), "{bad:02X?}");
        }
        let all: Vec<u8> = (0..=255).collect();
        let mut escaped = Vec::new();
        escape(&all, &mut escaped);
        assert!(!escaped.contains(&0));
        assert_eq!(unescape(&escaped).unwrap(), all);
    }

    /// An escape pair cut between two chunks still decodes: the chunks are joined first.
    #[test]
    fn an_escape_across_a_chunk_boundary_is_joined_first() {
        // The message ends with the signature count 0, escaped `01 02`: with the right name
        // length that pair straddles the first chunk's end.
        let (message, escaped) = (0..=255usize)
            .find_map(|len| {
                let a = ArmaRules {
                    version: 3,
                    difficulty: Some(Difficulty::from([0, 0])),
                    mods: vec![ArmaMod::workshop("y".repeat(len), 0, 1)],
                    ..ArmaRules::default()
                };
                let message = a.to_message().unwrap();
                let mut escaped = Vec::new();
                escape(&message, &mut escaped);
                (escaped.len() == CHUNK_LEN + 1 && escaped[CHUNK_LEN - 1] == 0x01).then_some((message, escaped))
            })
            .expect("a name length that puts the escape at the boundary");
        let rules: Rules<Vec<u8>> =
            escaped.chunks(CHUNK_LEN).enumerate().map(|(i, c)| (vec![i as u8 + 1, 2], c.to_vec())).collect();
        assert_eq!(rules.iter().next().unwrap().1.last(), Some(&0x01), "the first chunk ends mid-escape");
        assert_eq!(rules.iter().nth(1).unwrap().1, [0x02]);
        let decoded = ArmaRules::decode(&rules, Encoding::Utf8).unwrap();
        assert_eq!(decoded.to_message().unwrap(), message);
    }
}
