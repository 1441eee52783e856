//! A2S_INFO replies: Source (`0x49`) and the obsolete GoldSrc (`0x6D`) layout.

use std::time::Duration;

use super::packet::{Message, SINGLE_HEADER};
use super::reader::Reader;
use super::writer::Writer;
use crate::encoding::{TextBuf, TextDecoder};
use crate::error::{Error, Result};

/// Reply type byte of a Source info reply (`'I'`).
pub(crate) const S2A_INFO: u8 = 0x49;
/// Reply type byte of an obsolete GoldSrc info reply (`'m'`).
pub(crate) const S2A_INFO_GOLDSRC: u8 = 0x6D;

/// App id of The Ship, whose info reply carries three extra bytes.
pub(crate) const THE_SHIP_APP_ID: u16 = 2400;

/// Extra Data Flag: game port follows.
pub(crate) const EDF_PORT: u8 = 0x80;
/// Extra Data Flag: server SteamID follows.
pub(crate) const EDF_STEAM_ID: u8 = 0x10;
/// Extra Data Flag: SourceTV port and name follow.
pub(crate) const EDF_SOURCE_TV: u8 = 0x40;
/// Extra Data Flag: keywords (`sv_tags`) follow.
pub(crate) const EDF_KEYWORDS: u8 = 0x20;
/// Extra Data Flag: 64-bit GameID follows.
pub(crate) const EDF_GAME_ID: u8 = 0x01;
const EDF_KNOWN: u8 = EDF_PORT | EDF_STEAM_ID | EDF_SOURCE_TV | EDF_KEYWORDS | EDF_GAME_ID;

/// Bytes of the spectator count and slots an HLTV proxy may append (two i32).
const HLTV_COUNTS_LEN: usize = 8;

/// The low 24 bits of a GameID are the full Steam app id.
const GAME_ID_APP_MASK: u64 = 0xFF_FFFF;

/// What kind of server answered. Unknown bytes are kept, never an error
/// (Rag Doll Kung Fu sends `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ServerType {
    /// `'d'`: a dedicated server.
    #[default]
    Dedicated,
    /// `'l'`: a listen (non-dedicated) server.
    NonDedicated,
    /// `'p'`: a SourceTV relay or HLTV proxy.
    SourceTv,
    /// Any other byte, as sent.
    Other(u8),
}

impl ServerType {
    /// Reads the type byte; GoldSrc's upper-case letters mean the same.
    pub(crate) fn from_byte(b: u8) -> Self {
        match b.to_ascii_lowercase() {
            b'd' => ServerType::Dedicated,
            b'l' => ServerType::NonDedicated,
            b'p' => ServerType::SourceTv,
            _ => ServerType::Other(b),
        }
    }

    /// The byte a GoldSrc `0x6D` reply carries: `'D'`, `'L'`, `'P'` (upper case, as real
    /// servers send; spec §3.2), or the unknown byte as it was.
    pub(crate) fn to_goldsrc_byte(self) -> u8 {
        match self {
            ServerType::Other(b) => b,
            known => u8::from(known).to_ascii_uppercase(),
        }
    }
}

/// The byte python-a2s reports: `b'd'`, `b'l'`, `b'p'`, or the unknown byte.
impl From<ServerType> for u8 {
    fn from(t: ServerType) -> u8 {
        match t {
            ServerType::Dedicated => b'd',
            ServerType::NonDedicated => b'l',
            ServerType::SourceTv => b'p',
            ServerType::Other(b) => b,
        }
    }
}

/// The letter python-a2s reports (`'d'`, `'l'`, `'p'`), as `u8::from` gives it.
impl From<ServerType> for char {
    fn from(t: ServerType) -> char {
        char::from(u8::from(t))
    }
}

/// `dedicated`, `listen`, `SourceTV relay`, or `type X` for another byte.
impl std::fmt::Display for ServerType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerType::Dedicated => f.write_str("dedicated"),
            ServerType::NonDedicated => f.write_str("listen"),
            ServerType::SourceTv => f.write_str("SourceTV relay"),
            ServerType::Other(b) => write!(f, "type {}", char::from(*b).escape_default()),
        }
    }
}

/// The server's operating system. Unknown bytes are kept, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Platform {
    /// `'l'`.
    #[default]
    Linux,
    /// `'w'`.
    Windows,
    /// `'m'`, or `'o'` from old Mac servers.
    Mac,
    /// Any other byte, as sent.
    Other(u8),
}

impl Platform {
    /// Reads the environment byte, in either case.
    pub(crate) fn from_byte(b: u8) -> Self {
        match b.to_ascii_lowercase() {
            b'l' => Platform::Linux,
            b'w' => Platform::Windows,
            b'm' | b'o' => Platform::Mac,
            _ => Platform::Other(b),
        }
    }

    /// The byte a GoldSrc `0x6D` reply carries: `'L'`, `'W'`, `'M'` (upper case, as real
    /// servers send; spec §3.2), or the unknown byte as it was.
    pub(crate) fn to_goldsrc_byte(self) -> u8 {
        match self {
            Platform::Other(b) => b,
            known => u8::from(known).to_ascii_uppercase(),
        }
    }
}

/// The byte python-a2s reports: `b'l'`, `b'w'`, `b'm'`, or the unknown byte.
impl From<Platform> for u8 {
    fn from(p: Platform) -> u8 {
        match p {
            Platform::Linux => b'l',
            Platform::Windows => b'w',
            Platform::Mac => b'm',
            Platform::Other(b) => b,
        }
    }
}

