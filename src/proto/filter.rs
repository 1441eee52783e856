//! The server-list filter both listers take (the UDP master protocol and the Steam Web
//! API's `GetServerList`): `\key\value` pairs, built from typed conditions and rendered
//! to the exact string both endpoints read.

use std::fmt::Write;

use crate::error::{Error, Result};

/// A master server region (the UDP master protocol's region byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Region {
    /// `0x00`.
    UsEast,
    /// `0x01`.
    UsWest,
    /// `0x02`.
    SouthAmerica,
    /// `0x03`.
    Europe,
    /// `0x04`.
    Asia,
    /// `0x05`.
    Australia,
    /// `0x06`.
    MiddleEast,
    /// `0x07`.
    Africa,
    /// `0xFF`: every region (the default).
    #[default]
    World,
    /// Any other byte, as given.
    Other(u8),
}

impl Region {
    /// The region byte.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Region::UsEast => 0x00,
            Region::UsWest => 0x01,
            Region::SouthAmerica => 0x02,
            Region::Europe => 0x03,
            Region::Asia => 0x04,
            Region::Australia => 0x05,
            Region::MiddleEast => 0x06,
            Region::Africa => 0x07,
            Region::World => 0xFF,
            Region::Other(b) => b,
        }
    }
}

/// Its name as [`FromStr`](std::str::FromStr) reads it (`us-east`, `europe`, `world`,
/// ...), or the byte given.
impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Region::UsEast => "us-east",
            Region::UsWest => "us-west",
            Region::SouthAmerica => "south-america",
            Region::Europe => "europe",
            Region::Asia => "asia",
            Region::Australia => "australia",
            Region::MiddleEast => "middle-east",
            Region::Africa => "africa",
            Region::World => "world",
            Region::Other(b) => return write!(f, "{b}"),
        })
    }
}

impl std::str::FromStr for Region {
    type Err = Error;

    /// A region by name (`us-east`, `us-west`, `south-america`, `europe`, `asia`,
    /// `australia`, `middle-east`, `africa`, `world`; `_` or `-`, any case) or byte.
    fn from_str(s: &str) -> Result<Region> {
        let name = s.trim().to_ascii_lowercase().replace('_', "-");
        Ok(match name.as_str() {
            "us-east" => Region::UsEast,
            "us-west" => Region::UsWest,
            "south-america" => Region::SouthAmerica,
            "europe" => Region::Europe,
            "asia" => Region::Asia,
            "australia" => Region::Australia,
            "middle-east" => Region::MiddleEast,
            "africa" => Region::Africa,
            "world" | "all" => Region::World,
            n => match n.parse::<u8>() {
                Ok(byte) => Region::from_byte(byte),
                Err(_) => {
                    return Err(Error::InvalidInput(
                        "unknown region: us-east, us-west, south-america, europe, asia, australia, \
                         middle-east, africa, world, or a number 0-255",
                    ))
                }
            },
        })
    }
}

impl Region {
    /// The region of a byte: a named one, or [`Region::Other`].
    pub(crate) fn from_byte(byte: u8) -> Region {
        match byte {
            0x00 => Region::UsEast,
            0x01 => Region::UsWest,
            0x02 => Region::SouthAmerica,
            0x03 => Region::Europe,
            0x04 => Region::Asia,
            0x05 => Region::Australia,
            0x06 => Region::MiddleEast,
            0x07 => Region::Africa,
            0xFF => Region::World,
            b => Region::Other(b),
        }
    }
}

/// The deepest nesting of `nor` and `nand` groups a filter's text may have.
const MAX_NESTING: usize = 16;

