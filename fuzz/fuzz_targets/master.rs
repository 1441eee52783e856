//! A master-server walk (MasterWalk) fed a fake master's pages in any order (next
//! pages, copies of earlier ones, pages of arbitrary addresses) and arbitrary bytes,
//! with time steps. It never panics; it gives out only addresses some page held, each
//! once; it asks only while it has no outcome; and it is over by its deadline.
#![no_main]

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use a2s_query::proto::{MasterConfig, MasterPage, MasterWalk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, c, rest @ ..] = data else { return };
    let mut config = MasterConfig::default();
    config.page_timeout = Duration::from_millis(1 + u64::from(a & 15) * 20);
    config.retries = a >> 4 & 3;
    config.pace = Duration::from_millis(u64::from(a >> 6) * 10);
    config.timeout = Duration::from_millis(1 + u64::from(*b) * 40);
    // The fake master's list, cut into pages.
    let list: Vec<SocketAddrV4> =
        (0..u16::from(*c)).map(|i| SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, (i % 7) as u8), 27015 + i)).collect();
    let page_size = 1 + usize::from(c % 5);
    let pages: Vec<MasterPage> = list
        .chunks(page_size)
        .enumerate()
        .map(|(i, chunk)| MasterPage { servers: chunk.to_vec(), last: (i + 1) * page_size >= list.len() })
        .collect();
    run(config, &pages, rest);
});

fn run(config: MasterConfig, pages: &[MasterPage], mut ops: &[u8]) {
    let start = Instant::now();
    let deadline = start + config.timeout;
    let mut walk = MasterWalk::new(config, start);
    let mut now = start;
    let mut next_page = 0;
    let mut listed: HashSet<SocketAddrV4> = HashSet::new();
    let mut given: HashSet<SocketAddrV4> = HashSet::new();
    let mut outcome = None;
    let mut out = Vec::new();
    let mut settle = |walk: &mut MasterWalk, now: Instant, listed: &HashSet<SocketAddrV4>| {
        while walk.poll_transmit(now).is_some() {
            assert!(outcome.is_none(), "a request after the walk ended");
        }
        while let Some(addr) = walk.poll_address() {
            assert!(listed.contains(&addr), "{addr} was on no page");
            assert!(given.insert(addr), "{addr} given twice");
        }
        if let Some(o) = walk.poll_outcome() {
            assert!(outcome.is_none(), "two outcomes");
            outcome = Some(o);
        }
        if outcome.is_none() && !walk.is_over() {
            assert!(walk.poll_timeout().is_some(), "a walk under way with no time to wake at");
        }
    };
    while let Some((&op, tail)) = ops.split_first() {
        ops = tail;
        let page = match op & 3 {
            0 => {
                now += Duration::from_millis(u64::from(op >> 2) * 5);
                walk.handle_timeout(now);
                None
            }
            1 => {
                // The next page of the list, as an honest master sends it.
                let page = pages.get(next_page).cloned();
                next_page += usize::from(page.is_some());
                page
            }
            2 => pages.get(usize::from(op >> 2) % pages.len().max(1)).cloned(),
            _ => {
                let Some((&len, tail)) = ops.split_first() else { break };
                let (body, tail) = tail.split_at(usize::from(len).min(tail.len()));
                ops = tail;
                out.clear();
                out.extend_from_slice(b"\xFF\xFF\xFF\xFF\x66\x0A");
                out.extend_from_slice(body);
                if let Ok(page) = MasterPage::parse(&out) {
                    listed.extend(page.servers.iter().copied());
                }
                walk.handle_datagram(&out, now);
                None
            }
        };
        if let Some(page) = page {
            listed.extend(page.servers.iter().copied());
            out.clear();
            page.encode(&mut out);
            walk.handle_datagram(&out, now);
        }
        settle(&mut walk, now, &listed);
    }
    // Time runs out: the walk is over by its deadline at the latest.
    for _ in 0..100 {
        if walk.is_over() {
            break;
        }
        let wake = walk.poll_timeout().expect("under way: a time to wake at");
        assert!(wake <= deadline.max(now), "woken after the deadline");
        now = now.max(wake);
        walk.handle_timeout(now);
        settle(&mut walk, now, &listed);
    }
    assert!(walk.is_over(), "not over at {:?} past the deadline", now.saturating_duration_since(deadline));
}
