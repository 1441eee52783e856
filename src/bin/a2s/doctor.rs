//! `a2s doctor ADDR`: why a server does not answer, step by step, ending with one
//! conclusion and what to do. Every probe is bounded; nothing goes to ports but the
//! one given, a few usual query ports near it and those Steam names.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use a2s_query::web_api::WebApi;
use a2s_query::{Batch, Client, Error, Info, Stray};
use serde::Serialize;

use crate::output::{Out, Stop};

/// Quick queries in a row to see whether the server starts dropping them.
const BURST: usize = 20;
/// How long a nearby port or a burst query is given, at most.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long Steam's list of the servers at an address may take.
const STEAM_TIMEOUT: Duration = Duration::from_secs(5);
/// The ports games use for queries when the given one is silent: the usual Source
/// range (a server per port upwards from 27015).
const USUAL_PORTS: std::ops::RangeInclusive<u16> = 27015..=27020;

/// What `a2s doctor` was asked.
pub struct Doctor<'a> {
    pub addr: &'a str,
    pub timeout: Duration,
    pub json: bool,
    pub api_url: Option<&'a str>,
}

/// One step of the examination: what was tried and what came of it.
#[derive(Serialize)]
struct Step {
    step: &'static str,
    ok: bool,
    said: String,
}

/// The whole examination.
#[derive(Serialize)]
struct Report {
    address: String,
    steps: Vec<Step>,
    /// One word for tools: answers, info-only, rate-limited, wrong-port, refused,
    /// not-a2s, broken-reply, silent, unresolved.
    conclusion: &'static str,
    /// The conclusion in a sentence.
    says: String,
    /// What to do.
    advice: String,
    /// The address that answers, when it is not the one given.
    #[serde(skip_serializing_if = "Option::is_none")]
    answers_at: Option<String>,
}

/// How the first info query went.
enum First {
    Answered(Box<Info>),
    Refused,
    /// Something answered, not A2S: what it looks like.
    Junk(String),
    Silent,
    /// An A2S reply that breaks the protocol: the right port, a reply we cannot read.
    Broken(Error),
    Failed(Error),
}

impl Report {
    fn step(&mut self, step: &'static str, ok: bool, said: String, out: &mut Out, json: bool) -> Result<(), Stop> {
        if !json {
            let mark = if ok { "ok  " } else { "--  " };
            out.line(&format!("{mark}{step:<9} {said}"))?;
        }
        self.steps.push(Step { step, ok, said });
        Ok(())
    }

    fn conclude(&mut self, conclusion: &'static str, says: String, advice: String) {
        self.conclusion = conclusion;
        self.says = says;
        self.advice = advice;
    }
}

/// Runs the examination; the exit status: 0 when the server answers.
pub fn doctor(args: &Doctor<'_>, out: &mut Out) -> u8 {
    let mut report = Report {
        address: args.addr.to_string(),
        steps: Vec::new(),
        conclusion: "silent",
        says: String::new(),
        advice: String::new(),
        answers_at: None,
    };
    match examine(args, &mut report, out) {
        Ok(()) => {}
        Err(Stop::Closed) => return 0,
        Err(Stop::Failed(status)) => return status,
    }
    let written = if args.json {
        out.json(&report, true)
    } else {
        out.line("")
            .and_then(|()| out.line(&format!("Conclusion: {}", report.says)))
            .and_then(|()| out.line(&format!("What to do: {}", report.advice)))
    };
    match written {
        Ok(()) | Err(Stop::Closed) => u8::from(!matches!(report.conclusion, "answers" | "info-only" | "rate-limited")),
        Err(Stop::Failed(status)) => status,
    }
}

