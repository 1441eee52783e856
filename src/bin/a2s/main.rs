//! `a2s`: ask Valve game servers about themselves (A2S info, players, rules) from the
//! command line. One server: its answer as text, or one JSON document. Several (as
//! arguments, from a file or from standard input): the many-servers engine, a row or a
//! JSON line per server as each answers. `list` prints the servers of a game, from the
//! Steam Web API or a master server; `ports` the servers Steam knows at an IP; `serve`
//! answers queries as a recorded server (or an example one) would; `doctor` explains a
//! server that does not answer.
//!
//! Exit status: 0 when every server answered, 1 when one did not (or a listed address
//! was bad), 2 for bad usage. A closed standard output (`| head`) ends it quietly.

mod doctor;
mod list;
mod listing;
mod output;
mod progress;
mod record;
mod serve;
mod show;
mod watch;

use std::io::{self, BufRead};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use a2s_query::proto::{Filter, Region};
use a2s_query::{Encoding, Raw, TextBuf, TextDecoder};
use clap::{Parser, Subcommand};
use serde::Serialize;

use output::{Batched, Out, Stop};
use progress::warn;

const EXAMPLES: &str = "\
Examples:
  a2s info 203.0.113.7:27015
  a2s all -f servers.txt --json --rate 5000 | jq -c 'select(.info.player_count > 0)'
  STEAM_API_KEY=... a2s list --filter '\\appid\\440\\empty\\1' --limit 500 | a2s info -f -
  a2s list --master master.example.net:27010 --region europe --filter '\\gamedir\\cstrike'
  a2s ports 203.0.113.7
  a2s doctor 203.0.113.7:27015
  a2s watch -f servers.txt --every 60 --json
  a2s exporter -f servers.txt
  a2s serve
  a2s all 203.0.113.7:27015 --record rec
  a2s replay rec
  a2s help rules";

const QUERY_EXAMPLES: &str = "\
Examples:
  a2s info 203.0.113.7:27015
  a2s players 203.0.113.7:27015 --json
  a2s all 203.0.113.7:27015 203.0.113.8:27015 --timeout 1.5 --retries 1
  a2s info -f servers.txt --rate 5000 --max-in-flight 2000";

const RULES_EXAMPLES: &str = "\
Examples:
  a2s rules 203.0.113.7:27015
  a2s rules 203.0.113.7:2303 --arma --json";

const LIST_EXAMPLES: &str = "\
Examples:
  STEAM_API_KEY=... a2s list --filter '\\appid\\440\\empty\\1' --limit 500
  a2s list --key KEY --filter '\\gamedir\\tf' | a2s info -f -
  a2s list --master master.example.net:27010 --region europe --filter '\\gamedir\\cstrike'";

const PORTS_EXAMPLES: &str = "\
Examples:
  a2s ports 203.0.113.7
  a2s ports 203.0.113.7 198.51.100.4 --json";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  a2s doctor 203.0.113.7:27015
  a2s doctor play.example.net:2302 --json";

const REPLAY_EXAMPLES: &str = "\
Examples:
  a2s all 203.0.113.7:27015 --record rec
  a2s replay rec --listen 127.0.0.1:27016";

const WATCH_EXAMPLES: &str = "\
Examples:
  a2s watch 203.0.113.7:27015
  a2s watch -f servers.txt --every 60 --players --json
  a2s watch -f servers.txt --threshold 1 --threshold 20 --down-after 2";

const EXPORTER_EXAMPLES: &str = "\
Examples:
  a2s exporter -f servers.txt --every 30
  a2s exporter --listen 127.0.0.1:10015
  a2s exporter -f servers.txt --player-names --listen 0.0.0.0:10015";

const SERVE_EXAMPLES: &str = "\
Examples:
  a2s serve
  a2s serve --listen 127.0.0.1:27016
  a2s all 203.0.113.7:27015 --json > server.json
  a2s serve server.json";

