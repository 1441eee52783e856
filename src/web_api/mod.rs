//! Server lists from the Steam Web API (feature `web-api`): what current server browsers
//! are built on, now that Valve's UDP master no longer answers.
//!
//! - [`WebApi::server_list`] calls `IGameServersService/GetServerList/v1` with your Web
//!   API key, a [`Filter`] (the master server's syntax) and a limit. Each server comes
//!   with its query address and the summary Steam keeps of it ([`ServerSummary`]). Valve
//!   leaves this method out of its Steamworks documentation; its parameters (`key`,
//!   `filter`, `limit`, default 100) and fields are those of Valve's service definition
//!   as listed at <https://steamapi.xpaw.me/#IGameServersService/GetServerList>. Users
//!   report lists of 10 000 to 20 000 servers; larger games are split by region or map.
//! - [`WebApi::servers_at_address`] calls `ISteamApps/GetServersAtAddress/v1` (no key):
//!   the servers Steam knows at one IP, with their query and game ports. Valve announced
//!   it for troubleshooting only: calling it more often than about once every ten
//!   minutes, or to scrape the list, is abuse (Fletcher Dunn, "New WebAPI: Is my server
//!   listed on the master server?", hlds_announce, 9 August 2012).
//!
//! A key is free with a Steam account at <https://steamcommunity.com/dev/apikey>, under
//! the Steam Web API Terms of Use (<https://steamcommunity.com/dev/apiterms>: keep it
//! confidential; 100 000 calls a day). Valve's overview of keys and replies:
//! <https://partner.steamgames.com/doc/webapi_overview/auth> and
//! <https://partner.steamgames.com/doc/webapi_overview/responses> (64-bit numbers come
//! as strings). The key goes in the `x-webapi-key` header, which Valve's overview names
//! beside the `key` parameter, so that no URL carries it (URLs end up in logs, proxies
//! and error messages); it is marked sensitive there, and never put into an error
//! message or a `Debug` output of this module. One caution: ureq's `trace` log level
//! (the `ureq_proto` target) dumps every request's raw bytes, headers included; keep
//! trace logging off for ureq wherever keys matter.
//!
//! The replies' readers, [`parse_server_list`] and [`parse_servers_at_address`], do no
//! I/O: use them with another HTTP client (an async one, say).
//!
//! ```no_run
//! use std::time::Duration;
//! use a2s_query::{proto::{Condition::*, Filter}, web_api::WebApi, Batch};
//! let api = WebApi::from_env()?; // STEAM_API_KEY
//! let list = api.server_list(&Filter::from_iter([AppId(440), NotEmpty]), 500)?;
//! let mut batch = Batch::builder().timeout(Duration::from_secs(2)).build()?;
//! for (addr, info) in batch.info(list.servers.iter().map(|s| s.addr)) {
//!     match info {
//!         Ok(info) => println!("{addr} {}/{} {}", info.player_count(), info.max_players(), info.server_name()),
//!         Err(e) => println!("{addr} {e}"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod reply;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

pub use reply::{parse_server_list, parse_servers_at_address, Listing, ServerAtAddress, ServerSummary};

use crate::proto::Filter;

/// Where the Steam Web API answers.
pub(crate) const STEAM_API: &str = "https://api.steampowered.com";

/// The most servers `GetServerList` may return in one call, whatever the limit asked:
/// unconfirmed for the Web API (one user reports lists of 10 000 at most through Steam's
/// own client protocol, icewind1991/steam-vent#6, 2024; others report 10 000 to 20 000
/// from this method). A listing this long may be cut there: [`Listing::limit_reached`]
/// says so, to be safe.
pub(crate) const REPORTED_LIST_CAP: u32 = 10_000;

/// The environment variable [`WebApi::from_env`] reads the key from.
pub(crate) const KEY_VARIABLE: &str = "STEAM_API_KEY";

/// The largest reply body read (a 20 000-server list is about 8 MB).
const BODY_LIMIT: u64 = 64 << 20;
/// The most of an error reply's body read: only an excerpt of it is quoted.
const ERROR_BODY_LIMIT: u64 = 64 << 10;
/// The longest timeout a call takes (a longer one is this): the HTTP client's clock
/// cannot reach much past it.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// The header the key travels in.
const KEY_HEADER: &str = "x-webapi-key";

