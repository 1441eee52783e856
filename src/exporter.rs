//! Prometheus metrics of game servers over HTTP (feature `exporter`), what `a2s
//! exporter` serves. `/metrics`: the servers of a [`Monitor`], polled in the background
//! on the exporter's own thread (a scrape reads what the monitor knows, and never waits
//! on a slow server). `/probe?target=HOST:PORT`: one server asked at scrape time, as
//! blackbox_exporter does, so Prometheus's own sharding spreads targets over several
//! exporters. The exposition is written by `prometheus-client` (OpenMetrics text); the
//! HTTP is served by a small server of its own, bounded against untrusted clients (each
//! connection on a thread of its own, at most 512 at once; a request's head read within
//! 10 s and 16 KiB; bodies never read; one request a connection).
//!
//! ```
//! use std::time::Duration;
//! use a2s_query::exporter::Exporter;
//! use a2s_query::Monitor;
//! # let server = a2s_query::server::Responder::new(a2s_query::Info::Source(Default::default()), vec![], vec![]).spawn("127.0.0.1:0")?;
//! # let addr = server.local_addr();
//!
//! let mut monitor = Monitor::builder().every(Duration::from_secs(30)).build()?;
//! monitor.add(addr)?;
//! let exporter = Exporter::builder().listen("127.0.0.1:0").monitor(monitor).spawn()?;
//! println!("scrape http://{}/metrics", exporter.local_addr());
//! exporter.stop();
//! # Ok::<(), a2s_query::Error>(())
//! ```
//!
//! The series, each with an `address` label: `a2s_up` (1 up, 0 down or not heard yet),
//! `a2s_players`, `a2s_max_players`, `a2s_bots`, `a2s_ping_seconds` and `a2s_info`
//! (value 1; `name`, `map`, `version`, `game`, `folder` labels) while the server is up,
//! `a2s_failures_total` by `reason`, `a2s_polls_total`,
//! `a2s_last_success_timestamp_seconds`; with player names on,
//! `a2s_player_connected_seconds` by `player` (a series per player: mind the
//! cardinality; players of one name are one series, the longest time on). `/metrics`
//! adds `a2s_servers` (no label); a probe adds `a2s_probe_success` and
//! `a2s_probe_duration_seconds`, and has no failure counters (its success says it).
//!
//! Each probe runs on a thread of its own (at most 256 at once; one more is answered
//! 503), so a slow server holds no HTTP worker and `/metrics` never waits behind it. A
//! target's name is resolved within the probe's time too: a resolver slower than that
//! fails the probe (and is left to finish on a thread of its own, at most 256 at once).
//! Servers are added and removed while it runs with [`Exporter::add`] and
//! [`Exporter::remove`].
//!
//! `/probe` asks whatever target it is given, as blackbox_exporter does: anyone who
//! reaches the exporter can have it send A2S queries to any address it can reach (its
//! loopback and local network included) and tell from the answer whether something
//! listens there. Listen on an address only Prometheus reaches (the default,
//! `0.0.0.0`, is every interface), or firewall the port.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use self::http::{Head, Listener, Response};

use crate::error::{Error, Result};
use crate::{Client, Info, Monitor, Players, Reason, State, Status};

mod http;

/// The port listened on by default: Prometheus's exporter range (9100-9999) is taken
/// whole, and no exporter of its list outside the range uses this one.
const DEFAULT_PORT: u16 = 10015;
/// The name of the thread that runs the monitor (a profile or a benchmark finds its
/// time by it).
const MONITOR_THREAD: &str = "a2s-monitor";
/// Probes under way at once, at most; one more is answered 503.
const MAX_PROBES: usize = 256;
/// How often the monitor's thread looks for a scrape waiting (a scrape waits half of it
/// on average; the look costs a wake-up).
const SCRAPE_CHECK: Duration = Duration::from_millis(5);
/// The least time left for a probe's players query to be asked.
const MIN_PLAYERS_TIME: Duration = Duration::from_millis(50);
/// The longest a scrape waits for the monitor's thread.
const SCRAPE_WAIT: Duration = Duration::from_secs(5);
/// What a probe leaves of Prometheus's scrape timeout for the answer to travel.
const PROBE_MARGIN: Duration = Duration::from_millis(500);
/// Probe targets' names being resolved at once, at most, each on a thread of its own
/// (the system resolver takes no time limit, so a probe leaves a slow one behind); a
/// probe past it fails at once rather than pile up threads while the resolver hangs.
const MAX_RESOLVING: usize = 256;
/// The content type of the OpenMetrics text `prometheus-client` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Options of an [`Exporter`]: build one with [`Exporter::builder`].
#[derive(Debug)]
pub struct ExporterBuilder {
    listen: String,
    monitor: Option<Monitor>,
    player_names: bool,
    timeout: Duration,
    retries: u8,
}

