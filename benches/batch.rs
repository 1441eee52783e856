//! `cargo bench --bench batch`: the many-servers engine against loopback farms of
//! simulated servers, each figure next to its baseline from the same run.
//!
//! - `sequential`: one `Client` querying servers one after another, as users do today,
//!   against a single blocking responder (the best case for a loop: no farm between)
//!   and against the farm.
//! - `batch N`: one `Batch` over N farm servers, send rate unlimited; then the same
//!   servers through one shared `a2s_query::tokio::Client` (`info_many`), against it.
//! - `dead 10%`: 1 in 10 servers silent, default window, a raised send rate: the wall
//!   time against `timeout + datagrams / rate`.
//! - `latency`: every reply held 50 ms by the farm; the batch over 1 000 servers against
//!   a sequential loop over 100 (scaled).
//! - `schedule`: the wall time's floor. 10 000 servers (15% silent, 2% losing their
//!   first reply), timeout 2 s, retries 2, 20 000 datagrams/s, window 4 096, with no
//!   reply delay and with 50 ms: against `servers / rate + timeout` (every first
//!   contact out as early as the rate allows, the last silent one's timeout after).
//! - `closed`: 9 000 servers and 1 000 closed ports (nothing listening: the host
//!   answers ICMP "port unreachable"), timeout 2 s, 20 000 datagrams/s: on Linux the
//!   closed ones end at once, and the run in about `datagrams / rate`.
//! - drops: the kernel's count of datagrams dropped at the batch's socket
//!   (`/proc/net/udp{,6}`, Linux), for each run.
//!
//! Runs seconds long are timed as wholes (criterion's sampling is for microseconds).
//! `A2S_BENCH_QUICK=1` runs smaller farms; a filter argument (`cargo bench --bench
//! batch -- schedule`) runs only the sections whose names contain it (`throughput`,
//! `dead`, `latency`, `schedule`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use a2s_query::proto::{Info, SourceInfo};
use a2s_query::server::{Farm, Fault, Responder};
use a2s_query::{Batch, Client};

fn responder(i: usize) -> Responder {
    let mut info = SourceInfo::default();
    info.server_name = format!("Benchmark server {i} | 24/7");
    info.map_name = "de_dust2".into();
    info.folder = "csgo".into();
    info.game = "Counter-Strike 2".into();
    info.app_id = 730;
    info.player_count = 20;
    info.max_players = 32;
    Responder::new(Info::Source(info), vec![], vec![])
}

/// The kernel's drop count of the UDP socket bound to `port` (Linux; 0 elsewhere).
fn drops(port: u16) -> u64 {
    let mut total = 0;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port =
                fields.get(1).and_then(|l| l.rsplit(':').next()).and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                total += fields.last().and_then(|d| d.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

struct Run {
    servers: usize,
    answered: usize,
    elapsed: Duration,
    /// The kernel's drops at the batch's socket (`None`: not a batch run).
    drops: Option<u64>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.servers as f64 / self.elapsed.as_secs_f64()
    }
}

fn batch_run(batch: &mut Batch, addrs: &[SocketAddr]) -> Run {
    let port = batch.local_addr().unwrap().port();
    let before = drops(port);
    let started = Instant::now();
    let answered = batch.info(addrs.iter().copied()).filter(|(_, r)| r.is_ok()).count();
    let elapsed = started.elapsed();
    Run { servers: addrs.len(), answered, elapsed, drops: Some(drops(port) - before) }
}

fn sequential(client: &mut Client, addrs: &[SocketAddr]) -> Run {
    let started = Instant::now();
    let answered = addrs.iter().filter(|&&a| client.info(a).is_ok()).count();
    Run { servers: addrs.len(), answered, elapsed: started.elapsed(), drops: None }
}

/// One shared async client over every address (`info_many`), on a current-thread
/// runtime: the async driver's many-servers mode.
fn tokio_run(client: &a2s_query::tokio::Client, addrs: &[SocketAddr]) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let answered = runtime.block_on(async {
        let mut many = client.info_many(addrs.to_vec());
        let mut answered = 0;
        while let Some((_, result)) = many.next().await {
            answered += usize::from(result.is_ok());
        }
        answered
    });
    Run { servers: addrs.len(), answered, elapsed: started.elapsed(), drops: None }
}

