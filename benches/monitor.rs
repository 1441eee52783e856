//! The monitor at scale, with the exporter scraped while it works: 10 000 farm servers
//! on 127.0.0.0/8 (10% dead: nothing listens on their port; 5% silent), every 30 s,
//! info only. Figures: the heap a server costs the monitor (a counting allocator on the
//! thread that drives the first round), the CPU time of the monitor's thread over a
//! window of steady polling (a share of one core; the farm's threads beside it as a
//! reference of what answering costs), and the latency of `/metrics` scraped every
//! 2 s meanwhile.
//!
//! `cargo bench -p a2s-query-benches --bench monitor` (Linux: the CPU figures come
//! from /proc). `A2S_BENCH_QUICK=1`: 1 000 servers, a 10 s window.

// A global allocator cannot be written without `unsafe`; the library forbids it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use a2s_query::exporter::Exporter;
use a2s_query::server::{Farm, Fault, Responder};
use a2s_query::{Info, Monitor, SourceInfo, State};

/// The name the exporter gives its monitor's thread.
const MONITOR_THREAD: &str = "a2s-monitor";

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Bytes held: allocated minus freed on this thread while counting.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn held(change: isize) {
    if COUNTING.with(Cell::get) {
        LIVE.with(|l| l.set(l.get() + change));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        held(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        held(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        held(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A server as community servers are: a name, a map, a version, keywords.
fn responder(i: usize) -> Responder {
    let mut info = SourceInfo::default();
    info.server_name = format!("Community Server #{i} | 24/7 Dust2 | FastDL");
    info.map_name = "de_dust2".into();
    info.folder = "cstrike".into();
    info.game = "Counter-Strike: Source".into();
    info.version = "9540945".into();
    info.keywords = Some("alltalk,increased_maxplayers,nocrits".into());
    info.player_count = (i % 24) as u8;
    info.max_players = 24;
    Responder::new(Info::Source(info), vec![], vec![])
}

/// CPU seconds (user + system) of this process's threads named `name`, and of the rest.
#[cfg(target_os = "linux")]
fn cpu_seconds(name: &str) -> (f64, f64) {
    // Clock ticks: 100 a second on every Linux this runs on (USER_HZ).
    const TICKS: f64 = 100.0;
    let (mut named, mut others) = (0.0, 0.0);
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the command (which may hold spaces) start after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat: 12 and 13 after the command.
        let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
        if comm.trim() == name {
            named += ticks / TICKS;
        } else {
            others += ticks / TICKS;
        }
    }
    (named, others)
}

#[cfg(not(target_os = "linux"))]
fn cpu_seconds(_: &str) -> (f64, f64) {
    (f64::NAN, f64::NAN)
}

/// One GET of `path`: the time to the whole body, and its length.
fn scrape(at: SocketAddr, path: &str) -> (Duration, usize) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(at).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let took = started.elapsed();
    assert!(response.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response[..64.min(response.len())]));
    (took, response.len())
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let quick = std::env::var("A2S_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (n, window) = if quick { (1_000, Duration::from_secs(10)) } else { (10_000, Duration::from_secs(60)) };
    let every = Duration::from_secs(30);
    let silent = |i: usize| i % 20 == 1;
    let dead = |i: usize| i % 10 == 0;
    let farm = Farm::new()
        .spawn_loopback(n, |i| (responder(i), if silent(i) { Fault::Silent } else { Fault::None }))
        .expect("a farm (raise ulimit -n past the server count)");
    // A dead server: the farm's address, a port where nothing listens (ICMP refused).
    let addrs: Vec<SocketAddr> = farm
        .addrs()
        .iter()
        .enumerate()
        .map(|(i, a)| if dead(i) { SocketAddr::new(a.ip(), a.port().wrapping_add(1)) } else { *a })
        .collect();
    println!("monitor: {n} servers on 127.0.0.0/8 ({} dead, {} silent), every {every:?}, info only", n / 10, n / 20);

    // The first round, driven on this thread with its allocations counted.
    let mut monitor = Monitor::builder().every(every).timeout(Duration::from_secs(3)).build().unwrap();
    COUNTING.with(|c| c.set(true));
    let started = Instant::now();
    for addr in &addrs {
        monitor.add(*addr).unwrap();
    }
    let added = LIVE.with(Cell::get);
    let mut events = 0;
    loop {
        while monitor.next_event_before(Instant::now() + Duration::from_millis(100)).is_some() {
            events += 1;
        }
        let judged = monitor.statuses().all(|s| s.state == State::Up || s.failures_in_row >= 1);
        if judged {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the first round did not end");
    }
    let first_round = started.elapsed();
    let live = LIVE.with(Cell::get);
    COUNTING.with(|c| c.set(false));
    let up = monitor.statuses().filter(|s| s.state == State::Up).count();
    println!("  first round: every server judged in {:.2} s ({up} up, {events} events)", first_round.as_secs_f64());
    println!(
        "  memory: {live} bytes held after it, {:.0} bytes a server; {:.0} of them before the first poll (its record, the tables), the rest its last info's text and what the engine learned of it",
        live as f64 / n as f64,
        added as f64 / n as f64
    );

    // Steady polling, with the exporter scraped every 2 s.
    let exporter = Exporter::builder().listen("127.0.0.1:0").monitor(monitor).spawn().unwrap();
    let at = exporter.local_addr();
    let (monitor_before, others_before) = cpu_seconds(MONITOR_THREAD);
    let window_start = Instant::now();
    let (mut latencies, mut index) = (Vec::new(), Vec::new());
    let mut body = 0;
    while window_start.elapsed() < window {
        let (took, len) = scrape(at, "/metrics");
        latencies.push(took);
        body = len;
        // The baseline: the same exporter's index page, an HTTP round trip and no more.
        index.push(scrape(at, "/").0);
        std::thread::sleep(Duration::from_secs(2));
    }
    let elapsed = window_start.elapsed().as_secs_f64();
    let (monitor_after, others_after) = cpu_seconds(MONITOR_THREAD);
    let requests = farm.requests();
    exporter.stop();
    let share = (monitor_after - monitor_before) / elapsed;
    let others = (others_after - others_before) / elapsed;
    latencies.sort();
    index.sort();
    let baseline = index[index.len() / 2];
    let median = latencies[latencies.len() / 2];
    let worst = *latencies.last().unwrap();
    println!(
        "  CPU over {elapsed:.0} s of steady polling: the monitor's thread {:.2}% of one core; every other thread (the farm answering, the HTTP threads, this one) {:.2}%",
        share * 100.0,
        others * 100.0
    );
    println!(
        "  /metrics while it polls: {} scrapes, median {}, worst {}, {body} bytes each; the index page (baseline): median {} ({:.0}x)",
        latencies.len(),
        millis(median),
        millis(worst),
        millis(baseline),
        median.as_secs_f64() / baseline.as_secs_f64()
    );
    println!("  (the farm served {requests} requests in all)");
}
