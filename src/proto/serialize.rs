//! `serde::Serialize` and `Deserialize` for every result type (the `serde` feature).
//!
//! Serialize is written by hand to give python-a2s's shape: its field names, a `kind`
//! tag on `Info`, durations as seconds in a float, optional fields `null` when absent
//! (The Ship's left out), rules as an object. Deserialize reads that shape back (bots
//! cache snapshots): derived on the plain structs, by hand here where the shape is
//! not the struct's.

use std::collections::HashMap;

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::info::{GoldSrcInfo, Info, Platform, ServerType, SourceInfo, TheShip};
use super::players::{Player, Players, ShipLayout};
use super::rules::Rules;
use crate::encoding::TextBuf;

/// As the wire's byte, read as a character (`'d'`, `'l'`, ...).
impl Serialize for ServerType {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        s.serialize_char(char::from(*self))
    }
}

/// As the wire's byte, read as a character (`'l'`, `'w'`, `'m'`, ...).
impl Serialize for Platform {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        s.serialize_char(char::from(*self))
    }
}

impl Serialize for TheShip {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut st = s.serialize_struct("TheShip", 3)?;
        st.serialize_field("mode", &self.mode)?;
        st.serialize_field("witnesses", &self.witnesses)?;
        st.serialize_field("duration", &self.duration)?;
        st.end()
    }
}

/// Fields of a struct written into a struct serializer started elsewhere, so that
/// [`Info`] can put its `kind` tag first.
trait Fields {
    /// How many fields (an upper bound; formats such as JSON ignore it).
    const LEN: usize;
    fn fields<M: SerializeStruct>(&self, st: &mut M) -> Result<(), M::Error>;
}

impl<S: Serialize> Fields for SourceInfo<S> {
    const LEN: usize = 23;
    fn fields<M: SerializeStruct>(&self, st: &mut M) -> Result<(), M::Error> {
        st.serialize_field("protocol", &self.protocol)?;
        st.serialize_field("server_name", &self.server_name)?;
        st.serialize_field("map_name", &self.map_name)?;
        st.serialize_field("folder", &self.folder)?;
        st.serialize_field("game", &self.game)?;
        st.serialize_field("app_id", &self.app_id)?;
        st.serialize_field("player_count", &self.player_count)?;
        st.serialize_field("max_players", &self.max_players)?;
        st.serialize_field("bot_count", &self.bot_count)?;
        st.serialize_field("server_type", &self.server_type)?;
        st.serialize_field("platform", &self.platform)?;
        st.serialize_field("password_protected", &self.password_protected)?;
        st.serialize_field("vac_enabled", &self.vac_enabled)?;
        match &self.the_ship {
            Some(ship) => st.serialize_field("the_ship", ship)?,
            None => st.skip_field("the_ship")?,
        }
        st.serialize_field("version", &self.version)?;
        st.serialize_field("edf", &self.edf)?;
        st.serialize_field("port", &self.port)?;
        st.serialize_field("steam_id", &self.steam_id)?;
        st.serialize_field("stv_port", &self.stv_port)?;
        st.serialize_field("stv_name", &self.stv_name)?;
        st.serialize_field("keywords", &self.keywords)?;
        st.serialize_field("game_id", &self.game_id)?;
        st.serialize_field("ping", &self.ping.as_secs_f64())
    }
}

impl<S: Serialize> Fields for GoldSrcInfo<S> {
    const LEN: usize = 21;
    fn fields<M: SerializeStruct>(&self, st: &mut M) -> Result<(), M::Error> {
        st.serialize_field("address", &self.address)?;
        st.serialize_field("server_name", &self.server_name)?;
        st.serialize_field("map_name", &self.map_name)?;
        st.serialize_field("folder", &self.folder)?;
        st.serialize_field("game", &self.game)?;
        st.serialize_field("player_count", &self.player_count)?;
        st.serialize_field("max_players", &self.max_players)?;
        st.serialize_field("protocol", &self.protocol)?;
        st.serialize_field("server_type", &self.server_type)?;
        st.serialize_field("platform", &self.platform)?;
        st.serialize_field("password_protected", &self.password_protected)?;
        st.serialize_field("is_mod", &self.is_mod)?;
        st.serialize_field("mod_website", &self.mod_website)?;
        st.serialize_field("mod_download", &self.mod_download)?;
        st.serialize_field("mod_version", &self.mod_version)?;
        st.serialize_field("mod_size", &self.mod_size)?;
        st.serialize_field("multiplayer_only", &self.multiplayer_only)?;
        st.serialize_field("uses_custom_dll", &self.uses_custom_dll)?;
        st.serialize_field("vac_enabled", &self.vac_enabled)?;
        st.serialize_field("bot_count", &self.bot_count)?;
        st.serialize_field("ping", &self.ping.as_secs_f64())
    }
}

