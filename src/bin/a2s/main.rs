//! `a2s`: ask Valve game servers about themselves (A2S info, players, rules) from the
//! command line. One server: its answer as text, or one JSON document. Several (as
//! arguments, from a file or from standard input): the many-servers engine, a row or a
//! JSON line per server as each answers.
//!
//! Exit status: 0 when every server answered, 1 when one did not (or a listed address
//! was bad), 2 for bad usage. A closed standard output (`| head`) ends it quietly.

mod list;
mod output;
mod progress;
mod show;

use std::io::{self, BufRead};
use std::process::ExitCode;
use std::time::Duration;

use a2s_query::{Encoding, Raw, TextBuf, TextDecoder};
use clap::{CommandFactory, Parser, ValueEnum};
use serde::Serialize;

use output::{Batched, Out, Stop};
use progress::warn;

const EXAMPLES: &str = "\
Examples:
  a2s info 203.0.113.7:27015
  a2s all -f servers.txt --json --rate 5000 | jq -c 'select(.info.player_count > 0)'";

/// Ask Valve game servers (A2S) for their info, players and rules.
#[derive(Parser, Debug)]
#[command(name = "a2s", version, after_help = EXAMPLES)]
struct Args {
    /// What to ask each server.
    #[arg(value_enum)]
    query: What,

    /// Servers as host:port (the query port, often 27015). Several, or -f, query them
    /// all at once.
    #[arg(value_name = "ADDR")]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum What {
    /// Name, map, player counts and more.
    Info,
    /// Who is playing.
    Players,
    /// The server's console variables.
    Rules,
    /// All three.
    All,
}

#[derive(Debug, Clone, Copy)]
enum Decoding {
    Text(Encoding),
    Raw,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds (like 2 or 0.5)"))?;
    if secs <= 0.0 {
        return Err(format!("{s:?}: the timeout must be more than 0 seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a number of seconds (like 2 or 0.5)"))
}

fn encoding(s: &str) -> Result<Decoding, String> {
    match s {
        "raw" => Ok(Decoding::Raw),
        name => name.parse().map(Decoding::Text).map_err(|e: String| format!("{e}, or raw for the bytes")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.arma && args.query != What::Rules {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, "--arma goes with the rules query: a2s rules ADDR --arma")
            .exit();
    }
    if args.addrs.is_empty() && args.file.is_none() {
        Args::command()
            .error(clap::error::ErrorKind::MissingRequiredArgument, "give a server (ADDR), or a list with -f FILE")
            .exit();
    }
    let failed = match args.encoding {
        Decoding::Text(e) => run(&args, e),
        Decoding::Raw => run(&args, Raw),
    };
    ExitCode::from(failed)
}

/// Runs the command; the exit status.
fn run<D: TextDecoder>(args: &Args, decoder: D) -> u8
where
    D::Text: Serialize + AsRef<[u8]>,
    <D::Text as TextBuf>::Slice: Serialize,
{
    let mut out = Out::new();
    if let ([addr], None) = (args.addrs.as_slice(), &args.file) {
        let client = a2s_query::Client::builder().timeout(args.timeout).retries(args.retries).encoding(decoder).build();
        return match output::single(client, addr, args.query, (args.json, args.arma), &mut out) {
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
        .timeout(args.timeout)
        .retries(args.retries)
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
    let run = Batched { batch, query: args.query, json: args.json, arma: args.arma };
    run.go(&args.addrs, list, total, &mut out)
}

fn open(path: &str) -> io::Result<Box<dyn BufRead>> {
    if path == "-" {
        return Ok(Box::new(io::stdin().lock()));
    }
    Ok(Box::new(io::BufReader::new(std::fs::File::open(path)?)))
}
