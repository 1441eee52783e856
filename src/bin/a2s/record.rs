//! `--record DIR` and `a2s replay DIR`: a server's datagrams written as test cases in
//! the layout of the shared vectors (`<server>/<query>/packet-N.bin` and
//! `expected.json`, plus `exchange.json`: every datagram both ways with its time), and
//! read back to be served as they were.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use a2s_query::proto::{Datagram, Info, Kind, Message, Players, Reassembler, Rules};
use a2s_query::server::Replay;
use a2s_query::{Captured, Encoding, GoldSrcInfo, RecordedQuery, SourceInfo};
use serde_json::{json, Map, Value};

/// The most datagrams a replayed reply may have (a Source split reply numbers at most
/// 255 fragments).
const MAX_PACKETS: usize = 255;
/// The largest datagram read back.
const MAX_PACKET_BYTES: u64 = 65_535;

/// The folder name of a query's case.
fn query_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Players => "players",
        Kind::Rules => "rules",
        _ => "info",
    }
}

/// Writes each server's queries below `dir` (which must be empty or new): a test case
/// for each query answered, the exchange alone for one that was not. The folders
/// written.
pub fn write(dir: &Path, captured: &[Captured]) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let mut seen: BTreeMap<(SocketAddr, &str), usize> = BTreeMap::new();
    let queries = RecordedQuery::split(captured);
    // Datagrams from an address no query went to (a server answering from another
    // address or port, say): kept too, as they may be why a query went unanswered.
    let asked: HashSet<SocketAddr> = queries.iter().map(|q| q.server).collect();
    let unsolicited: Vec<&Captured> = captured.iter().filter(|d| !d.sent && !asked.contains(&d.peer)).collect();
    if !unsolicited.is_empty() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let list: Vec<Value> = unsolicited
            .iter()
            .map(|d| json!({ "t": d.at.as_secs_f64(), "from": d.peer.to_string(), "hex": hex(&d.bytes) }))
            .collect();
        let path = dir.join("unsolicited.json");
        std::fs::write(&path, pretty(&json!({ "datagrams": list }))).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    for query in queries {
        let server = query.server;
        let folder = dir.join(format!("{}-{}", server.ip().to_string().replace(':', "_"), server.port()));
        let kind = query_name(query.kind);
        let n = seen.entry((server, kind)).or_insert(0);
        *n += 1;
        let case = folder.join(if *n == 1 { kind.to_string() } else { format!("{kind}-{n}") });
        write_case(&case, &query).map_err(|e| format!("{}: {e}", case.display()))?;
        written.push(case);
    }
    Ok(written)
}

/// Whether `dir` can take a recording: new, or an empty folder (old cases left there
/// would mix with the new).
pub fn check_dir(dir: &Path) -> Result<(), String> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(format!("{}: not empty; record into a new folder", dir.display())),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