/// Ask Valve game servers (A2S) for their info, players and rules.
#[derive(Parser, Debug)]
#[command(name = "a2s", version, after_help = EXAMPLES, subcommand_required = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands, each with its own options.
#[derive(Subcommand, Debug)]
enum Command {
    /// Name, map, player counts and more.
    #[command(after_help = QUERY_EXAMPLES)]
    Info(QueryArgs),
    /// Who is playing.
    #[command(after_help = QUERY_EXAMPLES)]
    Players(QueryArgs),
    /// The server's console variables.
    #[command(after_help = RULES_EXAMPLES)]
    Rules {
        #[command(flatten)]
        query: QueryArgs,
        /// Decode an Arma 3 or DayZ server's binary rules (mods, DLCs, difficulty,
        /// signatures).
        #[arg(long)]
        arma: bool,
    },
    /// Info, players and rules.
    #[command(after_help = QUERY_EXAMPLES)]
    All(QueryArgs),
    /// The servers of a game, one address a line.
    ///
    /// From the Steam Web API (with a key), or from a master server (--master).
    #[command(after_help = LIST_EXAMPLES)]
    List(ListArgs),
    /// The servers Steam knows at an IP, with their query ports.
    ///
    /// For when a query times out because it went to the game port. No key needed;
    /// Valve asks for one call every ten minutes or so.
    #[command(after_help = PORTS_EXAMPLES)]
    Ports(PortsArgs),
    /// Answer queries on a local port as a server would, until Ctrl-C.
    ///
    /// From STATE, what `a2s all ADDR --json` printed (a copy of a real server), or a
    /// built-in example server without one. A reply larger than its request goes only
    /// to a client that proved its address (a challenge first), so the port cannot be
    /// used to reflect traffic at others.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Explain a server that does not answer, step by step, ending with what to do.
    ///
    /// Asks INFO and reads what comes back (an answer, a refusal, another service,
    /// silence); on no answer, tries the usual query ports near the one given and, for
    /// a public address, asks Steam which query ports it knows there; on an answer,
    /// tries players and rules and a short burst (a flood filter drops queries). Every
    /// probe is bounded.
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),
    /// Poll servers on a schedule and print what changes, until Ctrl-C.
    ///
    /// A line (or with --json a JSON line) each time a server comes up or goes down
    /// (after --down-after failed polls in a row, with the reason), changes map, name,
    /// player limit, password or player count, crosses a --threshold, or (with
    /// --players) when a player joins or leaves. At most --host-rate queries a second go
    /// to one IP address; a server down is polled less often, up to --max-backoff.
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
    /// Serve Prometheus metrics of servers over HTTP, until Ctrl-C.
    ///
    /// /metrics: the servers listed (ADDR or -f), polled in the background every
    /// --every seconds (a scrape never waits on a slow server). /probe?target=HOST:PORT:
    /// one server asked at scrape time (blackbox_exporter's multi-target pattern, so
    /// Prometheus can spread targets over several exporters). Needs the `exporter`
    /// feature.
    #[command(after_help = EXPORTER_EXAMPLES)]
    Exporter(ExporterArgs),
    /// Serve a recording (`--record DIR`) as the server sent it, until Ctrl-C.
    ///
    /// Any client can then be run against the bytes a real server sent. Challenges are
    /// this command's own, as `serve`'s.
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay(ReplayArgs),
}

/// The options of `watch`.
#[derive(clap::Args, Debug)]
struct WatchArgs {
    /// Servers as host:port (the query port).
    #[arg(value_name = "ADDR", required_unless_present = "file")]
    addrs: Vec<String>,

    /// Read servers from FILE, one host:port a line ("-": standard input); blank lines
    /// and # comments are skipped, a bad line is reported and skipped.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,

    #[command(flatten)]
    poll: PollArgs,

    /// Ask for players too, for the joined and left events (games that send no names,
    /// such as CS2, Valheim and Arma Reforger, give counts only).
    #[arg(long)]
    players: bool,

