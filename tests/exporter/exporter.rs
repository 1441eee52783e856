//! The exporter scraped over real HTTP, its body read by an independent parser of the
//! exposition format (prometheus-parse), the values checked against a farm of our own
//! servers on loopback with known states: some answering, one silent, one closed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use a2s_query::exporter::Exporter;
use a2s_query::server::{RateLimit, Responder, Running};
use a2s_query::{Info, Monitor, Player, SourceInfo};
use prometheus_parse::{LineInfo, SampleType, Scrape, Value};

/// Far past anything these tests wait for on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// A server with known values: `players` named players, `max`, `bots`, a map and name.
fn server(name: &str, map: &str, players: &[&str], max: u8, bots: u8) -> Running {
    let mut info = SourceInfo::default();
    info.server_name = name.into();
    info.map_name = map.into();
    info.game = "Team Fortress".into();
    info.folder = "tf".into();
    info.version = "9.1.2".into();
    info.player_count = players.len() as u8;
    info.max_players = max;
    info.bot_count = bots;
    let list = players
        .iter()
        .enumerate()
        .map(|(i, n)| Player::new(n.to_string(), i as i32, 60.0 * (i as f32 + 1.0)))
        .collect();
    Responder::new(Info::Source(info), list, vec![]).spawn("127.0.0.1:0").unwrap()
}

/// GET `url`: the status, the content type and the body.
fn get(url: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, kind, response.body_mut().read_to_string().unwrap())
}

fn parse(body: &str) -> Scrape {
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of `metric` with exactly these labels, if there is one.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: HashMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    scrape.samples.iter().find(|s| s.metric == metric && *s.labels == wanted).map(|s| match s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{metric}: {other:?}"),
    })
}

/// The declared type of each metric family, as the `# TYPE` lines say.
fn types(body: &str) -> HashMap<String, SampleType> {
    body.lines()
        .filter_map(|line| match LineInfo::parse(line) {
            LineInfo::Type { metric_name, sample_type, .. } => Some((metric_name, sample_type)),
            _ => None,
        })
        .collect()
}

