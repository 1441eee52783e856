//! `a2s`: ask Valve game servers about themselves (A2S info, players, rules) from the
//! command line. One server: its answer as text, or one JSON document. Several (as
//! arguments, from a file or from standard input): the many-servers engine, a row or a
//! JSON line per server as each answers. `list` prints the servers of a game, from the
//! Steam Web API or a master server; `ports` the servers Steam knows at an IP.
//!
//! Exit status: 0 when every server answered, 1 when one did not (or a listed address
//! was bad), 2 for bad usage. A closed standard output (`| head`) ends it quietly.

mod list;
mod listing;
mod output;
mod progress;
mod show;

use std::io::{self, BufRead};
use std::process::ExitCode;
use std::time::Duration;

use a2s_query::proto::{Filter, Region};
use a2s_query::{Encoding, Raw, TextBuf, TextDecoder};
use clap::{CommandFactory, Parser, ValueEnum};
use serde::Serialize;

use output::{Batched, Out, Stop};
use progress::warn;

const EXAMPLES: &str = "\
Examples:
  a2s info 203.0.113.7:27015
  a2s all -f servers.txt --json --rate 5000 | jq -c 'select(.info.player_count > 0)'
  STEAM_API_KEY=... a2s list --filter '\\appid\\440\\empty\\1' --limit 500 | a2s info -f -
  a2s list --master master.example.net:27010 --region europe --filter '\\gamedir\\cstrike'
  a2s ports 203.0.113.7";

/// Ask Valve game servers (A2S) for their info, players and rules.
#[derive(Parser, Debug)]
#[command(name = "a2s", version, after_help = EXAMPLES)]
struct Args {
    /// What to ask each server, or `list` servers, or the `ports` at an IP.
    #[arg(value_enum)]
    command: Command,

    /// Servers as host:port (the query port, often 27015). Several, or -f, query them
    /// all at once. With `ports`: IP addresses.
    #[arg(value_name = "ADDR")]
    addrs: Vec<String>,

    /// Read servers from FILE, one host:port a line ("-": standard input); blank lines
    /// and # comments are skipped, a bad line is reported and skipped.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,

    /// JSON: one document for one server, JSON Lines (an object a server) for several.
    #[arg(long)]
    json: bool,

    /// Seconds each query may take, from its first send [default: 3]. With `list` and
    /// `ports`: the whole listing [default: 30 for the Web API, 300 for a master].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    timeout: Option<Duration>,

    /// Extra sends of a request that got no answer [default: 0]. With `list --master`:
    /// of a page [default: 3].
    #[arg(long, value_name = "N")]
    retries: Option<u8>,

    /// How server text becomes text: utf8 (invalid bytes become U+FFFD), utf8-strict,
    /// latin1, raw (bytes), or a WHATWG label such as windows-1251 or gbk.
    #[arg(long, value_name = "NAME", default_value = "utf8", value_parser = encoding)]
    encoding: Decoding,

    /// With rules: decode an Arma 3 or DayZ server's binary rules (mods, DLCs,
    /// difficulty, signatures).
    #[arg(long)]
    arma: bool,

    /// Most servers under way at once (several servers).
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,

    /// Most datagrams sent a second (several servers); 0 for no cap.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    rate: u32,

    /// list: your Steam Web API key (an empty one counts as none), else the
    /// STEAM_API_KEY environment variable (which other users of this machine cannot see
    /// in the process list). Get one at
    /// <https://steamcommunity.com/dev/apikey>.
    #[arg(long, value_name = "KEY", help_heading = "Server lists")]
    key: Option<String>,

    /// list: walk the UDP master server at HOST:PORT instead of asking the Web API.
    /// Valve's own stopped answering in 2025; community masters of mods still run.
    #[arg(long, value_name = "HOST:PORT", help_heading = "Server lists")]
    master: Option<String>,

    /// list: only servers matching FILTER, in the master syntax, e.g.
    /// '\appid\440\empty\1\nor\1\map\ctf_2fort'.
    #[arg(long, value_name = "FILTER", value_parser = filter, help_heading = "Server lists")]
    filter: Option<Filter>,

    /// list --master: us-east, us-west, south-america, europe, asia, australia,
    /// middle-east, africa or world [default: world].
    #[arg(long, value_name = "REGION", value_parser = region, help_heading = "Server lists")]
    region: Option<Region>,

    /// list: at most N servers [default: 100 from the Web API, every one from a master].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Server lists")]
    limit: Option<u32>,

    /// list --master: seconds between two page requests [default: 2, the 30 a minute
    /// masters allow before they go silent for a minute]; 0 for none.
    #[arg(long, value_name = "SECS", value_parser = pause, help_heading = "Server lists")]
    pace: Option<Duration>,

    /// The Steam Web API's base URL (tests point it at a local fake).
    #[arg(long, value_name = "URL", hide = true)]
    api_url: Option<String>,
}

/// The first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Command {
    /// Name, map, player counts and more.
    Info,
    /// Who is playing.
    Players,
    /// The server's console variables.
    Rules,
    /// All three.
    All,
    /// The servers of a game, one address a line: from the Steam Web API (a key), or from
    /// a master server (--master).
    List,
    /// The servers Steam knows at an IP, with their query and game ports: for when a
    /// query times out because it went to the game port. No key needed; Valve asks for
    /// one call every ten minutes or so.
    Ports,
}

