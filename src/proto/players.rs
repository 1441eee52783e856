//! A2S_PLAYER replies (`0x44`).

use super::packet::{Message, SINGLE_HEADER};
use super::reader::Reader;
use super::writer::Writer;
use crate::encoding::TextDecoder;
use crate::error::{Error, Result};

/// Reply type byte of a player list (`'D'`).
pub(crate) const S2A_PLAYER: u8 = 0x44;

/// Bytes of The Ship's extra fields per player (deaths and money, an `i32` each).
const SHIP_EXTRA_LEN: usize = 8;
/// The shortest entry: index, an empty name's NUL, score, duration.
const MIN_ENTRY_LEN: usize = 1 + 1 + 4 + 4;

/// One player in a player list.
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{Encoding, Player};
/// # let roster = vec![Player::new("alice".to_string(), 12, 95.5), Player::new("bob".to_string(), 3, 12.0)];
/// # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(Default::default()), roster, vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
/// let players = a2s_query::players(addr, Duration::from_secs(3), Encoding::Utf8)?;
/// for p in &players {
///     println!("{:<16} {:>4} points, {:.0} s on the server", p.name, p.score, p.duration);
/// }
/// let alice = &players[0];
/// assert_eq!((alice.name.as_str(), alice.score, alice.duration), ("alice", 12, 95.5));
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[non_exhaustive]
pub struct Player<S = String> {
    /// Index as sent: almost always 0 on Source servers, 1..n on HLTV.
    pub index: u8,
    /// Player name; may be empty (Valheim, ARK, players still connecting).
    pub name: S,
    /// Score (frags); may be negative.
    pub score: i32,
    /// Time connected, in seconds; may be negative for bots in some games.
    pub duration: f32,
    /// Deaths (The Ship only).
    #[cfg_attr(feature = "serde", serde(default))]
    pub deaths: Option<i32>,
    /// Money (The Ship only).
    #[cfg_attr(feature = "serde", serde(default))]
    pub money: Option<i32>,
}

/// Where a reply puts The Ship's deaths and money (spec §3.3). The parser reads both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum ShipLayout {
    /// Right after each player's duration, as some clients expect; no real server seen
    /// sends it.
    Interleaved,
    /// One block of (deaths, money) pairs after the whole list: what real The Ship
    /// servers send.
    Trailing,
}

/// A parsed player list with what the header said.
///
/// ```
/// use a2s_query::proto::Players;
/// use a2s_query::Encoding;
///
/// // The header counts 3 players; one entry came (the others are still connecting).
/// let body = b"\x03\x00bob\x00\x05\x00\x00\x00\x00\x00\x80\x3F";
/// let players = Players::parse(body, Encoding::Utf8)?;
/// assert_eq!((players.count, players.entries.len()), (3, 1));
/// assert_eq!(players.entries[0].duration, 1.0);
/// for p in &players {
///     assert_eq!(p.name, "bob");
/// }
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[non_exhaustive]
pub struct Players<S = String> {
    /// The count byte the server sent. It counts players still connecting (who have no
    /// entry yet) and wraps or caps past 255, so it may differ from `entries.len()`.
    pub count: u8,
    /// The entries, in wire order. (In JSON, `"players"`.)
    #[cfg_attr(feature = "serde", serde(rename = "players"))]
    pub entries: Vec<Player<S>>,
    /// Where The Ship's extra fields were found, if the reply carried them.
    pub ship_layout: Option<ShipLayout>,
    /// True when bytes were left that did not make a whole entry (a cut-off reply).
    pub truncated: bool,
}

impl<S> Player<S> {
    /// A player as most servers send one: index 0, no The Ship fields (set `index` on
    /// the result where it matters; [`Player::with_ship`] adds deaths and money).
    ///
    /// ```
    /// let mut bot = a2s_query::Player::new("Bot 01".to_string(), -2, 31.5);
    /// bot.index = 3;
    /// assert_eq!((bot.index, bot.name.as_str(), bot.score, bot.deaths), (3, "Bot 01", -2, None));
    /// ```
    pub fn new(name: S, score: i32, duration: f32) -> Self {
        Player { index: 0, name, score, duration, deaths: None, money: None }
    }

    /// The same player with The Ship's deaths and money.
    ///
    /// ```
    /// let p = a2s_query::Player::new("hunter".to_string(), 3, 60.0).with_ship(1, 250);
    /// assert_eq!((p.deaths, p.money), (Some(1), Some(250)));
    /// ```
    pub fn with_ship(mut self, deaths: i32, money: i32) -> Self {
        self.deaths = Some(deaths);
        self.money = Some(money);
        self
    }
}