    /// A player count whose crossing is an event (repeat for several).
    #[arg(long = "threshold", value_name = "N")]
    thresholds: Vec<u32>,

    /// JSON Lines: an object an event, with `time`, `address` and `event`.
    #[arg(long)]
    json: bool,

    /// How server text becomes text: utf8, utf8-strict, latin1, raw, or a WHATWG label.
    #[arg(long, value_name = "NAME", default_value = "utf8", value_parser = encoding)]
    encoding: Decoding,
}

/// How `watch` and `exporter` poll their servers.
#[derive(clap::Args, Debug)]
struct PollArgs {
    /// Seconds between two polls of a server (each moved by up to a tenth either way,
    /// so servers are not polled in lockstep).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    every: Duration,

    /// Seconds each query may take, from its first send (an exporter's probe: at most
    /// Prometheus's scrape timeout less half a second).
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = seconds)]
    timeout: Duration,

    /// Extra sends of a request that got no answer.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u8,

    /// Failed polls in a row after which a server is down.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    down_after: u32,

    /// Most queries a second to one IP address, all its ports together; 0 for no cap.
    #[arg(long, value_name = "N", default_value_t = 5)]
    host_rate: u32,

    /// The longest time between two polls of a server that is down, in seconds.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = seconds)]
    max_backoff: Duration,
}

impl PollArgs {
    /// A monitor's options as these say.
    fn monitor(&self) -> a2s_query::Builder<a2s_query::Monitor> {
        a2s_query::Monitor::builder()
            .every(self.every)
            .timeout(self.timeout)
            .retries(self.retries)
            .down_after(self.down_after)
            .host_rate(self.host_rate)
            .max_backoff(self.max_backoff)
    }
}

/// The options of `exporter`.
#[derive(clap::Args, Debug)]
struct ExporterArgs {
    /// Servers as host:port for /metrics (none: /probe only).
    #[arg(value_name = "ADDR")]
    addrs: Vec<String>,

    /// Read servers for /metrics from FILE, one host:port a line ("-": standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,

    /// The address to serve HTTP on [default: 0.0.0.0:10015].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,

    #[command(flatten)]
    poll: PollArgs,

    /// Ask for players too and export each named player's time on the server
    /// (a2s_player_connected_seconds with a `player` label: a series per player, mind
    /// the cardinality).
    #[arg(long)]
    player_names: bool,
}

/// The options of `replay`.
#[derive(clap::Args, Debug)]
struct ReplayArgs {
    /// A recorded server's folder (or one query's, or a `--record` folder holding one
    /// server).
    #[arg(value_name = "DIR")]
    dir: PathBuf,

    /// The address to answer on [default: a free loopback port, printed].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

/// The options of `doctor`.
#[derive(clap::Args, Debug)]
struct DoctorArgs {
    /// The server as host:port, as you would query it.
    #[arg(value_name = "ADDR")]
    addr: String,

    /// Seconds each query of the server given may take (the ports near it, the burst
    /// and Steam get at most 1.5, 1.5 and 5).
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = seconds)]
    timeout: Duration,

    /// One JSON document: each step, the conclusion and the advice.
    #[arg(long)]
    json: bool,

    /// The Steam Web API's base URL (tests point it at a local fake; then it is asked
    /// for a local address too).
    #[arg(long, value_name = "URL", hide = true)]
    api_url: Option<String>,
}

/// The options of `serve`.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// A server's state: what `a2s all ADDR --json` (or `a2s info ADDR --json`) printed.
    #[arg(value_name = "STATE")]
    state: Option<String>,

    /// The address to answer on [default: 127.0.0.1:27015, or a free port when that
    /// one is taken]. 0.0.0.0:27015 answers other machines too.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

/// The options of the queries (info, players, rules, all).
#[derive(clap::Args, Debug)]
struct QueryArgs {
    /// Servers as host:port (the query port, often 27015). Several, or -f, query them
    /// all at once.
    #[arg(value_name = "ADDR", required_unless_present = "file")]
    addrs: Vec<String>,