/// The letter python-a2s reports (`'l'`, `'w'`, `'m'`), as `u8::from` gives it.
impl From<Platform> for char {
    fn from(p: Platform) -> char {
        char::from(u8::from(p))
    }
}

/// `Linux`, `Windows`, `macOS`, or `OS X` for another byte.
impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Platform::Linux => f.write_str("Linux"),
            Platform::Windows => f.write_str("Windows"),
            Platform::Mac => f.write_str("macOS"),
            Platform::Other(b) => write!(f, "OS {}", char::from(*b).escape_default()),
        }
    }
}

/// The Ship's game settings, present in info replies of app 2400 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
pub struct TheShip {
    /// Game mode: 0 Hunt, 1 Elimination, 2 Duel, 3 Deathmatch, 4 VIP Team,
    /// 5 Team Elimination.
    pub mode: u8,
    /// Witnesses needed for an arrest.
    pub witnesses: u8,
    /// Seconds before a player is arrested while witnessed.
    pub duration: u8,
}

/// A Source-format info reply (`0x49`), sent by every current engine.
///
/// Field names follow python-a2s. `S` is the string type the decoder produced
/// (`String`, or `Vec<u8>` with [`Raw`](crate::Raw)).
///
/// ```
/// use a2s_query::proto::{Datagram, Info, SourceInfo};
/// use a2s_query::{Encoding, Raw};
///
/// // Rust puts the real player counts in its keywords; the GameID carries the full app id.
/// let mut reply = Vec::new();
/// let mut sent = SourceInfo::default();
/// sent.server_name = "rust main".into();
/// sent.keywords = Some("mp300,cp120".into());
/// sent.game_id = Some(252_490);
/// sent.encode(&mut reply)?;
/// let Datagram::Single(message) = Datagram::classify(&reply)? else { unreachable!() };
/// let Info::Source(info) = Info::parse(message, Encoding::Utf8)? else { unreachable!() };
/// assert_eq!(info.keywords.as_deref(), Some("mp300,cp120"));
/// assert_eq!(info.full_app_id(), 252_490);
/// // The same reply, strings as bytes.
/// assert_eq!(Info::parse(message, Raw)?.server_name(), b"rust main");
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// Equality and hashing cover what the server sent: every field but `ping`.
///
/// New fields may come (the struct is `#[non_exhaustive]`), so a value is built from
/// `default()` with the fields set. `Default` is for the `String` form, so it needs no
/// annotation; [`SourceInfo::empty`] gives any other:
///
/// ```
/// use a2s_query::SourceInfo;
/// let mut plain = SourceInfo::default();
/// plain.server_name = "x".into();
/// assert_eq!(plain.server_name, "x");
/// let mut raw = SourceInfo::empty();
/// raw.server_name = b"x".to_vec();
/// assert_eq!(raw.server_name, b"x");
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[non_exhaustive]
pub struct SourceInfo<S = String> {
    /// Network protocol version (17 for most current Source games).
    pub protocol: u8,
    /// Server name.
    pub server_name: S,
    /// Current map.
    pub map_name: S,
    /// Game directory (`cstrike`, `tf`, `csgo`, ...).
    pub folder: S,
    /// Game description.
    pub game: S,
    /// Steam app id as sent: truncated to 16 bits, and 0 for many non-Source games.
    /// [`SourceInfo::full_app_id`] recovers the real one from `game_id`.
    pub app_id: u16,
    /// Players on the server (a byte: large servers cap or wrap it).
    pub player_count: u8,
    /// Player slots.
    pub max_players: u8,
    /// Bots on the server.
    pub bot_count: u8,
    /// Dedicated, listen or SourceTV.
    pub server_type: ServerType,
    /// Operating system.
    pub platform: Platform,
    /// A password is needed to join.
    pub password_protected: bool,
    /// The server is VAC-secured.
    pub vac_enabled: bool,
    /// The Ship's settings (app 2400 only).
    #[cfg_attr(feature = "serde", serde(default))]
    pub the_ship: Option<TheShip>,
    /// Game version string.
    pub version: S,
    /// Extra Data Flag as sent (0 when the reply ends after `version`); says which of
    /// the optional fields below are present.
    pub edf: u8,
    /// Game port, when it differs from the query port (EDF `0x80`).
    pub port: Option<u16>,
    /// The server's SteamID (EDF `0x10`).
    pub steam_id: Option<u64>,
    /// SourceTV port (EDF `0x40`).
    pub stv_port: Option<u16>,
    /// SourceTV name (EDF `0x40`).
    pub stv_name: Option<S>,
    /// Tags (`sv_tags`), comma-separated (EDF `0x20`).
    pub keywords: Option<S>,
    /// 64-bit GameID; its low 24 bits are the full app id (EDF `0x01`).
    pub game_id: Option<u64>,
    /// Round trip of the request that got this reply; when that request went out twice
    /// (a retry), the same query's challenge round trip, else the server's last one
    /// known, else the time since the first copy (Karn's rule: either copy may be the one
    /// answered). Zero when parsed from bytes.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "super::serialize::seconds"))]
    pub ping: Duration,
}

impl<S> SourceInfo<S> {
    /// The full Steam app id: from `game_id` when present and non-zero (it holds ids
    /// that do not fit 16 bits, and the real id of games that send `app_id` 0),
    /// otherwise `app_id`.
    pub fn full_app_id(&self) -> u32 {
        match self.game_id.map(|g| (g & GAME_ID_APP_MASK) as u32) {
            Some(id) if id != 0 => id,
            _ => u32::from(self.app_id),
        }
    }

