//! Prometheus metrics of game servers over HTTP (feature `exporter`), what `a2s
//! exporter` serves. `/metrics`: the servers of a [`Monitor`], polled in the background
//! on the exporter's own thread (a scrape reads what the monitor knows, and never waits
//! on a slow server). `/probe?target=HOST:PORT`: one server asked at scrape time, as
//! blackbox_exporter does, so Prometheus's own sharding spreads targets over several
//! exporters. The exposition is written by `prometheus-client` (OpenMetrics text), the
//! HTTP served by `tiny_http`.
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
//! cardinality). `/metrics` adds `a2s_servers`; a probe adds `a2s_probe_success` and
//! `a2s_probe_duration_seconds`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use tiny_http::{Header, Request, Response, Server};

use crate::error::{Error, Result};
use crate::{Client, Info, Monitor, Players, Reason, State, Status};

/// The port `a2s exporter` listens on by default: Prometheus's exporter range
/// (9100-9999) is taken whole, and no exporter of its list outside the range uses this
/// one.
pub const DEFAULT_PORT: u16 = 10015;
/// Threads answering HTTP: a probe blocks one for its query's time.
const WORKERS: usize = 8;
/// How often the monitor's thread looks for a scrape waiting.
const SCRAPE_CHECK: Duration = Duration::from_millis(20);
/// The longest a scrape waits for the monitor's thread.
const SCRAPE_WAIT: Duration = Duration::from_secs(5);
/// What a probe leaves of Prometheus's scrape timeout for the answer to travel.
const PROBE_MARGIN: Duration = Duration::from_millis(500);
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
    /// The address to serve HTTP on. Default `0.0.0.0:10015` ([`DEFAULT_PORT`]); a
    /// port 0 takes a free one ([`Exporter::local_addr`] tells it).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// The servers of `/metrics`: the monitor runs on the exporter's thread from now
    /// on. Without one, `/metrics` answers 404 and only `/probe` serves.
    pub fn monitor(mut self, monitor: Monitor) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Export each named player's time on the server (`a2s_player_connected_seconds`,
    /// a series per player); the monitor must ask for players
    /// ([`MonitorBuilder::players`](crate::MonitorBuilder::players)), and probes then
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
        let server = Server::http(self.listen.as_str())
            .map_err(|e| Error::Io(io::Error::other(format!("cannot listen on {}: {e}", self.listen))))?;
        let server = Arc::new(server);
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::Io(io::Error::other("the HTTP server has no IP address")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let wishes = match self.monitor {
            Some(monitor) => {
                let (tx, rx) = mpsc::channel::<Wish>();
                let stop = Arc::clone(&stop);
                threads.push(std::thread::spawn(move || run_monitor(monitor, &rx, &stop)));
                Some(tx)
            }
            None => None,
        };
        let probe = Probe { timeout: self.timeout, retries: self.retries, player_names: self.player_names };
        for _ in 0..WORKERS {
            let (server, stop, wishes) = (Arc::clone(&server), Arc::clone(&stop), wishes.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(request) = server.recv() else { break };
                    answer(request, wishes.as_ref(), probe);
                }
                // (One unblock wakes one waiting thread: pass it on.)
                server.unblock();
            }));
        }
        Ok(Exporter { server, stop, threads, local })
    }
}

/// Prometheus metrics served over HTTP: see the [module](self) for the endpoints and
/// the series. It serves until [`Exporter::stop`] or until dropped.
pub struct Exporter {
    server: Arc<Server>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    local: SocketAddr,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("local", &self.local).finish_non_exhaustive()
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
        self.local
    }

    /// Stops serving (a request under way is answered first) and the monitor.
    pub fn stop(self) {}
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.unblock();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// What a probe is asked with.
#[derive(Debug, Clone, Copy)]
struct Probe {
    timeout: Duration,
    retries: u8,
    player_names: bool,
}

/// A scrape's wish: the rows, sent back on the channel given.
type Wish = mpsc::Sender<Vec<Row>>;