impl ExporterBuilder {
    /// The address to serve HTTP on. Default `0.0.0.0:10015` (outside Prometheus's
    /// exporter range, 9100-9999, which is taken whole; no exporter its list names
    /// uses 10015); a port 0 takes a free one ([`Exporter::local_addr`] tells it).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// The servers of `/metrics`: the monitor runs on the exporter's thread (named
    /// `a2s-monitor`) from now on. Without one, `/metrics` answers 404 and only
    /// `/probe` serves.
    pub fn monitor(mut self, monitor: Monitor) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Export each named player's time on the server (`a2s_player_connected_seconds`,
    /// a series per player); the monitor must ask for players
    /// ([`Builder::players`](crate::Builder::players)), and probes then
    /// ask too. Default off.
    pub fn player_names(mut self, on: bool) -> Self {
        self.player_names = on;
        self
    }

    /// The longest a probe's query takes (less when Prometheus's scrape timeout, less
    /// half a second, is shorter). Default 3 s.
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Extra sends of a probe's request that got no answer. Default 0.
    pub fn probe_retries(mut self, retries: u8) -> Self {
        self.retries = retries;
        self
    }

    /// Starts serving, on threads of its own.
    ///
    /// # Errors
    /// [`Error::Io`] when the address cannot be listened on.
    pub fn spawn(self) -> Result<Exporter> {
        // (Bound first: an address in use starts nothing.)
        let socket = http::bind(&self.listen).map_err(Error::Io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut monitor_thread = None;
        let wishes = match self.monitor {
            Some(monitor) => {
                let (tx, rx) = mpsc::channel::<ToMonitor>();
                let stop = Arc::clone(&stop);
                // (Named, so a profile or a benchmark can find the polling's own time.)
                let thread = std::thread::Builder::new()
                    .name(MONITOR_THREAD.into())
                    .spawn(move || run_monitor(monitor, &rx, &stop))
                    .map_err(Error::Io)?;
                monitor_thread = Some(thread);
                Some(tx)
            }
            None => None,
        };
        let probe = Probe {
            timeout: self.timeout,
            retries: self.retries,
            player_names: self.player_names,
            under_way: Arc::new(AtomicUsize::new(0)),
            resolving: Arc::new(AtomicUsize::new(0)),
        };
        let serving = wishes.clone();
        let listener = Listener::spawn(socket, move |head: &Head| answer(head, serving.as_ref(), &probe));
        let listener = match listener {
            Ok(listener) => listener,
            Err(e) => {
                // (The monitor's thread ends with its channel.)
                stop.store(true, Ordering::Relaxed);
                return Err(Error::Io(e));
            }
        };
        Ok(Exporter { listener, stop, monitor_thread, monitor: wishes })
    }
}

/// Prometheus metrics served over HTTP: see the [module](self) for the endpoints and
/// the series. It serves until [`Exporter::stop`] or until dropped.
pub struct Exporter {
    /// The HTTP side; dropped, it stops accepting (the connections under way end on
    /// their own, after their request).
    listener: Listener,
    /// Tells the monitor's thread to end.
    stop: Arc<AtomicBool>,
    /// The monitor's thread, joined at the end.
    monitor_thread: Option<JoinHandle<()>>,
    /// The monitor's thread, if one runs.
    monitor: Option<mpsc::Sender<ToMonitor>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("local", &self.listener.local_addr()).finish_non_exhaustive()
    }
}

