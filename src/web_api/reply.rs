//! The Web API's JSON replies read into typed values, with no I/O: usable with any HTTP
//! client. Lenient where the API is loose (a number sent as a string, a field left
//! out), strict where a wrong answer would follow (no `response` object).

use std::net::SocketAddr;

use serde::de;
use serde_json::{Map, Value};

use super::Error;
use crate::proto::Platform;

/// One server of a `GetServerList` reply: its query address and the summary Steam keeps
/// of it. A field the reply left out (or sent as something unreadable) is `None`, or an
/// empty string for text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ServerSummary {
    /// The address A2S queries go to (`addr`: IP and query port).
    #[cfg_attr(feature = "serde", serde(rename = "address"))]
    pub addr: SocketAddr,
    /// The port players connect to (`gameport`); often not the query port.
    pub game_port: Option<u16>,
    /// The spectator (SourceTV) port (`specport`), when it has one.
    pub spec_port: Option<u16>,
    /// The server's Steam id (`steamid`), a 64-bit number sent as a string (and
    /// serialized as one: JSON readers such as JavaScript's lose digits past 2^53).
    #[cfg_attr(feature = "serde", serde(default, with = "steam_id_text"))]
    pub steam_id: Option<u64>,
    /// The server's name (`name`).
    pub name: String,
    /// The Steam app id the server runs (`appid`).
    pub app_id: Option<u32>,
    /// The game directory (`gamedir`), e.g. `tf`.
    pub game_dir: String,
    /// The game version (`version`).
    pub version: String,
    /// The product name (`product`).
    pub product: String,
    /// The master region code (`region`; often -1).
    pub region: Option<i32>,
    /// Players on the server (`players`), bots included as the server counts them.
    pub players: Option<u32>,
    /// Player slots (`max_players`).
    pub max_players: Option<u32>,
    /// Bots (`bots`).
    pub bots: Option<u32>,
    /// The current map (`map`).
    pub map: String,
    /// Whether VAC protects the server (`secure`).
    pub secure: Option<bool>,
    /// Whether it is a dedicated server (`dedicated`).
    pub dedicated: Option<bool>,
    /// The operating system (`os`: `l`, `w`, `m`).
    pub os: Option<Platform>,
    /// The server's tags (`gametype`, its `sv_tags`), comma separated.
    pub game_type: String,
}

impl ServerSummary {
    /// A summary with only its address known: every other field empty. For building
    /// values in tests and fakes; fill the fields after.
    pub fn new(addr: SocketAddr) -> Self {
        ServerSummary {
            addr,
            game_port: None,
            spec_port: None,
            steam_id: None,
            name: String::new(),
            app_id: None,
            game_dir: String::new(),
            version: String::new(),
            product: String::new(),
            region: None,
            players: None,
            max_players: None,
            bots: None,
            map: String::new(),
            secure: None,
            dedicated: None,
            os: None,
            game_type: String::new(),
        }
    }
}

/// One server of a `GetServersAtAddress` reply: which ports one game server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ServerAtAddress {
    /// The address A2S queries go to (`addr`: IP and query port).
    #[cfg_attr(feature = "serde", serde(rename = "address"))]
    pub addr: SocketAddr,
    /// The port players connect to (`gameport`).
    pub game_port: Option<u16>,
    /// The spectator (SourceTV) port (`specport`), when it has one.
    pub spec_port: Option<u16>,
    /// The server's Steam id (`steamid`), serialized as text as it is sent.
    #[cfg_attr(feature = "serde", serde(default, with = "steam_id_text"))]
    pub steam_id: Option<u64>,
    /// The Steam app id the server runs (`appid`).
    pub app_id: Option<u32>,
    /// The game directory (`gamedir`).
    pub game_dir: String,
    /// The master region code (`region`).
    pub region: Option<i32>,
    /// Whether VAC protects the server (`secure`).
    pub secure: Option<bool>,
    /// Whether it is a LAN server (`lan`).
    pub lan: Option<bool>,
    /// Why the master rejected the server (`reject`, a status code), when it did.
    pub reject: Option<i32>,
}

impl ServerAtAddress {
    /// An entry with only its query address known.
    pub fn new(addr: SocketAddr) -> Self {
        ServerAtAddress {
            addr,
            game_port: None,
            spec_port: None,
            steam_id: None,
            app_id: None,
            game_dir: String::new(),
            region: None,
            secure: None,
            lan: None,
            reject: None,
        }
    }
}

/// The servers of one reply, and how many entries were skipped because they had no
/// readable address (nothing to query, so nothing to yield; counted, not hidden).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Listing<T> {
    /// The servers, in the order the reply gave them.
    pub servers: Vec<T>,
    /// Entries without a readable `addr`, and those past the first 200 000.
    pub skipped: usize,
    /// Whether the reply held as many entries as the limit asked, or as the API's
    /// reported cap (10 000), in
    /// [`WebApi::server_list`](super::WebApi::server_list): there may be more than it
    /// gave. Narrow the filter (a region, a map, `\empty\1`) or ask a higher limit.
    pub limit_reached: bool,
}