    /// Parses the body of a `0x49` message.
    ///
    /// Tolerant where real servers differ: the EDF byte and everything after `version`
    /// are optional, unknown EDF bits and trailing bytes are ignored, unknown server
    /// types and platforms are kept.
    ///
    /// # Errors
    /// [`Error::Truncated`] when a mandatory field is cut off; [`Error::InvalidText`]
    /// from a strict decoder.
    pub(crate) fn parse<D: TextDecoder<Text = S>>(body: &[u8], decoder: D) -> Result<Self> {
        let mut r = Reader::new(body, Message::BODY_OFFSET);
        let protocol = r.u8("protocol")?;
        let server_name = r.text(decoder, "server name")?;
        let map_name = r.text(decoder, "map name")?;
        let folder = r.text(decoder, "folder")?;
        let game = r.text(decoder, "game")?;
        let app_id = r.u16("app id")?;
        let player_count = r.u8("player count")?;
        let max_players = r.u8("max players")?;
        let bot_count = r.u8("bot count")?;
        let server_type = ServerType::from_byte(r.u8("server type")?);
        let platform = Platform::from_byte(r.u8("environment")?);
        let password_protected = r.bool("visibility")?;
        let vac_enabled = r.bool("vac")?;
        let the_ship = if app_id == THE_SHIP_APP_ID {
            Some(TheShip {
                mode: r.u8("ship mode")?,
                witnesses: r.u8("ship witnesses")?,
                duration: r.u8("ship duration")?,
            })
        } else {
            None
        };
        let version = r.text(decoder, "version")?;
        let edf = if r.is_empty() { 0 } else { r.u8("edf")? };
        let port = if edf & EDF_PORT != 0 { Some(r.u16("game port")?) } else { None };
        let steam_id = if edf & EDF_STEAM_ID != 0 { Some(r.u64("steam id")?) } else { None };
        let (stv_port, stv_name) = if edf & EDF_SOURCE_TV != 0 {
            (Some(r.u16("sourcetv port")?), Some(r.text(decoder, "sourcetv name")?))
        } else {
            (None, None)
        };
        let keywords = if edf & EDF_KEYWORDS != 0 { Some(r.text(decoder, "keywords")?) } else { None };
        let game_id = if edf & EDF_GAME_ID != 0 { Some(r.u64("game id")?) } else { None };
        Ok(SourceInfo {
            protocol,
            server_name,
            map_name,
            folder,
            game,
            app_id,
            player_count,
            max_players,
            bot_count,
            server_type,
            platform,
            password_protected,
            vac_enabled,
            the_ship,
            version,
            edf,
            port,
            steam_id,
            stv_port,
            stv_name,
            keywords,
            game_id,
            ping: Duration::ZERO,
        })
    }
}

impl<S: AsRef<[u8]>> SourceInfo<S> {
    /// Appends the whole reply datagram (`FF FF FF FF 49 ...`) to `out`.
    ///
    /// The EDF byte written is `edf`'s unknown bits plus the bits of the optional
    /// fields that are `Some`; it is left out when zero, as old servers do.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for a string with a NUL, The Ship's fields on another app
    /// (or missing on app 2400), or only one of `stv_port` / `stv_name`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.the_ship.is_some() != (self.app_id == THE_SHIP_APP_ID) {
            return Err(Error::Unencodable("the_ship must be present exactly when app_id is 2400"));
        }
        if self.stv_port.is_some() != self.stv_name.is_some() {
            return Err(Error::Unencodable("stv_port and stv_name go together"));
        }
        let flag = |present: bool, bit: u8| if present { bit } else { 0 };
        let edf = (self.edf & !EDF_KNOWN)
            | flag(self.port.is_some(), EDF_PORT)
            | flag(self.steam_id.is_some(), EDF_STEAM_ID)
            | flag(self.stv_port.is_some(), EDF_SOURCE_TV)
            | flag(self.keywords.is_some(), EDF_KEYWORDS)
            | flag(self.game_id.is_some(), EDF_GAME_ID);
        let mut w = Writer::new(out);
        w.bytes(&SINGLE_HEADER).u8(S2A_INFO).u8(self.protocol);
        w.cstr(&self.server_name)?.cstr(&self.map_name)?.cstr(&self.folder)?.cstr(&self.game)?;
        w.u16(self.app_id)
            .u8(self.player_count)
            .u8(self.max_players)
            .u8(self.bot_count)
            .u8(u8::from(self.server_type))
            .u8(u8::from(self.platform))
            .bool(self.password_protected)
            .bool(self.vac_enabled);
        if let Some(ship) = self.the_ship {
            w.u8(ship.mode).u8(ship.witnesses).u8(ship.duration);
        }
        w.cstr(&self.version)?;
        if edf == 0 {
            return Ok(());
        }
        w.u8(edf);
        if let Some(port) = self.port {
            w.u16(port);
        }
        if let Some(id) = self.steam_id {
            w.u64(id);
        }
        if let (Some(port), Some(name)) = (self.stv_port, &self.stv_name) {
            w.u16(port).cstr(name)?;
        }
        if let Some(k) = &self.keywords {
            w.cstr(k)?;
        }
        if let Some(id) = self.game_id {
            w.u64(id);
        }
        Ok(())
    }
}