impl<S: Serialize> Serialize for SourceInfo<S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut st = s.serialize_struct("SourceInfo", Self::LEN)?;
        self.fields(&mut st)?;
        st.end()
    }
}

impl<S: Serialize> Serialize for GoldSrcInfo<S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut st = s.serialize_struct("GoldSrcInfo", Self::LEN)?;
        self.fields(&mut st)?;
        st.end()
    }
}

/// The layout's fields after a `kind` tag: `"source"` or `"goldsrc"`.
impl<S: Serialize> Serialize for Info<S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        fn tagged<Ser: Serializer, F: Fields>(s: Ser, kind: &str, info: &F) -> Result<Ser::Ok, Ser::Error> {
            let mut st = s.serialize_struct("Info", F::LEN + 1)?;
            st.serialize_field("kind", kind)?;
            info.fields(&mut st)?;
            st.end()
        }
        match self {
            Info::Source(i) => tagged(s, "source", i),
            Info::GoldSrc(i) => tagged(s, "goldsrc", i),
        }
    }
}

/// `deaths` and `money` (The Ship) only when present.
impl<S: Serialize> Serialize for Player<S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut st = s.serialize_struct("Player", 6)?;
        st.serialize_field("index", &self.index)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("score", &self.score)?;
        st.serialize_field("duration", &self.duration)?;
        for (name, value) in [("deaths", &self.deaths), ("money", &self.money)] {
            match value {
                Some(v) => st.serialize_field(name, v)?,
                None => st.skip_field(name)?,
            }
        }
        st.end()
    }
}

/// An object of name to value, in wire order, each name once: a name the server sent
/// twice takes its last value at its first place (as [`Rules::get`] and a Python dict
/// do), so the JSON never repeats a key.
impl<S: TextBuf> Serialize for Rules<S>
where
    S::Slice: Serialize,
{
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut last: HashMap<&S::Slice, &S::Slice> = HashMap::with_capacity(self.len());
        for (n, v) in self {
            last.insert(n, v);
        }
        let mut map = s.serialize_map(Some(last.len()))?;
        for (n, _) in self {
            // Each name is written at its first place, then taken out.
            if let Some(v) = last.remove(n) {
                map.serialize_entry(n, v)?;
            }
        }
        map.end()
    }
}

/// `"trailing"` or `"interleaved"`.
impl Serialize for ShipLayout {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        s.serialize_str(match self {
            ShipLayout::Trailing => "trailing",
            ShipLayout::Interleaved => "interleaved",
        })
    }
}

/// The header's `count`, the `players`, where The Ship's fields were (`ship_layout`,
/// `null` without them) and whether the list was cut short (`truncated`).
impl<S: Serialize> Serialize for Players<S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut st = s.serialize_struct("Players", 4)?;
        st.serialize_field("count", &self.count)?;
        st.serialize_field("players", &self.entries)?;
        st.serialize_field("ship_layout", &self.ship_layout)?;
        st.serialize_field("truncated", &self.truncated)?;
        st.end()
    }
}

/// A duration written as seconds in a float (`ping`), read back; a negative, infinite
/// or overlong value is an error.
pub(crate) fn seconds<'de, De: Deserializer<'de>>(d: De) -> Result<Duration, De::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(|_| de::Error::custom(format!("{secs} is not a duration in seconds")))
}

/// From its one-character form (`"d"`, `"l"`, ...), read as the wire's byte is.
impl<'de> Deserialize<'de> for ServerType {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        Ok(ServerType::from_byte(one_byte(char::deserialize(d)?)?))
    }
}

/// From its one-character form (`"l"`, `"w"`, ...), read as the wire's byte is.
impl<'de> Deserialize<'de> for Platform {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        Ok(Platform::from_byte(one_byte(char::deserialize(d)?)?))
    }
}

fn one_byte<E: de::Error>(c: char) -> Result<u8, E> {
    u8::try_from(u32::from(c)).map_err(|_| E::custom(format!("{c:?} is not a one-byte code")))
}

/// From an object of name to value, in its order.
impl<'de, S: TextBuf + Deserialize<'de>> Deserialize<'de> for Rules<S> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct Pairs<S>(PhantomData<S>);
        impl<'de, S: TextBuf + Deserialize<'de>> Visitor<'de> for Pairs<S> {
            type Value = Rules<S>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of rule names to values")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Rules<S>, M::Error> {
                let mut rules = Rules::default();
                while let Some((name, value)) = map.next_entry::<S, S>()? {
                    rules.push(name.slice(0..name.byte_len()), value.slice(0..value.byte_len()));
                }
                rules.count = u16::try_from(rules.len()).unwrap_or(u16::MAX);
                Ok(rules)
            }
        }
        d.deserialize_map(Pairs(PhantomData))
    }
}