impl<S> Players<S> {
    /// A whole list as a server would declare it: `count` is the number of entries
    /// (capped at 255, the most the byte holds), no The Ship layout, not truncated.
    pub fn new(entries: Vec<Player<S>>) -> Self {
        let count = u8::try_from(entries.len()).unwrap_or(u8::MAX);
        Players { count, entries, ship_layout: None, truncated: false }
    }
}

/// The list reads as a slice of its entries: `players.len()`, `players[0]`,
/// `players.iter()`.
impl<S> std::ops::Deref for Players<S> {
    type Target = [Player<S>];

    fn deref(&self) -> &[Player<S>] {
        &self.entries
    }
}

impl<S> IntoIterator for Players<S> {
    type Item = Player<S>;
    type IntoIter = std::vec::IntoIter<Player<S>>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, S> IntoIterator for &'a Players<S> {
    type Item = &'a Player<S>;
    type IntoIter = std::slice::Iter<'a, Player<S>>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// How far whole entries reach, counted without decoding.
struct Scan {
    /// Whole entries read.
    entries: usize,
    /// Bytes those entries used.
    used: usize,
}

/// Counts whole entries (with `extra` bytes each after the duration) from the start of
/// `body`, reading at most `max` of them.
fn scan(body: &[u8], max: usize, extra: usize) -> Scan {
    let mut r = Reader::new(body, 0);
    let mut found = Scan { entries: 0, used: 0 };
    while found.entries < max && r.skip(1) && r.skip_cstr() && r.skip(8 + extra) {
        found.entries += 1;
        found.used = body.len() - r.remaining();
    }
    found
}

impl<S> Players<S> {
    /// Parses the body of a `0x44` message.
    ///
    /// Entries are read until `count` is reached or the bytes run out; a partial last
    /// entry is dropped and flagged in `truncated`. Whole entries past `count` are
    /// read too, so lists of more than 255 players survive the wrapped count byte.
    /// The Ship's deaths and money are found in either layout real servers use,
    /// decided by which one uses up the payload exactly.
    ///
    /// # Errors
    /// [`Error::Truncated`] when even the count byte is missing; [`Error::InvalidText`]
    /// from a strict decoder.
    pub fn parse<D: TextDecoder<Text = S>>(body: &[u8], decoder: D) -> Result<Self> {
        let mut r = Reader::new(body, Message::BODY_OFFSET);
        let count = r.u8("player count")?;
        match Self::parse_exact(r.clone(), count, decoder) {
            Some(players) => Ok(players),
            None => Self::parse_full(r, count, decoder),
        }
    }