/// One condition of a [`Filter`]: a key of the filter syntax (written beside each), or
/// a group of conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// Dedicated servers only (`\dedicated\1`).
    Dedicated,
    /// Anti-cheat (VAC) servers only (`\secure\1`).
    Secure,
    /// Servers running this game directory (`\gamedir\cstrike`).
    GameDir(String),
    /// Servers on this map (`\map\de_dust2`).
    Map(String),
    /// Linux servers only (`\linux\1`).
    Linux,
    /// Servers with (`true`) or without (`false`) a password (`\password\1` /
    /// `\password\0`).
    Password(bool),
    /// Servers that are not empty (`\empty\1`).
    NotEmpty,
    /// Servers that are not full (`\full\1`).
    NotFull,
    /// Spectator proxies only (`\proxy\1`).
    Proxy,
    /// Servers running this app id (`\appid\440`).
    AppId(u32),
    /// Servers not running this app id (`\napp\500`).
    NotAppId(u32),
    /// Empty servers only (`\noplayers\1`).
    NoPlayers,
    /// Whitelisted servers only (`\white\1`).
    White,
    /// Servers with all these tags in `sv_tags` (`\gametype\a,b`).
    GameType(Vec<String>),
    /// Servers with all these hidden tags (`\gamedata\a,b`, Left 4 Dead 2).
    GameData(Vec<String>),
    /// Servers with any of these hidden tags (`\gamedataor\a,b`, Left 4 Dead 2).
    GameDataOr(Vec<String>),
    /// Servers whose name matches (`*` is a wildcard: `\name_match\*surf*`).
    NameMatch(String),
    /// Servers whose version matches (`*` is a wildcard: `\version_match\1.0.*`).
    VersionMatch(String),
    /// One server per IP address (`\collapse_addr_hash\1`).
    CollapseAddrHash,
    /// Servers on this IP (optionally `IP:port`) only (`\gameaddr\203.0.113.7`).
    GameAddr(String),
    /// Excludes servers matching **any** of these conditions (`\nor\N\...`, N their
    /// count).
    Nor(Filter),
    /// Excludes servers matching **all** of these conditions (`\nand\N\...`).
    Nand(Filter),
    /// A key with no variant of its own, and its value, as given (no backslashes):
    /// `Raw("region".into(), "3".into())` is `\region\3`.
    Raw(String, String),
}

impl Condition {
    /// Its key and value as written, or the group's kind and what it holds.
    fn pair(&self) -> std::result::Result<(&str, std::borrow::Cow<'_, str>), (&'static str, &Filter)> {
        use std::borrow::Cow::{Borrowed, Owned};
        let flag = |key| Ok((key, Borrowed("1")));
        match self {
            Condition::Dedicated => flag("dedicated"),
            Condition::Secure => flag("secure"),
            Condition::GameDir(dir) => Ok(("gamedir", Borrowed(dir))),
            Condition::Map(map) => Ok(("map", Borrowed(map))),
            Condition::Linux => flag("linux"),
            Condition::Password(on) => Ok(("password", Borrowed(if *on { "1" } else { "0" }))),
            Condition::NotEmpty => flag("empty"),
            Condition::NotFull => flag("full"),
            Condition::Proxy => flag("proxy"),
            Condition::AppId(app) => Ok(("appid", Owned(app.to_string()))),
            Condition::NotAppId(app) => Ok(("napp", Owned(app.to_string()))),
            Condition::NoPlayers => flag("noplayers"),
            Condition::White => flag("white"),
            Condition::GameType(tags) => Ok(("gametype", Owned(tags.join(",")))),
            Condition::GameData(tags) => Ok(("gamedata", Owned(tags.join(",")))),
            Condition::GameDataOr(tags) => Ok(("gamedataor", Owned(tags.join(",")))),
            Condition::NameMatch(pattern) => Ok(("name_match", Borrowed(pattern))),
            Condition::VersionMatch(pattern) => Ok(("version_match", Borrowed(pattern))),
            Condition::CollapseAddrHash => flag("collapse_addr_hash"),
            Condition::GameAddr(addr) => Ok(("gameaddr", Borrowed(addr))),
            Condition::Nor(inner) => Err(("nor", inner)),
            Condition::Nand(inner) => Err(("nand", inner)),
            Condition::Raw(key, value) => Ok((key, Borrowed(value))),
        }
    }
}

/// A server-list filter: conditions in the order given, rendered with
/// [`Filter::render`]. Every key of the filter syntax is a [`Condition`];
/// [`Condition::Raw`] takes any other. Text as both listers take it (what a user types
/// on a command line) is read with [`str::parse`].
///
/// ```
/// use a2s_query::proto::{Condition::*, Filter};
/// # fn main() -> a2s_query::Result<()> {
/// let tf2_with_players = Filter::new().and(AppId(440)).and(NotEmpty).and(Secure);
/// assert_eq!(tf2_with_players.render()?, r"\appid\440\empty\1\secure\1");
///
/// // No 2Fort, no password: `nor` counts the conditions it applies to.
/// let f = Filter::new().and(AppId(440)).and(Nor(Filter::from_iter([Map("ctf_2fort".into()), Password(true)])));
/// assert_eq!(f.render()?, r"\appid\440\nor\2\map\ctf_2fort\password\1");
///
/// // The same, read from text: keys as given, groups counted.
/// let read: Filter = r"\appid\440\nor\2\map\ctf_2fort\password\1".parse()?;
/// assert_eq!(read.render()?, f.render()?);
/// assert_eq!(read.conditions().len(), 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    conditions: Vec<Condition>,
}

