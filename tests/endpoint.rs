//! The engine, scripted: datagrams handed in with their source address, time advanced
//! by hand. Routing, the window, the send rate, joined and queued queries, cancels,
//! the drain after a query ends (no late reply answers a later query) and the
//! three-query chain, with every instant exact.

mod common;

use common::goldsrc_reply;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use a2s_query::proto::{
    encode_challenge, encode_players, encode_rules, split_packet, AllQueries, AnyAnswer, AnyQuery, Challenge, Endpoint,
    EndpointConfig, Exchange, Info, Kind, Player, Query, Rules, ShipLayout, SourceInfo, SplitFormat,
};
use a2s_query::{Encoding, Error, Stray};

/// The shortest drain, when the round trip is known (documented on `Exchange::draining`).
const DRAIN_FLOOR: Duration = Duration::from_millis(50);
/// How long a finished query drains when no round trip of its server is known (documented
/// on `Exchange::draining`).
const DRAIN_UNKNOWN_ROUND_TRIP: Duration = Duration::from_millis(250);
const C1: Challenge = Challenge([0x11, 0x22, 0x33, 0x44]);
const C2: Challenge = Challenge([0x55, 0x66, 0x77, 0x08]);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr(i: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 27000 + i))
}

fn config(window: usize, rate: u32, timeout_ms: u64) -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.exchange.timeout = ms(timeout_ms);
    config.max_in_flight = window;
    config.send_rate = rate;
    config
}

fn challenge(c: Challenge) -> Vec<u8> {
    let mut out = Vec::new();
    encode_challenge(c, &mut out);
    out
}

fn info_reply(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut info = SourceInfo::default();
    info.server_name = name.to_string();
    info.encode(&mut out).unwrap();
    out
}

fn players_reply(name: &str) -> Vec<u8> {
    let players = [Player::new(name.to_string(), 1, 2.0)];
    let mut out = Vec::new();
    encode_players(&players, ShipLayout::Trailing, &mut out).unwrap();
    out
}

fn rules_reply(tag: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    encode_rules((0..n).map(|i| (format!("{tag}_{i}"), format!("{tag}{i}"))), &mut out).unwrap();
    out
}

type InfoEndpoint = Endpoint<Exchange<Info, Encoding>>;
type AnyEndpoint = Endpoint<AnyQuery<Encoding>>;

/// Every request due at `now`, as (destination, parsed request).
fn sends<J: a2s_query::proto::Job<Encoding>>(e: &mut Endpoint<J>, now: Instant) -> Vec<(SocketAddr, Query)> {
    std::iter::from_fn(|| e.poll_transmit(now)).map(|(to, r)| (to, Query::parse(&r).unwrap())).collect()
}

/// An endpoint (timeout 300 ms) whose one query to server 1, sent at `t0`, timed out
/// at `t0 + 300 ms` with nothing heard: the server drains what it owes.
fn timed_out_once() -> (InfoEndpoint, Instant) {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 300), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_timeout(t0 + ms(300));
    assert!(output(&mut e).unwrap().1.unwrap_err().is_timeout());
    (e, t0)
}

/// The next output, without its id.
fn output<J: a2s_query::proto::Job<Encoding>>(e: &mut Endpoint<J>) -> Option<(SocketAddr, J::Output)> {
    e.poll_output().map(|(_, addr, out)| (addr, out))
}

fn outputs<J: a2s_query::proto::Job<Encoding>>(e: &mut Endpoint<J>) -> Vec<(SocketAddr, J::Output)> {
    std::iter::from_fn(|| output(e)).collect()
}

#[test]
fn replies_go_to_the_server_they_came_from() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    e.push(addr(2));
    let out = sends(&mut e, t0);
    assert_eq!(out, [(addr(1), Query::Info(None)), (addr(2), Query::Info(None))]);
    // Each is challenged; each echoes only its own challenge.
    let c2 = Challenge([9, 9, 9, 9]);
    e.handle_datagram(addr(2), &challenge(c2), t0 + ms(5));
    e.handle_datagram(addr(1), &challenge(C1), t0 + ms(6));
    assert_eq!(sends(&mut e, t0 + ms(6)), [(addr(2), Query::Info(Some(c2))), (addr(1), Query::Info(Some(C1)))]);
    e.handle_datagram(addr(1), &info_reply("one"), t0 + ms(10));
    e.handle_datagram(addr(2), &info_reply("two"), t0 + ms(12));
    let got: Vec<(SocketAddr, String)> =
        outputs(&mut e).into_iter().map(|(a, r)| (a, r.unwrap().server_name().to_string())).collect();
    assert_eq!(got, [(addr(1), "one".to_string()), (addr(2), "two".to_string())]);
    assert_eq!(got.len(), 2);
    assert!(e.is_idle());
    assert_eq!(e.unmatched(), 0);
}

#[test]
fn split_replies_of_two_servers_interleaved_are_kept_apart() {
    let t0 = Instant::now();
    let mut e: Endpoint<Exchange<Rules, Encoding>> = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    e.push(addr(2));
    sends(&mut e, t0);
    // Both servers use the same message id: only the address tells them apart.
    let a = split_packet(&rules_reply("a", 200), 7, SplitFormat::Source, 1248, false).unwrap();
    let b = split_packet(&rules_reply("b", 200), 7, SplitFormat::Source, 300, true).unwrap();
    assert!(a.len() >= 2 && b.len() >= 2, "{} {}", a.len(), b.len());
    for i in 0..a.len().max(b.len()) {
        if let Some(f) = a.get(i) {
            e.handle_datagram(addr(1), f, t0 + ms(3));
        }
        if let Some(f) = b.get(i) {
            e.handle_datagram(addr(2), f, t0 + ms(3));
        }
    }
    let mut got: HashMap<SocketAddr, Rules> = outputs(&mut e).into_iter().map(|(a, r)| (a, r.unwrap())).collect();
    let (ra, rb) = (got.remove(&addr(1)).unwrap(), got.remove(&addr(2)).unwrap());
    assert_eq!((ra.len(), rb.len()), (200, 200));
    assert_eq!(ra.get("a_199"), Some("a199"));
    assert_eq!(rb.get("b_199"), Some("b199"));
}