impl Exporter {
    /// Options, starting from the defaults.
    pub fn builder() -> ExporterBuilder {
        ExporterBuilder {
            listen: format!("0.0.0.0:{DEFAULT_PORT}"),
            monitor: None,
            player_names: false,
            timeout: crate::DEFAULT_TIMEOUT,
            retries: 0,
        }
    }

    /// The address it serves on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Watches one more server on `/metrics`, its first poll at once; false when no
    /// monitor was given ([`ExporterBuilder::monitor`]).
    pub fn add(&self, addr: SocketAddr) -> bool {
        self.monitor.as_ref().is_some_and(|m| m.send(ToMonitor::Add(addr)).is_ok())
    }

    /// Stops watching `addr` on `/metrics` (its series go); false when no monitor was
    /// given.
    pub fn remove(&self, addr: SocketAddr) -> bool {
        self.monitor.as_ref().is_some_and(|m| m.send(ToMonitor::Remove(addr)).is_ok())
    }

    /// Whether it still serves.
    ///
    /// # Errors
    /// [`Error::Io`] once the HTTP server stopped on its own: its listener failed (too
    /// many open files, say) and accepts no more connections.
    pub fn serving(&self) -> Result<()> {
        match self.listener.failure() {
            Some(why) => Err(Error::Io(io::Error::other(format!("the exporter stopped serving: {why}")))),
            None => Ok(()),
        }
    }

    /// Stops serving and the monitor. Requests under way are answered on their own
    /// threads (a probe in its time, a scrape as fast as its client reads).
    pub fn stop(self) {}
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.monitor_thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a probe is asked with.
#[derive(Debug, Clone)]
struct Probe {
    timeout: Duration,
    retries: u8,
    player_names: bool,
    /// Probes under way, each on a thread of its own (a slow server holds no worker).
    under_way: Arc<AtomicUsize>,
    /// Names being resolved for probes, each on a thread of its own.
    resolving: Arc<AtomicUsize>,
}

/// A place among the probes (or the names resolving) under way, given back when
/// dropped.
struct ProbeSlot(Arc<AtomicUsize>);

impl ProbeSlot {
    /// A place among those `counter` counts, if fewer than `max` are taken.
    fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<ProbeSlot> {
        // (Counted first, given back by the drop when over.)
        let slot = ProbeSlot(Arc::clone(counter));
        (counter.fetch_add(1, Ordering::Relaxed) < max).then_some(slot)
    }
}

impl Drop for ProbeSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A scrape's wish: the rows, sent back on the channel given.
type Wish = mpsc::Sender<Vec<Row>>;

/// What the monitor's thread is asked: the rows of a scrape, or a server more or less.
#[derive(Debug)]
enum ToMonitor {
    Scrape(Wish),
    Add(SocketAddr),
    Remove(SocketAddr),
}

/// The monitor's thread: polls, and answers scrapes with what it knows.
fn run_monitor(mut monitor: Monitor, asks: &mpsc::Receiver<ToMonitor>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        // Events are the watch's; here only the statuses count. (One deadline a turn:
        // a stream of events must not keep a scrape or the stop waiting.)
        let until = Instant::now() + SCRAPE_CHECK;
        while Instant::now() < until && monitor.next_event_before(until).is_some() {}
        while let Ok(ask) = asks.try_recv() {
            match ask {
                ToMonitor::Scrape(wish) => {
                    let now = (Instant::now(), SystemTime::now());
                    let mut statuses: Vec<&Status> = monitor.statuses().collect();
                    // By address: a stable exposition, and the table's order (which
                    // its hash keys decide) kept to itself.
                    statuses.sort_unstable_by_key(|s| s.addr);
                    let rows = statuses.into_iter().map(|s| Row::of(s, now)).collect();
                    let _ = wish.send(rows);
                }
                ToMonitor::Add(addr) => {
                    let _ = monitor.add(addr);
                }
                ToMonitor::Remove(addr) => {
                    monitor.remove(addr);
                }
            }
        }
    }
}

