//! `a2s serve`: a server's state answered on a local port, from what `a2s all --json`
//! printed (or a built-in example), until Ctrl-C.

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::mpsc;

use a2s_query::proto::Query;
use a2s_query::server::{Responder, Running};
use a2s_query::{Info, Player, Rules, ServerType, SourceInfo};
use serde::Deserialize;

use crate::progress::warn;

/// Where `serve` answers when `--listen` is not given: the usual query port, on
/// loopback only.
const DEFAULT_LISTEN: &str = "127.0.0.1:27015";

/// The largest state file read: a real server's `all` is a few KB.
const MAX_STATE_BYTES: u64 = 16 << 20;

/// One server's state, as `a2s all ADDR --json` prints it (a JSON line of `a2s all -f`
/// too: its `address` is not needed), or as `a2s info ADDR --json` prints its info.
#[derive(Deserialize)]
struct State {
    info: Info,
    /// `null` when the server did not answer: not answered here either.
    players: Option<Vec<Player>>,
    /// `null` when the server did not answer: not answered here either.
    rules: Option<Rules>,
}

/// What to serve: the state file's server, or the example.
pub struct Serve<'a> {
    pub state: Option<&'a str>,
    pub listen: Option<&'a str>,
}

/// Serves until Ctrl-C (or SIGTERM); the exit status.
pub fn serve(args: &Serve<'_>) -> u8 {
    let responder = match args.state {
        Some(path) => match read_state(path).and_then(responder) {
            Ok(responder) => responder,
            Err(e) => {
                warn(&format!("a2s: {path}: {e}"));
                return 2;
            }
        },
        None => match responder(example()) {
            Ok(responder) => responder,
            Err(e) => {
                warn(&format!("a2s: the example server: {e}"));
                return 1;
            }
        },
    };
    let summary = describe(&responder);
    // The usual query port, so that a newcomer's first query needs no port to copy.
    let listen = args.listen.map_or(Listen::Usual, Listen::Given);
    run(responder, listen, &summary)
}

/// Where to answer.
pub enum Listen<'a> {
    /// The address given.
    Given(&'a str),
    /// 127.0.0.1:27015, or a free loopback port when that one is taken.
    Usual,
    /// A free loopback port.
    Free,
}

/// Answers with `responder` on `listen` until Ctrl-C (or SIGTERM), saying `summary`
/// first; the exit status.
pub fn run(responder: Responder, listen: Listen<'_>, summary: &str) -> u8 {
    let server = match spawn(responder, listen) {
        Ok(server) => server,
        Err(e) => {
            warn(&format!("a2s: cannot listen: {e}"));
            return 1;
        }
    };
    let (stop_tx, stop_rx) = mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        warn(&format!("a2s: cannot catch Ctrl-C: {e}"));
        return 1;
    }
    // The first line names the address, for a person or a script to read. (A closed
    // standard output stops nothing: the server goes on until Ctrl-C.)
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {}", server.local_addr());
    let _ = writeln!(stdout, "{summary}; Ctrl-C stops");
    let _ = stdout.flush();
    drop(stdout);
    let _ = stop_rx.recv();
    let requests = server.requests();
    server.stop();
    warn(&format!("a2s: stopped after {requests} request{}", if requests == 1 { "" } else { "s" }));
    0
}

/// The state file's server, or why it cannot be read.
fn read_state(path: &str) -> Result<State, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_STATE_BYTES + 1).read_to_string(&mut text).map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_STATE_BYTES {
        return Err(format!("larger than {} MiB: not one server's state", MAX_STATE_BYTES >> 20));
    }
    let first = text.trim_start();
    // A JSON Lines file of several servers: the first is served.
    let one = match serde_json::Deserializer::from_str(first).into_iter::<serde_json::Value>().next() {
        Some(Ok(value)) => value,
        Some(Err(e)) => return Err(format!("not JSON: {e}")),
        None => return Err("empty: give what `a2s all ADDR --json` prints".into()),
    };
    if one.get("kind").is_some() {
        // What `a2s info ADDR --json` prints: the info alone.
        let info = Info::deserialize(&one).map_err(|e| format!("not an info document: {e}"))?;
        return Ok(State { info, players: Some(vec![]), rules: Some(Rules::default()) });
    }
    if one.get("info").is_none_or(serde_json::Value::is_null) {
        if let Some(error) = one.get("error").and_then(serde_json::Value::as_str) {
            return Err(format!("the server did not answer when this was recorded ({error})"));
        }
    }
    State::deserialize(&one).map_err(|e| {
        format!("not what `a2s all ADDR --json` prints ({{\"info\": ..., \"players\": ..., \"rules\": ...}}): {e}")
    })
}