/// The monitor's thread: polls, and answers scrapes with what it knows.
fn run_monitor(mut monitor: Monitor, wishes: &mpsc::Receiver<Wish>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        // Events are the watch's; here only the statuses count.
        while monitor.next_event_before(Instant::now() + SCRAPE_CHECK).is_some() {}
        while let Ok(wish) = wishes.try_recv() {
            let now = (Instant::now(), SystemTime::now());
            let rows = monitor.statuses().map(|s| Row::of(s, now)).collect();
            let _ = wish.send(rows);
        }
    }
}

/// One server's metrics, as the monitor or a probe knew them at the scrape.
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
fn answer(request: Request, wishes: Option<&mpsc::Sender<Wish>>, probe: Probe) {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let response = match path {
        "/metrics" => match wishes {
            Some(wishes) => metrics(wishes, probe.player_names),
            None => text(404, "no servers listed (give ADDR or -f LIST); one server: /probe?target=HOST:PORT\n"),
        },
        "/probe" => match param(query, "target") {
            Some(target) => {
                let scrape_timeout = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("X-Prometheus-Scrape-Timeout-Seconds"))
                    .and_then(|h| h.value.as_str().parse::<f64>().ok())
                    .and_then(|s| Duration::try_from_secs_f64(s).ok());
                probe_target(&target, probe, scrape_timeout)
            }
            None => text(400, "give the server to probe: /probe?target=HOST:PORT\n"),
        },
        "/" => text(200, "a2s exporter: /metrics (the servers listed), /probe?target=HOST:PORT (one server)\n"),
        _ => text(404, "not found: /metrics or /probe?target=HOST:PORT\n"),
    };
    let _ = request.respond(response);
}

fn text(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let plain = Header::from_bytes("Content-Type", "text/plain; charset=utf-8").ok();
    let response = Response::from_string(body).with_status_code(status);
    match plain {
        Some(h) => response.with_header(h),
        None => response,
    }
}

fn exposition(body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let response = Response::from_string(body);
    match Header::from_bytes("Content-Type", CONTENT_TYPE) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
}

/// `/metrics`: what the monitor knows of every server.
fn metrics(wishes: &mpsc::Sender<Wish>, player_names: bool) -> Response<std::io::Cursor<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    if wishes.send(tx).is_err() {
        return text(503, "the monitor stopped\n");
    }
    match rx.recv_timeout(SCRAPE_WAIT) {
        Ok(rows) => {
            let mut registry = Registry::default();
            let watched = Gauge::<i64>::default();
            watched.set(i64::try_from(rows.len()).unwrap_or(i64::MAX));
            registry.register("a2s_servers", "Servers watched", watched);
            render(&mut registry, &rows, player_names);
            exposition(encoded(&registry))
        }
        Err(_) => text(503, "the monitor did not answer in time\n"),
    }
}