    /// Read servers from FILE, one host:port a line ("-": standard input); blank lines
    /// and # comments are skipped, a bad line is reported and skipped.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,

    /// JSON: one document for one server, JSON Lines (an object a server) for several.
    #[arg(long)]
    json: bool,

    /// Seconds each query may take, from its first send.
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = seconds)]
    timeout: Duration,

    /// Extra sends of a request that got no answer.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u8,

    /// How server text becomes text: utf8 (invalid bytes become U+FFFD), utf8-strict,
    /// latin1, raw (bytes), or a WHATWG label such as windows-1251 or gbk.
    #[arg(long, value_name = "NAME", default_value = "utf8", value_parser = encoding)]
    encoding: Decoding,

    /// Most servers under way at once (several servers).
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,

    /// Most datagrams sent a second (several servers); 0 for no cap.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    rate: u32,

    /// Write every datagram sent and received, and what was read from them, below DIR
    /// (new, or empty): a folder a server, a test case a query answered (the layout of
    /// the shared vectors), for a bug report or `a2s replay`.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
}

/// The options of `list`.
#[derive(clap::Args, Debug)]
struct ListArgs {
    /// Your Steam Web API key (an empty one counts as none), else the STEAM_API_KEY
    /// environment variable (which other users of this machine cannot see in the
    /// process list). Get one at <https://steamcommunity.com/dev/apikey>.
    #[arg(long, value_name = "KEY", conflicts_with = "master")]
    key: Option<String>,

    /// Walk the UDP master server at HOST:PORT instead of asking the Web API. Valve's
    /// own stopped answering in 2025; community masters of mods still run.
    #[arg(long, value_name = "HOST:PORT")]
    master: Option<String>,

    /// Only servers matching FILTER, in the master syntax, e.g.
    /// '\appid\440\empty\1\nor\1\map\ctf_2fort'.
    #[arg(long, value_name = "FILTER", value_parser = filter)]
    filter: Option<Filter>,

    /// With --master: us-east, us-west, south-america, europe, asia, australia,
    /// middle-east, africa or world [default: world].
    #[arg(long, value_name = "REGION", value_parser = region, requires = "master", conflicts_with = "key")]
    region: Option<Region>,

    /// At most N servers [default: 100 from the Web API, every one from a master].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,

    /// With --master: seconds between two page requests [default: 2, the 30 a minute
    /// masters allow before they go silent for a minute]; 0 for none.
    #[arg(long, value_name = "SECS", value_parser = pause, requires = "master", conflicts_with = "key")]
    pace: Option<Duration>,

    /// With --master: extra sends of a page request that got no answer [default: 3].
    #[arg(long, value_name = "N", requires = "master", conflicts_with = "key")]
    retries: Option<u8>,

    /// Seconds the whole listing may take [default: 30 for the Web API, 300 for a
    /// master].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    timeout: Option<Duration>,

    /// JSON Lines: an object a server.
    #[arg(long)]
    json: bool,

    /// The Steam Web API's base URL (tests point it at a local fake).
    #[arg(long, value_name = "URL", hide = true)]
    api_url: Option<String>,
}

/// The options of `ports`.
#[derive(clap::Args, Debug)]
struct PortsArgs {
    /// IP addresses to look up.
    #[arg(value_name = "IP", required = true)]
    ips: Vec<String>,

    /// Seconds the lookup may take [default: 30].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    timeout: Option<Duration>,

    /// JSON: an object an IP.
    #[arg(long)]
    json: bool,

    /// The Steam Web API's base URL (tests point it at a local fake).
    #[arg(long, value_name = "URL", hide = true)]
    api_url: Option<String>,
}

/// What each server is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Info,
    Players,
    Rules,
    All,
}

#[derive(Debug, Clone, Copy)]
enum Decoding {
    Text(Encoding),
    Raw,
}