fn examine(args: &Doctor<'_>, report: &mut Report, out: &mut Out) -> Result<(), Stop> {
    let json = args.json;
    // 1. The name.
    let target = match resolve(args.addr) {
        Ok(target) => {
            let said = if args.addr.parse::<SocketAddr>().is_ok() {
                format!("{target}: an IP address, nothing to resolve")
            } else {
                format!("{} is {target}", args.addr)
            };
            report.step("resolve", true, said, out, json)?;
            target
        }
        Err(e) => {
            report.step("resolve", false, e.to_string(), out, json)?;
            report.conclude(
                "unresolved",
                format!("{} is not an address that can be asked", args.addr),
                "check the spelling: host:port or IP:port, the query port (often 27015)".into(),
            );
            return Ok(());
        }
    };

    // 2. Info, as any client asks it (one retry, so that one lost datagram is not taken
    // for a dead server).
    let mut client = Client::builder().timeout(args.timeout).retries(1).build();
    let first = match client.info(target) {
        Ok(info) => First::Answered(Box::new(info)),
        Err(e) => classify(e),
    };
    let port = target.port();
    let info = match first {
        First::Answered(info) => {
            let said = format!(
                "answered in {:.1} ms: {:?} on {}, {}/{} players",
                info.ping().as_secs_f64() * 1000.0,
                info.server_name(),
                info.map_name(),
                info.player_count(),
                info.max_players()
            );
            report.step("info", true, said, out, json)?;
            info
        }
        First::Broken(e) => {
            report.step("info", false, format!("a broken reply: {e}"), out, json)?;
            report.conclude(
                "broken-reply",
                format!("{} answers in A2S, but its reply breaks the protocol ({e})", args.addr),
                format!(
                    "record it and report it: `a2s info {} --record rec`, then attach the folder to an issue \
                     (a server quirk this crate does not read yet)",
                    args.addr
                ),
            );
            return Ok(());
        }
        first => {
            let (conclusion, said) = match &first {
                First::Refused => ("refused", format!("refused: nothing listens on UDP port {port}")),
                First::Junk(looks) => ("not-a2s", format!("something answers on port {port}, but not A2S: {looks}")),
                First::Silent => ("silent", format!("no reply within {:?} (asked twice)", args.timeout)),
                First::Failed(e) => ("silent", e.to_string()),
                First::Answered(_) | First::Broken(_) => ("answers", String::new()),
            };
            report.step("info", false, said, out, json)?;
            return look_elsewhere(args, target, conclusion, report, out);
        }
    };

    let rest = the_rest(args, target, &mut client, report, out)?;
    let name = info.server_name().to_string();
    if rest.limited {
        report.conclude(
            "rate-limited",
            format!("{name:?} answers, but drops queries past about {} in a burst (a flood filter)", rest.answered),
            "ask it less often from one address: one query every few seconds, not many at once".into(),
        );
    } else if let Some(missing) = rest.missing() {
        report.conclude(
            "info-only",
            format!("{name:?} answers INFO but not {missing}"),
            "nothing is broken: the server is set not to answer those (CS2: host_players_show 2 shows players); \
             ask for INFO only"
                .into(),
        );
    } else {
        report.conclude(
            "answers",
            format!("{name:?} answers every query at {target}"),
            "nothing to fix here; if your program still fails, compare its address and timeout with these".into(),
        );
    }
    Ok(())
}

/// What the other queries and the burst found at a server that answers INFO.
struct Rest {
    players: bool,
    rules: bool,
    /// It started dropping a burst of queries.
    limited: bool,
    /// Burst queries answered.
    answered: usize,
}

impl Rest {
    /// The queries it did not answer, if any.
    fn missing(&self) -> Option<&'static str> {
        match (self.players, self.rules) {
            (true, true) => None,
            (false, false) => Some("players or rules"),
            (false, true) => Some("players"),
            (true, false) => Some("rules"),
        }
    }
}