/// One server's metrics, as the monitor or a probe knew them at the scrape.
#[derive(Debug)]
struct Row {
    address: String,
    state: State,
    info: Option<Info>,
    players: Option<Players>,
    failures: Vec<(Reason, u64)>,
    polls: Option<u64>,
    /// Seconds since the Unix epoch.
    last_success: Option<f64>,
}

impl Row {
    fn of(status: &Status, now: (Instant, SystemTime)) -> Row {
        let last_success = status.last_success.map(|at| {
            let ago = now.0.saturating_duration_since(at);
            now.1.checked_sub(ago).unwrap_or(UNIX_EPOCH).duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
        });
        Row {
            address: status.addr.to_string(),
            state: status.state,
            info: status.info.clone(),
            players: status.players.clone(),
            failures: Reason::ALL.iter().map(|r| (*r, status.failures(*r))).collect(),
            polls: Some(status.polls),
            last_success,
        }
    }
}

/// Answers one HTTP request.
fn answer(head: &Head, wishes: Option<&mpsc::Sender<ToMonitor>>, probe: &Probe) -> Response {
    let (path, query) = head.target.split_once('?').unwrap_or((head.target.as_str(), ""));
    match path {
        "/metrics" => match wishes {
            Some(wishes) => metrics(wishes, probe.player_names),
            None => {
                Response::text(404, "no servers listed (give ADDR or -f LIST); one server: /probe?target=HOST:PORT\n")
            }
        },
        "/probe" => match param(query, "target") {
            Some(target) => {
                let scrape_timeout = head
                    .header("X-Prometheus-Scrape-Timeout-Seconds")
                    .and_then(|v| v.parse::<f64>().ok())
                    .and_then(|s| Duration::try_from_secs_f64(s).ok());
                // (On its connection's thread: a slow server holds no other request.)
                match ProbeSlot::take(&probe.under_way, MAX_PROBES) {
                    None => Response::text(503, "too many probes under way; try again\n"),
                    Some(_slot) => probe_target(&target, probe, scrape_timeout),
                }
            }
            None => Response::text(400, "give the server to probe: /probe?target=HOST:PORT\n"),
        },
        "/" => {
            Response::text(200, "a2s exporter: /metrics (the servers listed), /probe?target=HOST:PORT (one server)\n")
        }
        _ => Response::text(404, "not found: /metrics or /probe?target=HOST:PORT\n"),
    }
}

fn exposition(body: String) -> Response {
    Response { status: 200, content_type: CONTENT_TYPE, body: body.into_bytes() }
}

/// `/metrics`: what the monitor knows of every server.
fn metrics(wishes: &mpsc::Sender<ToMonitor>, player_names: bool) -> Response {
    let (tx, rx) = mpsc::channel();
    if wishes.send(ToMonitor::Scrape(tx)).is_err() {
        return Response::text(503, "the monitor stopped\n");
    }
    match rx.recv_timeout(SCRAPE_WAIT) {
        Ok(rows) => {
            let servers = Number::Count(i64::try_from(rows.len()).unwrap_or(i64::MAX));
            let head = vec![Single {
                name: "a2s_servers",
                help: "Servers watched",
                unit: None,
                address: None,
                value: servers,
            }];
            exposition(encoded(Snapshot { head, rows, player_names }))
        }
        Err(_) => Response::text(503, "the monitor did not answer in time\n"),
    }
}