/// The shortest timeout taken: below it no reply could come, even on loopback.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds (like 2 or 0.5)"))?;
    if secs <= 0.0 {
        return Err(format!("{s:?}: give more than 0 seconds"));
    }
    let time =
        Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a number of seconds (like 2 or 0.5)"))?;
    if time < MIN_TIMEOUT {
        return Err(format!("{s:?}: give at least 0.001 seconds"));
    }
    Ok(time)
}

/// Seconds that may be 0.
fn pause(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>().ok().and_then(|secs| Duration::try_from_secs_f64(secs).ok()) {
        Some(pause) => Ok(pause),
        None => Err(format!("{s:?} is not a number of seconds (like 2, 0.5 or 0)")),
    }
}

fn encoding(s: &str) -> Result<Decoding, String> {
    match s {
        "raw" => Ok(Decoding::Raw),
        name => name.parse().map(Decoding::Text).map_err(|e: String| format!("{e}, or raw for the bytes")),
    }
}

fn filter(s: &str) -> Result<Filter, String> {
    s.parse::<Filter>().map_err(|e| e.to_string())
}

fn region(s: &str) -> Result<Region, String> {
    s.parse().map_err(|e: a2s_query::Error| e.to_string())
}

fn main() -> ExitCode {
    let status = match Cli::parse().command {
        Command::Info(query) => run(&query, What::Info, false),
        Command::Players(query) => run(&query, What::Players, false),
        Command::Rules { query, arma } => run(&query, What::Rules, arma),
        Command::All(query) => run(&query, What::All, false),
        Command::List(args) => listing::list(
            &listing::ListArgs {
                master: args.master.as_deref(),
                key: args.key.as_deref(),
                api_url: args.api_url.as_deref(),
                filter: args.filter.clone().unwrap_or_default(),
                region: args.region,
                limit: args.limit,
                timeout: args.timeout,
                retries: args.retries,
                pace: args.pace,
                json: args.json,
            },
            &mut Out::new(),
        ),
        Command::Ports(args) => {
            listing::ports(&args.ips, args.api_url.as_deref(), args.timeout, args.json, &mut Out::new())
        }
        Command::Doctor(args) => doctor::doctor(
            &doctor::Doctor {
                addr: &args.addr,
                timeout: args.timeout,
                json: args.json,
                api_url: args.api_url.as_deref(),
            },
            &mut Out::new(),
        ),
        Command::Replay(args) => match record::load(&args.dir) {
            Ok((what, replay)) => {
                let mut responder = a2s_query::server::Responder::new(
                    a2s_query::Info::Source(a2s_query::SourceInfo::default()),
                    vec![],
                    vec![],
                );
                responder.replay = Some(replay);
                let listen = args.listen.as_deref().map_or(serve::Listen::Free, serve::Listen::Given);
                serve::run(responder, listen, &format!("replaying {what}"))
            }
            Err(e) => {
                warn(&format!("a2s: {e}"));
                2
            }
        },
        Command::Watch(args) => watch(args),
        Command::Exporter(args) => exporter(args),
        Command::Serve(args) => {
            serve::serve(&serve::Serve { state: args.state.as_deref(), listen: args.listen.as_deref() })
        }
    };
    ExitCode::from(status)
}