#[test]
fn datagrams_from_addresses_not_under_way_are_counted_and_dropped() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    e.push(addr(2));
    // addr(2) is pushed but nothing has been sent to it: not an answer either.
    e.handle_datagram(addr(2), &info_reply("early"), t0);
    assert_eq!(e.unmatched(), 1);
    assert_eq!(e.poll_transmit(t0).unwrap().0, addr(1));
    e.handle_datagram(addr(3), &info_reply("stranger"), t0 + ms(1));
    // Same IP, other port: another server.
    e.handle_datagram(SocketAddr::from(([192, 0, 2, 1], 9)), &info_reply("port"), t0 + ms(1));
    assert_eq!(e.unmatched(), 3);
    assert!(output(&mut e).is_none());
    e.handle_datagram(addr(1), &info_reply("one"), t0 + ms(2));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "one");
}

#[test]
fn an_ipv4_server_answering_at_its_mapped_address_is_matched() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    let mapped: SocketAddr = "[::ffff:192.0.2.1]:27001".parse().unwrap();
    e.handle_datagram(mapped, &info_reply("one"), t0 + ms(1));
    let (from, info) = output(&mut e).unwrap();
    assert_eq!(from, addr(1), "the address as given");
    assert_eq!(info.unwrap().server_name(), "one");
}

#[test]
fn the_window_holds_input_until_a_server_ends() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(2, 0, 1000), Encoding::Utf8);
    assert!(e.wants_input());
    e.push(addr(1));
    e.push(addr(2));
    assert!(!e.wants_input());
    assert_eq!(e.in_flight(), 2);
    sends(&mut e, t0);
    e.handle_datagram(addr(2), &info_reply("two"), t0 + ms(1));
    assert!(e.wants_input(), "a slot freed");
    e.push(addr(3));
    assert_eq!(sends(&mut e, t0 + ms(1)), [(addr(3), Query::Info(None))]);
}

#[test]
fn the_send_rate_spaces_sends_after_a_short_burst() {
    let t0 = Instant::now();
    // 250 a second: 4 ms apart, bursts of 20 ms' worth (5).
    let mut e: InfoEndpoint = Endpoint::new(config(100, 250, 10_000), Encoding::Utf8);
    for i in 0..20 {
        e.push(addr(i));
    }
    assert_eq!(sends(&mut e, t0).len(), 5, "the burst");
    let next = e.poll_timeout().unwrap();
    assert_eq!(next, t0 + ms(4));
    assert!(e.poll_transmit(next - Duration::from_micros(1)).is_none());
    assert_eq!(sends(&mut e, next).len(), 1);
    // After a pause, one burst again, not a catch-up of every missed send.
    assert_eq!(sends(&mut e, t0 + ms(400)).len(), 5);
}

/// With the rate the limit, first contacts go before follow-ups (every silent server's
/// timeout starts as early as it can), until the oldest follow-up has waited a quarter
/// of the timeout.
#[test]
fn first_contacts_go_before_follow_ups_that_waited_less_than_a_quarter_timeout() {
    let t0 = Instant::now();
    // 250 a second (4 ms apart, a burst of 5), timeout 40 ms: a follow-up waits 10 ms at most.
    let mut e: InfoEndpoint = Endpoint::new(config(100, 250, 40), Encoding::Utf8);
    for i in 0..20 {
        e.push(addr(i));
    }
    assert_eq!(sends(&mut e, t0).len(), 5);
    e.handle_datagram(addr(3), &challenge(C1), t0 + ms(1));
    assert_eq!(sends(&mut e, t0 + ms(4)), [(addr(5), Query::Info(None))]);
    assert_eq!(sends(&mut e, t0 + ms(8)), [(addr(6), Query::Info(None))]);
    e.handle_datagram(addr(4), &challenge(C2), t0 + ms(9));
    // Server 3's answer has waited 11 ms: it goes; then first contacts again, until
    // server 4's answer has waited its 10 ms too.
    assert_eq!(sends(&mut e, t0 + ms(12)), [(addr(3), Query::Info(Some(C1)))]);
    assert_eq!(sends(&mut e, t0 + ms(16)), [(addr(7), Query::Info(None))]);
    assert_eq!(sends(&mut e, t0 + ms(20)), [(addr(4), Query::Info(Some(C2)))]);
    assert_eq!(sends(&mut e, t0 + ms(24)), [(addr(8), Query::Info(None))]);
}

#[test]
fn each_timeout_counts_from_that_servers_first_send() {
    let t0 = Instant::now();
    // One send per 25 ms, no burst: server 2's first send is 25 ms after server 1's.
    let mut e: InfoEndpoint = Endpoint::new(config(10, 40, 500), Encoding::Utf8);
    e.push(addr(1));
    e.push(addr(2));
    assert_eq!(sends(&mut e, t0).len(), 1);
    assert_eq!(e.poll_timeout(), Some(t0 + ms(25)));
    assert_eq!(sends(&mut e, t0 + ms(25)).len(), 1);
    assert_eq!(e.poll_timeout(), Some(t0 + ms(500)));
    e.handle_timeout(t0 + ms(500));
    let first = outputs(&mut e);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, addr(1));
    assert!(first[0].1.as_ref().unwrap_err().is_timeout());
    assert_eq!(e.poll_timeout(), Some(t0 + ms(525)));
    e.handle_timeout(t0 + ms(525));
    assert_eq!(outputs(&mut e)[0].0, addr(2));
    assert!(e.is_idle());
    // What is left: the two servers draining the replies they owe.
    e.handle_timeout(t0 + ms(525) + DRAIN_UNKNOWN_ROUND_TRIP);
    assert_eq!(e.poll_timeout(), None);
}