    /// Every layout, every count, cut-offs: the parse for what
    /// [`Players::parse_exact`] does not take.
    fn parse_full<D: TextDecoder<Text = S>>(mut r: Reader<'_>, count: u8, decoder: D) -> Result<Self> {
        let entries = r.rest();
        let declared = usize::from(count);

        let plain = scan(entries, declared, 0);
        let left = entries.len() - plain.used;
        let layout = if plain.entries == declared && declared > 0 && left == SHIP_EXTRA_LEN * declared {
            Some(ShipLayout::Trailing)
        } else if left != 0 && declared > 0 {
            let ship = scan(entries, declared, SHIP_EXTRA_LEN);
            (ship.entries == declared && ship.used == entries.len()).then_some(ShipLayout::Interleaved)
        } else {
            None
        };

        let extra = if layout == Some(ShipLayout::Interleaved) { SHIP_EXTRA_LEN } else { 0 };
        // The count is the server's word: never reserve more than the bytes can hold.
        let mut players = Vec::with_capacity(declared.min(entries.len() / MIN_ENTRY_LEN));
        let mut truncated = false;
        loop {
            let in_count = players.len() < declared;
            if !in_count && layout.is_some() {
                break;
            }
            if r.is_empty() {
                break;
            }
            let mut entry = r.clone();
            match read_entry(&mut entry, decoder, extra) {
                Ok(p) => {
                    r = entry;
                    players.push(p);
                }
                Err(e @ Error::InvalidText { .. }) => return Err(e),
                Err(_) => {
                    truncated = true;
                    break;
                }
            }
            // Past the count, read only whole entries and never more than 255 extra.
            if players.len() > declared + usize::from(u8::MAX) {
                break;
            }
        }
        if layout == Some(ShipLayout::Trailing) {
            for p in &mut players {
                p.deaths = Some(r.i32("deaths")?);
                p.money = Some(r.i32("money")?);
            }
        }
        Ok(Players { count, entries: players, ship_layout: layout, truncated })
    }
}

impl<S> Players<S> {
    /// The common reply in one pass: exactly `count` entries using up the payload, or
    /// followed by The Ship's trailing block. `None` for anything else (fewer or more
    /// entries, the interleaved layout, a cut-off or a decoding error), which the full
    /// parse then reads from the start.
    fn parse_exact<D: TextDecoder<Text = S>>(r: Reader<'_>, count: u8, decoder: D) -> Option<Self> {
        let declared = usize::from(count);
        let mut rest = r.rest();
        // Each entry takes at least MIN_ENTRY_LEN bytes: a count the bytes cannot
        // hold goes to the full parse, and the reservation stays within the payload.
        if declared > rest.len() / MIN_ENTRY_LEN {
            return None;
        }
        let mut players = Vec::with_capacity(declared);
        for _ in 0..declared {
            let (&index, tail) = rest.split_first()?;
            let len = tail.iter().position(|&b| b == 0)?;
            let name = decoder.decode(tail.get(..len)?).ok()?;
            let (fixed, tail) = tail.get(len + 1..)?.split_first_chunk::<8>()?;
            let [s0, s1, s2, s3, d0, d1, d2, d3] = *fixed;
            let score = i32::from_le_bytes([s0, s1, s2, s3]);
            let duration = f32::from_le_bytes([d0, d1, d2, d3]);
            players.push(Player { index, name, score, duration, deaths: None, money: None });
            rest = tail;
        }
        let ship_layout = match rest.len() {
            0 => None,
            left if declared > 0 && left == SHIP_EXTRA_LEN * declared => {
                for (p, fields) in players.iter_mut().zip(rest.chunks_exact(SHIP_EXTRA_LEN)) {
                    let (deaths, money) = fields.split_first_chunk::<4>()?;
                    p.deaths = Some(i32::from_le_bytes(*deaths));
                    p.money = Some(i32::from_le_bytes(money.try_into().ok()?));
                }
                Some(ShipLayout::Trailing)
            }
            _ => return None,
        };
        Some(Players { count, entries: players, ship_layout, truncated: false })
    }
}

fn read_entry<D: TextDecoder>(r: &mut Reader<'_>, decoder: D, extra: usize) -> Result<Player<D::Text>> {
    let index = r.u8("player index")?;
    let name = r.text(decoder, "player name")?;
    let score = r.i32("player score")?;
    let duration = r.f32("player duration")?;
    let (deaths, money) = if extra > 0 { (Some(r.i32("deaths")?), Some(r.i32("money")?)) } else { (None, None) };
    Ok(Player { index, name, score, duration, deaths, money })
}

/// Appends a whole player list reply (`FF FF FF FF 44 ...`) to `out`.
///
/// Players carrying deaths and money are written in `ship_layout` (every player must
/// then carry them); without them `ship_layout` is ignored.
///
/// # Errors
/// [`Error::Unencodable`] for more than 255 players, a name holding a NUL, or The
/// Ship's fields on some players only.
pub fn encode_players<S: AsRef<[u8]>>(players: &[Player<S>], ship_layout: ShipLayout, out: &mut Vec<u8>) -> Result<()> {
    let count = u8::try_from(players.len()).map_err(|_| Error::Unencodable("more than 255 players"))?;
    let with_ship = players.iter().filter(|p| p.deaths.is_some() && p.money.is_some()).count();
    let without = players.iter().filter(|p| p.deaths.is_none() && p.money.is_none()).count();
    if with_ship + without != players.len() || (with_ship > 0 && without > 0) {
        return Err(Error::Unencodable("deaths and money must be set on every player or none"));
    }
    let ship = (with_ship > 0).then_some(ship_layout);
    let mut w = Writer::new(out);
    w.bytes(&SINGLE_HEADER).u8(S2A_PLAYER).u8(count);
    for p in players {
        w.u8(p.index).cstr(&p.name)?.i32(p.score).f32(p.duration);
        if let (Some(ShipLayout::Interleaved), Some(d), Some(m)) = (ship, p.deaths, p.money) {
            w.i32(d).i32(m);
        }
    }
    if ship == Some(ShipLayout::Trailing) {
        for p in players {
            w.i32(p.deaths.unwrap_or_default()).i32(p.money.unwrap_or_default());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoding;

    /// The one-pass reading of the common reply gives exactly what the full parse
    /// gives, on valid lists of each layout and on mutations of them.
    #[test]
    fn the_fast_path_agrees_with_the_full_parse() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut fast, mut checked) = (0, 0);
        for round in 0..20_000u32 {
            let n = (rand() % 6) as u8;
            let ship = round % 3;
            let players: Vec<Player> = (0..n)
                .map(|i| Player {
                    deaths: (ship > 0).then_some(i32::from(i)),
                    money: (ship > 0).then_some(100),
                    ..player(i, &"n".repeat(usize::from(i) * 3))
                })
                .collect();
            let layout = if ship == 2 { ShipLayout::Interleaved } else { ShipLayout::Trailing };
            let mut body = Vec::new();
            encode_players(&players, layout, &mut body).unwrap();
            let mut body = body.split_off(Message::BODY_OFFSET);
            // Mutate one in two: a byte changed, the end cut, or bytes added.
            match rand() % 6 {
                0 if !body.is_empty() => {
                    let at = (rand() % body.len() as u64) as usize;
                    body[at] = rand() as u8;
                }
                1 => body.truncate((rand() % (body.len() as u64 + 1)) as usize),
                2 => body.extend((0..rand() % 12).map(|_| rand() as u8)),
                _ => {}
            }
            let Some((&count, _)) = body.split_first() else { continue };
            let r = Reader::new(body.get(1..).unwrap(), 1);
            for decoder in [Encoding::Utf8, Encoding::Utf8Strict] {
                let full = Players::parse_full(r.clone(), count, decoder);
                if let Some(quick) = Players::parse_exact(r.clone(), count, decoder) {
                    fast += 1;
                    assert_eq!(Some(&quick), full.as_ref().ok(), "{body:02X?}");
                }
                checked += 1;
            }
        }
        assert!(fast > checked / 3, "the fast path took {fast} of {checked}");
    }

    fn player(i: u8, name: &str) -> Player {
        Player {
            index: i,
            name: name.into(),
            score: i32::from(i) - 3,
            duration: 12.5 * f32::from(i),
            deaths: None,
            money: None,
        }
    }

    fn parse(buf: &[u8]) -> Players {
        let m = Message::from_reassembled(buf).unwrap();
        assert_eq!(m.kind, S2A_PLAYER);
        Players::parse(m.body, Encoding::Utf8).unwrap()
    }

    #[test]
    fn plain_list_round_trips() {
        let list: Vec<_> = (0..5).map(|i| player(i, &format!("p{i}"))).collect();
        let mut buf = Vec::new();
        encode_players(&list, ShipLayout::Interleaved, &mut buf).unwrap();
        let back = parse(&buf);
        assert_eq!(back.count, 5);
        assert_eq!(back.entries, list);
        assert_eq!(back.ship_layout, None);
        assert!(!back.truncated);
    }

    #[test]
    fn the_ship_in_both_layouts() {
        let list: Vec<_> = (0..4)
            .map(|i| Player { deaths: Some(i32::from(i)), money: Some(1000 + i32::from(i)), ..player(i, "s") })
            .collect();
        for layout in [ShipLayout::Interleaved, ShipLayout::Trailing] {
            let mut buf = Vec::new();
            encode_players(&list, layout, &mut buf).unwrap();
            let back = parse(&buf);
            assert_eq!(back.ship_layout, Some(layout));
            assert_eq!(back.entries, list, "{layout:?}");
        }
    }

    #[test]
    fn count_above_entries_is_not_an_error() {
        // Count 5, two entries: three players are still connecting.
        let list = vec![player(0, "a"), player(1, "b")];
        let mut buf = Vec::new();
        encode_players(&list, ShipLayout::Trailing, &mut buf).unwrap();
        buf[5] = 5;
        let back = parse(&buf);
        assert_eq!((back.count, back.entries.len(), back.truncated), (5, 2, false));
    }

    #[test]
    fn partial_last_entry_is_dropped_and_flagged() {
        let list = vec![player(0, "a"), player(1, "b")];
        let mut buf = Vec::new();
        encode_players(&list, ShipLayout::Trailing, &mut buf).unwrap();
        buf.truncate(buf.len() - 2);
        let back = parse(&buf);
        assert_eq!(back.entries, vec![player(0, "a")]);
        assert!(back.truncated);
    }

    #[test]
    fn entries_past_a_wrapped_count_are_kept() {
        // The count byte wrapped (300 players -> 44) while the list holds 255 entries.
        let list: Vec<_> = (0..255u8).map(|i| player(i, "w")).collect();
        let mut buf = Vec::new();
        encode_players(&list, ShipLayout::Trailing, &mut buf).unwrap();
        buf[5] = 44;
        let back = parse(&buf);
        assert_eq!(back.count, 44);
        assert_eq!(back.entries, list);
    }

    #[test]
    fn empty_list() {
        let back = parse(b"\xFF\xFF\xFF\xFFD\x00");
        assert_eq!((back.count, back.entries.len(), back.truncated), (0, 0, false));
        assert!(Players::parse(&[], Encoding::Utf8).is_err());
    }

    #[test]
    fn encoder_refuses_what_the_wire_cannot_hold() {
        let many: Vec<_> = (0..256).map(|_| player(0, "x")).collect();
        assert!(encode_players(&many, ShipLayout::Trailing, &mut Vec::new()).is_err());
        let mixed = vec![Player { deaths: Some(1), money: Some(2), ..player(0, "a") }, player(1, "b")];
        assert!(encode_players(&mixed, ShipLayout::Trailing, &mut Vec::new()).is_err());
        assert!(encode_players(&[player(0, "a\0b")], ShipLayout::Trailing, &mut Vec::new()).is_err());
    }
}
