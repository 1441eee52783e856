//! `a2s watch`: servers polled on a schedule by the library's [`Monitor`], each change a
//! line (or a JSON line) as it is found, until Ctrl-C or a closed standard output.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use a2s_query::{Change, Event, Monitor, TextBuf, TextDecoder};
use serde::Serialize;
use serde_json::{json, Value};

use crate::list::{self, Shared};
use crate::output::{Out, Stop};
use crate::progress::warn;
use crate::show::clean;

/// How often the loop looks at Ctrl-C while nothing changes.
const CHECK_STOP: Duration = Duration::from_millis(200);

/// What `watch` was asked.
pub struct Watch {
    pub addrs: Vec<String>,
    pub file: Option<String>,
    pub every: Duration,
    /// The monitor's options (its text decoder is set by [`watch`]).
    pub monitor: a2s_query::Builder<a2s_query::Monitor>,
    pub json: bool,
}

/// Watches until Ctrl-C (or SIGTERM) or a closed output; the exit status.
pub fn watch<D: TextDecoder>(args: Watch, decoder: D, out: &mut Out) -> u8
where
    D::Text: Serialize + AsRef<[u8]>,
{
    let built = args.monitor.encoding(decoder).build();
    let monitor = match built {
        Ok(monitor) => monitor,
        Err(e) => {
            warn(&format!("a2s: {e}"));
            return 1;
        }
    };
    // (Caught before the list is read: names to resolve may take a while.)
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
        warn(&format!("a2s: cannot catch Ctrl-C: {e}"));
        return 1;
    }
    let mut monitor = match fill(monitor, args.addrs, args.file.as_deref(), &stop) {
        Ok(monitor) => monitor,
        Err(status) => return status,
    };
    let servers = monitor.len();
    warn(&format!(
        "a2s: watching {servers} server{} every {}; Ctrl-C stops",
        if servers == 1 { "" } else { "s" },
        seconds(args.every)
    ));
    let started = Instant::now();
    let mut events: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        if output_closed() {
            // (Its reader gone while nothing changed: `| head` had enough.)
            return 0;
        }
        let Some(event) = monitor.next_event_before(Instant::now() + CHECK_STOP) else { continue };
        events += 1;
        let printed = if args.json { out.json(&event_json(&event), false) } else { out.line(&event_line(&event)) };
        match printed {
            Ok(()) => {}
            // A closed output (`| head`) ends the watch quietly.
            Err(Stop::Closed) => return 0,
            Err(Stop::Failed(s)) => return s,
        }
    }
    warn(&format!(
        "a2s: stopped after {}, {events} event{}",
        seconds(started.elapsed()),
        if events == 1 { "" } else { "s" }
    ));
    0
}

/// The monitor with the servers given and listed in `file` ("-": standard input); the
/// exit status when none can be watched or the list cannot be read.
pub fn fill<D: TextDecoder>(
    mut monitor: Monitor<D>,
    addrs: Vec<String>,
    file: Option<&str>,
    stop: &AtomicBool,
) -> Result<Monitor<D>, u8> {
    let list = match file {
        None => None,
        Some(path) => match crate::open(path) {
            Ok(reader) => Some((if path == "-" { "stdin".to_string() } else { path.to_string() }, reader)),
            Err(e) => {
                warn(&format!("a2s: {path}: {e}"));
                return Err(2);
            }
        },
    };
    let shared = Shared::default();
    // (Ctrl-C while the list is read ends it: names to resolve may take a while.)
    for addr in list::input(addrs, list, &shared) {
        if stop.load(Ordering::Relaxed) {
            warn("a2s: stopped while reading the list");
            return Err(0);
        }
        if let Err(e) = monitor.add(addr) {
            warn(&format!("a2s: {addr}: {e}"));
        }
    }
    if let Some(e) = list::update(&shared, |p| p.read_error.take()) {
        warn(&format!("a2s: cannot read the list: {e}"));
        return Err(1);
    }
    if monitor.is_empty() {
        warn("a2s: no server to watch");
        return Err(1);
    }
    Ok(monitor)
}

/// Whether standard output is a pipe whose reader has gone (Linux: asked without
/// writing; elsewhere the next line written tells).
#[cfg(target_os = "linux")]
fn output_closed() -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
    let ready = matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0);
    let gone = PollFlags::POLLERR | PollFlags::POLLHUP;
    ready && fds.first().and_then(PollFd::revents).is_some_and(|r| r.intersects(gone))
}

/// Whether standard output is a pipe whose reader has gone: told by the next line
/// written here.
#[cfg(not(target_os = "linux"))]
fn output_closed() -> bool {
    false
}

/// "30 s", "1.5 s".
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.1} s", s)
    }
}

/// The time now as RFC 3339 in UTC, to the millisecond: `2026-12-07T09:40:00.123Z`.
fn now_utc() -> String {
    utc(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// A time since the Unix epoch as RFC 3339 in UTC, to the millisecond.
fn utc(since: Duration) -> String {
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// One readable line: the time, the server, what changed (control characters a
/// server sent shown escaped).
fn event_line<S: TextBuf>(event: &Event<S>) -> String {
    format!("{} {}", now_utc(), clean(event.to_string().as_bytes()))
}

/// One JSON object: `time`, `address`, `event`, and the change's fields.
fn event_json<S: TextBuf + Serialize>(event: &Event<S>) -> Value {
    let (kind, fields) = match &event.change {
        Change::Up { info } => ("up", json!({ "info": info })),
        Change::Down { reason, error } => ("down", json!({ "reason": reason.to_string(), "error": error.to_string() })),
        Change::MapChanged { from, to } => ("map_changed", json!({ "from": from, "to": to })),
        Change::NameChanged { from, to } => ("name_changed", json!({ "from": from, "to": to })),
        Change::MaxPlayersChanged { from, to } => ("max_players_changed", json!({ "from": from, "to": to })),
        Change::PasswordChanged { password } => ("password_changed", json!({ "password": password })),
        Change::PlayerCount { from, to } => ("player_count", json!({ "from": from, "to": to })),
        Change::PlayersCrossed { threshold, from, to } => {
            ("players_crossed", json!({ "threshold": threshold, "from": from, "to": to }))
        }
        Change::PlayerJoined { name } => ("player_joined", json!({ "name": name })),
        Change::PlayerLeft { name } => ("player_left", json!({ "name": name })),
        other => ("other", json!({ "change": format!("{other:?}") })),
    };
    let mut object = json!({ "time": now_utc(), "address": event.addr.to_string(), "event": kind });
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_868_799, 999, "2000-02-29T23:59:59.999Z"),
            (1_796_636_400, 123, "2026-12-07T09:40:00.123Z"),
            (4_107_585_600, 5, "2100-03-01T12:00:00.005Z"),
        ];
        for (secs, millis, want) in cases {
            assert_eq!(utc(Duration::from_secs(secs) + Duration::from_millis(millis)), want);
        }
    }
}
