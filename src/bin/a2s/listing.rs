//! `a2s list` and `a2s ports`: server lists from the Steam Web API or a community master
//! server, and the servers Steam knows at one IP address. Text output is one address a
//! line, flushed as it comes, so `a2s list ... | a2s info -f -` queries what is listed.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use a2s_query::master::MasterQuery;
use a2s_query::proto::{Filter, Region};
use a2s_query::web_api::{self, WebApi};
use serde_json::{Map, Value};

use crate::output::{stopped, Out, Stop};
use crate::progress::warn;
use crate::show::{clean, fit};

/// Where a key comes from when `--key` is not given.
pub const KEY_VAR: &str = "STEAM_API_KEY";

/// The Web API's own default page size, used when no `--limit` is given.
const WEB_API_DEFAULT_LIMIT: u32 = 100;

/// What `a2s list` was asked.
pub struct ListArgs<'a> {
    pub master: Option<&'a str>,
    pub key: Option<&'a str>,
    pub api_url: Option<&'a str>,
    pub filter: Filter,
    pub region: Option<Region>,
    pub limit: Option<u32>,
    pub timeout: Option<Duration>,
    pub retries: Option<u8>,
    pub pace: Option<Duration>,
    pub json: bool,
}

/// Lists servers; the exit status.
pub fn list(args: &ListArgs<'_>, out: &mut Out) -> u8 {
    let status = match args.master {
        Some(master) => from_master(master, args, out),
        None => from_web_api(args, out),
    };
    status.unwrap_or_else(|stop| stopped(stop, 0))
}

fn from_web_api(args: &ListArgs<'_>, out: &mut Out) -> Result<u8, Stop> {
    let api = match args.key.filter(|key| !key.trim().is_empty()) {
        Some(key) => WebApi::new(key),
        None => WebApi::from_env().map_err(|_| {
            warn(&format!(
                "a2s: list needs a Steam Web API key: --key KEY or the {KEY_VAR} environment variable \
                 (get one at https://steamcommunity.com/dev/apikey), or --master HOST:PORT for a \
                 master server"
            ));
            Stop::Failed(2)
        })?,
    };
    let api = configure(api, args.api_url, args.timeout);
    let listing = api.server_list(&args.filter, args.limit.unwrap_or(WEB_API_DEFAULT_LIMIT)).map_err(|e| {
        warn(&format!("a2s: {e}"));
        Stop::Failed(1)
    })?;
    for server in &listing.servers {
        if args.json {
            out.json(server, false)?;
        } else {
            out.line(&server.addr.to_string())?;
        }
    }
    if listing.limit_reached {
        let limit = args.limit.unwrap_or(WEB_API_DEFAULT_LIMIT);
        let listed = listing.servers.len() + listing.skipped;
        warn(&if listed as u64 >= u64::from(limit) {
            format!(
                "a2s: the list holds as many servers as its limit ({limit}): there may be more; \
                 narrow --filter (a map, a region, \\empty\\1) or raise --limit"
            )
        } else {
            format!(
                "a2s: the list holds {listed} servers, what the Web API may give at most in one call: \
                 there may be more; narrow --filter (a map, a region, \\empty\\1) and list each part"
            )
        });
    }
    Ok(skipped(listing.skipped))
}

fn from_master(master: &str, args: &ListArgs<'_>, out: &mut Out) -> Result<u8, Stop> {
    let mut query = MasterQuery::new(master).map_err(|e| failed(master, &e))?.filter(args.filter.clone());
    if let Some(region) = args.region {
        query = query.region(region);
    }
    if let Some(timeout) = args.timeout {
        query = query.timeout(timeout);
    }
    if let Some(retries) = args.retries {
        query = query.retries(retries);
    }
    if let Some(pace) = args.pace {
        query = query.pace(pace);
    }
    let walk = query.walk().map_err(|e| failed(master, &e))?;
    let limit = args.limit.map_or(usize::MAX, |n| n as usize);
    let mut listed = 0;
    for item in walk.take(limit) {
        let addr = item.map_err(|e| failed(master, &e))?;
        listed += 1;
        if args.json {
            let mut doc = Map::new();
            doc.insert("address".into(), Value::String(addr.to_string()));
            out.json(&Value::Object(doc), false)?;
        } else {
            out.line(&addr.to_string())?;
        }
    }
    if listed == limit {
        // (Asking the master for more only to know would cost a page and its pace.)
        warn(&format!("a2s: the list stopped at --limit {limit}: the master may have more"));
    }
    Ok(0)
}