/// An obsolete GoldSrc info reply (`0x6D`): pre-2008 HLDS, HLTV proxies, some
/// non-Steam servers.
///
/// Field names follow python-a2s. The `mod_*` fields are `Some` only when the server is
/// a mod and sent its mod block.
///
/// Equality and hashing cover what the server sent: every field but `ping`.
/// `Default` is for the `String` form; [`GoldSrcInfo::empty`] gives any other.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[non_exhaustive]
pub struct GoldSrcInfo<S = String> {
    /// `"IP:port"` the server reports for itself (often a local address).
    pub address: S,
    /// Server name.
    pub server_name: S,
    /// Current map.
    pub map_name: S,
    /// Game directory.
    pub folder: S,
    /// Game description.
    pub game: S,
    /// Players on the server.
    pub player_count: u8,
    /// Player slots.
    pub max_players: u8,
    /// Network protocol version (47 or 48).
    pub protocol: u8,
    /// Dedicated, listen or HLTV proxy.
    pub server_type: ServerType,
    /// Operating system.
    pub platform: Platform,
    /// A password is needed to join.
    pub password_protected: bool,
    /// The game is a Half-Life mod.
    pub is_mod: bool,
    /// Mod's website.
    pub mod_website: Option<S>,
    /// Mod's download address.
    pub mod_download: Option<S>,
    /// Mod version.
    pub mod_version: Option<u32>,
    /// Mod size in bytes.
    pub mod_size: Option<u32>,
    /// The mod is multiplayer-only.
    pub multiplayer_only: Option<bool>,
    /// The mod uses its own DLL rather than Half-Life's.
    pub uses_custom_dll: Option<bool>,
    /// The server is VAC-secured.
    pub vac_enabled: bool,
    /// Bots on the server; 0 when the server leaves the byte out (HLTV does).
    pub bot_count: u8,
    /// Round trip of the request that got this reply; when that request went out twice
    /// (a retry), the same query's challenge round trip, else the server's last one
    /// known, else the time since the first copy (Karn's rule: either copy may be the one
    /// answered). Zero when parsed from bytes.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "super::serialize::seconds"))]
    pub ping: Duration,
}

/// Equality and hashing over what the server sent: every field but `ping`, the round
/// trip of one request (two identical replies are equal). Every other field is named,
/// so a new one cannot be left out.
macro_rules! equal_but_ping {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl<S: PartialEq> PartialEq for $ty<S> {
            fn eq(&self, other: &Self) -> bool {
                let $ty { $($field,)* ping: _ } = self;
                $( *$field == other.$field )&&*
            }
        }
        impl<S: Eq> Eq for $ty<S> {}
        impl<S: std::hash::Hash> std::hash::Hash for $ty<S> {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                let $ty { $($field,)* ping: _ } = self;
                $( $field.hash(state); )*
            }
        }
    };
}

impl<S: Default> SourceInfo<S> {
    /// Every field zero, empty or absent, in any text type (`Default` gives the
    /// `String` form).
    pub fn empty() -> Self {
        SourceInfo {
            protocol: 0,
            server_name: S::default(),
            map_name: S::default(),
            folder: S::default(),
            game: S::default(),
            app_id: 0,
            player_count: 0,
            max_players: 0,
            bot_count: 0,
            server_type: ServerType::default(),
            platform: Platform::default(),
            password_protected: false,
            vac_enabled: false,
            the_ship: None,
            version: S::default(),
            edf: 0,
            port: None,
            steam_id: None,
            stv_port: None,
            stv_name: None,
            keywords: None,
            game_id: None,
            ping: Duration::ZERO,
        }
    }
}

/// Only for `String`, so that `default()` needs no annotation.
impl Default for SourceInfo {
    fn default() -> Self {
        SourceInfo::empty()
    }
}

impl<S: Default> GoldSrcInfo<S> {
    /// Every field zero, empty or absent, in any text type (`Default` gives the
    /// `String` form).
    pub fn empty() -> Self {
        GoldSrcInfo {
            address: S::default(),
            server_name: S::default(),
            map_name: S::default(),
            folder: S::default(),
            game: S::default(),
            player_count: 0,
            max_players: 0,
            protocol: 0,
            server_type: ServerType::default(),
            platform: Platform::default(),
            password_protected: false,
            is_mod: false,
            mod_website: None,
            mod_download: None,
            mod_version: None,
            mod_size: None,
            multiplayer_only: None,
            uses_custom_dll: None,
            vac_enabled: false,
            bot_count: 0,
            ping: Duration::ZERO,
        }
    }
}

/// Only for `String`, so that `default()` needs no annotation.
impl Default for GoldSrcInfo {
    fn default() -> Self {
        GoldSrcInfo::empty()
    }
}

equal_but_ping!(SourceInfo {
    protocol,
    server_name,
    map_name,
    folder,
    game,
    app_id,
    player_count,
    max_players,
    bot_count,
    server_type,
    platform,
    password_protected,
    vac_enabled,
    the_ship,
    version,
    edf,
    port,
    steam_id,
    stv_port,
    stv_name,
    keywords,
    game_id,
});

equal_but_ping!(GoldSrcInfo {
    address,
    server_name,
    map_name,
    folder,
    game,
    player_count,
    max_players,
    protocol,
    server_type,
    platform,
    password_protected,
    is_mod,
    mod_website,
    mod_download,
    mod_version,
    mod_size,
    multiplayer_only,
    uses_custom_dll,
    vac_enabled,
    bot_count,
});