fn write_case(case: &Path, query: &RecordedQuery) -> std::io::Result<()> {
    std::fs::create_dir_all(case)?;
    let start = query.exchange.first().map(|d| d.at).unwrap_or_default();
    let exchange: Vec<Value> = query
        .exchange
        .iter()
        .map(|d| {
            json!({
                "t": (d.at.saturating_sub(start)).as_secs_f64(),
                "dir": if d.sent { "sent" } else { "received" },
                "hex": hex(&d.bytes),
            })
        })
        .collect();
    let kind = query_name(query.kind);
    let doc = json!({ "server": query.server.to_string(), "query": kind, "datagrams": exchange });
    std::fs::write(case.join("exchange.json"), pretty(&doc))?;
    if query.reply.is_empty() {
        // No reply: nothing to test, only the exchange to look at.
        return Ok(());
    }
    for (i, packet) in query.reply.iter().enumerate() {
        std::fs::write(case.join(format!("packet-{i}.bin")), packet)?;
    }
    let reply: Vec<&[u8]> = query.reply.iter().map(Vec::as_slice).collect();
    std::fs::write(case.join("expected.json"), pretty(&expected(query.server, kind, &reply)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// The case's metadata and the values this crate read, in the vectors' schema.
fn expected(server: SocketAddr, query: &str, reply: &[&[u8]]) -> Value {
    let split = reply.iter().any(|d| d.starts_with(b"\xFE\xFF\xFF\xFF"));
    // Bit 31 of a Source split id marks a compressed reply.
    let compressed =
        reply.iter().any(|d| d.starts_with(b"\xFE\xFF\xFF\xFF") && d.get(7).is_some_and(|b| b & 0x80 != 0));
    let (kind, values, note) = match read(reply) {
        Ok((kind, values)) => (kind, values, None),
        Err(e) => {
            let kind = if query == "info" { "info_source" } else { query };
            (kind, Value::Object(Map::new()), Some(format!("a2s-query could not read this reply: {e}")))
        }
    };
    let mut notes =
        vec!["Recorded by a2s --record: the expected values are what a2s-query read. Where they are wrong, correct \
         them by hand: the case then fails until the parser reads the server right."
            .to_string()];
    notes.extend(note);
    let mut meta = json!({
        "kind": kind,
        "title": format!("{query} of {server}"),
        "game_title": "",
        "source": { "recorded_from": server.to_string(), "tool": format!("a2s {}", env!("CARGO_PKG_VERSION")) },
        "packet_count": reply.len(),
        "split": split,
        "compressed": compressed,
        "wire_exact": true,
        "expected_complete": note_free(&values),
        "expected_origin": "recorded",
        "notes": notes,
        "expected": values,
    });
    if kind == "players" {
        meta["duration_precision"] = Value::from("float32");
    }
    meta
}

fn note_free(values: &Value) -> bool {
    values.as_object().is_some_and(|v| !v.is_empty())
}

/// The reply reassembled and read: its kind in the vectors' schema and its values.
fn read(reply: &[&[u8]]) -> Result<(&'static str, Value), String> {
    let mut reassembler = Reassembler::new(Default::default());
    let mut whole: Option<Vec<u8>> = None;
    for datagram in reply {
        match Datagram::classify(datagram).map_err(|e| e.to_string())? {
            Datagram::Single(_) => whole = Some(datagram.to_vec()),
            Datagram::Split(fragment) => {
                if let Some(done) = reassembler.push(fragment).map_err(|e| e.to_string())? {
                    whole = Some(done.to_vec());
                }
            }
            _ => return Err("a datagram that is not part of a reply".into()),
        }
    }
    let whole = whole.ok_or("the reply never completed")?;
    let message = Message::from_reassembled(&whole).map_err(|e| e.to_string())?;
    Ok(match message.kind {
        0x49 | 0x6D => match Info::parse(message, Encoding::Utf8).map_err(|e| e.to_string())? {
            Info::Source(info) => ("info_source", source(&info)),
            Info::GoldSrc(info) => ("info_goldsrc", goldsrc(&info)),
        },
        0x44 => {
            let list = Players::parse(message.body, Encoding::Utf8).map_err(|e| e.to_string())?;
            let players: Vec<Value> = list
                .iter()
                .map(|p| json!({ "index": p.index, "name": p.name, "score": p.score, "duration": p.duration }))
                .collect();
            ("players", json!({ "player_count": list.count, "players": players }))
        }
        0x45 => {
            let rules = Rules::parse(message.body, Encoding::Utf8).map_err(|e| e.to_string())?;
            let ordered: Vec<Value> = rules.iter().map(|(n, v)| json!([n, v])).collect();
            ("rules", json!({ "rule_count": rules.count, "rules_ordered": ordered }))
        }
        other => return Err(format!("a reply of type 0x{other:02X}")),
    })
}

/// A Source info reply's values; optional fields the reply lacks are left out.
fn source(i: &SourceInfo) -> Value {
    let mut v = json!({
        "protocol": i.protocol, "server_name": i.server_name, "map_name": i.map_name,
        "folder": i.folder, "game": i.game, "app_id": i.app_id,
        "player_count": i.player_count, "max_players": i.max_players, "bot_count": i.bot_count,
        "server_type": char::from(i.server_type).to_string(),
        "platform": char::from(i.platform).to_string(),
        "password_protected": i.password_protected, "vac_enabled": i.vac_enabled,
        "version": i.version, "edf": i.edf,
    });
    let optional = [
        ("port", i.port.map(Value::from)),
        ("steam_id", i.steam_id.map(Value::from)),
        ("stv_port", i.stv_port.map(Value::from)),
        ("stv_name", i.stv_name.clone().map(Value::from)),
        ("keywords", i.keywords.clone().map(Value::from)),
        ("game_id", i.game_id.map(Value::from)),
        ("ship_mode", i.the_ship.map(|s| Value::from(s.mode))),
        ("ship_witnesses", i.the_ship.map(|s| Value::from(s.witnesses))),
        ("ship_duration", i.the_ship.map(|s| Value::from(s.duration))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            v[key] = value;
        }
    }
    v
}

/// A GoldSrc info reply's values.
fn goldsrc(i: &GoldSrcInfo) -> Value {
    let mut v = json!({
        "address": i.address, "server_name": i.server_name, "map_name": i.map_name, "folder": i.folder,
        "game": i.game, "player_count": i.player_count, "max_players": i.max_players,
        "protocol": i.protocol, "server_type": char::from(i.server_type).to_string(),
        "platform": char::from(i.platform).to_string(), "password_protected": i.password_protected,
        "is_mod": i.is_mod, "vac_enabled": i.vac_enabled, "bot_count": i.bot_count,
    });
    if i.mod_website.is_some() {
        v["mod"] = json!({
            "link": i.mod_website, "download_link": i.mod_download, "version": i.mod_version,
            "size": i.mod_size, "type": i.multiplayer_only.map(u8::from), "dll": i.uses_custom_dll.map(u8::from),
        });
    }
    v
}

/// A recording read back for replay: a case folder, a server's folder of cases, or a
/// `--record` folder holding one server. What it holds, and the replies.
pub fn load(dir: &Path) -> Result<(String, Replay), String> {
    let mut replay = Replay::default();
    let cases = cases_in(dir)?;
    let mut kinds = Vec::new();
    for case in &cases {
        let meta: Value = serde_json::from_slice(&read_capped(&case.join("expected.json"), 16 << 20)?)
            .map_err(|e| format!("{}: not JSON: {e}", case.join("expected.json").display()))?;
        let count = meta["packet_count"].as_u64().unwrap_or(0);
        let count = usize::try_from(count).ok().filter(|&n| (1..=MAX_PACKETS).contains(&n)).ok_or_else(|| {
            format!("{}: packet_count {count}: a reply has 1 to {MAX_PACKETS} datagrams", case.display())
        })?;
        let packets = (0..count)
            .map(|i| read_capped(&case.join(format!("packet-{i}.bin")), MAX_PACKET_BYTES))
            .collect::<Result<Vec<_>, _>>()?;
        let (slot, kind) = match meta["kind"].as_str() {
            Some("info_source" | "info_goldsrc") => (&mut replay.info, "info"),
            Some("players") => (&mut replay.players, "players"),
            Some("rules") => (&mut replay.rules, "rules"),
            other => return Err(format!("{}: unknown kind {other:?}", case.display())),
        };
        if slot.is_empty() {
            *slot = packets;
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err(format!("{}: no recorded case (a folder with expected.json and packet-N.bin)", dir.display()));
    }
    Ok((format!("{} ({})", dir.display(), kinds.join(", ")), replay))
}

/// The case folders `dir` stands for.
fn cases_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if dir.join("expected.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let subfolders = |d: &Path| -> Result<Vec<PathBuf>, String> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| format!("{}: {e}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        Ok(found)
    };
    let below = subfolders(dir)?;
    let cases: Vec<PathBuf> = below.iter().filter(|p| p.join("expected.json").is_file()).cloned().collect();
    if !cases.is_empty() {
        return Ok(cases);
    }
    match below.as_slice() {
        [one] => Ok(subfolders(one)?.into_iter().filter(|p| p.join("expected.json").is_file()).collect()),
        [] => Err(format!("{}: no recording here", dir.display())),
        _ => Err(format!("{}: several servers recorded here; give one server's folder", dir.display())),
    }
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    // (A FIFO or a device would block or never end: only a plain file is read.)
    match std::fs::metadata(path) {
        Err(e) => return Err(format!("{}: {e}", path.display())),
        Ok(m) if !m.is_file() => return Err(format!("{}: not a file", path.display())),
        Ok(_) => {}
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{}: larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}