/// How much of an unexpected body an error quotes.
const EXCERPT: usize = 160;
/// Extra tries of a call met by a throttle (HTTP 429) or a server error (5xx).
const RETRIES: u32 = 2;
/// The wait before the first such retry when the reply names none (`Retry-After`),
/// doubled for each next one.
const BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait a retry is made after: a `Retry-After` past it is reported at once.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// What went wrong talking to the Web API. No variant carries the key. `{:?}` leads
/// with the same sentence as `{}`, then names the variant.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No key was given, or it was empty.
    #[error(
        "no Steam Web API key: pass one, or set {KEY_VARIABLE} (get one at https://steamcommunity.com/dev/apikey)"
    )]
    MissingKey,
    /// The API turned the key down (HTTP 401 or 403). A 400 is a [`Error::Status`]: its body says what the API disliked.
    #[error("the Steam Web API refused the key (HTTP {status}): check it at https://steamcommunity.com/dev/apikey")]
    BadKey {
        /// The HTTP status.
        status: u16,
    },
    /// Too many calls (HTTP 429), still after the retries (two, waiting what the API
    /// said, else 1 s then 2 s): a throttle, not a fault of the key. Steam throttles list
    /// requests (users report a few a minute refused): wait before the next.
    #[error(
        "the Steam Web API says too many requests (HTTP 429, asked {tries} time{}): it throttles list \
         requests; wait {} before asking again",
        if *.tries == 1 { "" } else { "s" },
        Wait(*.retry_after)
    )]
    RateLimited {
        /// How many times the call was made.
        tries: u32,
        /// The wait the API asked for (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// A server error (5xx) still after the retries: the API is overloaded or down (or
    /// throttling), not refusing the key. Try again later.
    #[error("the Steam Web API answered HTTP {status} {tries} times: it is overloaded or down; try again later")]
    Overloaded {
        /// The last HTTP status.
        status: u16,
        /// How many times the call was made.
        tries: u32,
    },
    /// Another HTTP error status.
    #[error("the Steam Web API answered HTTP {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body, control characters replaced.
        body: String,
    },
    /// The API said no (`success: false`), with its message.
    #[error("the Steam Web API refused: {0}")]
    Refused(String),
    /// The body was not the expected JSON.
    #[error("the Steam Web API's reply is malformed: {0}")]
    Malformed(String),
    /// The body was larger than the cap (64 MiB).
    #[error("the Steam Web API's reply is larger than {} MiB", BODY_LIMIT >> 20)]
    TooLarge,
    /// No reply within the timeout.
    #[error("no reply from the Steam Web API within {0:?}")]
    Timeout(Duration),
    /// The connection failed (name resolution, TCP, TLS, HTTP framing).
    #[error("cannot reach the Steam Web API: {0}")]
    Transport(String),
    /// A request that cannot be sent (a filter that cannot be written).
    #[error("{0}")]
    InvalidInput(String),
}

/// The sentence first (what `main` prints for an `Err`), then the variant to match on.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Error::MissingKey => "MissingKey",
            Error::BadKey { .. } => "BadKey",
            Error::RateLimited { .. } => "RateLimited",
            Error::Overloaded { .. } => "Overloaded",
            Error::Status { .. } => "Status",
            Error::Refused(_) => "Refused",
            Error::Malformed(_) => "Malformed",
            Error::TooLarge => "TooLarge",
            Error::Timeout(_) => "Timeout",
            Error::Transport(_) => "Transport",
            Error::InvalidInput(_) => "InvalidInput",
        };
        write!(f, "{self} (a2s_query::web_api::Error::{variant})")
    }
}

/// A Steam Web API client: the key, where to send requests and how long to wait.
///
/// `Debug` shows whether a key is set, never the key.
#[derive(Clone)]
pub struct WebApi {
    key: Option<String>,
    base: String,
    timeout: Duration,
    agent: ureq::Agent,
}