/// A responder for the state: the players and rules as recorded, unanswered when the
/// server did not answer them; or why the state cannot be sent (a NUL in a string,
/// more than 255 players, ...).
fn responder(state: State) -> Result<Responder, String> {
    let answer_players = state.players.is_some();
    let answer_rules = state.rules.is_some();
    let players = state.players.unwrap_or_default();
    let rules =
        state.rules.map(|r| r.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()).unwrap_or_default();
    let mut responder = Responder::new(state.info, players, rules);
    responder.answer_players = answer_players;
    responder.answer_rules = answer_rules;
    // Each reply written and split once now, so that a state that cannot be sent (a
    // NUL in a string, a reply past 255 fragments) is said at once rather than left
    // unanswered.
    let asker = SocketAddr::from(([127, 0, 0, 1], 27005));
    let challenge = responder.challenge_for(asker);
    let queries = [
        ("info", Query::Info(Some(challenge))),
        ("players", Query::Players(challenge)),
        ("rules", Query::Rules(challenge)),
    ];
    for (what, query) in queries {
        responder.respond(&query.encode(), asker).map_err(|e| format!("the {what} cannot be sent: {e}"))?;
    }
    Ok(responder)
}

/// A server to try the command on: a few players, a few rules.
fn example() -> State {
    let mut info = SourceInfo::default();
    info.server_name = "a2s-query example server".into();
    info.map_name = "de_dust2".into();
    info.folder = "csgo".into();
    info.game = "Counter-Strike 2".into();
    info.protocol = 17;
    info.app_id = 730;
    info.max_players = 16;
    info.server_type = ServerType::Dedicated;
    info.version = "1.0.0.0".into();
    info.keywords = Some("example,local".into());
    info.port = Some(27015);
    let players = vec![
        Player::new("alice".to_string(), 12, 1530.0),
        Player::new("bob".to_string(), 7, 845.5),
        Player::new("carol".to_string(), 3, 61.0),
    ];
    info.player_count = players.len() as u8;
    let rules = [("mp_timelimit", "30"), ("sv_cheats", "0"), ("sv_tags", "example,local")].into_iter().collect();
    State { info: Info::Source(info), players: Some(players), rules: Some(rules) }
}

/// One line about what is served.
fn describe(responder: &Responder) -> String {
    let players = if responder.answer_players {
        format!("{} players listed", responder.players.len())
    } else {
        "players unanswered".to_string()
    };
    let rules = if responder.answer_rules {
        format!("{} rules", responder.rules.len())
    } else {
        "rules unanswered".to_string()
    };
    format!("serving {:?} on {} ({players}, {rules})", responder.info.server_name(), responder.info.map_name())
}

/// Binds the address to answer on.
fn spawn(responder: Responder, listen: Listen<'_>) -> a2s_query::Result<Running> {
    let free = SocketAddr::from(([127, 0, 0, 1], 0));
    match listen {
        Listen::Given(addr) => responder.spawn(addr),
        Listen::Free => responder.spawn(free),
        // Try the usual port first without giving the responder away.
        Listen::Usual => match std::net::UdpSocket::bind(DEFAULT_LISTEN) {
            Ok(probe) => {
                drop(probe);
                responder.spawn(DEFAULT_LISTEN)
            }
            Err(e) if e.kind() == ErrorKind::AddrInUse => responder.spawn(free),
            Err(e) => Err(a2s_query::Error::Io(e)),
        },
    }
}
