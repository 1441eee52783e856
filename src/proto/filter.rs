//! The server-list filter both listers take (the UDP master protocol and the Steam Web
//! API's `GetServerList`): `\key\value` pairs, built with typed methods and rendered to
//! the exact string both endpoints read.

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

/// The deepest nesting of `nor` and `nand` groups [`Filter::parse`] reads.
const MAX_NESTING: usize = 16;

/// One condition: a pair, or a group of conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Pair(&'static str, String),
    /// `nor` (exclude servers matching any) or `nand` (matching all).
    Group(&'static str, Filter),
}

/// A server-list filter, built condition by condition and rendered with
/// [`Filter::render`]. Every key of the filter syntax has a method; [`Filter::raw`]
/// takes any other.
///
/// ```
/// use a2s_query::proto::Filter;
/// # fn main() -> a2s_query::Result<()> {
/// let tf2_with_players = Filter::new().app_id(440).not_empty().secure();
/// assert_eq!(tf2_with_players.render()?, r"\appid\440\empty\1\secure\1");
///
/// // No 2Fort, no password: `nor` counts the conditions it applies to.
/// let f = Filter::new().app_id(440).nor(Filter::new().map("ctf_2fort").password(true));
/// assert_eq!(f.render()?, r"\appid\440\nor\2\map\ctf_2fort\password\1");
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

    fn pair(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.conditions.push(Condition::Pair(key, value.into()));
        self
    }

    /// Dedicated servers only (`\dedicated\1`).
    pub fn dedicated(self) -> Self {
        self.pair("dedicated", "1")
    }

    /// Anti-cheat (VAC) servers only (`\secure\1`).
    pub fn secure(self) -> Self {
        self.pair("secure", "1")
    }

    /// Servers running this game directory (`\gamedir\cstrike`).
    pub fn gamedir(self, dir: &str) -> Self {
        self.pair("gamedir", dir)
    }

    /// Servers on this map (`\map\de_dust2`).
    pub fn map(self, map: &str) -> Self {
        self.pair("map", map)
    }

    /// Linux servers only (`\linux\1`).
    pub fn linux(self) -> Self {
        self.pair("linux", "1")
    }

    /// Servers with (`true`) or without (`false`) a password (`\password\1` / `\password\0`).
    pub fn password(self, protected: bool) -> Self {
        self.pair("password", if protected { "1" } else { "0" })
    }

    /// Servers that are not empty (`\empty\1`).
    pub fn not_empty(self) -> Self {
        self.pair("empty", "1")
    }

    /// Servers that are not full (`\full\1`).
    pub fn not_full(self) -> Self {
        self.pair("full", "1")
    }

    /// Spectator proxies only (`\proxy\1`).
    pub fn proxy(self) -> Self {
        self.pair("proxy", "1")
    }

    /// Servers running this app id (`\appid\440`).
    pub fn app_id(self, app: u32) -> Self {
        self.pair("appid", app.to_string())
    }

    /// Servers not running this app id (`\napp\500`).
    pub fn not_app_id(self, app: u32) -> Self {
        self.pair("napp", app.to_string())
    }

    /// Empty servers only (`\noplayers\1`).
    pub fn no_players(self) -> Self {
        self.pair("noplayers", "1")
    }

    /// Whitelisted servers only (`\white\1`).
    pub fn white(self) -> Self {
        self.pair("white", "1")
    }

    /// Servers with all these tags in `sv_tags` (`\gametype\a,b`).
    pub fn gametype<'a>(self, tags: impl IntoIterator<Item = &'a str>) -> Self {
        self.pair("gametype", tags.into_iter().collect::<Vec<_>>().join(","))
    }

    /// Servers with all these hidden tags (`\gamedata\a,b`, Left 4 Dead 2).
    pub fn gamedata<'a>(self, tags: impl IntoIterator<Item = &'a str>) -> Self {
        self.pair("gamedata", tags.into_iter().collect::<Vec<_>>().join(","))
    }

    /// Servers with any of these hidden tags (`\gamedataor\a,b`, Left 4 Dead 2).
    pub fn gamedataor<'a>(self, tags: impl IntoIterator<Item = &'a str>) -> Self {
        self.pair("gamedataor", tags.into_iter().collect::<Vec<_>>().join(","))
    }

    /// Servers whose name matches (`*` is a wildcard: `\name_match\*surf*`).
    pub fn name_match(self, pattern: &str) -> Self {
        self.pair("name_match", pattern)
    }

    /// Servers whose version matches (`*` is a wildcard: `\version_match\1.0.*`).
    pub fn version_match(self, pattern: &str) -> Self {
        self.pair("version_match", pattern)
    }

    /// One server per IP address (`\collapse_addr_hash\1`).
    pub fn collapse_addr_hash(self) -> Self {
        self.pair("collapse_addr_hash", "1")
    }

    /// Servers on this IP (optionally `IP:port`) only (`\gameaddr\203.0.113.7`).
    pub fn gameaddr(self, addr: &str) -> Self {
        self.pair("gameaddr", addr)
    }

    /// Excludes servers matching **any** of `conditions` (`\nor\N\...`, N their count).
    pub fn nor(mut self, conditions: Filter) -> Self {
        self.conditions.push(Condition::Group("nor", conditions));
        self
    }

    /// Excludes servers matching **all** of `conditions` (`\nand\N\...`).
    pub fn nand(mut self, conditions: Filter) -> Self {
        self.conditions.push(Condition::Group("nand", conditions));
        self
    }

    /// A key this builder has no method for, as given (`key` without backslashes).
    pub fn raw(mut self, key: &str, value: &str) -> Self {
        // Kept as `key\value` under an empty key; render checks it holds one backslash.
        self.conditions.push(Condition::Pair("", format!("{key}\\{value}")));
        self
    }

    /// Reads a filter string as both listers take it, `\key\value` pairs with `nor`
    /// and `nand` groups counted: what a user types on a command line. Rendering it
    /// gives the same string back.
    ///
    /// ```
    /// use a2s_query::proto::Filter;
    /// let f = Filter::parse(r"\appid\440\nor\2\map\ctf_2fort\password\1\empty\1")?;
    /// assert_eq!(f.len(), 3);
    /// assert_eq!(f, Filter::new().raw("appid", "440")
    ///     .nor(Filter::new().raw("map", "ctf_2fort").raw("password", "1")).raw("empty", "1"));
    /// # Ok::<(), a2s_query::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for text not starting with a backslash, a key without a
    /// value, or a `nor`/`nand` whose count is not a number or runs past the end.
    pub fn parse(text: &str) -> Result<Filter> {
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
        Self::parse_conditions(&mut pairs, usize::MAX, 0)
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
        while filter.len() < count {
            let Some((key, value)) = pairs.next() else {
                return if count == usize::MAX {
                    Ok(filter)
                } else {
                    Err(Error::InvalidInput("a nor or nand counts more conditions than follow it"))
                };
            };
            filter = match key {
                "nor" | "nand" => {
                    let n: usize = value
                        .parse()
                        .map_err(|_| Error::InvalidInput("a nor or nand takes the number of conditions it holds"))?;
                    let inner = Self::parse_conditions(pairs, n, depth + 1)?;
                    if key == "nor" {
                        filter.nor(inner)
                    } else {
                        filter.nand(inner)
                    }
                }
                _ => filter.raw(key, value),
            };
        }
        Ok(filter)
    }

    /// How many conditions it holds (a group counts as one): the `N` of a `nor` or
    /// `nand` around it.
    pub fn len(&self) -> usize {
        self.conditions.len()
    }

    /// Whether it holds no condition.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// The filter string: `\key\value` pairs in the order built, a group as
    /// `\nor\N` followed by its conditions. Empty for no condition.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for a value holding a backslash (it would start another
    /// pair) or a NUL (it would end the string).
    pub fn render(&self) -> Result<String> {
        let mut out = String::new();
        self.render_into(&mut out)?;
        Ok(out)
    }

    fn render_into(&self, out: &mut String) -> Result<()> {
        for condition in &self.conditions {
            match condition {
                Condition::Pair("", raw) => {
                    if raw.contains('\0') || raw.matches('\\').count() != 1 {
                        return Err(Error::Unencodable("a raw filter key or value holding a backslash or NUL"));
                    }
                    let _ = write!(out, "\\{raw}");
                }
                Condition::Pair(key, value) => {
                    if value.contains(['\\', '\0']) {
                        return Err(Error::Unencodable("a filter value holding a backslash or NUL"));
                    }
                    let _ = write!(out, "\\{key}\\{value}");
                }
                Condition::Group(kind, inner) => {
                    let _ = write!(out, "\\{kind}\\{}", inner.len());
                    inner.render_into(out)?;
                }
            }
        }
        Ok(())
    }
}