/// A server answering junk (an HTTP server on the port, the game port) times out, and
/// the timeout says what came instead, per server: the other one's skipped reply is
/// its own.
#[test]
fn a_timeout_says_what_each_server_sent_instead() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    e.push(addr(2));
    assert_eq!(sends(&mut e, t0).len(), 2);
    e.handle_datagram(addr(1), b"HTTP/1.1 400 Bad Request\r\n\r\n", t0 + ms(5));
    e.handle_datagram(addr(1), &players_reply("x"), t0 + ms(6));
    e.handle_datagram(addr(2), &players_reply("y"), t0 + ms(7));
    e.handle_timeout(t0 + ms(1000));
    let got: HashMap<SocketAddr, Error> =
        outputs(&mut e).into_iter().map(|(a, r)| (a, r.expect_err("nothing answered"))).collect();
    match &got[&addr(1)] {
        Error::Timeout { ignored, .. } => {
            assert_eq!(ignored.count, 2);
            assert_eq!(ignored.telling, Some(Stray::NotA2s { bytes: *b"HTTP", len: 4 }));
        }
        other => panic!("{other:?}"),
    }
    let said = got[&addr(1)].to_string();
    assert!(said.contains("HTTP") && said.contains("query port"), "{said}");
    match &got[&addr(2)] {
        Error::Timeout { ignored, .. } => {
            assert_eq!((ignored.count, ignored.telling), (1, Some(Stray::OtherReply { kind: 0x44 })));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_thousand_dead_servers_end_together_at_one_timeout() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(1000, 0, 2000), Encoding::Utf8);
    for i in 0..1000 {
        e.push(addr(i));
    }
    assert_eq!(sends(&mut e, t0).len(), 1000);
    assert_eq!(e.poll_timeout(), Some(t0 + ms(2000)));
    e.handle_timeout(t0 + ms(2000));
    let out = outputs(&mut e);
    assert_eq!(out.len(), 1000);
    assert!(out.iter().all(|(_, r)| r.as_ref().unwrap_err().is_timeout()));
}

#[test]
fn retries_are_paced_and_answered() {
    let t0 = Instant::now();
    let mut cfg = config(8, 0, 900);
    cfg.exchange.retries = 2;
    let mut e: InfoEndpoint = Endpoint::new(cfg, Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    assert_eq!(e.poll_timeout(), Some(t0 + ms(300)));
    e.handle_timeout(t0 + ms(300));
    assert_eq!(sends(&mut e, t0 + ms(300)), [(addr(1), Query::Info(None))], "the retry");
    e.handle_datagram(addr(1), &info_reply("late"), t0 + ms(310));
    let (_, info) = output(&mut e).unwrap();
    // Either copy may be the one answered, and nothing is known of the server: the
    // time since the first (an upper bound).
    assert_eq!(info.unwrap().ping(), ms(310));
}

#[test]
fn a_duplicate_address_is_joined_to_the_query_under_way() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    let first = e.push(addr(1));
    let second = e.push(addr(1));
    e.push(addr(2));
    assert_eq!(sends(&mut e, t0), [(addr(1), Query::Info(None)), (addr(2), Query::Info(None))]);
    e.handle_datagram(addr(1), &challenge(C1), t0 + ms(1));
    assert_eq!(sends(&mut e, t0 + ms(1)), [(addr(1), Query::Info(Some(C1)))]);
    e.handle_datagram(addr(1), &info_reply("one answer"), t0 + ms(2));
    let got: Vec<_> = std::iter::from_fn(|| e.poll_output()).collect();
    assert_eq!(got.len(), 2, "one item each");
    let ids: Vec<_> = got.iter().map(|(id, _, _)| *id).collect();
    assert!(ids.contains(&first) && ids.contains(&second));
    for (_, from, info) in got {
        assert_eq!((from, info.unwrap().server_name().to_string()), (addr(1), "one answer".to_string()));
    }
    e.handle_datagram(addr(2), &info_reply("two"), t0 + ms(4));
    assert_eq!(output(&mut e).unwrap().0, addr(2));
    assert!(e.is_idle());
}

#[test]
fn a_query_after_one_that_owes_nothing_is_sent_at_once() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_datagram(addr(1), &challenge(C1), t0 + ms(1));
    sends(&mut e, t0 + ms(1));
    e.handle_datagram(addr(1), &info_reply("first"), t0 + ms(2));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "first");
    // A poll: one request, with the challenge it gave, at once.
    e.push(addr(1));
    assert_eq!(sends(&mut e, t0 + ms(2)), [(addr(1), Query::Info(Some(C1)))]);
    e.handle_datagram(addr(1), &info_reply("second"), t0 + ms(3));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "second");
    assert_eq!(e.drained(), 0);
}

/// A server left with nothing owed while it is the only one keeps its place (a caller
/// polling it does not free and re-create it): what comes from it meanwhile answers
/// nothing, its next query is timed from its own send (not by what the earlier one left
/// in the timers), and another server's arrival frees the place.
#[test]
fn a_server_polled_again_after_its_query_ended_starts_afresh() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    assert_eq!(sends(&mut e, t0), [(addr(1), Query::Info(None))]);
    e.handle_datagram(addr(1), &challenge(C1), t0 + ms(1));
    sends(&mut e, t0 + ms(1));
    e.handle_datagram(addr(1), &info_reply("first"), t0 + ms(2));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "first");
    assert!(e.is_idle());
    assert_eq!(e.in_flight(), 0);
    assert_eq!(e.poll_timeout(), None);

    // Between queries: a copy of the reply is no one's answer.
    e.handle_datagram(addr(1), &info_reply("copy"), t0 + ms(3));
    assert_eq!((e.unmatched(), e.drained()), (1, 0));
    assert!(output(&mut e).is_none());

    e.push(addr(1));
    assert_eq!(e.in_flight(), 1);
    assert_eq!(sends(&mut e, t0 + ms(500)), [(addr(1), Query::Info(Some(C1)))]);
    // The first query's deadline passes: the second one runs on to its own.
    e.handle_timeout(t0 + ms(1000));
    assert!(output(&mut e).is_none());
    assert_eq!(e.poll_timeout(), Some(t0 + ms(1500)));
    e.handle_datagram(addr(1), &info_reply("second"), t0 + ms(1100));
    let info = output(&mut e).unwrap().1.unwrap();
    assert_eq!((info.server_name(), info.ping()), ("second", ms(600)));

    // Another server: served as usual, and the first one's datagrams stay unmatched.
    e.push(addr(2));
    assert_eq!(sends(&mut e, t0 + ms(1200)), [(addr(2), Query::Info(None))]);
    e.handle_datagram(addr(1), &info_reply("stray"), t0 + ms(1201));
    e.handle_datagram(addr(2), &info_reply("two"), t0 + ms(1202));
    let (from, info) = output(&mut e).unwrap();
    let info = info.unwrap();
    assert_eq!((from, info.server_name(), info.ping()), (addr(2), "two", ms(2)));
    assert_eq!((e.unmatched(), e.drained(), e.in_flight()), (2, 0, 0));
    assert!(e.is_idle());

    // Server 2 is the one kept now. Asked again, then joined by another server while
    // its query runs: both answered, each once.
    e.push(addr(2));
    assert_eq!(sends(&mut e, t0 + ms(1300)), [(addr(2), Query::Info(None))]);
    e.push(addr(3));
    assert_eq!(sends(&mut e, t0 + ms(1300)), [(addr(3), Query::Info(None))]);
    e.handle_datagram(addr(3), &info_reply("three"), t0 + ms(1301));
    e.handle_datagram(addr(2), &info_reply("two again"), t0 + ms(1302));
    let names: Vec<_> = outputs(&mut e).into_iter().map(|(a, r)| (a, r.unwrap().server_name().to_string())).collect();
    assert_eq!(names, [(addr(3), "three".to_string()), (addr(2), "two again".to_string())]);
    assert!(e.is_idle());

    // A query cancelled before it sent leaves its server kept; the next one is sent.
    let cancelled = e.push(addr(2));
    assert!(e.cancel(cancelled, t0 + ms(1400)));
    assert!(output(&mut e).is_none());
    e.push(addr(2));
    assert_eq!(sends(&mut e, t0 + ms(1400)), [(addr(2), Query::Info(None))]);
    e.handle_datagram(addr(2), &info_reply("after the cancel"), t0 + ms(1401));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "after the cancel");
    assert!(output(&mut e).is_none() && e.is_idle());
}