impl<S> GoldSrcInfo<S> {
    /// Parses the body of a `0x6D` message.
    ///
    /// The mod block is read when the mod flag is set and the block is there; the
    /// trailing bots byte is optional; trailing bytes are ignored.
    ///
    /// # Errors
    /// [`Error::Truncated`] when a mandatory field is cut off; [`Error::InvalidText`]
    /// from a strict decoder.
    pub(crate) fn parse<D: TextDecoder<Text = S>>(body: &[u8], decoder: D) -> Result<Self> {
        let mut r = Reader::new(body, Message::BODY_OFFSET);
        let address = r.text(decoder, "address")?;
        let server_name = r.text(decoder, "server name")?;
        let map_name = r.text(decoder, "map name")?;
        let folder = r.text(decoder, "folder")?;
        let game = r.text(decoder, "game")?;
        let player_count = r.u8("player count")?;
        let max_players = r.u8("max players")?;
        let protocol = r.u8("protocol")?;
        let server_type = ServerType::from_byte(r.u8("server type")?);
        let platform = Platform::from_byte(r.u8("environment")?);
        let password_protected = r.bool("visibility")?;
        let is_mod = r.bool("mod flag")?;
        let mut info = GoldSrcInfo {
            address,
            server_name,
            map_name,
            folder,
            game,
            player_count,
            max_players,
            protocol,
            server_type,
            platform,
            password_protected,
            is_mod,
            mod_website: None,
            mod_download: None,
            mod_version: None,
            mod_size: None,
            multiplayer_only: None,
            uses_custom_dll: None,
            vac_enabled: false,
            bot_count: 0,
            ping: Duration::ZERO,
        };
        // Some servers set the mod flag but send no block: then only VAC (and maybe
        // bots) follow.
        if is_mod && r.remaining() > 2 {
            info.mod_website = Some(r.text(decoder, "mod website")?);
            info.mod_download = Some(r.text(decoder, "mod download")?);
            // Documented as a NUL byte; HLTV writes it as an (empty) string.
            r.cstr("mod reserved")?;
            info.mod_version = Some(r.u32("mod version")?);
            info.mod_size = Some(r.u32("mod size")?);
            info.multiplayer_only = Some(r.bool("mod type")?);
            info.uses_custom_dll = Some(r.bool("mod dll")?);
        }
        info.vac_enabled = r.bool("vac")?;
        // An HLTV proxy sends no bots byte, but may append its real spectator count and
        // slots (two i32) when either passes 255: those 8 bytes are not bots.
        let hltv_counts = info.server_type == ServerType::SourceTv && r.remaining() == HLTV_COUNTS_LEN;
        if !r.is_empty() && !hltv_counts {
            info.bot_count = r.u8("bot count")?;
        }
        Ok(info)
    }
}

impl<S: AsRef<[u8]>> GoldSrcInfo<S> {
    /// Appends the whole reply datagram (`FF FF FF FF 6D ...`) to `out`, bots byte
    /// included. The mod block is written when `is_mod` is set and every `mod_*` field
    /// is `Some`.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for a string with a NUL, or some but not all `mod_*`
    /// fields set.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let block = (
            &self.mod_website,
            &self.mod_download,
            self.mod_version,
            self.mod_size,
            self.multiplayer_only,
            self.uses_custom_dll,
        );
        let block = match block {
            (Some(web), Some(dl), Some(ver), Some(size), Some(mp), Some(dll)) => Some((web, dl, ver, size, mp, dll)),
            (None, None, None, None, None, None) => None,
            _ => return Err(Error::Unencodable("mod_* fields are all set or all unset")),
        };
        if block.is_some() && !self.is_mod {
            return Err(Error::Unencodable("mod_* fields set on a server that is not a mod"));
        }
        let mut w = Writer::new(out);
        w.bytes(&SINGLE_HEADER).u8(S2A_INFO_GOLDSRC);
        w.cstr(&self.address)?.cstr(&self.server_name)?.cstr(&self.map_name)?;
        w.cstr(&self.folder)?.cstr(&self.game)?;
        w.u8(self.player_count)
            .u8(self.max_players)
            .u8(self.protocol)
            .u8(self.server_type.to_goldsrc_byte())
            .u8(self.platform.to_goldsrc_byte())
            .bool(self.password_protected)
            .bool(self.is_mod);
        if let Some((web, dl, ver, size, mp, dll)) = block {
            w.cstr(web)?.cstr(dl)?.u8(0).u32(ver).u32(size).bool(mp).bool(dll);
        }
        w.bool(self.vac_enabled).u8(self.bot_count);
        Ok(())
    }
}

/// An info reply in whichever layout the server answered with.
///
/// The accessors cover what both layouts share (with python-a2s's field names), so
/// most callers never match.
///
/// ```
/// use std::time::Duration;
/// use a2s_query::{Encoding, Info};
/// # let mut local = a2s_query::SourceInfo::default();
/// # (local.server_name, local.map_name, local.app_id) = ("arena".into(), "cp_badlands".into(), 440);
/// # (local.player_count, local.max_players) = (5, 16);
/// # let server = a2s_query::server::Responder::new(Info::Source(local), vec![], vec![]).spawn("127.0.0.1:0")?;
/// # let addr = server.local_addr();
/// let info = a2s_query::info(addr, Duration::from_secs(3), Encoding::Utf8)?;
/// println!("{} on {}, {}/{}", info.server_name(), info.map_name(), info.player_count(), info.max_players());
/// assert_eq!((info.server_name(), info.player_count(), info.max_players()), ("arena", 5, 16));
/// match &info {
///     Info::Source(source) => assert_eq!(source.app_id, 440),
///     Info::GoldSrc(goldsrc) => println!("an old server at {}", goldsrc.address),
/// }
/// # Ok::<(), a2s_query::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(tag = "kind"))]
pub enum Info<S = String> {
    /// The Source layout (`0x49`).
    #[cfg_attr(feature = "serde", serde(rename = "source"))]
    Source(SourceInfo<S>),
    /// The obsolete GoldSrc layout (`0x6D`).
    #[cfg_attr(feature = "serde", serde(rename = "goldsrc"))]
    GoldSrc(GoldSrcInfo<S>),
}

