//! What the command prints: one server's answer, or a row or JSON line per server of a
//! batch with a progress line and a summary on standard error. Every write goes
//! through [`Out`], so a closed standard output ends the run instead of panicking.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use a2s_query::{Answers, ArmaRules, Batch, Client, Error, Info, Players, Rules, Stray, TextBuf, TextDecoder};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::list::{self, Shared};
use crate::progress::{warn, Counts, Progress};
use crate::show::{self, clean, fit};
use crate::What;

/// Why printing stopped.
pub enum Stop {
    /// Standard output was closed (a pager quit, `head` had enough): end quietly.
    Closed,
    /// Something else failed and was reported; the exit status.
    Failed(u8),
}

/// Standard output, line by line.
pub struct Out {
    stdout: io::StdoutLock<'static>,
}

impl Out {
    pub fn new() -> Self {
        Out { stdout: io::stdout().lock() }
    }

    pub fn line(&mut self, text: &str) -> Result<(), Stop> {
        match writeln!(self.stdout, "{text}") {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Stop::Closed),
            Err(e) => {
                warn(&format!("a2s: cannot write the output: {e}"));
                Err(Stop::Failed(1))
            }
        }
    }

    fn lines(&mut self, lines: &[String]) -> Result<(), Stop> {
        lines.iter().try_for_each(|l| self.line(l))
    }

    pub fn json<T: Serialize>(&mut self, value: &T, pretty: bool) -> Result<(), Stop> {
        let text = if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) };
        match text {
            Ok(text) => self.line(&text),
            Err(e) => {
                warn(&format!("a2s: cannot write JSON: {e}"));
                Err(Stop::Failed(1))
            }
        }
    }
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, Stop> {
    serde_json::to_value(value).map_err(|e| {
        warn(&format!("a2s: cannot write JSON: {e}"));
        Stop::Failed(1)
    })
}

/// Rules as a JSON object of name to value; as a list of `[name, value]` pairs when
/// the names are not text (`--encoding raw`: JSON keys must be strings).
fn rules_value<S: TextBuf + Serialize>(rules: &Rules<S>) -> Result<Value, Stop>
where
    S::Slice: Serialize,
{
    serde_json::to_value(rules).or_else(|_| to_value(&rules.iter().collect::<Vec<_>>()))
}

/// A part's JSON, or its error.
fn part<T, F: Fn(&T) -> Result<Value, Stop>>(
    r: Option<Result<&T, &Error>>,
    f: F,
) -> Result<Option<Result<Value, String>>, Stop> {
    Ok(match r {
        None => None,
        Some(Ok(v)) => Some(Ok(f(v)?)),
        Some(Err(e)) => Some(Err(e.to_string())),
    })
}

fn rules_lines<S: TextBuf>(rules: &Rules<S>) -> Vec<String> {
    let mut lines = vec![format!("{} rules", rules.len())];
    lines.extend(rules.iter().map(|(n, v)| format!("{} = {}", clean(n.as_ref()), clean(v.as_ref()))));
    lines
}

fn note_cut_short(addr: &str, what: &str, got: usize, declared: impl std::fmt::Display) {
    warn(&format!("a2s: {addr}: the {what} reply was cut short: {got} of {declared} entries"));
}