/// `/probe?target=`: one server asked now.
fn probe_target(target: &str, probe: Probe, scrape_timeout: Option<Duration>) -> Response<std::io::Cursor<Vec<u8>>> {
    let Probe { timeout, retries, player_names } = probe;
    let timeout =
        scrape_timeout.map_or(timeout, |s| timeout.min(s.saturating_sub(PROBE_MARGIN))).max(Duration::from_millis(1));
    let started = Instant::now();
    let mut client = Client::builder().timeout(timeout).retries(retries).build();
    let info = client.info(target);
    let players = match (&info, player_names) {
        (Ok(_), true) => client.players(target).ok(),
        _ => None,
    };
    let elapsed = started.elapsed();
    let success = info.is_ok();
    let mut failures = Vec::new();
    if let Err(e) = &info {
        failures.push((Reason::of(e), 1));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let row = Row {
        address: target.to_string(),
        state: if success { State::Up } else { State::Down },
        last_success: success.then_some(now),
        info: info.ok(),
        players,
        failures,
        polls: None,
    };
    let mut registry = Registry::default();
    let ok = Gauge::<i64>::default();
    ok.set(i64::from(success));
    registry.register("a2s_probe_success", "Whether the server answered the probe's info query", ok);
    let took = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    took.set(elapsed.as_secs_f64());
    registry.register_with_unit("a2s_probe_duration", "How long the probe took", Unit::Seconds, took);
    render(&mut registry, &[row], player_names);
    exposition(encoded(&registry))
}

fn encoded(registry: &Registry) -> String {
    let mut body = String::new();
    if encode(&mut body, registry).is_err() {
        body.clear();
    }
    body
}

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Registers every server metric family, with a series per row.
fn render(registry: &mut Registry, rows: &[Row], player_names: bool) {
    let up = Family::<Labels, Gauge>::default();
    let players = Family::<Labels, Gauge>::default();
    let max_players = Family::<Labels, Gauge>::default();
    let bots = Family::<Labels, Gauge>::default();
    let ping = Family::<Labels, FloatGauge>::default();
    let info = Family::<Labels, Gauge>::default();
    let failures = Family::<Labels, Counter>::default();
    let polls = Family::<Labels, Counter>::default();
    let last_success = Family::<Labels, FloatGauge>::default();
    let connected = Family::<Labels, FloatGauge>::default();
    for row in rows {
        let address = vec![("address".to_string(), row.address.clone())];
        up.get_or_create(&address).set(i64::from(row.state == State::Up));
        if let (State::Up, Some(i)) = (row.state, &row.info) {
            players.get_or_create(&address).set(i64::from(i.player_count()));
            max_players.get_or_create(&address).set(i64::from(i.max_players()));
            bots.get_or_create(&address).set(i64::from(i.bot_count()));
            ping.get_or_create(&address).set(i.ping().as_secs_f64());
            let mut labels = address.clone();
            labels.extend([
                ("name".to_string(), i.server_name().to_string()),
                ("map".to_string(), i.map_name().to_string()),
                ("version".to_string(), i.version().unwrap_or_default().to_string()),
                ("game".to_string(), i.game().to_string()),
                ("folder".to_string(), i.folder().to_string()),
            ]);
            info.get_or_create(&labels).set(1);
            if let (true, Some(list)) = (player_names, &row.players) {
                for p in list.iter().filter(|p| !p.name.is_empty()) {
                    let mut labels = address.clone();
                    labels.push(("player".to_string(), p.name.clone()));
                    connected.get_or_create(&labels).set(f64::from(p.duration));
                }
            }
        }
        for (reason, count) in &row.failures {
            let mut labels = address.clone();
            labels.push(("reason".to_string(), reason.to_string()));
            failures.get_or_create(&labels).inc_by(*count);
        }
        if let Some(n) = row.polls {
            polls.get_or_create(&address).inc_by(n);
        }
        if let Some(at) = row.last_success {
            last_success.get_or_create(&address).set(at);
        }
    }
    registry.register("a2s_up", "Whether the server answers (1) or is down or not heard yet (0)", up);
    registry.register("a2s_players", "Players on the server, bots included, as its info says", players);
    registry.register("a2s_max_players", "The server's player limit", max_players);
    registry.register("a2s_bots", "Bots on the server", bots);
    registry.register_with_unit("a2s_ping", "Round trip of the last info query", Unit::Seconds, ping);
    registry.register("a2s_info", "The server's name, map, version, game and folder (value 1)", info);
    registry.register("a2s_failures", "Queries that failed, by reason", failures);
    registry.register("a2s_polls", "Polls of the server", polls);
    registry.register_with_unit(
        "a2s_last_success_timestamp",
        "When the server last answered, in seconds since the Unix epoch",
        Unit::Seconds,
        last_success,
    );
    if player_names {
        registry.register_with_unit(
            "a2s_player_connected",
            "How long each named player has been on",
            Unit::Seconds,
            connected,
        );
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
}