impl<S> Info<S> {
    /// Parses an info message of either layout.
    ///
    /// Tolerant where real servers differ: in the Source layout the EDF byte and
    /// everything after `version` are optional and unknown EDF bits are ignored; in
    /// the GoldSrc layout the mod block is read when its flag is set and the block is
    /// there, and the trailing bots byte is optional; unknown server types and
    /// platforms are kept, trailing bytes ignored.
    ///
    /// # Errors
    /// [`Error::UnexpectedType`] for a message of another type; [`Error::Truncated`]
    /// when a mandatory field is cut off; [`Error::InvalidText`] from a strict decoder.
    pub fn parse<D: TextDecoder<Text = S>>(message: Message<'_>, decoder: D) -> Result<Self> {
        match message.kind {
            S2A_INFO => SourceInfo::parse(message.body, decoder).map(Info::Source),
            S2A_INFO_GOLDSRC => GoldSrcInfo::parse(message.body, decoder).map(Info::GoldSrc),
            got => Err(Error::UnexpectedType { expected: S2A_INFO, got }),
        }
    }
}

impl<S: TextBuf> Info<S> {
    /// Server name (python-a2s's `server_name`).
    pub fn server_name(&self) -> &S::Slice {
        match self {
            Info::Source(i) => whole(&i.server_name),
            Info::GoldSrc(i) => whole(&i.server_name),
        }
    }

    /// Current map (python-a2s's `map_name`).
    pub fn map_name(&self) -> &S::Slice {
        match self {
            Info::Source(i) => whole(&i.map_name),
            Info::GoldSrc(i) => whole(&i.map_name),
        }
    }

    /// Game directory.
    pub fn folder(&self) -> &S::Slice {
        match self {
            Info::Source(i) => whole(&i.folder),
            Info::GoldSrc(i) => whole(&i.folder),
        }
    }

    /// Game description.
    pub fn game(&self) -> &S::Slice {
        match self {
            Info::Source(i) => whole(&i.game),
            Info::GoldSrc(i) => whole(&i.game),
        }
    }
}

impl<S> Info<S> {
    /// Players on the server (the reply's `player_count`; the list itself is
    /// [`players`](crate::players)'s).
    pub fn player_count(&self) -> u8 {
        match self {
            Info::Source(i) => i.player_count,
            Info::GoldSrc(i) => i.player_count,
        }
    }

    /// Player slots.
    pub fn max_players(&self) -> u8 {
        match self {
            Info::Source(i) => i.max_players,
            Info::GoldSrc(i) => i.max_players,
        }
    }

    /// Bots on the server (the reply's `bot_count`).
    pub fn bot_count(&self) -> u8 {
        match self {
            Info::Source(i) => i.bot_count,
            Info::GoldSrc(i) => i.bot_count,
        }
    }

    /// Network protocol version.
    pub fn protocol(&self) -> u8 {
        match self {
            Info::Source(i) => i.protocol,
            Info::GoldSrc(i) => i.protocol,
        }
    }

    /// Dedicated, listen or relay.
    pub fn server_type(&self) -> ServerType {
        match self {
            Info::Source(i) => i.server_type,
            Info::GoldSrc(i) => i.server_type,
        }
    }

    /// Operating system.
    pub fn platform(&self) -> Platform {
        match self {
            Info::Source(i) => i.platform,
            Info::GoldSrc(i) => i.platform,
        }
    }

    /// A password is needed to join.
    pub fn password_protected(&self) -> bool {
        match self {
            Info::Source(i) => i.password_protected,
            Info::GoldSrc(i) => i.password_protected,
        }
    }

    /// The server is VAC-secured.
    pub fn vac_enabled(&self) -> bool {
        match self {
            Info::Source(i) => i.vac_enabled,
            Info::GoldSrc(i) => i.vac_enabled,
        }
    }

    /// Round trip of the request that got this reply (see [`SourceInfo::ping`]).
    pub fn ping(&self) -> Duration {
        match self {
            Info::Source(i) => i.ping,
            Info::GoldSrc(i) => i.ping,
        }
    }

    /// Sets the measured round trip.
    pub(crate) fn set_ping(&mut self, ping: Duration) {
        match self {
            Info::Source(i) => i.ping = ping,
            Info::GoldSrc(i) => i.ping = ping,
        }
    }
}

impl<S: TextBuf> Info<S> {
    /// Game version (Source layout only).
    pub fn version(&self) -> Option<&S::Slice> {
        match self {
            Info::Source(i) => Some(whole(&i.version)),
            Info::GoldSrc(_) => None,
        }
    }

    /// Tags (`sv_tags`), when the server sent them (Source layout only).
    pub fn keywords(&self) -> Option<&S::Slice> {
        match self {
            Info::Source(i) => i.keywords.as_ref().map(whole),
            Info::GoldSrc(_) => None,
        }
    }
}

impl<S> Info<S> {
    /// Steam app id of the game (Source layout only; see [`SourceInfo::full_app_id`]
    /// for ids past 65 535).
    pub fn app_id(&self) -> Option<u16> {
        self.as_source().map(|i| i.app_id)
    }

    /// The server's game port, when it sent it (Source layout only).
    pub fn port(&self) -> Option<u16> {
        self.as_source().and_then(|i| i.port)
    }

    /// The server's SteamID, when it sent it (Source layout only).
    pub fn steam_id(&self) -> Option<u64> {
        self.as_source().and_then(|i| i.steam_id)
    }