impl Filter {
    /// No condition: every server.
    pub fn new() -> Self {
        Filter::default()
    }

    /// This filter and `condition` too.
    pub fn and(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// Its conditions, in order (a group counts as one: the `N` of a `nor` or `nand`
    /// around it is their number).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Up to `count` conditions from `pairs` (a group and what it holds count as one).
    fn parse_conditions<'a>(
        pairs: &mut impl Iterator<Item = (&'a str, &'a str)>,
        count: usize,
        depth: usize,
    ) -> Result<Filter> {
        if depth > MAX_NESTING {
            return Err(Error::InvalidInput("a filter nests nor and nand more than 16 deep"));
        }
        let mut filter = Filter::new();
        while filter.conditions.len() < count {
            let Some((key, value)) = pairs.next() else {
                return if count == usize::MAX {
                    Ok(filter)
                } else {
                    Err(Error::InvalidInput("a nor or nand counts more conditions than follow it"))
                };
            };
            filter = filter.and(match key {
                "nor" | "nand" => {
                    let n: usize = value
                        .parse()
                        .map_err(|_| Error::InvalidInput("a nor or nand takes the number of conditions it holds"))?;
                    let inner = Self::parse_conditions(pairs, n, depth + 1)?;
                    if key == "nor" {
                        Condition::Nor(inner)
                    } else {
                        Condition::Nand(inner)
                    }
                }
                _ => Condition::Raw(key.to_string(), value.to_string()),
            });
        }
        Ok(filter)
    }

    /// The filter string: `\key\value` pairs in the order given, a group as `\nor\N`
    /// followed by its conditions. Empty for no condition.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for a key or value holding a backslash (it would start
    /// another pair) or a NUL (it would end the string).
    pub fn render(&self) -> Result<String> {
        let mut out = String::new();
        self.render_into(&mut out)?;
        Ok(out)
    }

    fn render_into(&self, out: &mut String) -> Result<()> {
        for condition in &self.conditions {
            match condition.pair() {
                Ok((key, value)) => {
                    if key.contains(['\\', '\0']) || value.contains(['\\', '\0']) {
                        return Err(Error::Unencodable("a filter key or value holding a backslash or NUL"));
                    }
                    let _ = write!(out, "\\{key}\\{value}");
                }
                Err((kind, inner)) => {
                    let _ = write!(out, "\\{kind}\\{}", inner.conditions.len());
                    inner.render_into(out)?;
                }
            }
        }
        Ok(())
    }
}

/// Reads a filter string as both listers take it, `\key\value` pairs with `nor` and
/// `nand` groups counted: each key as [`Condition::Raw`], each group as
/// [`Condition::Nor`] or [`Condition::Nand`]. Rendering it gives the same string
/// back.
///
/// # Errors
/// [`Error::InvalidInput`] for text not starting with a backslash, a key without a
/// value, or a `nor`/`nand` whose count is not a number or runs past the end.
impl std::str::FromStr for Filter {
    type Err = Error;

    fn from_str(text: &str) -> Result<Filter> {
        let Some(rest) = text.strip_prefix('\\') else {
            return if text.is_empty() {
                Ok(Filter::new())
            } else {
                Err(Error::InvalidInput("a filter starts with a backslash: \\key\\value..."))
            };
        };
        let parts: Vec<&str> = rest.split('\\').collect();
        if parts.len() % 2 != 0 || text.contains('\0') {
            return Err(Error::InvalidInput("a filter is \\key\\value pairs: a key has no value"));
        }
        let mut pairs =
            parts.chunks_exact(2).map(|p| (p.first().copied().unwrap_or(""), p.get(1).copied().unwrap_or("")));
        Filter::parse_conditions(&mut pairs, usize::MAX, 0)
    }
}

/// A filter of these conditions, in order.
impl FromIterator<Condition> for Filter {
    fn from_iter<I: IntoIterator<Item = Condition>>(conditions: I) -> Self {
        Filter { conditions: conditions.into_iter().collect() }
    }
}

/// A filter of this one condition.
impl From<Condition> for Filter {
    fn from(condition: Condition) -> Self {
        Filter { conditions: vec![condition] }
    }
}