impl fmt::Debug for WebApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebApi")
            .field("key", &self.key.as_ref().map(|_| "<hidden>"))
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WebApi {
    /// A client with your Web API key, against `https://api.steampowered.com`, waiting up to 30 s.
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into().trim().to_owned();
        Self::with_key((!key.is_empty()).then_some(key))
    }

    /// A client with no key: enough for [`WebApi::servers_at_address`].
    pub fn without_key() -> Self {
        Self::with_key(None)
    }

    /// A client with the key in the `STEAM_API_KEY` environment variable.
    ///
    /// # Errors
    /// [`Error::MissingKey`] when it is unset or empty.
    pub fn from_env() -> Result<Self, Error> {
        let key = std::env::var(KEY_VARIABLE).unwrap_or_default();
        match Self::new(key) {
            api if api.key.is_some() => Ok(api),
            _ => Err(Error::MissingKey),
        }
    }

    fn with_key(key: Option<String>) -> Self {
        let timeout = Duration::from_secs(30);
        WebApi { key, base: STEAM_API.to_owned(), timeout, agent: agent(timeout, STEAM_API) }
    }

    /// Sends requests to `base` instead of `https://api.steampowered.com`: a proxy, or a fake in tests
    /// (such as [`crate::server::FakeWebApi`]). The key goes there too. A loopback
    /// address is reached directly, whatever proxy the environment names.
    pub fn base_url(mut self, base: impl Into<String>) -> Self {
        self.base = base.into().trim_end_matches('/').to_owned();
        self.agent = agent(self.timeout, &self.base);
        self
    }

    /// Bounds each call, from connecting to the last byte of the body, its retries
    /// included. Default 30 s; at most a day (a longer one is a day).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(LONGEST_TIMEOUT);
        self.agent = agent(self.timeout, &self.base);
        self
    }

    /// Up to `limit` servers matching `filter` (`GetServerList`; the API's own default
    /// limit is 100). A listing that holds as many servers as the limit, or as the API's
    /// possible cap (10 000), may not be all of them:
    /// [`Listing::limit_reached`] says so (narrow the filter, by region or map, or ask a
    /// higher limit). A throttle (HTTP 429) or a server error (5xx) is retried twice,
    /// after what `Retry-After` says or 1 s then 2 s, all within the timeout; a
    /// `Retry-After` over 30 s is reported at once, not waited.
    ///
    /// # Errors
    /// [`Error::MissingKey`] without a key, [`Error::BadKey`] when the API refuses it,
    /// [`Error::Malformed`] for a body that is not a server list, and the transport
    /// errors.
    pub fn server_list(&self, filter: &Filter, limit: u32) -> Result<Listing<ServerSummary>, Error> {
        let key = self.key.as_deref().ok_or(Error::MissingKey)?;
        let filter = filter.render().map_err(|e| self.scrubbed(Error::InvalidInput(e.to_string())))?;
        // In a header marked sensitive, not in the URL: the URL shows in logs (ureq's
        // debug log, a proxy's), in error messages, and in the server's own logs.
        let mut key = ureq::http::HeaderValue::from_str(key)
            .map_err(|_| Error::InvalidInput("the key holds characters a header cannot carry".into()))?;
        key.set_sensitive(true);
        let url = format!("{}/IGameServersService/GetServerList/v1/", self.base);
        let request = || {
            let limit = limit.to_string();
            self.agent.get(&url).header(KEY_HEADER, key.clone()).query("filter", &filter).query("limit", limit)
        };
        // Every error, whatever its kind, without the key (an endpoint may echo it).
        let body = self.call(request, true, true).map_err(|e| self.scrubbed(e))?;
        let mut listing = parse_server_list(&body).map_err(|e| self.scrubbed(e))?;
        let listed = listing.servers.len().saturating_add(listing.skipped);
        let cap = limit.min(REPORTED_LIST_CAP);
        listing.limit_reached = cap > 0 && listed >= usize::try_from(cap).unwrap_or(usize::MAX);
        Ok(listing)
    }

    /// The servers Steam knows at `ip`, with their query and game ports
    /// (`GetServersAtAddress`; no key needed). Valve asks that it be called at most about
    /// once every ten minutes, for troubleshooting (which port is the query port?), never
    /// to scrape the list.
    ///
    /// # Errors
    /// [`Error::Refused`] when the API rejects the address, and the transport errors.
    pub fn servers_at_address(&self, ip: IpAddr) -> Result<Listing<ServerAtAddress>, Error> {
        let url = format!("{}/ISteamApps/GetServersAtAddress/v1/", self.base);
        let request = || self.agent.get(&url).query("addr", ip.to_string());
        // (Never retried: Valve asks for one call in ten minutes at most.)
        let body = self.call(request, false, false)?;
        parse_servers_at_address(&body)
    }

    /// Sends one request and reads its body; statuses become errors. With `retry`, a
    /// throttle or a server error is retried (see [`WebApi::server_list`]), all within
    /// the timeout: each request has what is left of it, and no retry waits past it.
    fn call(
        &self,
        request: impl Fn() -> ureq::RequestBuilder<ureq::typestate::WithoutBody>,
        keyed: bool,
        retry: bool,
    ) -> Result<Vec<u8>, Error> {
        let started = std::time::Instant::now();
        let mut tries = 0;
        let (status, body, asked) = loop {
            tries += 1;
            let left = self.timeout.saturating_sub(started.elapsed());
            let request = request().config().timeout_global(Some(left)).build();
            let mut response = request.call().map_err(|e| self.transport(e))?;
            let status = response.status().as_u16();
            let asked = retry_after(&response);
            let wait = asked.unwrap_or(BACKOFF.saturating_mul(1 << (tries - 1)));
            let body = if status == 200 {
                response.body_mut().with_config().limit(BODY_LIMIT).read_to_vec()
            } else {
                // (An error's body is only quoted: a hostile or broken server's huge one is
                // not held.)
                let mut start = Vec::new();
                let mut reader = std::io::Read::take(response.body_mut().as_reader(), ERROR_BODY_LIMIT);
                std::io::Read::read_to_end(&mut reader, &mut start).map(|_| start).map_err(ureq::Error::Io)
            };
            let retryable = status == 429 || (500..=599).contains(&status);
            let in_time = started.elapsed().saturating_add(wait) < self.timeout;
            if retry && retryable && tries <= RETRIES && wait <= MAX_RETRY_WAIT && in_time {
                std::thread::sleep(wait);
                continue;
            }
            break (status, body, asked);
        };
        match status {
            200 => body.map_err(|e| self.transport(e)),
            401 | 403 if keyed => Err(Error::BadKey { status }),
            429 => Err(Error::RateLimited { tries, retry_after: asked }),
            500..=599 if tries > 1 => Err(Error::Overloaded { status, tries }),
            // Scrubbed whole, then cut: a cut first could leave part of the key.
            _ => {
                let body = self.scrub(String::from_utf8_lossy(&body.unwrap_or_default()).into_owned());
                Err(Error::Status { status, body: excerpt(body.as_bytes()) })
            }
        }
    }

    /// A transport error in words, with the key taken out (an error may quote the URL).
    fn transport(&self, e: ureq::Error) -> Error {
        match e {
            ureq::Error::Timeout(_) => Error::Timeout(self.timeout),
            ureq::Error::BodyExceedsLimit(_) => Error::TooLarge,
            e => Error::Transport(self.scrub(e.to_string())),
        }
    }

    /// An error with the key taken out of whatever text it quotes (a reply's body, a
    /// parser's message quoting it, a transport error quoting the request).
    fn scrubbed(&self, e: Error) -> Error {
        match e {
            Error::Status { status, body } => Error::Status { status, body: self.scrub(body) },
            Error::Refused(text) => Error::Refused(self.scrub(text)),
            Error::Malformed(text) => Error::Malformed(self.scrub(text)),
            Error::Transport(text) => Error::Transport(self.scrub(text)),
            Error::InvalidInput(text) => Error::InvalidInput(self.scrub(text)),
            other => other,
        }
    }

    fn scrub(&self, text: String) -> String {
        match &self.key {
            Some(key) if text.contains(key.as_str()) => text.replace(key.as_str(), "<key>"),
            _ => text,
        }
    }
}