#[test]
fn challenges_learned_in_one_run_serve_the_next() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_datagram(addr(1), &challenge(C1), t0 + ms(1));
    sends(&mut e, t0 + ms(1));
    e.handle_datagram(addr(1), &info_reply("one"), t0 + ms(2));
    assert!(output(&mut e).unwrap().1.is_ok());
    let learned = e.take_learned();
    let mut next: Endpoint<Exchange<Rules, Encoding>> =
        Endpoint::new(config(8, 0, 1000), Encoding::Utf8).with_learned(learned);
    next.push(addr(1));
    assert_eq!(sends(&mut next, t0 + ms(3)), [(addr(1), Query::Rules(C1))]);
}

#[test]
fn a_failed_send_ends_that_server_only() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    e.push(addr(2));
    sends(&mut e, t0);
    let unreachable = std::io::Error::from(std::io::ErrorKind::HostUnreachable);
    e.handle_send_error(addr(1), Error::Io(unreachable), t0);
    let (from, r) = output(&mut e).unwrap();
    assert_eq!(from, addr(1));
    assert!(matches!(r, Err(Error::Io(ref io)) if io.kind() == std::io::ErrorKind::HostUnreachable), "{r:?}");
    assert_eq!(e.in_flight(), 1);
}

/// All three queries: the second and third reuse the challenge of the first.
#[test]
fn all_three_queries_share_the_challenge() {
    let t0 = Instant::now();
    let mut e: Endpoint<AllQueries<Encoding>> = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    assert_eq!(sends(&mut e, t0), [(addr(1), Query::Info(None))]);
    e.handle_datagram(addr(1), &challenge(C1), t0 + ms(1));
    assert_eq!(sends(&mut e, t0 + ms(1)), [(addr(1), Query::Info(Some(C1)))]);
    e.handle_datagram(addr(1), &info_reply("one"), t0 + ms(2));
    assert_eq!(sends(&mut e, t0 + ms(2)), [(addr(1), Query::Players(C1))]);
    e.handle_datagram(addr(1), &players_reply("alice"), t0 + ms(3));
    assert_eq!(sends(&mut e, t0 + ms(3)), [(addr(1), Query::Rules(C1))]);
    e.handle_datagram(addr(1), &rules_reply("r", 3), t0 + ms(4));
    let (_, all) = output(&mut e).unwrap();
    assert_eq!(all.info.unwrap().server_name(), "one");
    assert_eq!(all.players.unwrap().entries[0].name, "alice");
    assert_eq!(all.rules.unwrap().get("r_2"), Some("r2"));
}

#[test]
fn a_server_that_never_answers_rules_still_gives_info_and_players() {
    let t0 = Instant::now();
    let mut e: Endpoint<AllQueries<Encoding>> = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_datagram(addr(1), &info_reply("one"), t0 + ms(2));
    sends(&mut e, t0 + ms(2));
    e.handle_datagram(addr(1), &players_reply("bob"), t0 + ms(3));
    sends(&mut e, t0 + ms(3));
    // The rules query has its own timeout, from its own first send.
    assert_eq!(e.poll_timeout(), Some(t0 + ms(1003)));
    e.handle_timeout(t0 + ms(1003));
    let (_, all) = output(&mut e).unwrap();
    assert_eq!(all.info.unwrap().server_name(), "one");
    assert_eq!(all.players.unwrap().entries[0].name, "bob");
    assert!(all.rules.unwrap_err().is_timeout());
}

#[test]
fn a_dead_server_costs_all_three_one_timeout() {
    let t0 = Instant::now();
    let mut e: Endpoint<AllQueries<Encoding>> = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_timeout(t0 + ms(1000));
    let (_, all) = output(&mut e).expect("over at the first timeout");
    assert!(all.info.unwrap_err().is_timeout());
    assert!(all.players.unwrap_err().is_timeout());
    assert!(all.rules.unwrap_err().is_timeout());
    assert!(e.is_idle());
}

/// A server that answered something (a challenge) and then fell silent is still
/// asked the other two: only total silence skips them.
#[test]
fn a_server_that_spoke_is_asked_the_rest() {
    let t0 = Instant::now();
    let mut e: Endpoint<AllQueries<Encoding>> = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_datagram(addr(1), &challenge(C1), t0 + ms(1));
    sends(&mut e, t0 + ms(1));
    e.handle_timeout(t0 + ms(1000));
    assert!(output(&mut e).is_none());
    // After the info request's drain: two 1 ms round trips, at least the floor.
    assert!(sends(&mut e, t0 + ms(1000)).is_empty());
    e.handle_timeout(t0 + ms(1000) + DRAIN_FLOOR);
    assert_eq!(sends(&mut e, t0 + ms(1000) + DRAIN_FLOOR), [(addr(1), Query::Players(C1))]);
}