/// `/probe?target=`: one server asked now, within the timeout (or Prometheus's scrape
/// timeout less a margin), its players too in what is left of it.
fn probe_target(target: &str, probe: &Probe, scrape_timeout: Option<Duration>) -> Response {
    // (A short scrape timeout keeps half of itself, not next to nothing.)
    let scrape_limit = |s: Duration| s.saturating_sub(PROBE_MARGIN).max(s / 2);
    let limit = scrape_timeout.map_or(probe.timeout, |s| probe.timeout.min(scrape_limit(s)));
    let limit = limit.max(Duration::from_millis(1));
    let started = Instant::now();
    let left = || limit.saturating_sub(started.elapsed());
    let client = |timeout: Duration| Client::builder().timeout(timeout).retries(probe.retries).build();
    let (addr, info) = match resolve_within(target, limit, &probe.resolving, crate::net::resolve_v4_first) {
        Ok(_) if left().is_zero() => (None, Err(late_name(target, started.elapsed(), limit))),
        Ok(addr) => (Some(addr), client(left()).info(addr)),
        Err(e) => (None, Err(e)),
    };
    let players = match (addr, &info, probe.player_names) {
        (Some(addr), Ok(_), true) if left() >= MIN_PLAYERS_TIME => client(left()).players(addr).ok(),
        _ => None,
    };
    let elapsed = started.elapsed();
    let success = info.is_ok();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let row = Row {
        address: target.to_string(),
        state: if success { State::Up } else { State::Down },
        last_success: success.then_some(now),
        info: info.ok(),
        players,
        failures: Vec::new(),
        polls: None,
    };
    let address = Some(target.to_string());
    let head = vec![
        Single {
            name: "a2s_probe_success",
            help: "Whether the server answered the probe's info query",
            unit: None,
            address: address.clone(),
            value: Number::Count(i64::from(success)),
        },
        Single {
            name: "a2s_probe_duration",
            help: "How long the probe took",
            unit: Some(Unit::Seconds),
            address,
            value: Number::Measure(elapsed.as_secs_f64()),
        },
    ];
    exposition(encoded(Snapshot { head, rows: vec![row], player_names: probe.player_names }))
}

/// `target`'s address by `resolve` within `limit`: an address at once, a name on a
/// thread of its own (counted in `resolving`), left to finish alone when it takes
/// longer.
fn resolve_within(
    target: &str,
    limit: Duration,
    resolving: &Arc<AtomicUsize>,
    resolve: fn(&str) -> Result<SocketAddr>,
) -> Result<SocketAddr> {
    if let Ok(addr) = target.parse() {
        return Ok(addr);
    }
    if let Some(fault) = crate::net::address_fault(target) {
        return Err(Error::Address(fault));
    }
    let Some(slot) = ProbeSlot::take(resolving, MAX_RESOLVING) else {
        return Err(Error::Resolve(io::Error::other(format!(
            "{target}: {MAX_RESOLVING} names are resolving already (is the resolver answering?)"
        ))));
    };
    let (tx, rx) = mpsc::channel();
    let name = target.to_string();
    std::thread::Builder::new()
        .name("a2s-resolve".into())
        .spawn(move || {
            let resolved = resolve(&name);
            // Given back before the answer, so that whoever reads it sees the count without this name.
            drop(slot);
            let _ = tx.send(resolved);
        })
        .map_err(|e| Error::Io(io::Error::new(e.kind(), format!("no thread to resolve {target} on: {e}"))))?;
    rx.recv_timeout(limit).unwrap_or_else(|_| Err(late_name(target, limit, limit)))
}

/// The error of a probe target's name that took `took` of the probe's `limit`.
fn late_name(target: &str, took: Duration, limit: Duration) -> Error {
    Error::Resolve(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{target}: the name took {took:?} of the probe's {limit:?} to resolve, leaving none to ask the server"),
    ))
}

/// The exposition of `snapshot`, as `prometheus-client` writes it.
fn encoded(snapshot: Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut body = String::new();
    if encode(&mut body, &registry).is_err() {
        body.clear();
    }
    body
}

/// A gauge of one series (with an `address` label, or none).
#[derive(Debug)]
struct Single {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    address: Option<String>,
    value: Number,
}

/// A gauge's value: a count, or a measure.
#[derive(Debug, Clone, Copy)]
enum Number {
    Count(i64),
    Measure(f64),
}

/// What one scrape shows: gauges of its own, then a series per row in each family. Each
/// family is written straight from the rows (no registry of metrics to fill and lock:
/// ten thousand servers are a few hundred thousand series).
#[derive(Debug)]
struct Snapshot {
    head: Vec<Single>,
    rows: Vec<Row>,
    player_names: bool,
}