/// A wait in words: the API's, or a minute.
struct Wait(Option<Duration>);

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(wait) => write!(f, "{} s (as it asked)", wait.as_secs()),
            None => write!(f, "a minute"),
        }
    }
}

/// The wait a reply asks for before the next request, in seconds (`Retry-After`; an
/// HTTP date is not read: the backoff stands in).
fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// An agent that reports statuses instead of failing on them and never follows a
/// redirect (which would carry the key to another host). It takes the environment's
/// proxy (`HTTPS_PROXY`, ...), except for a loopback `base`, which no proxy can reach.
fn agent(timeout: Duration, base: &str) -> ureq::Agent {
    let proxy = if is_loopback(base) { None } else { ureq::Proxy::try_from_env() };
    ureq::Agent::config_builder()
        .proxy(proxy)
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("a2s-query/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Whether the URL's host is `localhost` or a loopback address.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The start of a body as text, control characters replaced, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String =
        text.chars().take(EXCERPT).map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned();
    if text.chars().nth(EXCERPT).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_scrubbed_from_quoted_text() {
        let api = WebApi::new(" s3cret ");
        assert_eq!(api.scrub("GET /x?key=s3cret&filter=".into()), "GET /x?key=<key>&filter=");
        assert_eq!(WebApi::without_key().scrub("key=".into()), "key=");
        assert_eq!(excerpt(b"a\r\nb"), "a  b");
    }

    #[test]
    fn loopback_urls_are_told_apart() {
        for url in
            ["http://127.0.0.1:8080", "http://localhost/x", "http://[::1]:9/", "http://u:p@127.0.0.2", "127.0.0.1"]
        {
            assert!(is_loopback(url), "{url}");
        }
        for url in [STEAM_API, "http://10.0.0.1:80", "http://127.0.0.1.example.net/", "http://[2001:db8::1]/"] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