/// A small deterministic simulation: 300 servers answering, challenging, staying
/// silent or sending junk, in a scrambled order, with a small window and a send rate.
/// Every address comes out exactly once.
#[test]
fn every_address_comes_out_exactly_once() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let t0 = Instant::now();
    let mut cfg = config(16, 5000, 400);
    cfg.exchange.retries = 1;
    let mut e: InfoEndpoint = Endpoint::new(cfg, Encoding::Utf8);
    let input: Vec<SocketAddr> = (0..300).map(|i| addr(i % 280)).collect();
    let mut next_input = input.iter();
    let mut now = t0;
    let mut pending: Vec<(SocketAddr, Query)> = Vec::new();
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    for _ in 0..200_000 {
        while e.wants_input() {
            match next_input.next() {
                Some(&a) => {
                    e.push(a);
                }
                None => break,
            }
        }
        e.handle_timeout(now);
        pending.extend(sends(&mut e, now));
        for (a, r) in outputs(&mut e) {
            let i = a.port() - 27000;
            match r {
                Ok(info) => assert_eq!(info.server_name(), &format!("s{i}")),
                Err(err) => assert!(
                    err.is_timeout() || matches!(err, Error::Malformed { .. } | Error::Truncated { .. }),
                    "{err}"
                ),
            }
            *seen.entry(a).or_default() += 1;
        }
        if next_input.len() == 0 && e.is_idle() {
            break;
        }
        // Answer one pending request, maybe, in random order.
        if !pending.is_empty() && rand() % 3 != 0 {
            let (to, q) = pending.swap_remove((rand() % pending.len() as u64) as usize);
            let i = to.port() - 27000;
            let reply = match (i % 5, q) {
                (0, _) => None,
                (1, Query::Info(None)) => Some(challenge(Challenge([i as u8, 1, 2, 3]))),
                (2, _) if rand() % 2 == 0 => Some(b"\xFF\xFF\xFF\xFFjunk".to_vec()),
                _ => Some(info_reply(&format!("s{i}"))),
            };
            if let Some(reply) = reply {
                e.handle_datagram(to, &reply, now);
            }
        } else {
            now += Duration::from_micros(200 + rand() % 2000);
        }
    }
    let total: usize = seen.values().sum();
    assert_eq!(total, input.len());
    for a in &input {
        let want = input.iter().filter(|b| *b == a).count();
        assert_eq!(seen.get(a), Some(&want), "{a}");
    }
}

/// In `all`, the players query's timeout starts at its own first send, not when the
/// info query ended: waiting for the send rate is not charged to the server.
#[test]
fn a_later_query_of_all_is_timed_from_its_own_send() {
    let t0 = Instant::now();
    // One send per 25 ms.
    let mut e: Endpoint<AllQueries<Encoding>> = Endpoint::new(config(8, 40, 1000), Encoding::Utf8);
    e.push(addr(1));
    e.push(addr(2));
    assert_eq!(sends(&mut e, t0), [(addr(1), Query::Info(None))]);
    e.handle_datagram(addr(1), &info_reply("one"), t0 + ms(1));
    // The players query waits for the rate, and for server 2's first contact.
    assert!(sends(&mut e, t0 + ms(1)).is_empty());
    assert_eq!(sends(&mut e, t0 + ms(25)), [(addr(2), Query::Info(None))]);
    assert_eq!(sends(&mut e, t0 + ms(50)), [(addr(1), Query::Players(Challenge::REQUEST))]);
    e.handle_timeout(t0 + ms(1049));
    assert_eq!(outputs(&mut e).iter().map(|(a, _)| *a).collect::<Vec<_>>(), [addr(2)], "server 2 timed out at 1025 ms");
    assert!(output(&mut e).is_none(), "players was sent at 50 ms: its timeout ends at 1050 ms");
    e.handle_timeout(t0 + ms(1050));
    // (After the players request's drain.)
    let drained = t0 + ms(1050) + DRAIN_FLOOR;
    e.handle_timeout(drained);
    assert_eq!(sends(&mut e, drained), [(addr(1), Query::Rules(Challenge::REQUEST))]);
}

/// A query cancelled under way gives no item; what it learned (the challenge) is kept
/// for the next query to the server, which waits until the cancelled one's reply came
/// (drained, not taken for its answer) and then goes with the challenge.
#[test]
fn a_cancelled_query_gives_no_item_and_its_late_reply_answers_nothing() {
    let t0 = Instant::now();
    let mut e: AnyEndpoint = Endpoint::new(config(8, 0, 1000), Encoding::Utf8);
    let info = e.push_kind(addr(1), Kind::Info);
    let other = e.push_kind(addr(2), Kind::Info);
    assert_eq!(sends(&mut e, t0).len(), 2);
    e.handle_datagram(addr(1), &challenge(C1), t0 + ms(5));
    assert_eq!(sends(&mut e, t0 + ms(5)), [(addr(1), Query::Info(Some(C1)))]);
    // Another kind of query to the same server waits behind the first.
    let players = e.push_kind(addr(1), Kind::Players);
    assert!(sends(&mut e, t0 + ms(6)).is_empty());

    assert!(e.cancel(info, t0 + ms(6)));
    assert!(!e.cancel(info, t0 + ms(6)), "already gone");
    assert!(outputs(&mut e).is_empty(), "no item for the cancelled query");
    assert_eq!(e.in_flight(), 2, "the waiting query took its place");
    // Its request is owed a reply: the next query waits for it (two 5 ms round trips,
    // at least the drain's floor).
    assert!(sends(&mut e, t0 + ms(7)).is_empty());
    assert_eq!(e.poll_timeout(), Some(t0 + ms(6) + DRAIN_FLOOR));
    e.handle_datagram(addr(1), &info_reply("stale"), t0 + ms(8));
    assert_eq!(e.drained(), 1);
    assert!(outputs(&mut e).is_empty());
    // The new query sends the challenge the cancelled one learned: one round trip.
    assert_eq!(sends(&mut e, t0 + ms(8)), [(addr(1), Query::Players(C1))]);
    e.handle_datagram(addr(1), &players_reply("fresh"), t0 + ms(20));
    let (id, from, answer) = e.poll_output().unwrap();
    assert_eq!((id, from), (players, addr(1)));
    let AnyAnswer::Players(Ok(list)) = answer else { panic!("{answer:?}") };
    assert_eq!(list.entries[0].name, "fresh");

    // Cancelling the last query to a server: nothing of it but its drain, then nothing.
    assert!(e.cancel(other, t0 + ms(21)));
    assert_eq!(e.in_flight(), 0);
    assert!(e.is_idle());
    let wake = e.poll_timeout().expect("the drain's end");
    assert_eq!(wake, t0 + ms(21) + DRAIN_UNKNOWN_ROUND_TRIP, "no round trip known of it");
    e.handle_timeout(wake);
    assert_eq!(e.poll_timeout(), None, "nothing left");
}