impl<T> IntoIterator for Listing<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.servers.into_iter()
    }
}

/// Reads a `GetServerList` reply body: `{"response": {"servers": [...]}}`, where an empty
/// list may come as `{"response": {}}`. (It knows no limit: compare the count with the
/// one asked yourself; [`WebApi::server_list`](super::WebApi::server_list) sets
/// [`Listing::limit_reached`].)
///
/// ```
/// use a2s_query::web_api::parse_server_list;
/// let body = br#"{"response":{"servers":[
///     {"addr":"192.0.2.7:27015","gameport":27016,"steamid":"90071996842377216",
///      "name":"Badlands 24/7","appid":440,"players":"12","max_players":24,"secure":true},
///     {"name":"no address"}]}}"#;
/// let list = parse_server_list(body)?;
/// assert_eq!(list.servers.len(), 1);
/// assert_eq!(list.skipped, 1);
/// let s = &list.servers[0];
/// assert_eq!(s.addr, "192.0.2.7:27015".parse()?);
/// assert_eq!((s.game_port, s.players, s.bots), (Some(27016), Some(12), None));
/// assert_eq!(s.steam_id, Some(90071996842377216));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Malformed`] when the body is not JSON, or has no `response` object, or its
/// `servers` is not a list.
pub fn parse_server_list(body: &[u8]) -> Result<Listing<ServerSummary>, Error> {
    let (_, listing) = read_reply(body, |entry, addr| ServerSummary {
        addr,
        game_port: number(entry, "gameport"),
        spec_port: number(entry, "specport").filter(|&p| p != 0),
        steam_id: number(entry, "steamid"),
        name: text(entry, "name"),
        app_id: number(entry, "appid"),
        game_dir: text(entry, "gamedir"),
        version: text(entry, "version"),
        product: text(entry, "product"),
        region: number(entry, "region"),
        players: number(entry, "players"),
        max_players: number(entry, "max_players"),
        bots: number(entry, "bots"),
        map: text(entry, "map"),
        secure: flag(entry, "secure"),
        dedicated: flag(entry, "dedicated"),
        os: entry.get("os").and_then(Value::as_str).and_then(|s| s.bytes().next()).map(Platform::from_byte),
        game_type: text(entry, "gametype"),
    })?;
    Ok(listing)
}

/// Reads a `GetServersAtAddress` reply body: `{"response": {"success": true, "servers":
/// [...]}}`.
///
/// # Errors
/// [`Error::Refused`] when `success` is false (with the API's `message`);
/// [`Error::Malformed`] as for [`parse_server_list`].
pub fn parse_servers_at_address(body: &[u8]) -> Result<Listing<ServerAtAddress>, Error> {
    let (status, listing) = read_reply(body, |entry, addr| ServerAtAddress {
        addr,
        game_port: number(entry, "gameport"),
        spec_port: number(entry, "specport").filter(|&p| p != 0),
        steam_id: number(entry, "steamid"),
        app_id: number(entry, "appid"),
        game_dir: text(entry, "gamedir"),
        region: number(entry, "region"),
        secure: flag(entry, "secure"),
        lan: flag(entry, "lan"),
        reject: number(entry, "reject"),
    })?;
    if status.success == Some(false) {
        let message = status.message.as_deref().unwrap_or("no reason given");
        return Err(Error::Refused(super::excerpt(message.as_bytes())));
    }
    Ok(listing)
}

/// Most servers kept from one reply (users report lists of 20 000): past it, entries
/// are counted as skipped. With the body cap, it bounds what a reply can make us hold.
pub(crate) const MAX_SERVERS: usize = 200_000;

/// What a response says besides its servers.
#[derive(Debug, Default)]
struct Status {
    success: Option<bool>,
    message: Option<String>,
}

/// Reads `{"response": {"servers": [...], "success": .., "message": ..}}`, each entry
/// made a `T` as it is read (the body is never held as one JSON tree: a reply of a
/// million tiny entries costs what its servers do, not a value per entry).
fn read_reply<T, F>(body: &[u8], make: F) -> Result<(Status, Listing<T>), Error>
where
    F: Fn(&Map<String, Value>, SocketAddr) -> T,
{
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = de::DeserializeSeed::deserialize(Root { make: &make }, &mut de)
        .and_then(|found| de.end().map(|()| found))
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Error::Malformed(format!("the body is not the reply expected: {e}")),
            _ => Error::Malformed(format!("the body is not JSON ({e})")),
        })?;
    found.ok_or_else(|| Error::Malformed("no `response` object".into()))
}

/// The top object: its `response` read, everything else skipped.
struct Root<'a, F> {
    make: &'a F,
}

