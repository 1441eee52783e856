//! The Exchange fed arbitrary datagrams and time steps: it never panics, never sends
//! more requests than its retries and challenge rounds allow, never wakes past its
//! deadline, and is always done once the deadline is reached.
#![no_main]

use std::time::{Duration, Instant};

use a2s_query::proto::{Answer, Exchange, ExchangeConfig, Info, Learned, Players, Rules, SplitFormat};
use a2s_query::{Encoding, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, retries, timeout, grace, rest @ ..] = data else { return };
    let mut limits = Limits::default();
    limits.max_fragments = 8;
    limits.max_reply_bytes = 4096;
    limits.max_decompressed_bytes = 8192;
    limits.max_pending_replies = 2;
    limits.max_challenge_rounds = 3;
    limits.max_stray_datagrams = 16;
    let mut config = ExchangeConfig::default();
    config.timeout = Duration::from_millis(u64::from(*timeout) * 8);
    config.retries = retries % 4;
    config.limits = limits;
    config.goldsrc_grace = (grace & 1 == 1).then(|| Duration::from_millis(u64::from(grace >> 1)));
    config.split_format = SplitFormat::Auto;
    config.reuse_challenge = grace & 2 != 0;
    match kind % 3 {
        0 => run::<Info>(config, rest),
        1 => run::<Players>(config, rest),
        _ => run::<Rules>(config, rest),
    }
});

fn run<T: Answer<Encoding>>(config: ExchangeConfig, mut ops: &[u8]) {
    let start = Instant::now();
    let mut learned = Learned::default();
    learned.challenge = Some(a2s_query::proto::Challenge([1, 2, 3, 4]));
    let mut ex: Exchange<T, Encoding> = Exchange::new(config, Encoding::Utf8, learned, start);
    let deadline = ex.deadline();
    assert_eq!(deadline, start + config.timeout);
    let most_sends = 1 + usize::from(config.retries) + usize::from(config.limits.max_challenge_rounds);
    let mut sends = 0;
    let mut now = start;
    let mut outcomes = 0;
    while let Some((&op, tail)) = ops.split_first() {
        ops = tail;
        match op % 4 {
            // Time passes, as a driver whose wait ran out.
            0 => {
                let Some((&step, tail)) = ops.split_first() else { break };
                ops = tail;
                now += Duration::from_millis(u64::from(step) * 4);
                ex.handle_timeout(now);
            }
            // A datagram: a reply or fragment header, then bytes.
            _ => {
                let Some((&len, tail)) = ops.split_first() else { break };
                let (body, tail) = tail.split_at(usize::from(len).min(tail.len()));
                ops = tail;
                let mut d = match op % 4 {
                    1 => vec![0xFF, 0xFF, 0xFF, 0xFF],
                    2 => vec![0xFE, 0xFF, 0xFF, 0xFF],
                    _ => Vec::new(),
                };
                d.extend_from_slice(body);
                ex.handle_datagram(&d, now);
            }
        }
        while ex.poll_transmit(now).is_some() {
            sends += 1;
        }
        assert!(sends <= most_sends, "{sends} requests, at most {most_sends}");
        if let Some(wake) = ex.poll_timeout() {
            assert!(wake <= deadline, "wakes past the deadline");
        }
        if ex.poll_outcome().is_some() {
            outcomes += 1;
        }
        assert!(ex.strays() <= config.limits.max_stray_datagrams + 1);
    }
    // At the deadline it is over, whatever came.
    ex.handle_timeout(deadline.max(now));
    assert!(ex.is_done());
    assert_eq!(ex.poll_timeout(), None);
    if ex.poll_outcome().is_some() {
        outcomes += 1;
    }
    assert_eq!(outcomes, 1, "one outcome");
    assert_eq!(ex.poll_transmit(deadline), None, "nothing sent once done");
}