/// The next query to a server that timed out waits for its late reply (or a while),
/// and the late reply is drained, not taken.
#[test]
fn a_late_reply_after_a_timeout_answers_nothing() {
    let (mut e, t0) = timed_out_once();
    e.push(addr(1));
    assert!(sends(&mut e, t0 + ms(300)).is_empty(), "held while its reply is owed");
    e.handle_datagram(addr(1), &info_reply("late"), t0 + ms(400));
    assert_eq!(e.drained(), 1);
    assert_eq!(sends(&mut e, t0 + ms(400)), [(addr(1), Query::Info(None))]);
    e.handle_datagram(addr(1), &info_reply("fresh"), t0 + ms(420));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "fresh");

    // No late reply at all: the next query goes when the drain window ends.
    let (mut e, t0) = timed_out_once();
    e.push(addr(1));
    let end = t0 + ms(300) + DRAIN_UNKNOWN_ROUND_TRIP;
    assert_eq!(e.poll_timeout(), Some(end));
    e.handle_timeout(end);
    assert_eq!(sends(&mut e, end), [(addr(1), Query::Info(None))]);
}

/// Bug: an old HLDS/dproto server's `0x6D`, trailing its `0x49` by 20 ms, was the next
/// query's answer (a GoldSrc layout, the previous data, a ping five times too low).
#[test]
fn a_trailing_goldsrc_reply_20_ms_late_is_stale_to_the_next_query() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 3000), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_datagram(addr(1), &info_reply("first"), t0 + ms(100));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "first");
    // Asked again at once (an address listed twice, a poll): nothing known to be owed.
    e.push(addr(1));
    assert_eq!(sends(&mut e, t0 + ms(100)).len(), 1);
    e.handle_datagram(addr(1), &goldsrc_reply("first, trailing"), t0 + ms(120));
    assert!(output(&mut e).is_none());
    e.handle_datagram(addr(1), &info_reply("second"), t0 + ms(200));
    let info = output(&mut e).unwrap().1.unwrap();
    assert_eq!((info.server_name(), info.ping(), info.as_source().is_some()), ("second", ms(100), true));
}