/// Runs `exporter`, where it was built in; the exit status.
#[cfg(feature = "exporter")]
fn exporter(args: ExporterArgs) -> u8 {
    use a2s_query::exporter::Exporter;
    let mut builder = Exporter::builder();
    if let Some(listen) = args.listen {
        builder = builder.listen(listen);
    }
    let mut builder =
        builder.player_names(args.player_names).probe_timeout(args.poll.timeout).probe_retries(args.poll.retries);
    if !args.addrs.is_empty() || args.file.is_some() {
        let monitor = match args.poll.monitor().players(args.player_names).build() {
            Ok(monitor) => monitor,
            Err(e) => {
                warn(&format!("a2s: {e}"));
                return 1;
            }
        };
        let reading = std::sync::atomic::AtomicBool::new(false);
        match watch::fill(monitor, args.addrs, args.file.as_deref(), &reading) {
            Ok(monitor) => builder = builder.monitor(monitor),
            Err(status) => return status,
        }
    }
    let exporter = match builder.spawn() {
        Ok(exporter) => exporter,
        Err(e) => {
            warn(&format!("a2s: {e}"));
            return 1;
        }
    };
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        warn(&format!("a2s: cannot catch Ctrl-C: {e}"));
        return 1;
    }
    let local = exporter.local_addr();
    // The first line names the address, for a person or a script to read.
    println!("listening on {local}");
    warn(&format!(
        "a2s: metrics at http://{local}/metrics, one server at http://{local}/probe?target=HOST:PORT; Ctrl-C stops"
    ));
    // Until Ctrl-C, or the HTTP server failing on its own.
    let status = loop {
        match stop_rx.recv_timeout(std::time::Duration::from_secs(1)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => break 0,
        }
        if let Err(e) = exporter.serving() {
            warn(&format!("a2s: {e}"));
            break 1;
        }
    };
    exporter.stop();
    warn("a2s: stopped");
    status
}

/// Runs `exporter`, where it was built in; the exit status.
#[cfg(not(feature = "exporter"))]
fn exporter(_: ExporterArgs) -> u8 {
    warn("a2s: this a2s was built without the exporter: cargo install --path . --features exporter");
    2
}

/// Runs `watch` with the decoder asked for; the exit status.
fn watch(args: WatchArgs) -> u8 {
    let watch = watch::Watch {
        addrs: args.addrs,
        file: args.file,
        every: args.poll.every,
        monitor: args.poll.monitor().players(args.players).thresholds(args.thresholds),
        json: args.json,
    };
    let mut out = Out::new();
    match args.encoding {
        Decoding::Text(e) => watch::watch(watch, e, &mut out),
        Decoding::Raw => watch::watch(watch, Raw, &mut out),
    }
}

/// Runs a query command with the decoder asked for; the exit status.
fn run(args: &QueryArgs, query: What, arma: bool) -> u8 {
    match args.encoding {
        Decoding::Text(e) => query_servers(args, query, arma, e),
        Decoding::Raw => query_servers(args, query, arma, Raw),
    }
}

/// Asks one server, or every server given; the exit status.
fn query_servers<D: TextDecoder>(args: &QueryArgs, query: What, arma: bool, decoder: D) -> u8
where
    D::Text: Serialize + AsRef<[u8]>,
    <D::Text as TextBuf>::Slice: Serialize,
{
    if let Some(dir) = &args.record {
        if let Err(e) = record::check_dir(dir) {
            warn(&format!("a2s: --record {e}"));
            return 2;
        }
    }
    let recording = a2s_query::Recording::new();
    let status = ask(args, query, arma, decoder, &recording);
    match &args.record {
        Some(dir) => status.max(write_recording(dir, &recording)),
        None => status,
    }
}

/// Writes what was recorded below `dir`; the exit status it leaves.
fn write_recording(dir: &std::path::Path, recording: &a2s_query::Recording) -> u8 {
    let captured = recording.take();
    let dropped = recording.dropped();
    match record::write(dir, &captured) {
        Ok(cases) => {
            warn(&format!("a2s: recorded {} under {}", plural_cases(cases.len()), dir.display()));
            if dropped > 0 {
                warn(&format!("a2s: the recording was full: {dropped} datagrams past 64 MiB were not kept"));
                return 1;
            }
            0
        }
        Err(e) => {
            warn(&format!("a2s: cannot write the recording: {e}"));
            1
        }
    }
}

fn plural_cases(n: usize) -> String {
    format!("{n} {}", if n == 1 { "query" } else { "queries" })
}