/// One server, with a `Client`: text, or one JSON document (python-a2s's field names).
/// The exit status: 0, or 1 when a query failed (said on standard error).
pub fn single<D: TextDecoder>(
    mut client: Client<D>,
    addr: &str,
    query: What,
    (json, arma): (bool, bool),
    out: &mut Out,
) -> Result<u8, Stop>
where
    D::Text: Serialize + AsRef<[u8]>,
    <D::Text as TextBuf>::Slice: Serialize,
{
    // Said on stderr, with one hint where it can help; with --json also one object on
    // stdout, as a list gives each server that failed.
    let failed = |e: Error| {
        warn(&format!("a2s: {addr}: {e}"));
        if let Some(hint) = hint(addr, &e) {
            warn(&hint);
        }
        if json {
            let mut doc = Map::new();
            doc.insert("address".into(), Value::String(addr.to_string()));
            doc.insert("error".into(), Value::String(e.to_string()));
            if let Err(stop) = out.json(&Value::Object(doc), true) {
                return stop;
            }
        }
        Stop::Failed(1)
    };
    match query {
        What::Info => {
            let info = client.info(addr).map_err(failed)?;
            if json {
                out.json(&info, true)?;
            } else {
                out.lines(&show::info(&info))?;
            }
        }
        What::Players => {
            let list = client.players(addr).map_err(failed)?;
            print_players(&list, json, out)?;
            if list.truncated {
                note_cut_short(addr, "players", list.entries.len(), list.count);
            }
        }
        What::Rules if arma => {
            let decoded = client.arma_rules(addr).map_err(failed)?;
            if json {
                out.json(&decoded, true)?;
            } else {
                out.lines(&show::arma(&decoded))?;
            }
        }
        What::Rules => {
            let rules = client.rules(addr).map_err(failed)?;
            if json {
                out.json(&rules_value(&rules)?, true)?;
            } else {
                out.lines(&rules_lines(&rules))?;
            }
            if rules.truncated {
                note_cut_short(addr, "rules", rules.len(), rules.count);
            }
        }
        What::All => {
            // No info means no server: fail as a whole rather than wait out two more
            // timeouts. Past that, a part the server will not give (many never answer
            // rules) is null in the JSON and named on stderr; the rest is still shown.
            let info = client.info(addr).map_err(failed)?;
            let players = client.players(addr);
            let rules = client.rules(addr);
            if json {
                let mut doc = Map::new();
                doc.insert("info".into(), to_value(&info)?);
                let players_json = match &players {
                    Ok(p) => to_value(&p.entries)?,
                    Err(_) => Value::Null,
                };
                doc.insert("players".into(), players_json);
                let rules_json = match &rules {
                    Ok(r) => rules_value(r)?,
                    Err(_) => Value::Null,
                };
                doc.insert("rules".into(), rules_json);
                // Which part failed and why, as a list's JSON line says it.
                let failed: Vec<String> = [("players", players.as_ref().err()), ("rules", rules.as_ref().err())]
                    .into_iter()
                    .filter_map(|(part, e)| e.map(|e| format!("{part}: {e}")))
                    .collect();
                if !failed.is_empty() {
                    doc.insert("error".into(), Value::String(failed.join("; ")));
                }
                out.json(&doc, true)?;
            } else {
                out.lines(&show::info(&info))?;
                if let Ok(list) = &players {
                    out.line("")?;
                    out.lines(&show::players(&list.entries))?;
                }
                if let Ok(rules) = &rules {
                    out.line("")?;
                    out.lines(&rules_lines(rules))?;
                }
            }
            if let Some(list) = players.as_ref().ok().filter(|l| l.truncated) {
                note_cut_short(addr, "players", list.entries.len(), list.count);
            }
            if let Some(rules) = rules.as_ref().ok().filter(|r| r.truncated) {
                note_cut_short(addr, "rules", rules.len(), rules.count);
            }
            let mut status = 0;
            for (part, result) in [("players", players.err()), ("rules", rules.err())] {
                if let Some(e) = result {
                    warn(&format!("a2s: {addr}: {part}: {e}"));
                    status = 1;
                }
            }
            return Ok(status);
        }
    }
    Ok(0)
}