/// The same with the `0x6D` 100 ms late (past half the round trip): held, it loses to
/// the fresh `0x49`; the server is then known to send both, and every later query waits
/// for its `0x49`.
#[test]
fn a_trailing_goldsrc_reply_100_ms_late_never_answers_the_next_query() {
    let t0 = Instant::now();
    let mut e: InfoEndpoint = Endpoint::new(config(8, 0, 3000), Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_datagram(addr(1), &info_reply("first"), t0 + ms(150));
    assert!(output(&mut e).unwrap().1.is_ok());
    e.push(addr(1));
    assert_eq!(sends(&mut e, t0 + ms(150)).len(), 1);
    e.handle_datagram(addr(1), &goldsrc_reply("first, trailing"), t0 + ms(250));
    assert!(output(&mut e).is_none(), "held: a Source reply may follow");
    e.handle_datagram(addr(1), &info_reply("second"), t0 + ms(300));
    let info = output(&mut e).unwrap().1.unwrap();
    assert_eq!((info.server_name(), info.ping()), ("second", ms(150)));

    // Known now to send both: each later info query holds a GoldSrc reply (its own,
    // or the one trailing the query before) until its Source one.
    for (i, at) in [300, 450, 600].into_iter().enumerate() {
        e.push(addr(1));
        assert_eq!(sends(&mut e, t0 + ms(at)).len(), 1, "at once: nothing owed");
        e.handle_datagram(addr(1), &goldsrc_reply("trailing"), t0 + ms(at + 100));
        assert!(output(&mut e).is_none());
        e.handle_datagram(addr(1), &info_reply(&format!("poll {i}")), t0 + ms(at + 150));
        let info = output(&mut e).unwrap().1.unwrap();
        assert_eq!((info.server_name(), info.ping()), (format!("poll {i}").as_str(), ms(150)));
    }
    assert_eq!(e.drained(), 0);
}

/// The three-query chain waits between its parts for what the part before owes.
#[test]
fn the_chain_drains_between_its_queries() {
    let t0 = Instant::now();
    let mut cfg = config(8, 0, 1000);
    cfg.exchange.retries = 1;
    let mut e: Endpoint<AllQueries<Encoding>> = Endpoint::new(cfg, Encoding::Utf8);
    e.push(addr(1));
    assert_eq!(sends(&mut e, t0), [(addr(1), Query::Info(None))]);
    // The info request is resent and its first copy answered: one reply still owed.
    e.handle_timeout(t0 + ms(500));
    assert_eq!(sends(&mut e, t0 + ms(500)), [(addr(1), Query::Info(None))]);
    e.handle_datagram(addr(1), &info_reply("info"), t0 + ms(510));
    assert!(sends(&mut e, t0 + ms(510)).is_empty(), "players waits for the owed reply");
    e.handle_datagram(addr(1), &info_reply("info again"), t0 + ms(520));
    assert_eq!(sends(&mut e, t0 + ms(520)), [(addr(1), Query::Players(Challenge::REQUEST))]);
    e.handle_datagram(addr(1), &players_reply("p"), t0 + ms(530));
    assert_eq!(sends(&mut e, t0 + ms(530)), [(addr(1), Query::Rules(Challenge::REQUEST))]);
    e.handle_datagram(addr(1), &rules_reply("r", 2), t0 + ms(540));
    let (_, all) = output(&mut e).unwrap();
    assert_eq!(all.info.unwrap().server_name(), "info");
    assert_eq!(all.players.unwrap().entries[0].name, "p");
    assert_eq!(all.rules.unwrap().len(), 2);
}

/// Bug: a server whose queue emptied while it had an entry in the send queue and a
/// drain under way was never admitted again: the next query to it was never sent and
/// never ended.
#[test]
fn a_query_cancelled_while_its_server_drains_leaves_the_next_one_free_to_run() {
    let (mut e, t0) = timed_out_once();
    let held = e.push(addr(1));
    assert!(sends(&mut e, t0 + ms(300)).is_empty(), "draining");
    assert!(e.cancel(held, t0 + ms(301)));
    let again = e.push(addr(1));
    let end = t0 + ms(300) + DRAIN_UNKNOWN_ROUND_TRIP;
    assert_eq!(e.poll_timeout(), Some(end));
    e.handle_timeout(end);
    assert_eq!(sends(&mut e, end), [(addr(1), Query::Info(None))]);
    e.handle_datagram(addr(1), &info_reply("at last"), end + ms(10));
    let (id, _, info) = e.poll_output().expect("an output");
    assert_eq!((id, info.unwrap().server_name().to_string()), (again, "at last".to_string()));
    assert!(e.is_idle());
}

#[test]
fn cancelling_one_caller_of_a_joined_query_leaves_the_others_their_answer() {
    let t0 = Instant::now();
    let mut e: AnyEndpoint = Endpoint::new(config(1, 0, 1000), Encoding::Utf8);
    let first = e.push_kind(addr(1), Kind::Info);
    let joined = e.push_kind(addr(1), Kind::Info);
    let queued = e.push_kind(addr(1), Kind::Rules);
    let last = e.push_kind(addr(1), Kind::Players);
    // A second server waits for the window's one place.
    let waiting = e.push_kind(addr(2), Kind::Info);
    assert_eq!(sends(&mut e, t0), [(addr(1), Query::Info(None))]);
    assert!(e.cancel(first, t0 + ms(1)), "the first caller leaves; the query goes on");
    assert!(e.cancel(queued, t0 + ms(1)), "a query waiting its turn leaves");
    assert!(e.cancel(waiting, t0 + ms(1)), "a server waiting for a place leaves");
    e.handle_datagram(addr(1), &info_reply("shared"), t0 + ms(10));
    let (id, _, answer) = e.poll_output().unwrap();
    assert_eq!(id, joined);
    assert!(matches!(answer, AnyAnswer::Info(Ok(ref i)) if i.server_name() == "shared"), "{answer:?}");
    // Nothing owed: the players query goes at once (the rules one is gone).
    assert_eq!(sends(&mut e, t0 + ms(10)), [(addr(1), Query::Players(Challenge::REQUEST))]);
    e.handle_datagram(addr(1), &players_reply("p"), t0 + ms(20));
    assert_eq!(e.poll_output().unwrap().0, last);
    assert!(e.is_idle());
    assert!(sends(&mut e, t0 + ms(20)).is_empty(), "server 2 was never asked");
}

/// A drain counts whole replies: a fragment of an owed split reply does not end it.
#[test]
fn a_fragment_does_not_end_a_drain() {
    let (mut e, t0) = timed_out_once();
    e.push(addr(1));
    let fragments = split_packet(&info_reply("late and split"), 7, SplitFormat::Source, 40, false).unwrap();
    e.handle_datagram(addr(1), &fragments[0], t0 + ms(310));
    assert!(sends(&mut e, t0 + ms(310)).is_empty(), "still draining");
    for f in &fragments[1..] {
        e.handle_datagram(addr(1), f, t0 + ms(311));
    }
    assert_eq!(e.drained(), fragments.len() as u64);
}

/// A retried request to a server that sends both info replies: the first copy's pair is
/// one reply, the retry's pair is still owed.
#[test]
fn a_pair_of_info_replies_is_one_reply() {
    let t0 = Instant::now();
    let mut cfg = config(8, 0, 1000);
    cfg.exchange.retries = 1;
    let mut e: InfoEndpoint = Endpoint::new(cfg, Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_timeout(t0 + ms(500));
    sends(&mut e, t0 + ms(500));
    e.handle_datagram(addr(1), &goldsrc_reply("first copy"), t0 + ms(520));
    e.handle_datagram(addr(1), &info_reply("first copy"), t0 + ms(530));
    assert!(output(&mut e).unwrap().1.is_ok());
    e.push(addr(1));
    assert!(sends(&mut e, t0 + ms(530)).is_empty(), "the retry's pair is owed");
    e.handle_datagram(addr(1), &goldsrc_reply("retry"), t0 + ms(540));
    assert!(sends(&mut e, t0 + ms(540)).is_empty(), "a GoldSrc reply may be half a pair");
    e.handle_datagram(addr(1), &info_reply("retry"), t0 + ms(545));
    assert_eq!(sends(&mut e, t0 + ms(545)).len(), 1);
}

/// A GoldSrc answer given out when a grace of the caller's ran out: its Source reply
/// may still come, and is owed, never the next query's answer.
#[test]
fn a_source_reply_after_a_goldsrc_answer_is_owed() {
    let t0 = Instant::now();
    let mut cfg = config(8, 0, 1000);
    cfg.exchange.goldsrc_grace = Some(ms(10));
    let mut e: InfoEndpoint = Endpoint::new(cfg, Encoding::Utf8);
    e.push(addr(1));
    sends(&mut e, t0);
    e.handle_datagram(addr(1), &goldsrc_reply("old"), t0 + ms(50));
    e.handle_timeout(t0 + ms(60));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "old");
    e.push(addr(1));
    assert!(sends(&mut e, t0 + ms(60)).is_empty(), "its Source reply is owed");
    e.handle_datagram(addr(1), &info_reply("old, as Source"), t0 + ms(150));
    assert_eq!(e.drained(), 1);
    assert_eq!(sends(&mut e, t0 + ms(150)).len(), 1);
    e.handle_datagram(addr(1), &goldsrc_reply("new"), t0 + ms(200));
    e.handle_timeout(t0 + ms(210));
    assert_eq!(output(&mut e).unwrap().1.unwrap().server_name(), "new");
}

/// A query timed from its push: its time runs while it waits, a drain holds it for half
/// its time at most, and one that never got to start ends at its deadline.
#[test]
fn a_query_timed_from_its_push_ends_within_its_time() {
    let t0 = Instant::now();
    let mut e: AnyEndpoint = Endpoint::new(config(1, 0, 400), Encoding::Utf8);
    e.push_at(addr(1), Kind::Info, t0);
    sends(&mut e, t0);
    e.handle_timeout(t0 + ms(400));
    assert!(e.poll_output().is_some());
    // Draining 250 ms (no round trip known), but only half of 400 ms is given to it.
    e.push_at(addr(1), Kind::Info, t0 + ms(400));
    assert!(sends(&mut e, t0 + ms(400)).is_empty());
    assert_eq!(e.poll_timeout(), Some(t0 + ms(600)));
    e.handle_timeout(t0 + ms(600));
    assert_eq!(sends(&mut e, t0 + ms(600)), [(addr(1), Query::Info(None))]);
    // Its deadline counts from its push: 800 ms.
    let waiting = e.push_at(addr(2), Kind::Info, t0 + ms(650));
    e.handle_timeout(t0 + ms(800));
    let (_, from, answer) = e.poll_output().unwrap();
    assert_eq!(from, addr(1));
    assert!(matches!(answer, AnyAnswer::Info(Err(ref err)) if err.is_timeout()));
    // Server 2 got the window's place at 800 ms, but its time ends at 1 050 ms.
    assert_eq!(sends(&mut e, t0 + ms(800)), [(addr(2), Query::Info(None))]);
    e.handle_timeout(t0 + ms(1050));
    let (id, _, answer) = e.poll_output().unwrap();
    assert_eq!(id, waiting);
    assert!(matches!(answer, AnyAnswer::Info(Err(ref err)) if err.is_timeout()));
}

/// A query timed from its push that waits for a place in the window the whole time
/// ends at its deadline, never sent.
#[test]
fn a_query_timed_from_its_push_that_never_gets_a_place_times_out() {
    let t0 = Instant::now();
    let mut e: AnyEndpoint = Endpoint::new(config(1, 0, 400), Encoding::Utf8);
    e.push_kind(addr(1), Kind::Info);
    sends(&mut e, t0);
    let late = e.push_at(addr(2), Kind::Players, t0 + ms(100));
    assert_eq!(e.poll_timeout(), Some(t0 + ms(400)));
    e.handle_timeout(t0 + ms(400));
    e.poll_output().unwrap();
    // (Server 1's place went to server 2 at 400 ms; its own deadline is 500 ms.)
    assert_eq!(sends(&mut e, t0 + ms(400)), [(addr(2), Query::Players(Challenge::REQUEST))]);
    e.handle_timeout(t0 + ms(500));
    let (id, _, answer) = e.poll_output().unwrap();
    assert_eq!(id, late);
    assert!(matches!(answer, AnyAnswer::Players(Err(ref err)) if err.is_timeout()));

    // With server 1 holding the place past server 2's deadline, server 2's query ends
    // unsent, and server 1's goes on.
    let mut e: AnyEndpoint = Endpoint::new(config(1, 0, 1000), Encoding::Utf8);
    e.push_kind(addr(1), Kind::Info);
    sends(&mut e, t0 + ms(200));
    let late = e.push_at(addr(2), Kind::Players, t0 + ms(100));
    e.handle_timeout(t0 + ms(1100));
    let (id, _, answer) = e.poll_output().unwrap();
    assert_eq!(id, late);
    assert!(matches!(answer, AnyAnswer::Players(Err(ref err)) if err.is_timeout()));
    assert!(sends(&mut e, t0 + ms(1100)).is_empty());
    assert_eq!(e.in_flight(), 1);
    e.handle_timeout(t0 + ms(1200));
    let (_, from, answer) = e.poll_output().unwrap();
    assert_eq!(from, addr(1));
    assert!(matches!(answer, AnyAnswer::Info(Err(ref err)) if err.is_timeout()));
}

/// The OS's report that a destination cannot be reached ends the query under way there
/// only once it sent: a report come late for an earlier query's request does not end a
/// query that has sent nothing yet (one timed from its push, waiting for the rate).
#[test]
fn an_unreachable_report_ends_only_a_query_that_sent() {
    let t0 = Instant::now();
    let refused = || Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    // One send per 25 ms, no burst.
    let mut e: AnyEndpoint = Endpoint::new(config(8, 40, 1000), Encoding::Utf8);
    e.push_at(addr(1), Kind::Info, t0);
    e.push_at(addr(2), Kind::Info, t0);
    assert_eq!(sends(&mut e, t0), [(addr(1), Query::Info(None))]);
    // Server 2's query is timed from its push but has sent nothing: a report is not its.
    e.handle_send_error(addr(2), refused(), t0 + ms(1));
    assert!(output(&mut e).is_none());
    e.handle_send_error(addr(1), refused(), t0 + ms(1));
    let (from, answer) = output(&mut e).expect("server 1's query ends");
    assert_eq!(from, addr(1));
    assert!(
        matches!(answer, AnyAnswer::Info(Err(Error::Io(ref io))) if io.kind() == std::io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(sends(&mut e, t0 + ms(25)), [(addr(2), Query::Info(None))]);
    e.handle_send_error(addr(2), refused(), t0 + ms(26));
    assert_eq!(output(&mut e).map(|(a, _)| a), Some(addr(2)));
}

/// A query timed from its push (the blocking client's, the async client's) has its job
/// from the push, yet its first request is a first contact: it goes before follow-ups.
#[test]
fn a_query_timed_from_its_push_is_a_first_contact() {
    let t0 = Instant::now();
    // 250 a second, a burst of 5; timeout 1 s (a follow-up waits 250 ms at most).
    let mut e: AnyEndpoint = Endpoint::new(config(100, 250, 1000), Encoding::Utf8);
    for i in 0..5 {
        e.push_kind(addr(i), Kind::Info);
    }
    assert_eq!(sends(&mut e, t0).len(), 5);
    e.handle_datagram(addr(0), &challenge(C1), t0 + ms(1));
    e.push_at(addr(9), Kind::Info, t0 + ms(2));
    assert_eq!(sends(&mut e, t0 + ms(4)), [(addr(9), Query::Info(None))]);
    assert_eq!(sends(&mut e, t0 + ms(8)), [(addr(0), Query::Info(Some(C1)))]);
}