/// Asks the servers, recording when asked to; the exit status.
fn ask<D: TextDecoder>(args: &QueryArgs, query: What, arma: bool, decoder: D, recording: &a2s_query::Recording) -> u8
where
    D::Text: Serialize + AsRef<[u8]>,
    <D::Text as TextBuf>::Slice: Serialize,
{
    let mut out = Out::new();
    let (timeout, retries) = (args.timeout, args.retries);
    if let ([addr], None) = (args.addrs.as_slice(), &args.file) {
        let mut builder = a2s_query::Client::builder().timeout(timeout).retries(retries).encoding(decoder);
        if args.record.is_some() {
            builder = builder.record(recording);
        }
        return match output::single(builder.build(), addr, query, (args.json, arma), &mut out) {
            Ok(status) => status,
            Err(Stop::Closed) => 0,
            Err(Stop::Failed(status)) => status,
        };
    }
    let (list, total) = match &args.file {
        None => (None, Some(0)),
        Some(path) => match open(path) {
            Ok(reader) => {
                let label = if path == "-" { "stdin".to_string() } else { path.clone() };
                // The total is only for the bar: the list is read twice only when one is drawn.
                let total = if progress::wanted() { list::count(path) } else { None };
                (Some((label, reader)), total)
            }
            Err(e) => {
                warn(&format!("a2s: {path}: {e}"));
                return 2;
            }
        },
    };
    let mut builder = a2s_query::Batch::builder()
        .timeout(timeout)
        .retries(retries)
        .max_in_flight(args.max_in_flight as usize)
        .send_rate(args.rate)
        .encoding(decoder);
    if args.record.is_some() {
        builder = builder.record(recording);
    }
    let batch = builder.build();
    let batch = match batch {
        Ok(b) => b,
        Err(e) => {
            warn(&format!("a2s: {e}"));
            return 1;
        }
    };
    let run = Batched { batch, query, json: args.json, arma };
    run.go(&args.addrs, list, total, &mut out)
}

fn open(path: &str) -> io::Result<Box<dyn BufRead + Send>> {
    if path == "-" {
        return Ok(Box::new(io::BufReader::new(io::stdin())));
    }
    Ok(Box::new(io::BufReader::new(std::fs::File::open(path)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line as a shell splits it: words, and 'single-quoted' words.
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '\'' => quoted = !quoted,
                ' ' if !quoted => {
                    if !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
        out
    }

    /// Every example in the help parses as written (each command of a pipe, after
    /// any environment assignment).
    #[test]
    fn every_example_in_the_help_parses() {
        let mut checked = 0;
        for text in [
            EXAMPLES,
            QUERY_EXAMPLES,
            RULES_EXAMPLES,
            LIST_EXAMPLES,
            PORTS_EXAMPLES,
            SERVE_EXAMPLES,
            WATCH_EXAMPLES,
            EXPORTER_EXAMPLES,
            DOCTOR_EXAMPLES,
            REPLAY_EXAMPLES,
        ] {
            for line in text.lines().skip(1) {
                for command in line
                    .split(" | ")
                    .flat_map(|c| c.split(" && "))
                    .filter(|c| c.trim_start().starts_with("a2s ") || c.contains(" a2s "))
                {
                    // A redirection is the shell's, not an argument.
                    let command = command.split(" > ").next().unwrap_or(command);
                    let args: Vec<String> = words(command).into_iter().skip_while(|w| w != "a2s").collect();
                    let parsed = Cli::try_parse_from(&args);
                    // `help` prints and exits; every other example is a command to run.
                    let fine = match &parsed {
                        Ok(_) => true,
                        Err(e) => e.kind() == clap::error::ErrorKind::DisplayHelp,
                    };
                    assert!(fine, "{command}: {parsed:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 39);
    }

    #[test]
    fn the_quoted_filter_stays_one_word() {
        assert_eq!(
            words("a2s list --filter '\\appid\\440' --limit 5"),
            ["a2s", "list", "--filter", "\\appid\\440", "--limit", "5"]
        );
    }
}