impl Command {
    /// The query a server is asked, for the commands that ask servers.
    fn query(self) -> Option<What> {
        match self {
            Command::Info => Some(What::Info),
            Command::Players => Some(What::Players),
            Command::Rules => Some(What::Rules),
            Command::All => Some(What::All),
            Command::List | Command::Ports => None,
        }
    }
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

/// How long a query may take when `--timeout` is not given.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds (like 2 or 0.5)"))?;
    if secs <= 0.0 {
        return Err(format!("{s:?}: the timeout must be more than 0 seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a number of seconds (like 2 or 0.5)"))
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
    Filter::parse(s).map_err(|e| e.to_string())
}

fn region(s: &str) -> Result<Region, String> {
    s.parse().map_err(|e: a2s_query::Error| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    check(&args);
    let status = match (args.command, args.command.query()) {
        (_, Some(query)) => match args.encoding {
            Decoding::Text(e) => run(&args, query, e),
            Decoding::Raw => run(&args, query, Raw),
        },
        (Command::List, None) => listing::list(
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
        (_, None) => listing::ports(&args.addrs, args.api_url.as_deref(), args.timeout, args.json, &mut Out::new()),
    };
    ExitCode::from(status)
}

/// Ends with a usage error (status 2) for options that do not go together.
fn check(args: &Args) {
    let usage = |kind, text: &str| Args::command().error(kind, text).exit();
    use clap::error::ErrorKind::{ArgumentConflict, MissingRequiredArgument};
    let listing = [
        ("--key", args.key.is_some()),
        ("--master", args.master.is_some()),
        ("--filter", args.filter.is_some()),
        ("--region", args.region.is_some()),
        ("--limit", args.limit.is_some()),
        ("--pace", args.pace.is_some()),
    ];
    match args.command {
        Command::List => {
            if !args.addrs.is_empty() || args.file.is_some() {
                usage(
                    ArgumentConflict,
                    "list takes no servers: a2s list [--key KEY | --master HOST:PORT] [--filter F]",
                );
            }
            if args.master.is_some() && args.key.is_some() {
                usage(ArgumentConflict, "--key is for the Web API, --master for a master server: give one");
            }
            if args.master.is_none() {
                let master_only = [
                    ("--region", args.region.is_some()),
                    ("--pace", args.pace.is_some()),
                    ("--retries", args.retries.is_some()),
                ];
                if let Some((name, _)) = master_only.into_iter().find(|(_, given)| *given) {
                    usage(ArgumentConflict, &format!("{name} goes with --master HOST:PORT"));
                }
            }
        }
        Command::Ports => {
            if args.addrs.is_empty() || args.file.is_some() {
                usage(MissingRequiredArgument, "give the IP addresses to look up: a2s ports 203.0.113.7");
            }
            if args.retries.is_some() {
                usage(ArgumentConflict, "--retries goes with queries and list --master");
            }
            if let Some((name, _)) = listing.into_iter().find(|(_, given)| *given) {
                usage(ArgumentConflict, &format!("{name} goes with list: a2s list {name} ..."));
            }
        }
        _ => {
            if let Some((name, _)) = listing.into_iter().find(|(_, given)| *given) {
                usage(ArgumentConflict, &format!("{name} goes with list: a2s list {name} ..."));
            }
            if args.addrs.is_empty() && args.file.is_none() {
                usage(MissingRequiredArgument, "give a server (ADDR), or a list with -f FILE");
            }
        }
    }
    if args.arma && args.command != Command::Rules {
        usage(ArgumentConflict, "--arma goes with the rules query: a2s rules ADDR --arma");
    }
}

/// Runs the command; the exit status.
fn run<D: TextDecoder>(args: &Args, query: What, decoder: D) -> u8
where
    D::Text: Serialize + AsRef<[u8]>,
    <D::Text as TextBuf>::Slice: Serialize,
{
    let mut out = Out::new();
    let timeout = args.timeout.unwrap_or(QUERY_TIMEOUT);
    let retries = args.retries.unwrap_or(0);
    if let ([addr], None) = (args.addrs.as_slice(), &args.file) {
        let client = a2s_query::Client::builder().timeout(timeout).retries(retries).encoding(decoder).build();
        return match output::single(client, addr, query, (args.json, args.arma), &mut out) {
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
    let batch = a2s_query::Batch::builder()
        .timeout(timeout)
        .retries(retries)
        .max_in_flight(args.max_in_flight as usize)
        .send_rate(args.rate)
        .encoding(decoder)
        .build();
    let batch = match batch {
        Ok(b) => b,
        Err(e) => {
            warn(&format!("a2s: {e}"));
            return 1;
        }
    };
    let run = Batched { batch, query, json: args.json, arma: args.arma };
    run.go(&args.addrs, list, total, &mut out)
}

fn open(path: &str) -> io::Result<Box<dyn BufRead + Send>> {
    if path == "-" {
        return Ok(Box::new(io::BufReader::new(io::stdin())));
    }
    Ok(Box::new(io::BufReader::new(std::fs::File::open(path)?)))
}