    /// The GameID (its low 24 bits are the full app id), when sent (Source layout only).
    pub fn game_id(&self) -> Option<u64> {
        self.as_source().and_then(|i| i.game_id)
    }

    /// The Source layout, if that is what the server sent.
    pub fn as_source(&self) -> Option<&SourceInfo<S>> {
        match self {
            Info::Source(i) => Some(i),
            Info::GoldSrc(_) => None,
        }
    }

    /// The GoldSrc layout, if that is what the server sent.
    pub fn as_goldsrc(&self) -> Option<&GoldSrcInfo<S>> {
        match self {
            Info::Source(_) => None,
            Info::GoldSrc(i) => Some(i),
        }
    }
}

/// All of a text value, as its borrowed form (`&str` for `String`, `&[u8]` for bytes).
fn whole<S: TextBuf>(s: &S) -> &S::Slice {
    s.slice(0..s.byte_len())
}

impl<S: AsRef<[u8]>> Info<S> {
    /// Appends the whole reply datagram in its own layout: `FF FF FF FF 49 ...` for a
    /// [`SourceInfo`], `FF FF FF FF 6D ...` for a [`GoldSrcInfo`]. A Source reply's EDF
    /// byte is `edf`'s unknown bits plus the bits of the optional fields that are
    /// `Some`, left out when zero as old servers do; a GoldSrc reply carries the bots
    /// byte, and its mod block when `is_mod` is set and every `mod_*` field is `Some`.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for a string with a NUL; for Source, The Ship's fields on
    /// another app (or missing on app 2400), or only one of `stv_port` / `stv_name`;
    /// for GoldSrc, some but not all `mod_*` fields set.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Info::Source(i) => i.encode(out),
            Info::GoldSrc(i) => i.encode(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two identical replies are equal, whatever their round trips: `ping` is not
    /// part of what the server sent. Any other field tells them apart.
    #[test]
    fn equality_and_hash_leave_out_the_ping() {
        use std::hash::BuildHasher;
        let hasher = std::hash::RandomState::new();
        let a = SourceInfo::<String> { server_name: "x".into(), ping: Duration::from_millis(10), ..Default::default() };
        let b = SourceInfo { ping: Duration::from_millis(90), ..a.clone() };
        assert_eq!(a, b);
        assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b));
        assert_ne!(a, SourceInfo { bot_count: 1, ..a.clone() });
        assert_ne!(a, SourceInfo { keywords: Some("k".into()), ..a.clone() });
        let g = GoldSrcInfo::<String> { ping: Duration::from_millis(5), ..Default::default() };
        assert_eq!(g, GoldSrcInfo { ping: Duration::ZERO, ..g.clone() });
        assert_ne!(g, GoldSrcInfo { uses_custom_dll: Some(true), ..g.clone() });
        assert_eq!(Info::Source(a.clone()), Info::Source(b));
    }
    use crate::{Encoding, Raw};

    fn sample() -> SourceInfo {
        SourceInfo {
            protocol: 17,
            server_name: "Test ünïcode".into(),
            map_name: "de_dust2".into(),
            folder: "csgo".into(),
            game: "Counter-Strike".into(),
            app_id: 730,
            player_count: 5,
            max_players: 10,
            bot_count: 1,
            server_type: ServerType::Dedicated,
            platform: Platform::Linux,
            password_protected: false,
            vac_enabled: true,
            the_ship: None,
            version: "1.0".into(),
            edf: 0,
            port: Some(27015),
            steam_id: Some(90_000_000_000_000_001),
            stv_port: Some(27020),
            stv_name: Some("tv".into()),
            keywords: Some("a,b".into()),
            game_id: Some(730),
            ping: Duration::ZERO,
        }
    }

    fn parse(bytes: &[u8]) -> Result<Info> {
        let m = Message::from_reassembled(bytes)?;
        Info::parse(m, Encoding::Utf8)
    }

    #[test]
    fn source_info_round_trips_with_every_edf_field() {
        let info = sample();
        let mut buf = Vec::new();
        info.encode(&mut buf).unwrap();
        let back = parse(&buf).unwrap();
        let mut want = info.clone();
        want.edf = EDF_KNOWN;
        assert_eq!(back, Info::Source(want));
    }

    #[test]
    fn edf_absent_means_zero_and_no_fields() {
        let mut info = sample();
        info.port = None;
        info.steam_id = None;
        info.stv_port = None;
        info.stv_name = None;
        info.keywords = None;
        info.game_id = None;
        let mut buf = Vec::new();
        info.encode(&mut buf).unwrap();
        assert_eq!(buf.last(), Some(&0), "ends with the version's NUL");
        assert_eq!(parse(&buf).unwrap(), Info::Source(info));
    }

    #[test]
    fn edf_field_cut_off_is_truncated() {
        let mut buf = Vec::new();
        sample().encode(&mut buf).unwrap();
        buf.truncate(buf.len() - 3);
        assert!(matches!(parse(&buf), Err(Error::Truncated { field: "game id", .. })));
    }

    #[test]
    fn full_app_id_prefers_game_id() {
        let mut i = sample();
        i.app_id = 0;
        i.game_id = Some(686_810);
        assert_eq!(i.full_app_id(), 686_810);
        i.game_id = Some(0x0123_0000_0000_0000);
        i.app_id = 440;
        assert_eq!(i.full_app_id(), 440, "GameID with zero app bits falls back");
        i.game_id = None;
        assert_eq!(i.full_app_id(), 440);
    }

    #[test]
    fn the_ship_fields_sit_before_version() {
        let mut i = sample();
        i.app_id = THE_SHIP_APP_ID;
        i.the_ship = Some(TheShip { mode: 1, witnesses: 3, duration: 5 });
        let mut buf = Vec::new();
        i.encode(&mut buf).unwrap();
        let mut want = i.clone();
        want.edf = EDF_KNOWN;
        assert_eq!(parse(&buf).unwrap(), Info::Source(want));
        i.the_ship = None;
        assert!(matches!(i.encode(&mut Vec::new()), Err(Error::Unencodable(_))));
    }

    #[test]
    fn odd_type_and_platform_bytes_are_kept() {
        assert_eq!(ServerType::from_byte(0), ServerType::Other(0));
        assert_eq!(ServerType::from_byte(b'P'), ServerType::SourceTv);
        assert_eq!(Platform::from_byte(b'o'), Platform::Mac);
        assert_eq!(Platform::from_byte(b'W'), Platform::Windows);
        assert_eq!(u8::from(Platform::from_byte(b'x')), b'x');
        assert_eq!(char::from(Platform::Windows), 'w');
        assert_eq!(char::from(ServerType::SourceTv), 'p');
    }

    fn goldsrc() -> GoldSrcInfo {
        GoldSrcInfo {
            address: "10.0.0.1:27015".into(),
            server_name: "hl".into(),
            map_name: "crossfire".into(),
            folder: "valve".into(),
            game: "Half-Life".into(),
            player_count: 3,
            max_players: 16,
            protocol: 47,
            server_type: ServerType::Dedicated,
            platform: Platform::Windows,
            password_protected: true,
            is_mod: true,
            mod_website: Some("www.example.com".into()),
            mod_download: Some("".into()),
            mod_version: Some(1),
            mod_size: Some(184_000_000),
            multiplayer_only: Some(false),
            uses_custom_dll: Some(true),
            vac_enabled: true,
            bot_count: 2,
            ping: Duration::ZERO,
        }
    }

    #[test]
    fn goldsrc_info_round_trips_with_and_without_mod_block() {
        let g = goldsrc();
        let mut buf = Vec::new();
        g.encode(&mut buf).unwrap();
        assert_eq!(parse(&buf).unwrap(), Info::GoldSrc(g.clone()));

        let plain = GoldSrcInfo {
            is_mod: false,
            mod_website: None,
            mod_download: None,
            mod_version: None,
            mod_size: None,
            multiplayer_only: None,
            uses_custom_dll: None,
            ..g
        };
        let mut buf = Vec::new();
        plain.encode(&mut buf).unwrap();
        assert_eq!(parse(&buf).unwrap(), Info::GoldSrc(plain));
    }

    #[test]
    fn goldsrc_bots_byte_is_optional() {
        let mut g = goldsrc();
        g.bot_count = 0;
        let mut buf = Vec::new();
        g.encode(&mut buf).unwrap();
        buf.pop();
        assert_eq!(parse(&buf).unwrap(), Info::GoldSrc(g));
    }

    #[test]
    fn hltv_spectator_counts_are_not_bots() {
        let proxy = GoldSrcInfo { server_type: ServerType::SourceTv, bot_count: 0, ..goldsrc() };
        let mut buf = Vec::new();
        proxy.encode(&mut buf).unwrap();
        buf.pop(); // HLTV writes no bots byte...
        buf.extend_from_slice(&300i32.to_le_bytes()); // ...but its real counts.
        buf.extend_from_slice(&512i32.to_le_bytes());
        assert_eq!(parse(&buf).unwrap(), Info::GoldSrc(proxy));
    }

    #[test]
    fn goldsrc_mod_flag_without_block() {
        // Mod flag set, then only VAC and bots: the block is absent.
        let mut buf = b"\xFF\xFF\xFF\xFFma\0b\0c\0d\0e\0\x01\x02\x2Fdw\x00\x01".to_vec();
        buf.extend_from_slice(&[1, 4]);
        match parse(&buf).unwrap() {
            Info::GoldSrc(g) => {
                assert!(g.is_mod);
                assert_eq!(g.mod_website, None);
                assert!(g.vac_enabled);
                assert_eq!(g.bot_count, 4);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_message_type_is_named() {
        let m = Message { kind: 0x45, body: &[] };
        assert!(matches!(Info::parse(m, Encoding::Utf8), Err(Error::UnexpectedType { expected: S2A_INFO, got: 0x45 })));
    }

    #[test]
    fn raw_decoder_keeps_bytes() {
        let mut i = sample();
        i.server_name = "x".into();
        let mut buf = Vec::new();
        i.encode(&mut buf).unwrap();
        // Put a byte that is not UTF-8 in the name.
        let at = buf.iter().position(|&b| b == b'x').unwrap();
        buf[at] = 0xE9;
        let m = Message::from_reassembled(&buf).unwrap();
        let raw = Info::parse(m, Raw).unwrap();
        assert_eq!(raw.server_name(), &vec![0xE9]);
        let lossy = Info::parse(m, Encoding::Utf8).unwrap();
        assert_eq!(lossy.server_name(), "\u{FFFD}");
        let latin = Info::parse(m, Encoding::Latin1).unwrap();
        assert_eq!(latin.server_name(), "é");
        assert!(matches!(
            Info::parse(m, Encoding::Utf8Strict),
            Err(Error::InvalidText { field: "server name", offset: 6 })
        ));
    }

    #[test]
    fn unicode_encodes_as_utf8() {
        let mut buf = Vec::new();
        sample().encode(&mut buf).unwrap();
        assert!(buf.windows(2).any(|w| w == "ü".as_bytes()));
    }
}