/// The `address` label of a row.
fn address(row: &Row) -> Vec<(&'static str, &str)> {
    vec![("address", row.address.as_str())]
}

/// A family's values: its rows' series, each with its labels.
type Series<'a, T> = Vec<(Vec<(&'static str, &'a str)>, T)>;

impl Snapshot {
    /// Writes one family of gauges.
    fn gauges<T: EncodeGaugeValue>(
        encoder: &mut DescriptorEncoder,
        (name, help, unit): (&str, &str, Option<&Unit>),
        series: Series<'_, T>,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
        for (labels, value) in &series {
            family.encode_family(labels)?.encode_gauge(value)?;
        }
        Ok(())
    }

    /// Writes one family of counters.
    fn counters(
        encoder: &mut DescriptorEncoder,
        (name, help): (&str, &str),
        series: Series<'_, u64>,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in &series {
            family.encode_family(labels)?.encode_counter::<NoLabelSet, _, u64>(value, None)?;
        }
        Ok(())
    }

    /// The address label and the info of each row that is up.
    fn up(&self) -> impl Iterator<Item = (Vec<(&'static str, &str)>, &Info)> {
        self.rows.iter().filter_map(|r| match (r.state, &r.info) {
            (State::Up, Some(info)) => Some((vec![("address", r.address.as_str())], info)),
            _ => None,
        })
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        for single in &self.head {
            let mut family =
                encoder.encode_descriptor(single.name, single.help, single.unit.as_ref(), MetricType::Gauge)?;
            let labels: Vec<(&str, &str)> = single.address.iter().map(|a| ("address", a.as_str())).collect();
            let mut series = family.encode_family(&labels)?;
            match single.value {
                Number::Count(n) => series.encode_gauge(&n)?,
                Number::Measure(x) => series.encode_gauge(&x)?,
            }
        }
        let up = self.rows.iter().map(|r| (address(r), i64::from(r.state == State::Up))).collect();
        let help = "Whether the server answers (1) or is down or not heard yet (0)";
        Self::gauges(&mut encoder, ("a2s_up", help, None), up)?;
        let players = self.up().map(|(a, i)| (a, i64::from(i.player_count()))).collect();
        let help = "Players on the server, bots included, as its info says";
        Self::gauges(&mut encoder, ("a2s_players", help, None), players)?;
        let max = self.up().map(|(a, i)| (a, i64::from(i.max_players()))).collect();
        Self::gauges(&mut encoder, ("a2s_max_players", "The server's player limit", None), max)?;
        let bots = self.up().map(|(a, i)| (a, i64::from(i.bot_count()))).collect();
        Self::gauges(&mut encoder, ("a2s_bots", "Bots on the server", None), bots)?;
        let ping = self.up().map(|(a, i)| (a, i.ping().as_secs_f64())).collect();
        let help = "Round trip of the last info query";
        Self::gauges(&mut encoder, ("a2s_ping", help, Some(&Unit::Seconds)), ping)?;
        let info = self
            .up()
            .map(|(mut labels, i)| {
                labels.extend([
                    ("name", i.server_name()),
                    ("map", i.map_name()),
                    ("version", i.version().unwrap_or_default()),
                    ("game", i.game()),
                    ("folder", i.folder()),
                ]);
                (labels, 1i64)
            })
            .collect();
        let help = "The server's name, map, version, game and folder (value 1)";
        Self::gauges(&mut encoder, ("a2s_info", help, None), info)?;
        let failures = self
            .rows
            .iter()
            .flat_map(|r| {
                r.failures
                    .iter()
                    .map(|(reason, n)| (vec![("address", r.address.as_str()), ("reason", reason.as_str())], *n))
            })
            .collect();
        Self::counters(&mut encoder, ("a2s_failures", "Queries that failed, by reason"), failures)?;
        let polls = self.rows.iter().filter_map(|r| Some((address(r), r.polls?))).collect();
        Self::counters(&mut encoder, ("a2s_polls", "Polls of the server"), polls)?;
        let last = self.rows.iter().filter_map(|r| Some((address(r), r.last_success?))).collect();
        let help = "When the server last answered, in seconds since the Unix epoch";
        Self::gauges(&mut encoder, ("a2s_last_success_timestamp", help, Some(&Unit::Seconds)), last)?;
        if self.player_names {
            // One series a name: players of one name (bots, "Player") are one series,
            // the longest time on.
            let connected = self
                .rows
                .iter()
                .filter(|r| r.state == State::Up)
                .flat_map(|r| {
                    let list = r.players.as_ref().map(|p| &p.entries[..]).unwrap_or_default();
                    let mut longest: BTreeMap<&str, f64> = BTreeMap::new();
                    for p in list.iter().filter(|p| !p.name.is_empty()) {
                        let time = longest.entry(p.name.as_str()).or_insert(f64::NEG_INFINITY);
                        *time = time.max(f64::from(p.duration));
                    }
                    longest
                        .into_iter()
                        .map(|(name, time)| (vec![("address", r.address.as_str()), ("player", name)], time))
                })
                .collect();
            let help = "How long each named player has been on";
            Self::gauges(&mut encoder, ("a2s_player_connected", help, Some(&Unit::Seconds)), connected)?;
        }
        Ok(())
    }
}