/// Whether nothing listens on the port: the host answered ICMP port unreachable.
fn refused(e: &Error) -> bool {
    matches!(e, Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// The one hint for a server that did not answer, where one can help: the game port
/// is the usual mistake, and `a2s doctor` looks for the query port (near the one
/// given, and for a public address in what Steam knows).
fn hint(addr: &str, e: &Error) -> Option<String> {
    // What came instead may not have been A2S: the timeout's own message asks then.
    let asks_already =
        matches!(e, Error::Timeout { ignored, .. } if matches!(ignored.telling, Some(Stray::NotA2s { .. })));
    if !(e.is_timeout() || refused(e)) || asks_already {
        return None;
    }
    Some(format!(
        "a2s: is {addr} the query port? `a2s doctor {addr}` looks for it and says why this one does not answer"
    ))
}

fn print_players<S: Serialize + AsRef<[u8]>>(list: &Players<S>, json: bool, out: &mut Out) -> Result<(), Stop> {
    if json {
        out.json(&list.entries, true)
    } else {
        out.lines(&show::players(&list.entries))
    }
}

/// Many servers with a `Batch`: a row or a JSON line each, in completion order.
pub struct Batched<D: TextDecoder> {
    pub batch: Batch<D>,
    pub query: What,
    pub json: bool,
    /// Rules decoded as Arma 3 / DayZ binary rules.
    pub arma: bool,
}

/// One server's line: its address and the parts of its answer, each a result.
struct Row<'a, S: TextBuf> {
    addr: SocketAddr,
    info: Option<Result<&'a Info<S>, &'a Error>>,
    players: Option<Result<&'a Players<S>, &'a Error>>,
    rules: Option<Result<&'a Rules<S>, &'a Error>>,
    arma: Option<Result<&'a ArmaRules<S>, &'a Error>>,
}

impl<S: TextBuf> Row<'_, S> {
    fn of(addr: SocketAddr) -> Self {
        Row { addr, info: None, players: None, rules: None, arma: None }
    }

    /// Each part asked, in order: its error, or `None` when it answered.
    fn outcomes(&self) -> impl Iterator<Item = Option<&Error>> + '_ {
        let parts = [
            self.info.map(|r| r.err()),
            self.players.map(|r| r.err()),
            self.rules.map(|r| r.err()),
            self.arma.map(|r| r.err()),
        ];
        parts.into_iter().flatten()
    }

    /// Counts it by its first part (the rest of `all` is not asked when that fails):
    /// answered (with a part missing when a later one failed), timed out, refused or
    /// failed.
    fn count(&self, counts: &Counts) {
        let counter = match self.outcomes().next().flatten() {
            None => {
                if self.outcomes().any(|e| e.is_some()) {
                    counts.partial.fetch_add(1, Ordering::Relaxed);
                }
                &counts.answered
            }
            Some(e) if e.is_timeout() => &counts.timed_out,
            Some(e) if refused(e) => &counts.refused,
            Some(_) => &counts.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl<D: TextDecoder> Batched<D>
where
    D::Text: Serialize + AsRef<[u8]>,
    <D::Text as TextBuf>::Slice: Serialize,
{
    /// Runs the batch over the addresses given and the list's lines (`total` of them
    /// when known); the exit status.
    pub fn go(mut self, addrs: &[String], list: Option<list::List>, total: Option<u64>, out: &mut Out) -> u8 {
        let shared = Shared::default();
        // On a thread of its own: a list piped from a slow source (`a2s list --master`,
        // names to resolve) must not hold up the replies of servers already asked.
        let input = a2s_query::Feed::spawn(list::input(addrs.to_vec(), list, &shared));
        let bar = crate::progress::wanted();
        let mut progress = Progress::start(bar, total.map(|t| t + addrs.len() as u64));
        let counts = Arc::clone(&progress.counts);
        let (json, query, arma) = (self.json, self.query, self.arma);
        let status = |counts: &Counts| u8::from(counts.get().any_missing());
        if !json {
            let head =
                if arma { format!("{}  MODS  NAMES", fit("ADDRESS", ADDR_WIDTH, ADDR_WIDTH)) } else { header(query) };
            if let Err(stop) = out.line(&head) {
                return stopped(stop, status(&counts));
            }
        }
        // Listed entries that are not addresses get a line of their own, with the next
        // result (or at the end).
        let flush_bad = |out: &mut Out| -> Result<(), Stop> {
            let (bad, more): (Vec<(String, Error)>, u64) =
                list::update(&shared, |p| (p.bad.drain(..).collect(), std::mem::take(&mut p.more_bad)));
            if more > 0 {
                counts.failed.fetch_add(more, Ordering::Relaxed);
                warn(&format!("a2s: {more} more entries were not addresses (each named above); no line of their own"));
            }
            for (text, error) in bad {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                if json {
                    let mut doc = Map::new();
                    doc.insert("address".into(), Value::String(text));
                    doc.insert("error".into(), Value::String(error.to_string()));
                    out.json(&Value::Object(doc), false)?;
                } else {
                    out.line(&format!("{}  error: {error}", address_cell(&clean(text.as_bytes()))))?;
                }
            }
            Ok(())
        };
        let emit = |row: Row<'_, D::Text>, out: &mut Out| -> Result<(), Stop> {
            row.count(&counts);
            if json {
                out.json(&json_line(&row)?, false)?;
            } else {
                out.line(&text_row(&row))?;
            }
            flush_bad(out)
        };
        let result: Result<(), Stop> = (|| {
            flush_bad(out)?;
            match query {
                What::Info => {
                    for (addr, r) in self.batch.info(input) {
                        emit(Row { info: Some(r.as_ref()), ..Row::of(addr) }, out)?;
                    }
                }
                What::Players => {
                    for (addr, r) in self.batch.players(input) {
                        emit(Row { players: Some(r.as_ref()), ..Row::of(addr) }, out)?;
                    }
                }
                What::Rules if arma => {
                    for (addr, r) in self.batch.arma_rules(input) {
                        emit(Row { arma: Some(r.as_ref()), ..Row::of(addr) }, out)?;
                    }
                }
                What::Rules => {
                    for (addr, r) in self.batch.rules(input) {
                        emit(Row { rules: Some(r.as_ref()), ..Row::of(addr) }, out)?;
                    }
                }
                What::All => {
                    for (addr, a) in self.batch.all(input) {
                        let Answers { info, players, rules, .. } = &a;
                        let row = Row {
                            info: Some(info.as_ref()),
                            players: Some(players.as_ref()),
                            rules: Some(rules.as_ref()),
                            ..Row::of(addr)
                        };
                        emit(row, out)?;
                    }
                }
            }
            flush_bad(out)
        })();
        progress.finish();
        if let Err(stop) = result {
            return stopped(stop, status(&counts));
        }
        let tally = counts.get();
        let secs = progress.started.elapsed().as_secs_f64();
        let servers = plural(tally.done(), "server", "servers");
        let mut summary = format!("a2s: {servers} in {secs:.2} s: {}", tally.describe());
        let (repeated, read_error) = list::update(&shared, |p| (p.repeated, p.read_error.take()));
        if repeated > 0 {
            summary.push_str(&format!(", {repeated} listed again (asked once)"));
        }
        warn(&summary);
        if let Some(e) = read_error {
            warn(&format!("a2s: the list could not be read to its end: {e}"));
            return 2;
        }
        status(&counts)
    }
}

/// The status when output stopped early: quiet for a closed pipe.
/// The exit status after a stop, given the one so far.
pub fn stopped(stop: Stop, so_far: u8) -> u8 {
    match stop {
        Stop::Closed => so_far,
        Stop::Failed(status) => status,
    }
}

/// The address column: an IPv4 address with its port fits.
const ADDR_WIDTH: usize = 21;

/// An address padded to its column; one too long for it (IPv6, a bad line) on a line
/// of its own, the row going on below it under the next column, so no column shifts.
fn address_cell(addr: &str) -> String {
    if show::columns(addr) <= ADDR_WIDTH {
        fit(addr, ADDR_WIDTH, ADDR_WIDTH)
    } else {
        format!("{addr}\n{}", " ".repeat(ADDR_WIDTH))
    }
}

fn header(query: What) -> String {
    let a = fit("ADDRESS", ADDR_WIDTH, ADDR_WIDTH);
    match query {
        What::Info => format!("{a}  {:>8}  {:>7}  {}  NAME", "PING", "PLAYERS", fit("MAP", 20, 20)),
        What::Players => format!("{a}  {:>7}  NAMES", "PLAYERS"),
        What::Rules => format!("{a}  {:>5}  FIRST RULES", "RULES"),
        What::All => format!("{a}  {:>8}  {:>7}  {:>5}  {}  NAME", "PING", "PLAYERS", "RULES", fit("MAP", 20, 20)),
    }
}

/// One row of the table; a failed part shows its error.
fn text_row<S: TextBuf + AsRef<[u8]>>(row: &Row<'_, S>) -> String {
    let addr = address_cell(&row.addr.to_string());
    let first_error = row
        .info
        .and_then(Result::err)
        .or_else(|| row.players.and_then(Result::err))
        .or_else(|| row.rules.and_then(Result::err))
        .or_else(|| row.arma.and_then(Result::err));
    // A later part's failure, named: `all`'s players or rules.
    let part_error = [("players", row.players.and_then(Result::err)), ("rules", row.rules.and_then(Result::err))]
        .into_iter()
        .find_map(|(part, e)| e.map(|e| format!("{part}: {e}")));
    match (row.info, row.players, row.rules) {
        (Some(Ok(info)), players, rules) => {
            let count = |n: Option<usize>| n.map_or("-".to_string(), |n| n.to_string());
            let players_shown = format!("{}/{}", info.player_count(), info.max_players());
            let map = fit(&clean(info.map_name().as_ref()), 20, 20);
            let name = clean(info.server_name().as_ref());
            match (players, rules) {
                (None, None) => format!("{addr}  {:>8}  {players_shown:>7}  {map}  {name}", show::ms(info.ping())),
                _ => {
                    let n_rules = count(rules.and_then(Result::ok).map(|r| r.len()));
                    let mut line = format!(
                        "{addr}  {:>8}  {players_shown:>7}  {n_rules:>5}  {map}  {name}",
                        show::ms(info.ping())
                    );
                    let cut = players.and_then(Result::ok).is_some_and(|p| p.truncated)
                        || rules.and_then(Result::ok).is_some_and(|r| r.truncated);
                    if cut {
                        line.push_str("  (cut short)");
                    }
                    if let Some(e) = part_error {
                        line.push_str(&format!("  ({e})"));
                    }
                    line
                }
            }
        }
        (None, Some(Ok(list)), None) => {
            let names: Vec<String> = list.entries.iter().map(|p| clean(p.name.as_ref())).collect();
            let cut = if list.truncated { " (cut short)" } else { "" };
            format!("{addr}  {:>7}  {}{cut}", list.entries.len(), fit(&names.join(", "), 100, 0))
        }
        (None, None, None) if row.arma.is_some_and(|r| r.is_ok()) => {
            let Some(Ok(arma)) = row.arma else { return String::new() };
            let names: Vec<String> =
                arma.mods.iter().map(|m| clean(m.name.as_ref())).filter(|n| !n.is_empty()).collect();
            let dlcs = arma.mods.iter().filter(|m| m.is_dlc).count();
            let more = if dlcs > 0 { format!(" (+{dlcs} creator DLC)") } else { String::new() };
            format!("{addr}  {:>4}  {}{more}", arma.mods.len(), fit(&names.join(", "), 100, 0))
        }
        (None, None, Some(Ok(rules))) => {
            let first: Vec<String> =
                rules.iter().take(3).map(|(n, v)| format!("{}={}", clean(n.as_ref()), clean(v.as_ref()))).collect();
            let cut = if rules.truncated { " (cut short)" } else { "" };
            format!("{addr}  {:>5}  {}{cut}", rules.len(), fit(&first.join(" "), 100, 0))
        }
        _ => format!("{addr}  error: {}", first_error.map_or_else(String::new, |e| e.to_string())),
    }
}

/// One JSON line: `{"address": ..., "<query>": ...}`, or `"error"` for a part that
/// failed (with the part `null` when others answered), `"truncated": true` for a
/// reply cut short.
fn json_line<S: TextBuf + Serialize>(row: &Row<'_, S>) -> Result<Value, Stop>
where
    S::Slice: Serialize,
{
    let mut doc = Map::new();
    doc.insert("address".into(), Value::String(row.addr.to_string()));
    let parts = [
        ("info", part(row.info, to_value)?),
        ("players", part(row.players, |p| to_value(&p.entries))?),
        ("rules", part(row.rules, rules_value)?),
        ("arma", part(row.arma, to_value)?),
    ];
    let asked: Vec<_> = parts.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    let errors: Vec<String> = asked
        .iter()
        .filter_map(|(k, v)| v.as_ref().err().map(|e| if asked.len() > 1 { format!("{k}: {e}") } else { e.clone() }))
        .collect();
    if errors.len() < asked.len() {
        for (k, v) in &asked {
            doc.insert((*k).into(), v.as_ref().map_or(Value::Null, Clone::clone));
        }
    }
    if !errors.is_empty() {
        let all_failed = errors.len() == asked.len();
        // All failed: the first part's error says it (the rest were not asked).
        let text = if all_failed { asked.first().and_then(|(_, v)| v.as_ref().err()).cloned() } else { None };
        doc.insert("error".into(), Value::String(text.unwrap_or_else(|| errors.join("; "))));
    }
    let cut = row.players.and_then(Result::ok).is_some_and(|p| p.truncated)
        || row.rules.and_then(Result::ok).is_some_and(|r| r.truncated);
    if cut {
        doc.insert("truncated".into(), Value::Bool(true));
    }
    Ok(Value::Object(doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_hint_where_it_helps() {
        let timeout = Error::Timeout { timeout: Duration::from_secs(1), fragments: None, ignored: Default::default() };
        assert_eq!(
            hint("203.0.113.7:27015", &timeout).unwrap(),
            "a2s: is 203.0.113.7:27015 the query port? `a2s doctor 203.0.113.7:27015` looks for it and says why this \
             one does not answer"
        );
        let refused = Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(hint("127.0.0.1:9", &refused).is_some());
        let junk = Error::NotA2s { header: *b"HTTP" };
        assert_eq!(hint("203.0.113.7:27015", &junk), None, "its own message asks already");
        assert_eq!(hint("203.0.113.7:27015", &Error::InvalidInput("x")), None);
    }
}