/// Players and rules (some servers answer INFO only), then a short burst: does it
/// start dropping?
fn the_rest(
    args: &Doctor<'_>,
    target: SocketAddr,
    client: &mut Client,
    report: &mut Report,
    out: &mut Out,
) -> Result<Rest, Stop> {
    let json = args.json;
    let players = match client.players(target) {
        Ok(list) => report.step("players", true, format!("answered: {} listed", list.len()), out, json).map(|()| true),
        Err(e) => report.step("players", false, e.to_string(), out, json).map(|()| false),
    }?;
    let rules = match client.rules(target) {
        Ok(rules) => report.step("rules", true, format!("answered: {} rules", rules.len()), out, json).map(|()| true),
        Err(e) => report.step("rules", false, e.to_string(), out, json).map(|()| false),
    }?;
    let mut burst = Client::builder().timeout(PROBE_TIMEOUT.min(args.timeout)).build();
    let mut answered = 0;
    let mut in_a_row = 0;
    for _ in 0..BURST {
        match burst.info(target) {
            Ok(_) => {
                answered += 1;
                in_a_row = 0;
            }
            Err(e) if e.is_timeout() => {
                in_a_row += 1;
                // Two in a row is a filter, not a lost datagram; no need to wait out
                // the rest.
                if in_a_row >= 2 {
                    break;
                }
            }
            Err(_) => in_a_row = 0,
        }
    }
    let limited = in_a_row >= 2;
    let said = if limited {
        format!("answered {answered} quick queries, then dropped them")
    } else {
        format!("answered {answered} of {BURST} quick queries")
    };
    report.step("burst", !limited, said, out, json)?;
    Ok(Rest { players, rules, limited, answered })
}

/// The given port did not answer: the usual query ports near it, and those Steam
/// knows at the IP, asked at once.
fn look_elsewhere(
    args: &Doctor<'_>,
    target: SocketAddr,
    first: &'static str,
    report: &mut Report,
    out: &mut Out,
) -> Result<(), Stop> {
    let json = args.json;
    let ip = target.ip();
    let port = target.port();
    // The offsets games put their query port at: +1 (Arma 3, Valheim, Unturned), +2
    // (Rust: one above its RCON port, 28017 beside 28015), +29 (Insurgency: Sandstorm's
    // 27131 beside 27102), and -1 for a port given one too high.
    let offsets = [port.checked_add(1), port.checked_add(2), port.checked_add(29), port.checked_sub(1)];
    // Asked at once; the answer taken is the likeliest: Steam's word for the port
    // given, then these offsets in order, then the usual ports, then what else Steam
    // knows there.
    let mut candidates: Vec<u16> = offsets.into_iter().flatten().chain(USUAL_PORTS).collect();

    // Steam knows the query ports of servers that announce themselves; of a loopback
    // or private address it knows nothing.
    let mut steam_note = None;
    if public(ip) || args.api_url.is_some() {
        let mut api = WebApi::without_key().timeout(STEAM_TIMEOUT);
        if let Some(url) = args.api_url {
            api = api.base_url(url);
        }
        match api.servers_at_address(ip) {
            Ok(listing) if listing.servers.is_empty() => {
                report.step("steam", false, format!("Steam lists no server at {ip}"), out, json)?;
            }
            Ok(listing) => {
                let known: Vec<String> = listing
                    .servers
                    .iter()
                    .map(|s| match s.game_port {
                        Some(game) => format!("{} (game port {game}, {})", s.addr, s.game_dir),
                        None => format!("{} ({})", s.addr, s.game_dir),
                    })
                    .collect();
                report.step("steam", true, format!("Steam knows {}", known.join(", ")), out, json)?;
                let here = listing.servers.iter().filter(|s| s.addr.ip() == ip);
                if let Some(server) = here.clone().find(|s| s.game_port == Some(port)) {
                    steam_note = Some((server.addr, format!("{port} is the game port of {}", server.addr)));
                    candidates.insert(0, server.addr.port());
                }
                candidates.extend(here.map(|s| s.addr.port()));
            }
            Err(e) => report.step("steam", false, format!("could not ask Steam: {e}"), out, json)?,
        }
    } else {
        report.step("steam", false, format!("not asked: Steam knows nothing of {ip}, a local address"), out, json)?;
    }
    // Each port once, in its first (likeliest) place.
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|&p| p != port && p != 0 && seen.insert(p));

    let found = probe(ip, &candidates, args.timeout);
    let mut sorted = candidates.clone();
    sorted.sort_unstable();
    let tried = format!("{} other ports: {}", sorted.len(), ranges(&sorted));
    match &found {
        Some((addr, name)) => {
            report.step("nearby", true, format!("{addr} answers: {name:?} (tried {tried})"), out, json)?
        }
        None => report.step("nearby", false, format!("none answers (tried {tried})"), out, json)?,
    }

    let given = args.addr;
    if let Some((addr, name)) = found {
        // The rest of the examination, at the port that answers.
        let mut client = Client::builder().timeout(args.timeout).retries(1).build();
        let rest = the_rest(args, addr, &mut client, report, out)?;
        let there = match (rest.limited, rest.missing()) {
            (true, _) => format!("; it drops queries past about {} in a burst (a flood filter)", rest.answered),
            (false, Some(missing)) => format!("; it answers INFO but not {missing}"),
            (false, None) => String::new(),
        };
        let why =
            steam_note.filter(|(server, _)| *server == addr).map_or_else(String::new, |(_, note)| format!(" ({note})"));
        report.answers_at = Some(addr.to_string());
        report.conclude(
            "wrong-port",
            format!("{given} is not the query port{why}: {name:?} answers at {addr}{there}"),
            format!("query {addr} instead: a2s info {addr}"),
        );
        return Ok(());
    }
    let (says, advice) = match first {
        "refused" => (
            format!("nothing listens on UDP port {port} at {ip}: the host said so"),
            "start the server, or find its query port (the game's config; Arma: the game port + 1, DayZ: \
             steamQueryPort)"
                .to_string(),
        ),
        "not-a2s" => (
            format!("another service answers on port {port} at {ip}, not a game's queries"),
            "find the game's query port: the one given belongs to something else".to_string(),
        ),
        _ => (
            format!("no reply from {given} or from the usual query ports near it"),
            "the server is down, a firewall drops UDP to it, or the game does not answer A2S queries; \
             check that the port is open for UDP"
                .to_string(),
        ),
    };
    report.conclude(first, says, advice);
    Ok(())
}