impl<'de, T, F: Fn(&Map<String, Value>, SocketAddr) -> T> de::DeserializeSeed<'de> for Root<'_, F> {
    type Value = Option<(Status, Listing<T>)>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T, F: Fn(&Map<String, Value>, SocketAddr) -> T> de::Visitor<'de> for Root<'_, F> {
    type Value = Option<(Status, Listing<T>)>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object holding a `response` object")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "response" && found.is_none() {
                found = Some(map.next_value_seed(Response { make: self.make })?);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The `response` object: its servers made as they come, its status kept.
struct Response<'a, F> {
    make: &'a F,
}

impl<'de, T, F: Fn(&Map<String, Value>, SocketAddr) -> T> de::DeserializeSeed<'de> for Response<'_, F> {
    type Value = (Status, Listing<T>);
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T, F: Fn(&Map<String, Value>, SocketAddr) -> T> de::Visitor<'de> for Response<'_, F> {
    type Value = (Status, Listing<T>);
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("`response` as an object")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut status = Status::default();
        let mut listing = Listing { servers: Vec::new(), skipped: 0, limit_reached: false };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "servers" => listing = map.next_value_seed(Servers { make: self.make })?,
                "success" => status.success = map.next_value::<Scalar>()?.0.as_bool(),
                "message" => status.message = map.next_value::<Scalar>()?.0.as_str().map(str::to_owned),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok((status, listing))
    }
}

/// The `servers` list (or `null`), one entry at a time.
struct Servers<'a, F> {
    make: &'a F,
}

impl<'de, T, F: Fn(&Map<String, Value>, SocketAddr) -> T> de::DeserializeSeed<'de> for Servers<'_, F> {
    type Value = Listing<T>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T, F: Fn(&Map<String, Value>, SocketAddr) -> T> de::Visitor<'de> for Servers<'_, F> {
    type Value = Listing<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("`servers` as a list")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Listing { servers: Vec::new(), skipped: 0, limit_reached: false })
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = Listing { servers: Vec::new(), skipped: 0, limit_reached: false };
        while let Some(Entry(entry)) = seq.next_element::<Entry>()? {
            let server = entry.as_ref().and_then(|e| Some((e, e.get("addr")?.as_str()?.trim().parse().ok()?)));
            match server {
                Some((entry, addr)) if list.servers.len() < MAX_SERVERS => list.servers.push((self.make)(entry, addr)),
                _ => list.skipped += 1,
            }
        }
        Ok(list)
    }
}

/// The fields read from an entry; others are skipped unread.
const FIELDS: [&str; 20] = [
    "addr",
    "gameport",
    "specport",
    "steamid",
    "name",
    "appid",
    "gamedir",
    "version",
    "product",
    "region",
    "players",
    "max_players",
    "bots",
    "map",
    "secure",
    "dedicated",
    "os",
    "gametype",
    "lan",
    "reject",
];

/// One entry of `servers`: its known fields with plain values; `None` for an entry
/// that is not an object. Nothing nested is kept: a hostile entry costs its text.
struct Entry(Option<Map<String, Value>>);

impl<'de> de::Deserialize<'de> for Entry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> de::Visitor<'de> for EntryVisitor {
    type Value = Entry;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a server entry")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if FIELDS.contains(&&*key) {
                fields.insert(key.into_owned(), map.next_value::<Scalar>()?.0);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(Entry(Some(fields)))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Entry, A::Error> {
        de::IgnoredAny.visit_seq(seq).map(|_| Entry(None))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Entry, E> {
        Ok(Entry(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Entry, E> {
        Ok(Entry(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Entry, E> {
        Ok(Entry(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Entry, E> {
        Ok(Entry(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Entry, E> {
        Ok(Entry(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Entry, E> {
        Ok(Entry(None))
    }
}

/// A plain JSON value (a number, text, a flag, null); anything nested is skipped
/// unread and reads as null.
struct Scalar(Value);

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> de::Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a plain value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(Value::from(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(Value::String(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar(Value::String(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(Value::Null))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        de::IgnoredAny.visit_seq(seq).map(|_| Scalar(Value::Null))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        de::IgnoredAny.visit_map(map).map(|_| Scalar(Value::Null))
    }
}

/// A text field; absent or not a string reads as empty.
fn text(entry: &Map<String, Value>, key: &str) -> String {
    entry.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A number field, sent as a JSON number or a decimal string; anything out of `T`'s
/// range or unreadable is `None`.
fn number<T: TryFrom<i128>>(entry: &Map<String, Value>, key: &str) -> Option<T> {
    let wide: i128 = match entry.get(key)? {
        Value::Number(n) => n.as_u64().map(i128::from).or_else(|| n.as_i64().map(i128::from))?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    T::try_from(wide).ok()
}

/// A boolean field, sent as `true`/`false`, `1`/`0` or their strings.
fn flag(entry: &Map<String, Value>, key: &str) -> Option<bool> {
    match entry.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A Steam id as JSON text, read back from text or a number.
#[cfg(feature = "serde")]
mod steam_id_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.collect_str(id),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Id {
            Number(u64),
            Text(String),
        }
        match Option::<Id>::deserialize(d)? {
            None => Ok(None),
            Some(Id::Number(n)) => Ok(Some(n)),
            Some(Id::Text(t)) => t.trim().parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}