fn report(name: &str, run: &Run, baseline: Option<&Run>) {
    let ratio =
        baseline.map_or(String::new(), |b| format!("  {:>6.1}x the baseline", run.per_second() / b.per_second()));
    println!(
        "{name:<44} {:>6} servers {:>6} answered {:>9.3} s {:>9.0} servers/s  drops {:>3}{ratio}",
        run.servers,
        run.answered,
        run.elapsed.as_secs_f64(),
        run.per_second(),
        run.drops.map_or("n/a".to_string(), |d| d.to_string())
    );
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument picks sections by name.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let run = |section: &str| filter.is_empty() || filter.iter().any(|f| section.contains(f.as_str()));
    let quick = std::env::var("A2S_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (small, large) = if quick { (200, 1_000) } else { (1_000, 10_000) };
    let timeout = Duration::from_secs(2);
    if run("throughput") {
        throughput(small, large, timeout);
    }
    if run("dead") {
        dead(large);
    }
    if run("latency") {
        latency(small, timeout);
    }
    if run("schedule") {
        schedule(large);
    }
    if run("closed") {
        closed(large);
    }
}

/// One batch and one async client against farms of `small` and `large` servers, at
/// several rates, windows and buffers, against a sequential loop.
fn throughput(small: usize, large: usize, timeout: Duration) {
    // No challenge reuse: every query pays the challenge round trip, as a first poll does.
    let fresh_client = || Client::builder().timeout(timeout).reuse_challenges(false).build();
    // Baseline: a loop over one Client against one blocking responder, the fastest a
    // loop gets (no farm between), counted per query.
    let single = responder(0).spawn("127.0.0.1:0").unwrap();
    let one: Vec<SocketAddr> = vec![single.local_addr(); small];
    let mut client = fresh_client();
    sequential(&mut client, &one[..100]);
    let floor = sequential(&mut client, &one);
    report("sequential Client, one responder (baseline)", &floor, None);
    drop(single);

    for &n in &[small, large] {
        let farm = Farm::new().spawn_loopback(n, |i| (responder(i), Fault::None)).unwrap();
        let addrs = farm.addrs().to_vec();
        if n == small {
            let mut client = fresh_client();
            let seq = sequential(&mut client, &addrs);
            report(&format!("sequential Client, farm of {n}"), &seq, Some(&floor));
        }
        let mut batch = Batch::builder().timeout(timeout).send_rate(0).max_in_flight(512).build().unwrap();
        batch.forget_challenges();
        let run = batch_run(&mut batch, &addrs);
        report(&format!("batch, farm of {n}, rate unlimited, window 512"), &run, Some(&floor));
        // The same through one shared async client (a fresh one: no challenge known).
        let shared = a2s_query::tokio::Client::builder()
            .timeout(timeout)
            .send_rate(0)
            .max_in_flight(512)
            .reuse_challenges(false)
            .build();
        let async_run = tokio_run(&shared, &addrs);
        report(&format!("tokio Client, farm of {n}, rate unlimited, 512"), &async_run, Some(&run));
        let mut batch = Batch::builder().timeout(timeout).send_rate(100_000).max_in_flight(1024).build().unwrap();
        let run = batch_run(&mut batch, &addrs);
        report(&format!("batch, farm of {n}, rate 100 000/s, window 1024"), &run, Some(&floor));
        let mut batch = Batch::builder().timeout(timeout).build().unwrap();
        let run = batch_run(&mut batch, &addrs);
        report(&format!("batch, farm of {n}, defaults (2 000/s, 512)"), &run, Some(&floor));
        // The kernel's default receive buffer instead of the 4 MiB asked for.
        let mut batch = Batch::builder().timeout(timeout).recv_buffer(0).build().unwrap();
        let buffer = batch.recv_buffer_size();
        let run = batch_run(&mut batch, &addrs);
        report(&format!("batch, farm of {n}, defaults, {} KiB buffer", buffer / 1024), &run, Some(&floor));
        let mut batch = Batch::builder().timeout(timeout).send_rate(0).recv_buffer(0).build().unwrap();
        let run = batch_run(&mut batch, &addrs);
        report(&format!("batch, farm of {n}, unlimited, {} KiB buffer", buffer / 1024), &run, Some(&floor));
    }
}

/// 10% dead: silent servers, each waiting out its timeout side by side.
fn dead(large: usize) {
    {
        let n = large;
        let timeout = Duration::from_secs(1);
        let rate = 20_000;
        let farm = Farm::new()
            .spawn_loopback(n, |i| (responder(i), if i % 10 == 0 { Fault::Silent } else { Fault::None }))
            .unwrap();
        let datagrams = n / 10 + 2 * (n - n / 10);
        let bound = timeout + Duration::from_secs_f64(datagrams as f64 / f64::from(rate));
        println!(
            "10% dead: bound timeout + datagrams/rate = {:.3} s; a sequential loop: {:.0} s for the dead alone",
            bound.as_secs_f64(),
            (n / 10) as f64 * timeout.as_secs_f64()
        );
        // The window must hold the dead servers of one timeout's sending (about
        // rate / 2 × 10% × timeout): with the default 512 it waits for them in waves.
        for window in [2048, 512] {
            let mut batch = Batch::builder().timeout(timeout).send_rate(rate).max_in_flight(window).build().unwrap();
            let run = batch_run(&mut batch, farm.addrs());
            report(&format!("batch, {n} servers, 10% dead, 1 s, {rate}/s, window {window}"), &run, None);
        }
    }
}

/// Latency hiding: every reply held 50 ms.
fn latency(small: usize, timeout: Duration) {
    let fresh_client = || Client::builder().timeout(timeout).reuse_challenges(false).build();
    {
        let delay = Duration::from_millis(50);
        let farm = Farm::new().delay(delay).spawn_loopback(small, |i| (responder(i), Fault::None)).unwrap();
        let addrs = farm.addrs().to_vec();
        let mut client = fresh_client();
        let seq = sequential(&mut client, &addrs[..100]);
        report("sequential Client, 50 ms replies, 100 servers", &seq, None);
        println!("    scaled to {small} servers: {:.1} s", seq.elapsed.as_secs_f64() * small as f64 / 100.0);
        let mut batch = Batch::builder().timeout(timeout).send_rate(0).build().unwrap();
        let run = batch_run(&mut batch, &addrs);
        report(&format!("batch, 50 ms replies, {small} servers"), &run, Some(&seq));
    }
}

/// The schedule against its floor: when the last silent server's timeout can end.
fn schedule(n: usize) {
    let (timeout, rate) = (Duration::from_secs(2), 20_000);
    let floor = Duration::from_secs_f64(n as f64 / f64::from(rate)) + timeout;
    println!("schedule: floor servers/rate + timeout = {:.3} s", floor.as_secs_f64());
    for (delay, window) in
        [0, 50].into_iter().flat_map(|ms| [(Duration::from_millis(ms), 4_096), (Duration::from_millis(ms), n)])
    {
        let fault = |i: usize| match i % 100 {
            0..=14 => Fault::Silent,
            15 | 16 => Fault::LoseFirst(1),
            _ => Fault::None,
        };
        let farm = Farm::new().delay(delay).spawn_loopback(n, |i| (responder(i), fault(i))).unwrap();
        let answerable = (0..n).filter(|&i| fault(i) != Fault::Silent).count();
        let mut batch =
            Batch::builder().timeout(timeout).retries(2).send_rate(rate).max_in_flight(window).build().unwrap();
        batch.forget_challenges();
        let port = batch.local_addr().unwrap().port();
        let before = drops(port);
        let started = Instant::now();
        let mut seen = std::collections::HashMap::new();
        let mut answered = 0;
        for (addr, result) in batch.info(farm.addrs().iter().copied()) {
            *seen.entry(addr).or_insert(0) += 1;
            answered += usize::from(result.is_ok());
        }
        let elapsed = started.elapsed();
        let once = farm.addrs().iter().all(|a| seen.get(a) == Some(&1)) && seen.len() == n;
        println!(
            "schedule, {n} servers, {} ms replies, window {window}: {:.3} s ({:.3}x the floor), {answered} of {answerable} \
             answerable answered ({:.2}%), each address once: {once}, drops {}",
            delay.as_millis(),
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() / floor.as_secs_f64(),
            100.0 * answered as f64 / answerable as f64,
            drops(port) - before
        );
    }
}

/// Closed ports among live servers: refused (Linux) or timed out (elsewhere).
fn closed(n: usize) {
    let (timeout, rate) = (Duration::from_secs(2), 20_000);
    let live = n - n / 10;
    let farm = Farm::new().spawn_loopback(live, |i| (responder(i), Fault::None)).unwrap();
    let port = farm.addrs()[0].port();
    // The farm's port on addresses it did not bind: nothing listens there.
    let closed: Vec<SocketAddr> =
        (live..n).map(|i| SocketAddr::from((std::net::Ipv4Addr::from(0x7F00_0001 + i as u32), port))).collect();
    let addrs: Vec<SocketAddr> = farm.addrs().iter().chain(&closed).copied().collect();
    let datagrams = 2 * live + closed.len();
    let bound = Duration::from_secs_f64(datagrams as f64 / f64::from(rate));
    let mut batch = Batch::builder().timeout(timeout).send_rate(rate).max_in_flight(n).build().unwrap();
    batch.forget_challenges();
    let started = Instant::now();
    let (mut answered, mut refused) = (0, 0);
    for (_, result) in batch.info(addrs.iter().copied()) {
        match result {
            Ok(_) => answered += 1,
            Err(a2s_query::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
            Err(_) => {}
        }
    }
    let elapsed = started.elapsed();
    println!(
        "closed, {live} servers and {} closed ports: {:.3} s (datagrams/rate {:.3} s, {:.2}x), {answered} answered, \
         {refused} refused",
        closed.len(),
        elapsed.as_secs_f64(),
        bound.as_secs_f64(),
        elapsed.as_secs_f64() / bound.as_secs_f64()
    );
}