#[test]
fn metrics_of_a_farm_read_back_by_an_independent_parser() {
    // Two players of one name (as bots and "Player" are): one series, the longer time.
    let full = server("Full House", "ctf_2fort", &["alice", "bob", "carol", "bob"], 24, 1);
    let empty = server("Empty Room", "cp_badlands", &[], 12, 0);
    let silent = server("Silent", "pl_upward", &[], 24, 0);
    silent.update(|r| r.rate_limit = Some(RateLimit::new(0, Duration::from_secs(3600), Duration::from_secs(3600))));
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);

    let mut monitor = Monitor::builder()
        .every(Duration::from_millis(100))
        .timeout(Duration::from_secs(2))
        .down_after(1)
        .players(true)
        .build()
        .unwrap();
    for addr in [full.local_addr(), empty.local_addr(), silent.local_addr(), closed_addr] {
        monitor.add(addr).unwrap();
    }
    let exporter = Exporter::builder()
        .listen("127.0.0.1:0")
        .monitor(monitor)
        .player_names(true)
        .probe_timeout(Duration::from_secs(10))
        .spawn()
        .unwrap();
    let url = format!("http://{}/metrics", exporter.local_addr());
    let [full_a, empty_a, silent_a, closed_a] =
        [full.local_addr(), empty.local_addr(), silent.local_addr(), closed_addr].map(|a| a.to_string());

    // Scraped until every server was polled and judged (a scrape answers at once with
    // what the monitor knows so far).
    let deadline = Instant::now() + PATIENCE;
    let (body, scrape) = loop {
        let (status, kind, body) = get(&url);
        assert_eq!(status, 200, "{body}");
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        let scrape = parse(&body);
        let judged = |a: &str, up: f64| value(&scrape, "a2s_up", &[("address", a)]) == Some(up);
        let failed = |a: &str| {
            ["timeout", "refused"]
                .iter()
                .any(|r| value(&scrape, "a2s_failures_total", &[("address", a), ("reason", r)]).unwrap_or(0.0) >= 1.0)
        };
        if judged(&full_a, 1.0) && judged(&empty_a, 1.0) && failed(&silent_a) && failed(&closed_a) {
            break (body, scrape);
        }
        assert!(Instant::now() < deadline, "not every server judged in time:\n{body}");
        std::thread::sleep(Duration::from_millis(50));
    };

    assert_eq!(value(&scrape, "a2s_servers", &[]), Some(4.0));
    for (addr, players, max, bots) in [(&full_a, 4.0, 24.0, 1.0), (&empty_a, 0.0, 12.0, 0.0)] {
        let at = [("address", addr.as_str())];
        assert_eq!(value(&scrape, "a2s_up", &at), Some(1.0), "{addr}");
        assert_eq!(value(&scrape, "a2s_players", &at), Some(players), "{addr}");
        assert_eq!(value(&scrape, "a2s_max_players", &at), Some(max), "{addr}");
        assert_eq!(value(&scrape, "a2s_bots", &at), Some(bots), "{addr}");
        let ping = value(&scrape, "a2s_ping_seconds", &at).unwrap();
        assert!(ping > 0.0 && ping < 2.0, "{addr}: {ping} (within the timeout)");
        assert!(value(&scrape, "a2s_polls_total", &at).unwrap() >= 1.0);
        let last = value(&scrape, "a2s_last_success_timestamp_seconds", &at).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(last <= now && last > now - PATIENCE.as_secs_f64(), "{last} vs {now}");
    }
    let info = [
        ("address", full_a.as_str()),
        ("name", "Full House"),
        ("map", "ctf_2fort"),
        ("version", "9.1.2"),
        ("game", "Team Fortress"),
        ("folder", "tf"),
    ];
    assert_eq!(value(&scrape, "a2s_info", &info), Some(1.0));
    for (name, seconds) in [("alice", 60.0), ("bob", 240.0), ("carol", 180.0)] {
        let at = [("address", full_a.as_str()), ("player", name)];
        assert_eq!(value(&scrape, "a2s_player_connected_seconds", &at), Some(seconds), "{name}");
    }
    // No two series alike (the exposition would be invalid).
    let mut seen = std::collections::HashSet::new();
    for sample in &scrape.samples {
        let mut labels: Vec<(String, String)> = sample.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        labels.sort();
        assert!(seen.insert((sample.metric.clone(), labels)), "a series twice: {} {:?}", sample.metric, sample.labels);
    }
    // The silent and the closed: down, no info series, their failures by reason.
    for addr in [&silent_a, &closed_a] {
        let at = [("address", addr.as_str())];
        assert_eq!(value(&scrape, "a2s_up", &at), Some(0.0), "{addr}");
        assert_eq!(value(&scrape, "a2s_players", &at), None, "{addr}: no count while down");
        assert_eq!(value(&scrape, "a2s_last_success_timestamp_seconds", &at), None);
    }
    let silent_timeouts = value(&scrape, "a2s_failures_total", &[("address", &silent_a), ("reason", "timeout")]);
    assert!(silent_timeouts.unwrap() >= 1.0);
    // (A timeout or a suspected rate limit of a live server is a loaded machine's, not
    // a wrong reading: only the kinds none of these servers can cause are zero.)
    for reason in ["not_a2s", "malformed", "other"] {
        for addr in [&full_a, &empty_a, &silent_a, &closed_a] {
            let n = value(&scrape, "a2s_failures_total", &[("address", addr), ("reason", reason)]);
            assert_eq!(n, Some(0.0), "{addr} {reason}");
        }
    }
    let declared = types(&body);
    for gauge in ["a2s_up", "a2s_players", "a2s_max_players", "a2s_bots", "a2s_ping_seconds", "a2s_info"] {
        assert_eq!(declared.get(gauge), Some(&SampleType::Gauge), "{gauge}");
    }
    for counter in ["a2s_failures", "a2s_polls"] {
        assert_eq!(declared.get(counter), Some(&SampleType::Counter), "{counter}");
    }
    assert!(body.ends_with("# EOF\n"), "an OpenMetrics body ends with # EOF");

    // Probes of the silent server (each takes its whole timeout, 10 s) do not hold
    // /metrics: it is answered while every one of them is still under way.
    let probes_done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..6 {
        let (done, url) =
            (std::sync::Arc::clone(&probes_done), format!("http://{}/probe?target={silent_a}", exporter.local_addr()));
        std::thread::spawn(move || {
            let _ = ureq::get(&url).call();
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    std::thread::sleep(Duration::from_millis(200));
    let (status, _, _) = get(&url);
    assert_eq!(status, 200);
    assert_eq!(probes_done.load(std::sync::atomic::Ordering::SeqCst), 0, "/metrics waited for a probe");

    // A server more while it runs, and one less.
    let late = server("Late", "cp_dustbowl", &["erin"], 8, 0);
    let late_a = late.local_addr().to_string();
    assert!(exporter.add(late.local_addr()));
    assert!(exporter.remove(closed_addr));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let scrape = parse(&get(&url).2);
        let late_up = value(&scrape, "a2s_up", &[("address", &late_a)]) == Some(1.0);
        if late_up && value(&scrape, "a2s_servers", &[]) == Some(4.0) {
            assert_eq!(value(&scrape, "a2s_players", &[("address", &late_a)]), Some(1.0));
            assert_eq!(value(&scrape, "a2s_up", &[("address", &closed_a)]), None, "removed: no series");
            break;
        }
        assert!(Instant::now() < deadline, "the added server never showed");
        std::thread::sleep(Duration::from_millis(50));
    }
    exporter.stop();
}

#[test]
fn probe_asks_one_server_at_scrape_time() {
    let live = server("Probed", "koth_harvest", &["dave"], 16, 0);
    let exporter = Exporter::builder().listen("127.0.0.1:0").probe_timeout(Duration::from_secs(2)).spawn().unwrap();
    let base = format!("http://{}", exporter.local_addr());
    let target = live.local_addr().to_string();

    let (status, _, body) = get(&format!("{base}/probe?target={}", target.replace(':', "%3A")));
    assert_eq!(status, 200, "{body}");
    let scrape = parse(&body);
    let at = [("address", target.as_str())];
    assert_eq!(value(&scrape, "a2s_probe_success", &at), Some(1.0));
    let took = value(&scrape, "a2s_probe_duration_seconds", &at).unwrap();
    assert!(took > 0.0 && took < 2.0, "{took}");
    assert_eq!(value(&scrape, "a2s_up", &at), Some(1.0));
    assert_eq!(value(&scrape, "a2s_players", &at), Some(1.0));
    assert_eq!(value(&scrape, "a2s_max_players", &at), Some(16.0));

    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let (status, _, body) = get(&format!("{base}/probe?target={closed_addr}"));
    assert_eq!(status, 200, "a failed probe is a scrape that says so: {body}");
    let scrape = parse(&body);
    assert_eq!(value(&scrape, "a2s_probe_success", &[("address", &closed_addr)]), Some(0.0));
    assert_eq!(value(&scrape, "a2s_up", &[("address", &closed_addr)]), Some(0.0));

    let (status, _, body) = get(&format!("{base}/probe"));
    assert_eq!(status, 400);
    assert!(body.contains("target=HOST:PORT"), "{body}");
    let (status, _, _) = get(&format!("{base}/metrics"));
    assert_eq!(status, 404, "no monitor: /metrics has no servers");
    exporter.stop();
}