/// The value of `name` in a URL query, percent-decoded.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name && !value.is_empty()).then(|| percent_decoded(value))
    })
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_decoded() {
        assert_eq!(param("target=127.0.0.1%3A27015", "target").as_deref(), Some("127.0.0.1:27015"));
        assert_eq!(param("module=a2s&target=%5B%3A%3A1%5D:27015", "target").as_deref(), Some("[::1]:27015"));
        assert_eq!(param("target=", "target"), None);
        assert_eq!(param("other=1", "target"), None);
        assert_eq!(param("target=a+b%zz", "target").as_deref(), Some("a b%zz"));
    }

    /// A resolver that never answers (until the test process ends).
    fn hanging(_: &str) -> Result<SocketAddr> {
        loop {
            std::thread::park();
        }
    }

    fn at_once(_: &str) -> Result<SocketAddr> {
        Ok("192.0.2.7:27015".parse().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))))
    }

    #[test]
    fn a_probe_target_resolves_within_its_time_or_fails() {
        let resolving = Arc::new(AtomicUsize::new(0));
        let limit = Duration::from_millis(50);
        // An address needs no resolver, nor a thread.
        let addr = resolve_within("[::1]:27015", limit, &resolving, hanging).unwrap();
        assert_eq!(addr, "[::1]:27015".parse::<SocketAddr>().unwrap());
        assert_eq!(resolving.load(Ordering::Relaxed), 0);
        // A name the resolver answers.
        let addr = resolve_within("game.example:27015", Duration::from_secs(30), &resolving, at_once).unwrap();
        assert_eq!(addr, "192.0.2.7:27015".parse::<SocketAddr>().unwrap());
        // A name the resolver never answers: the probe's time ends it, the thread is
        // left counted.
        let err = resolve_within("slow.example:27015", limit, &resolving, hanging).unwrap_err();
        assert!(matches!(&err, Error::Resolve(e) if e.kind() == io::ErrorKind::TimedOut), "{err}");
        assert!(err.to_string().contains("to resolve, leaving none"), "{err}");
        assert_eq!(resolving.load(Ordering::Relaxed), 1, "the name still resolving, and only it");
        // An address written wrong is named as such, without a thread.
        let err = resolve_within("203.0.113.7", limit, &resolving, hanging).unwrap_err();
        assert!(matches!(&err, Error::Address(_)), "{err}");
        assert_eq!(resolving.load(Ordering::Relaxed), 1);
        // Past the cap, a name fails at once, without a thread.
        resolving.store(MAX_RESOLVING, Ordering::Relaxed);
        let err = resolve_within("more.example:27015", Duration::from_secs(30), &resolving, at_once).unwrap_err();
        assert!(err.to_string().contains("resolving already"), "{err}");
        assert_eq!(resolving.load(Ordering::Relaxed), MAX_RESOLVING);
    }
}
