//! Query a real server from the command line.
//!
//! ```sh
//! cargo run --example query -- <info|players|rules|all> <ADDR> [--json] [--timeout SECS] [--retries N] [--encoding utf8|utf8-strict|latin1|raw|WHATWG-LABEL]
//! ```
//!
//! Text by default; `--json` prints one JSON document (python-a2s field names). A
//! failure prints one line on stderr and exits 1; bad arguments print the usage and
//! exit 2. `all` fails as a whole only when info fails; a server that answers info but
//! not players or rules (many never answer rules) gets the rest printed, `null` for the
//! missing part in JSON, a line per missing part on stderr, and exit status 1.

use std::process::ExitCode;
use std::time::Duration;

use a2s_query::{Client, Encoding, Info, Player, Raw, Rules, TextBuf, TextDecoder};
use serde::Serialize;

const USAGE: &str = "usage: query <info|players|rules|all> <ADDR> [--json] [--timeout SECS] [--retries N] \
                     [--encoding utf8|utf8-strict|latin1|raw|WHATWG-LABEL]";

#[derive(Debug, Clone, Copy, PartialEq)]
enum What {
    Info,
    Players,
    Rules,
    All,
}

#[derive(Debug)]
struct Args {
    what: What,
    addr: String,
    json: bool,
    timeout: Duration,
    retries: u8,
    /// `None` for raw bytes.
    encoding: Option<Encoding>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let what = match args.next().as_deref() {
        Some("info") => What::Info,
        Some("players") => What::Players,
        Some("rules") => What::Rules,
        Some("all") => What::All,
        Some(other) => return Err(format!("unknown query {other:?}")),
        None => return Err("missing query".into()),
    };
    let addr = args.next().ok_or("missing ADDR")?;
    let mut parsed = Args {
        what,
        addr,
        json: false,
        timeout: a2s_query::DEFAULT_TIMEOUT,
        retries: 0,
        encoding: Some(Encoding::Utf8),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--json" => parsed.json = true,
            "--timeout" => {
                let secs: f64 = value()?.parse().map_err(|_| "--timeout takes seconds, like 2.5")?;
                parsed.timeout =
                    Duration::try_from_secs_f64(secs).map_err(|_| "--timeout must be a positive number")?;
            }
            "--retries" => parsed.retries = value()?.parse().map_err(|_| "--retries takes a number from 0 to 255")?,
            "--encoding" => {
                parsed.encoding = match value()?.as_str() {
                    "raw" => None,
                    name => Some(name.parse()?),
                }
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("query: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let builder = Client::builder().timeout(args.timeout).retries(args.retries);
    let result = match args.encoding {
        Some(e) => run(builder.encoding(e).build(), &args),
        None => run(builder.encoding(Raw).build(), &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed::Query(e)) => {
            eprintln!("query: {}: {e}", args.addr);
            ExitCode::from(1)
        }
        Err(Failed::Reported) => ExitCode::from(1),
    }
}

/// Text the way a terminal shows it: bytes that are not UTF-8 become U+FFFD.
fn show(s: &impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(s.as_ref()).into_owned()
}

#[derive(Serialize)]
struct All<I, P, R> {
    info: I,
    players: P,
    rules: R,
}

/// Why a run failed.
enum Failed {
    /// A query failed and nothing was printed: main names the cause.
    Query(a2s_query::Error),
    /// `all` printed what it got and named the parts that failed.
    Reported,
}

impl From<a2s_query::Error> for Failed {
    fn from(e: a2s_query::Error) -> Self {
        Failed::Query(e)
    }
}

fn run<D: TextDecoder>(mut client: Client<D>, args: &Args) -> Result<(), Failed>
where
    D::Text: Serialize,
    <D::Text as TextBuf>::Slice: Serialize,
{
    let addr = args.addr.as_str();
    match args.what {
        What::Info => {
            let info = client.info(addr)?;
            if args.json {
                json(&info)
            } else {
                print_info(&info)
            }
        }
        What::Players => {
            let players = client.players(addr)?;
            if args.json {
                json(&players)
            } else {
                print_players(&players)
            }
        }
        What::Rules => {
            let rules = client.rules(addr)?;
            if args.json {
                json(&rules)
            } else {
                print_rules(&rules)
            }
        }
        What::All => {
            // No info means no server: fail as a whole rather than wait out two more
            // timeouts. Past that, a part the server will not give (many never answer
            // rules) is null in the JSON and named on stderr; the rest is still shown.
            let info = client.info(addr)?;
            let players = client.players(addr);
            let rules = client.rules(addr);
            if args.json {
                json(&All { info: &info, players: players.as_ref().ok(), rules: rules.as_ref().ok() });
            } else {
                print_info(&info);
                if let Ok(players) = &players {
                    println!();
                    print_players(players);
                }
                if let Ok(rules) = &rules {
                    println!();
                    print_rules(rules);
                }
            }
            let mut failed = Ok(());
            for (part, result) in [("players", players.err()), ("rules", rules.err())] {
                if let Some(e) = result {
                    eprintln!("query: {addr}: {part}: {e}");
                    failed = Err(Failed::Reported);
                }
            }
            return failed;
        }
    }
    Ok(())
}

/// Prints one JSON document.
fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("query: cannot write JSON: {e}"),
    }
}

fn print_info<S: AsRef<[u8]>>(info: &Info<S>) {
    println!("name        {}", show(info.name()));
    println!("map         {}", show(info.map()));
    println!("folder      {}", show(info.folder()));
    println!("game        {}", show(info.game()));
    println!("players     {}/{} ({} bots)", info.players(), info.max_players(), info.bots());
    println!("type        {}", char::from(info.server_type().to_byte()).escape_default());
    println!("platform    {}", char::from(info.platform().to_byte()).escape_default());
    println!("password    {}", info.password_protected());
    println!("vac         {}", info.vac_enabled());
    match info {
        Info::Source(s) => {
            println!("protocol    {}", s.protocol);
            println!("app id      {}", s.full_app_id());
            println!("version     {}", show(&s.version));
            if let Some(p) = s.port {
                println!("game port   {p}");
            }
            if let Some(id) = s.steam_id {
                println!("steam id    {id}");
            }
            if let (Some(p), Some(n)) = (s.stv_port, &s.stv_name) {
                println!("sourcetv    {} on port {p}", show(n));
            }
            if let Some(k) = &s.keywords {
                println!("keywords    {}", show(k));
            }
        }
        Info::GoldSrc(g) => {
            println!("protocol    {} (GoldSrc reply)", g.protocol);
            println!("address     {}", show(&g.address));
            if let Some(web) = &g.mod_website {
                println!("mod         {}", show(web));
            }
        }
    }
    println!("ping        {:.1} ms", info.ping().as_secs_f64() * 1000.0);
}

fn print_players<S: AsRef<[u8]>>(players: &[Player<S>]) {
    println!("{} players", players.len());
    for p in players {
        println!("{:>6} {:>9.0}s  {}", p.score, p.duration, show(&p.name));
    }
}

fn print_rules<S: TextBuf>(rules: &Rules<S>) {
    println!("{} rules{}", rules.len(), if rules.truncated { " (reply cut short)" } else { "" });
    for (name, value) in rules {
        println!("{} = {}", show(&name), show(&value));
    }
}