/// `a2s ports`: the servers Steam knows at each IP, with their query and game ports.
pub fn ports(targets: &[String], api_url: Option<&str>, timeout: Option<Duration>, json: bool, out: &mut Out) -> u8 {
    let api = configure(WebApi::without_key(), api_url, timeout);
    let mut status = 0;
    let mut header = !json;
    for target in targets {
        let ip = match ip_of(target) {
            Ok(ip) => ip,
            Err(e) => {
                warn(&format!("a2s: {target}: {e}"));
                status = 1;
                continue;
            }
        };
        let listing = match api.servers_at_address(ip) {
            Ok(listing) => listing,
            Err(e) => {
                failed(&ip.to_string(), &e);
                status = 1;
                continue;
            }
        };
        if listing.servers.is_empty() {
            warn(&format!("a2s: Steam lists no server at {ip} (only servers that announce themselves to Steam)"));
            status = 1;
        }
        for server in &listing.servers {
            if std::mem::take(&mut header) {
                if let Err(stop) = out.line(&ports_header()) {
                    return stopped(stop, status);
                }
            }
            let written = if json { out.json(server, false) } else { out.line(&ports_row(server)) };
            if let Err(stop) = written {
                return stopped(stop, status);
            }
        }
        status = status.max(skipped(listing.skipped));
    }
    status
}

fn configure(mut api: WebApi, api_url: Option<&str>, timeout: Option<Duration>) -> WebApi {
    if let Some(url) = api_url {
        api = api.base_url(url);
    }
    if let Some(timeout) = timeout {
        api = api.timeout(timeout);
    }
    api
}

/// An IP from what a user pastes: an IP, an address with a port, or a host name.
fn ip_of(target: &str) -> Result<IpAddr, String> {
    if let Some(ip) = target.strip_prefix('[').and_then(|t| t.strip_suffix(']')).and_then(|t| t.parse().ok()) {
        return Ok(ip);
    }
    if let Ok(ip) = target.parse::<IpAddr>() {
        return Ok(ip);
    }
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(addr.ip());
    }
    let host = target.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(target, |(h, _)| h);
    match (host, 0).to_socket_addrs() {
        Ok(mut addrs) => addrs.next().map(|a| a.ip()).ok_or_else(|| "the name resolved to nothing".to_string()),
        Err(e) => Err(format!("not an IP address, and the name does not resolve: {e}")),
    }
}

const PORTS_ADDR_WIDTH: usize = 21;

fn ports_header() -> String {
    format!(
        "{}  {:>9}  {:>8}  GAME DIR",
        fit("QUERY ADDRESS", PORTS_ADDR_WIDTH, PORTS_ADDR_WIDTH),
        "GAME PORT",
        "APP ID"
    )
}

fn ports_row(server: &web_api::ServerAtAddress) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    format!(
        "{}  {:>9}  {:>8}  {}",
        fit(&server.addr.to_string(), PORTS_ADDR_WIDTH, PORTS_ADDR_WIDTH),
        or_dash(server.game_port.map(|p| p.to_string())),
        or_dash(server.app_id.map(|a| a.to_string())),
        clean(server.game_dir.as_bytes()),
    )
}

/// Reports a failed listing; the error texts never hold the key.
fn failed(source: &str, e: &dyn std::fmt::Display) -> Stop {
    warn(&format!("a2s: {source}: {e}"));
    Stop::Failed(1)
}

/// Warns of reply entries that were not servers; the exit status they leave.
fn skipped(count: usize) -> u8 {
    if count == 0 {
        return 0;
    }
    warn(&format!("a2s: {count} entries of the reply were not readable servers and were left out"));
    1
}
