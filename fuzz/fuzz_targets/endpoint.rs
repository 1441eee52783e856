//! The engine (Endpoint) fed arbitrary pushes, cancels, datagrams from any of a few
//! addresses and time steps: it never panics, never holds more servers than its window,
//! and, once time runs past every deadline, has given every query not cancelled out exactly
//! once and is idle.
#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use a2s_query::proto::{AllQueries, Endpoint, EndpointConfig, Exchange, ExchangeConfig, Info, Job, QueryId, Rules};
use a2s_query::{Encoding, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, window, rate, timeout, rest @ ..] = data else { return };
    let mut limits = Limits::default();
    limits.max_fragments = 8;
    limits.max_reply_bytes = 4096;
    limits.max_pending_replies = 2;
    let mut config = EndpointConfig::default();
    config.exchange = {
        let mut config = ExchangeConfig::default();
        config.timeout = Duration::from_millis(1 + u64::from(*timeout) * 4);
        config.retries = kind >> 4 & 3;
        config.limits = limits;
        config
    };
    config.max_in_flight = 1 + usize::from(window % 8);
    config.send_rate = u32::from(*rate) * 50;
    match kind % 3 {
        0 => run::<Exchange<Info, Encoding>>(config, rest),
        1 => run::<Exchange<Rules, Encoding>>(config, rest),
        _ => run::<AllQueries<Encoding>>(config, rest),
    }
});

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, i % 6], 27015))
}

fn run<J: Job<Encoding>>(config: EndpointConfig, mut ops: &[u8]) {
    let mut e: Endpoint<J> = Endpoint::new(config, Encoding::Utf8);
    let mut now = Instant::now();
    // Every query pushed and not cancelled, and every output given.
    let mut pending: HashMap<QueryId, SocketAddr> = HashMap::new();
    let mut given: HashMap<QueryId, SocketAddr> = HashMap::new();
    let take = |e: &mut Endpoint<J>, given: &mut HashMap<QueryId, SocketAddr>| {
        while let Some((id, a, _)) = e.poll_output() {
            assert!(given.insert(id, a).is_none(), "an output given twice");
        }
    };
    while let Some((&op, tail)) = ops.split_first() {
        ops = tail;
        match op % 5 {
            0 if e.wants_input() => {
                let id = e.push(addr(op >> 3));
                pending.insert(id, addr(op >> 3));
            }
            0 | 1 => {
                now += Duration::from_millis(u64::from(op >> 2));
                e.handle_timeout(now);
            }
            4 => {
                // Cancel the oldest query not given out yet.
                let oldest = pending.keys().filter(|id| !given.contains_key(id)).min().copied();
                if let Some(id) = oldest {
                    assert!(e.cancel(id, now), "a pending query is there to cancel");
                    pending.remove(&id);
                }
            }
            _ => {
                let Some((&len, tail)) = ops.split_first() else { break };
                let (body, tail) = tail.split_at(usize::from(len).min(tail.len()));
                ops = tail;
                let mut d = if op & 4 == 0 { vec![0xFF, 0xFF, 0xFF, 0xFF] } else { vec![0xFE, 0xFF, 0xFF, 0xFF] };
                d.extend_from_slice(body);
                e.handle_datagram(addr(op >> 3), &d, now);
            }
        }
        while e.poll_transmit(now).is_some() {}
        take(&mut e, &mut given);
        assert!(e.in_flight() <= config.max_in_flight, "{} in flight", e.in_flight());
    }
    // Let time run out: every server ends at its deadline at the latest.
    for _ in 0..10_000 {
        while e.poll_transmit(now).is_some() {}
        take(&mut e, &mut given);
        if e.is_idle() {
            break;
        }
        let wake = e.poll_timeout().expect("not idle: something to wait for");
        now = now.max(wake);
        e.handle_timeout(now);
    }
    assert!(e.is_idle(), "still busy after every deadline");
    assert_eq!(pending, given, "every query not cancelled given out once, to its address");
}