/// The likeliest answer among `ports` at `ip` (the first in `ports` that answers),
/// all asked at once with a batch.
fn probe(ip: IpAddr, ports: &[u16], timeout: Duration) -> Option<(SocketAddr, String)> {
    let mut batch = Batch::builder().timeout(PROBE_TIMEOUT.min(timeout)).retries(1).send_rate(200).build().ok()?;
    let addrs: Vec<SocketAddr> = ports.iter().map(|&p| SocketAddr::new(ip, p)).collect();
    let mut answers: Vec<(SocketAddr, String)> =
        batch.info(addrs).filter_map(|(addr, r)| r.ok().map(|info| (addr, info.server_name().to_string()))).collect();
    answers.sort_by_key(|(addr, _)| ports.iter().position(|&p| p == addr.port()));
    answers.into_iter().next()
}

/// What a failed info query says about the other end.
fn classify(e: Error) -> First {
    let telling = match &e {
        Error::Timeout { ignored, .. } => ignored.telling,
        Error::NotA2s { header } => Some(Stray::NotA2s { bytes: *header, len: 4 }),
        _ => None,
    };
    match telling {
        Some(Stray::NotA2s { bytes, len }) => {
            First::Junk(looks_like(bytes.get(..usize::from(len)).unwrap_or_default()))
        }
        Some(Stray::OtherReply { kind }) => First::Junk(other_reply(kind)),
        _ if e.is_timeout() => First::Silent,
        _ if matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused) => First::Refused,
        _ if e.is_broken_reply() => First::Broken(e),
        _ => First::Failed(e),
    }
}

/// What a reply with the A2S header but another type byte is: the connectionless
/// replies of the Quake family (whose header A2S took) say their name in text.
fn other_reply(kind: u8) -> String {
    match kind {
        b'p' => "a Quake-style text reply (\"print\"): an older game's protocol".to_string(),
        b's' => "a Quake III-style status reply (\"statusResponse\"): another game's protocol".to_string(),
        b'i' => "a Quake III-style info reply (\"infoResponse\"): another game's protocol".to_string(),
        b'j' => "a ping reply (A2A_ACK) to an info query".to_string(),
        kind => format!("a reply of another type (0x{kind:02X})"),
    }
}

/// What the first bytes of a datagram that is not A2S look like.
fn looks_like(bytes: &[u8]) -> String {
    let text = || String::from_utf8_lossy(bytes).into_owned();
    match bytes {
        [b'H', b'T', b'T', b'P', ..] => "it looks like an HTTP server (\"HTTP\")".into(),
        [b'<', ..] => format!("it looks like HTML or XML ({:?})", text()),
        [b'{', ..] | [b'[', ..] => format!("it looks like JSON ({:?})", text()),
        [0x16, 0x03, ..] => "it looks like TLS".into(),
        [b'\\', ..] => format!("it looks like GameSpy's text query ({:?}): another game's protocol", text()),
        [0x1C, ..] => "it looks like RakNet (an unconnected pong, as Minecraft: Bedrock Edition sends)".into(),
        b if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') => {
            format!("text starting {:?}", text())
        }
        b => format!("bytes {}", b.iter().map(|c| format!("{c:02X}")).collect::<Vec<_>>().join(" ")),
    }
}

/// The address, resolved (IPv4 first, as the queries do), or what is wrong with it
/// (a port out of range, a missing port, an IPv6 address without brackets, ...).
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    let mut bad = None;
    let found = a2s_query::addresses([addr], |line| bad = Some(line.error)).next();
    found.ok_or_else(|| bad.map_or_else(|| format!("{addr:?} resolves to nothing"), |e| e.to_string()))
}

/// Whether Steam could know servers at `ip`: not loopback, private or link-local.
fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80)
        }
    }
}

/// Sorted ports as "27015-27020, 28016".
fn ranges(ports: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&start) = ports.get(i) {
        let mut end = start;
        while ports.get(i + 1).is_some_and(|&next| Some(next) == end.checked_add(1)) {
            i += 1;
            end = ports.get(i).copied().unwrap_or(end);
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_named_by_what_it_looks_like() {
        assert_eq!(looks_like(b"HTTP"), "it looks like an HTTP server (\"HTTP\")");
        assert!(looks_like(b"<htm").contains("HTML"));
        assert!(looks_like(b"{\"a\"").contains("JSON"));
        assert_eq!(looks_like(&[0x16, 0x03, 0x01, 0x02]), "it looks like TLS");
        assert_eq!(looks_like(b"SSH-"), "text starting \"SSH-\"");
        assert_eq!(looks_like(&[0x00, 0x9F]), "bytes 00 9F");
        assert!(looks_like(b"\\hos").contains("GameSpy"));
        assert!(looks_like(&[0x1C, 0, 0, 0]).contains("RakNet"));
        assert!(other_reply(b's').contains("statusResponse") && other_reply(b'p').contains("print"));
        assert_eq!(other_reply(0x7A), "a reply of another type (0x7A)");
    }

    #[test]
    fn ports_read_as_ranges() {
        assert_eq!(ranges(&[27014, 27016, 27017, 27018, 27020, 65535]), "27014, 27016-27018, 27020, 65535");
        assert_eq!(ranges(&[]), "");
    }

    #[test]
    fn only_a_public_address_is_asked_of_steam() {
        for local in ["127.0.0.1", "10.0.0.8", "192.168.1.2", "172.16.0.1", "169.254.1.1", "::1", "fd12::1", "fe80::1"]
        {
            assert!(!public(local.parse().unwrap()), "{local}");
        }
        for far in ["203.0.113.7", "8.8.8.8", "2001:db8::7"] {
            assert!(public(far.parse().unwrap()), "{far}");
        }
    }
}
