//! The blocking client against scripted fake servers on 127.0.0.1 and ::1, one test
//! per behaviour. Replies are built with the crate's own encoders.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use a2s_query::proto::{
    encode_challenge, encode_players, encode_rules, split_packet, Challenge, GoldSrcInfo, Info, Query, ShipLayout,
    SourceInfo, SplitFormat,
};
use a2s_query::server::Responder;
use a2s_query::{Client, Encoding, Error, IpVersion, Players, Raw};
use common::fake::{Act, Fake};
use common::roster;

const CHALLENGE: Challenge = Challenge([0x11, 0x22, 0x33, 0x44]);
const TIMEOUT: Duration = Duration::from_millis(1500);
/// How far past its timeout a call may return.
const LATE: Duration = Duration::from_millis(250);

fn client() -> Client {
    Client::builder().timeout(TIMEOUT).build()
}

fn source_info(name: &str) -> SourceInfo {
    let mut info = SourceInfo::default();
    info.protocol = 17;
    info.server_name = name.to_string();
    info.map_name = "de_inferno".to_string();
    info.folder = "csgo".to_string();
    info.game = "Counter-Strike 2".to_string();
    info.app_id = 730;
    info.player_count = 12;
    info.max_players = 24;
    info.keywords = Some("secure".to_string());
    info.game_id = Some(730);
    info.edf = 0x21;
    info
}

fn info_reply(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    source_info(name).encode(&mut out).unwrap();
    out
}

fn players_reply(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    encode_players(&roster(n), ShipLayout::Trailing, &mut out).unwrap();
    out
}

fn rule_set(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("sv_setting_{i}"), format!("{}", i * 3))).collect()
}

fn rules_reply(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    encode_rules(rule_set(n).iter().map(|(a, b)| (a, b)), &mut out).unwrap();
    out
}

fn challenge_reply(c: Challenge) -> Vec<u8> {
    let mut out = Vec::new();
    encode_challenge(c, &mut out);
    out
}

/// Answers directly, whatever the challenge.
fn direct(query: Query) -> Vec<Act> {
    vec![Act::Send(match query {
        Query::Info(_) => info_reply("direct"),
        Query::Players(_) => players_reply(3),
        Query::Rules(_) => rules_reply(5),
        _ => challenge_reply(CHALLENGE),
    })]
}

/// Answers only requests carrying [`CHALLENGE`]; hands it out otherwise.
fn challenged(query: Query, reply: impl Fn(Query) -> Vec<Act>) -> Vec<Act> {
    let ok = match query {
        Query::Info(c) => c == Some(CHALLENGE),
        Query::Players(c) | Query::Rules(c) => c == CHALLENGE,
        _ => false,
    };
    if ok {
        reply(query)
    } else {
        vec![Act::Send(challenge_reply(CHALLENGE))]
    }
}

fn assert_source_name(info: &Info, want: &str) {
    match info {
        Info::Source(s) => assert_eq!(s.server_name, want),
        other => panic!("expected a Source reply, got {other:?}"),
    }
}

#[test]
fn info_without_challenge() {
    let server = Fake::v4(|q, _| direct(q));
    let info = client().info(server.addr).unwrap();
    assert_source_name(&info, "direct");
    assert_eq!(info.player_count(), 12);
    assert_eq!(info.keywords(), Some("secure"));
    assert_eq!(server.requests(), vec![Query::Info(None)]);
}

#[test]
fn info_with_challenge() {
    let server = Fake::v4(|q, _| challenged(q, direct));
    let info = client().info(server.addr).unwrap();
    assert_source_name(&info, "direct");
    assert_eq!(server.requests(), vec![Query::Info(None), Query::Info(Some(CHALLENGE))]);
}

#[test]
fn players_without_challenge() {
    let server = Fake::v4(|q, _| direct(q));
    assert_eq!(client().players(server.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(server.requests(), vec![Query::Players(Challenge::REQUEST)]);
}

#[test]
fn players_with_challenge() {
    let server = Fake::v4(|q, _| challenged(q, direct));
    assert_eq!(client().players(server.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(server.requests(), vec![Query::Players(Challenge::REQUEST), Query::Players(CHALLENGE)]);
}

#[test]
fn rules_without_challenge() {
    let server = Fake::v4(|q, _| direct(q));
    let rules = client().rules(server.addr).unwrap();
    assert_eq!(Vec::from(&rules), rule_set(5));
    assert_eq!(server.requests(), vec![Query::Rules(Challenge::REQUEST)]);
}

#[test]
fn rules_with_challenge() {
    let server = Fake::v4(|q, _| challenged(q, direct));
    let rules = client().rules(server.addr).unwrap();
    assert_eq!(rules.get("sv_setting_4"), Some("12"));
    assert_eq!(server.requests(), vec![Query::Rules(Challenge::REQUEST), Query::Rules(CHALLENGE)]);
}

#[test]
fn repeated_challenges_are_followed() {
    // A new challenge for each of the first three requests, then the answer.
    let server =
        Fake::v4(
            |q, n| {
                if n < 3 {
                    vec![Act::Send(challenge_reply(Challenge([n as u8 + 1, 0, 0, 0])))]
                } else {
                    direct(q)
                }
            },
        );
    assert_eq!(client().players(server.addr).unwrap(), Players::new(roster(3)));
    let sent = server.requests();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3], Query::Players(Challenge([3, 0, 0, 0])));
}

/// Bug: each copy of one challenge was a new round, so a server (or a network) that
/// delivers the challenge six times ended the call with `TooManyChallenges`.
#[test]
fn copies_of_one_challenge_are_one_round() {
    let server = Fake::v4(|q, _| {
        if q == Query::Players(CHALLENGE) {
            direct(q)
        } else {
            (0..6).map(|_| Act::Send(challenge_reply(CHALLENGE))).collect()
        }
    });
    assert_eq!(client().players(server.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(server.requests(), vec![Query::Players(Challenge::REQUEST), Query::Players(CHALLENGE)]);
}

#[test]
fn endless_challenges_stop_with_a_clear_error() {
    let server = Fake::v4(|_, n| vec![Act::Send(challenge_reply(Challenge((n as u32).to_le_bytes())))]);
    let err = client().rules(server.addr).unwrap_err();
    assert!(matches!(err, Error::TooManyChallenges { rounds: 5 }), "{err}");
    assert_eq!(server.requests().len(), 6, "first request plus five challenge rounds");
}

/// Serves `reply` split with `format`, fragments transformed by `arrange`.
fn split_server(
    reply: Vec<u8>,
    format: SplitFormat,
    compress: bool,
    arrange: impl Fn(Vec<Vec<u8>>) -> Vec<Vec<u8>> + Send + 'static,
) -> Fake {
    Fake::v4(move |q, _| {
        challenged(q, |_| {
            // Compressed replies shrink a lot: cut them finer so they still split.
            let size = if compress { 64 } else { 400 };
            let fragments = split_packet(&reply, 77, format, size, compress).unwrap();
            assert!(fragments.len() > 2);
            arrange(fragments).into_iter().map(Act::Send).collect()
        })
    })
}

fn split_rules_every_way(format: SplitFormat, compress: bool) {
    let server = split_server(rules_reply(150), format, compress, |f| f);
    let rules = client().rules(server.addr).unwrap();
    assert_eq!(Vec::from(&rules), rule_set(150));
    assert!(!rules.truncated);
}

#[test]
fn split_source() {
    split_rules_every_way(SplitFormat::Source, false);
}

#[test]
fn split_source_without_size_field() {
    split_rules_every_way(SplitFormat::SourceWithoutSize, false);
}

#[test]
fn split_goldsrc() {
    let server = split_server(players_reply(64), SplitFormat::GoldSrc, false, |f| f);
    assert_eq!(client().players(server.addr).unwrap(), Players::new(roster(64)));
}

#[test]
fn split_compressed() {
    split_rules_every_way(SplitFormat::Source, true);
}

#[test]
fn split_compressed_without_size_field() {
    split_rules_every_way(SplitFormat::SourceWithoutSize, true);
}

#[test]
fn reordered_fragments() {
    let server = split_server(rules_reply(150), SplitFormat::Source, false, |mut f| {
        f.reverse();
        f
    });
    assert_eq!(Vec::from(client().rules(server.addr).unwrap()), rule_set(150));
}

#[test]
fn duplicated_fragments() {
    let server = split_server(rules_reply(150), SplitFormat::Source, false, |f| {
        f.iter().flat_map(|d| [d.clone(), d.clone()]).collect()
    });
    assert_eq!(Vec::from(client().rules(server.addr).unwrap()), rule_set(150));
}

#[test]
fn missing_fragment_times_out() {
    let server = split_server(rules_reply(150), SplitFormat::Source, false, |mut f| {
        f.remove(1);
        f
    });
    let started = Instant::now();
    let err = Client::builder().timeout(Duration::from_millis(400)).build().rules(server.addr).unwrap_err();
    let took = started.elapsed();
    match err {
        Error::Timeout { fragments: Some((got, total)), .. } => assert_eq!(got + 1, total),
        other => panic!("{other}"),
    }
    assert!(took >= Duration::from_millis(400) && took < Duration::from_millis(400) + LATE, "{took:?}");
}

#[test]
fn stray_fragment_of_an_old_reply_is_ignored() {
    let server = Fake::v4(|q, _| {
        challenged(q, |_| {
            // Fragment 1 of an earlier reply (other id, other values), then the reply.
            let old = split_packet(&rules_reply(100), 3, SplitFormat::Source, 300, false).unwrap();
            let new = split_packet(&rules_reply(150), 4, SplitFormat::Source, 300, false).unwrap();
            let mut acts = vec![Act::Send(old[1].clone()), Act::Send(old[0].clone())];
            acts.extend(new.into_iter().map(Act::Send));
            acts
        })
    });
    assert_eq!(Vec::from(client().rules(server.addr).unwrap()), rule_set(150));
}

#[test]
fn junk_first_is_skipped() {
    let server = Fake::v4(|q, _| {
        let mut acts = vec![
            Act::Send(vec![]),
            Act::Send(vec![0; 64]),
            Act::Send(b"\xFF\xFF".to_vec()),
            Act::Send(b"\xFD\xFF\xFF\xFFlzss".to_vec()),
            Act::Send(b"\xFE\xFF\xFF\xFF\x01".to_vec()),
        ];
        acts.extend(challenged(q, direct));
        acts
    });
    assert_source_name(&client().info(server.addr).unwrap(), "direct");
}

#[test]
fn wrong_reply_type_is_skipped() {
    // A rules reply (a leftover, say) before the players reply.
    let server = Fake::v4(|q, _| challenged(q, |_| vec![Act::Send(rules_reply(2)), Act::Send(players_reply(4))]));
    assert_eq!(client().players(server.addr).unwrap(), Players::new(roster(4)));
}

#[test]
fn reply_from_another_port_is_ignored() {
    let server = Fake::v4(|q, _| {
        let mut acts = vec![Act::SendFromOtherPort(info_reply("impostor")), Act::Sleep(Duration::from_millis(50))];
        acts.extend(direct(q));
        acts
    });
    assert_source_name(&client().info(server.addr).unwrap(), "direct");

    // Only the other port answers: nothing ever arrives.
    let server = Fake::v4(|_, _| vec![Act::SendFromOtherPort(info_reply("impostor"))]);
    let err = Client::builder().timeout(Duration::from_millis(300)).build().info(server.addr).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
}

#[test]
fn timeout_is_honoured() {
    let server = Fake::v4(|_, _| vec![]);
    for ms in [200u64, 700] {
        let timeout = Duration::from_millis(ms);
        let started = Instant::now();
        let err = Client::builder().timeout(timeout).build().info(server.addr).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, Error::Timeout { timeout: t, fragments: None, .. } if t == timeout), "{err}");
        assert!(took >= timeout && took < timeout + LATE, "{took:?} for {timeout:?}");
    }
}

#[test]
fn timeout_bounds_the_whole_call_not_each_read() {
    // Every reply is a fresh challenge after 150 ms: many reads, one deadline.
    let server = Fake::v4(|_, n| {
        vec![Act::Sleep(Duration::from_millis(150)), Act::Send(challenge_reply(Challenge([n as u8, 1, 2, 3])))]
    });
    let mut limits = a2s_query::Limits::default();
    limits.max_challenge_rounds = 100;
    let started = Instant::now();
    let err =
        Client::builder().timeout(Duration::from_millis(500)).limits(limits).build().rules(server.addr).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_millis(500) + LATE, "{:?}", started.elapsed());
}

#[test]
fn host_name_localhost() {
    let server = Fake::v4(|q, _| challenged(q, direct));
    let port = server.addr.port();
    let info = a2s_query::info(format!("localhost:{port}"), TIMEOUT, Encoding::Utf8).unwrap();
    assert_source_name(&info, "direct");
    let players = a2s_query::players(("localhost", port), TIMEOUT, Default::default()).unwrap();
    assert_eq!(players, Players::new(roster(3)));
}

#[test]
fn ipv6_loopback() {
    let server = Fake::on("[::1]:0", |q, _| challenged(q, direct));
    let mut c = Client::builder().timeout(TIMEOUT).prefer(IpVersion::V6).build();
    assert_source_name(&c.info(server.addr).unwrap(), "direct");
    assert_eq!(c.players(server.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(Vec::from(c.rules(format!("[::1]:{}", server.addr.port())).unwrap()), rule_set(5));
    assert!(c.local_addr().unwrap().is_ipv6());
}

#[test]
fn ping_is_the_round_trip_of_the_answered_request() {
    // The challenge takes 300 ms; the challenged request is answered at once.
    let server = Fake::v4(|q, _| match q {
        Query::Info(Some(_)) => direct(q),
        _ => vec![Act::Sleep(Duration::from_millis(300)), Act::Send(challenge_reply(CHALLENGE))],
    });
    let started = Instant::now();
    let info = client().info(server.addr).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(info.ping() < Duration::from_millis(150), "{:?}", info.ping());
    assert!(info.ping() > Duration::ZERO);
}

#[test]
fn source_reply_wins_over_goldsrc_when_both_come() {
    let goldsrc = || {
        let mut g = GoldSrcInfo::default();
        g.server_name = "old format".to_string();
        let mut out = Vec::new();
        g.encode(&mut out).unwrap();
        out
    };
    // 0x6D first, then 0x49 (dproto-style double answer). The wait itself is tested
    // on the state machine (tests/exchange.rs); here a long grace shows the wiring.
    let server = Fake::v4(move |_, _| vec![Act::Send(goldsrc()), Act::Send(info_reply("new format"))]);
    let mut patient = Client::builder().timeout(TIMEOUT).goldsrc_grace(Duration::from_secs(1)).build();
    assert_source_name(&patient.info(server.addr).unwrap(), "new format");

    // Only 0x6D (HLTV): it is the answer, once the grace is over.
    let server = Fake::v4(move |_, _| vec![Act::Send(goldsrc())]);
    let mut waits = Client::builder().timeout(TIMEOUT).goldsrc_grace(Duration::from_millis(200)).build();
    let started = Instant::now();
    let info = waits.info(server.addr).unwrap();
    assert_eq!(info.server_name(), "old format");
    assert!(info.as_goldsrc().is_some());
    assert!(started.elapsed() >= Duration::from_millis(200));
    // With no grace the first reply wins at once.
    let mut fast = Client::builder().timeout(TIMEOUT).goldsrc_grace(Duration::ZERO).build();
    assert_eq!(fast.info(server.addr).unwrap().server_name(), "old format");
}

#[test]
fn retries_resend_a_lost_request() {
    // The first request is "lost".
    let server = Fake::v4(|q, n| if n == 0 { vec![] } else { direct(q) });
    let mut c = Client::builder().timeout(Duration::from_millis(900)).retries(2).build();
    assert_eq!(c.players(server.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(server.requests().len(), 2);

    // Without retries the loss is a timeout.
    let server = Fake::v4(|q, n| if n == 0 { vec![] } else { direct(q) });
    let err = Client::builder().timeout(Duration::from_millis(300)).build().players(server.addr).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn second_poll_reuses_the_challenge() {
    let server = Fake::v4(|q, _| challenged(q, direct));
    let mut c = client();
    assert_eq!(c.players(server.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(c.players(server.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(server.requests().len(), 3, "the second poll sent one request");
    assert_eq!(server.requests()[2], Query::Players(CHALLENGE));
    // The challenge serves the other queries too.
    assert_eq!(c.rules(server.addr).unwrap().len(), 5);
    assert_eq!(server.requests().len(), 4);
}

/// Bug: a server answering one INFO with both `0x49` and `0x6D` left the second
/// queued; the next call read it at once and returned it, with a ping of about 0,
/// when the fresh reply took longer than the grace. What is queued before a call's
/// first request is drained, unread.
#[test]
fn a_leftover_reply_is_never_returned_as_fresh() {
    let mut goldsrc = GoldSrcInfo::default();
    goldsrc.server_name = "stale".to_string();
    let server = Fake::v4(move |_, n| {
        if n == 0 {
            let mut stale = Vec::new();
            goldsrc.encode(&mut stale).unwrap();
            vec![Act::Send(info_reply("first")), Act::Send(stale)]
        } else {
            vec![Act::Sleep(Duration::from_millis(350)), Act::Send(info_reply("fresh"))]
        }
    });
    let mut c = Client::builder().timeout(TIMEOUT).goldsrc_grace(Duration::from_millis(300)).build();
    assert_source_name(&c.info(server.addr).unwrap(), "first");
    // Both replies have left the server (loopback queues a datagram as it is sent).
    while server.acts_done() < 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let info = c.info(server.addr).unwrap();
    assert_source_name(&info, "fresh");
    assert!(info.ping() >= Duration::from_millis(350), "{:?}", info.ping());
}

/// Bug: a query to the other address family reopened the socket and forgot every
/// remembered challenge.
#[test]
fn mixed_families_keep_their_sockets_and_challenges() {
    let v4 = Fake::v4(|q, _| challenged(q, direct));
    let v6 = Fake::on("[::1]:0", |q, _| challenged(q, direct));
    let mut c = client();
    assert_eq!(c.players(v4.addr).unwrap(), Players::new(roster(3)));
    let local_v4 = c.local_addr().unwrap();
    assert_eq!(c.players(v6.addr).unwrap(), Players::new(roster(3)));
    assert!(c.local_addr().unwrap().is_ipv6());
    assert_eq!(c.players(v4.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(c.local_addr(), Some(local_v4), "the same IPv4 socket");
    assert_eq!(v4.requests().len(), 3, "the third poll sent one request");
    assert_eq!(v4.requests()[2], Query::Players(CHALLENGE));
    assert_eq!(c.players(v6.addr).unwrap(), Players::new(roster(3)));
    assert_eq!(v6.requests()[2], Query::Players(CHALLENGE));
}

/// The split layout an info reply implies reaches later queries: app 240 at protocol 7
/// splits without the size field, and this server also leaves out the inner
/// `FF FF FF FF`, so only the hint places its fragments (the first player's index,
/// 0x45, would otherwise read as a reply type byte where a size field ends).
#[test]
fn the_info_reply_teaches_the_split_layout() {
    let mut css = source_info("css");
    css.app_id = 240;
    css.protocol = 7;
    let mut players = roster(20);
    players[0].index = 0x45;
    let server = Fake::v4(move |q, _| match q {
        Query::Info(_) => {
            let mut out = Vec::new();
            css.encode(&mut out).unwrap();
            vec![Act::Send(out)]
        }
        _ => {
            let mut reply = Vec::new();
            encode_players(&players, ShipLayout::Trailing, &mut reply).unwrap();
            let bare = &reply[4..];
            split_packet(bare, 5, SplitFormat::SourceWithoutSize, 150, false)
                .unwrap()
                .into_iter()
                .map(Act::Send)
                .collect()
        }
    });
    let mut c = client();
    let mut fresh = client();
    assert!(matches!(fresh.players(server.addr), Err(Error::Timeout { .. }) | Err(Error::Truncated { .. })));
    assert_eq!(c.info(server.addr).unwrap().server_name(), "css");
    let got = c.players(server.addr).unwrap();
    assert_eq!(got.len(), 20);
    assert_eq!(got[0].index, 0x45);
    assert_eq!(got[19].name, "player 19");
}

/// A port that answers with something else (an HTTP server, the game port) is a
/// timeout that says so, not "no reply".
#[test]
fn the_wrong_port_is_named_in_the_timeout() {
    let server = Fake::v4(|_, _| vec![Act::Send(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec())]);
    // The whole timeout passes whatever comes; the fake answers well within it.
    let e = client().info(server.addr).unwrap_err();
    assert!(e.is_timeout());
    let message = e.to_string();
    assert!(
        message.starts_with("no reply within 1.5s; ignored 1 datagram: not A2S (48 54 54 50 \"HTTP\")"),
        "{message}"
    );
    assert!(message.contains("is this the query port?"), "{message}");
}

#[test]
fn arguments_that_cannot_work_say_what_to_give() {
    let mut zero = Client::builder().timeout(Duration::ZERO).build();
    let e = zero.info("127.0.0.1:27015").unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
    assert!(e.to_string().contains("zero timeout"), "{e}");

    let mut v4_only = Client::builder().timeout(TIMEOUT).bind("127.0.0.1:0".parse().unwrap()).build();
    let e = v4_only.info("[::1]:27015").unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");

    // Each usual fault of an address is named, the address quoted.
    for (given, says) in [
        ("127.0.0.1", "\"127.0.0.1\": no port; write 127.0.0.1:PORT (the query port, often 27015)"),
        ("[::1]", "no port after the brackets; write [::1]:PORT"),
        ("localhost:", "no port after the colon; write localhost:PORT"),
        ("play.example.net", "no port; write play.example.net:PORT"),
        ("127.0.0.1:99999", "port 99999 is out of range; a port is a number from 1 to 65535"),
        ("2001:db8::7", "an IPv6 address without brackets and port; write [2001:db8::7]:PORT"),
        ("localhost:http", "\"http\" after the last colon is not a port"),
    ] {
        let e = a2s_query::info(given, TIMEOUT, Encoding::Utf8).unwrap_err();
        assert!(matches!(&e, Error::Address(fault) if fault.contains(says)), "{given}: {e}");
    }
    // The address of the other family says so, and what to do.
    let e = v4_only.info("[::1]:27015").unwrap_err();
    assert!(e.to_string().contains("IPv"), "{e}");
}

#[test]
fn rotated_challenge_is_followed_transparently() {
    // The challenge changes every second request.
    let server = Fake::v4(|q, n| {
        let current = Challenge([(n / 2) as u8, 9, 9, 9]);
        let ok = matches!(q, Query::Players(c) if c == current);
        if ok {
            direct(q)
        } else {
            vec![Act::Send(challenge_reply(current))]
        }
    });
    let mut c = client();
    for _ in 0..4 {
        assert_eq!(c.players(server.addr).unwrap(), Players::new(roster(3)));
    }
}

#[test]
fn closed_port_fails_fast() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    drop(socket);
    let started = Instant::now();
    let err = client().info(addr).unwrap_err();
    // Loopback reports the closed port at once (ICMP port unreachable).
    assert!(matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused), "{err}");
    assert!(started.elapsed() < TIMEOUT);
}

#[test]
fn unresolvable_address_is_a_resolve_error() {
    let err = client().info("this-host-does-not-exist.invalid:27015").unwrap_err();
    assert!(matches!(err, Error::Resolve(_)), "{err}");
    // (Not a name the resolver could look up: an address without a port, told so.)
    let err = client().info("not an address").unwrap_err();
    assert!(matches!(err, Error::Address(_)), "{err}");
}

#[test]
fn strict_and_raw_encodings() {
    let server = Fake::v4(|_, _| {
        let mut reply = info_reply("x");
        let at = reply.iter().position(|&b| b == b'x').unwrap();
        reply[at] = 0xE9;
        vec![Act::Send(reply)]
    });
    let lossy = a2s_query::info(server.addr, TIMEOUT, Encoding::Utf8).unwrap();
    assert_eq!(lossy.server_name(), "\u{FFFD}");
    let latin = a2s_query::info(server.addr, TIMEOUT, Encoding::Latin1).unwrap();
    assert_eq!(latin.server_name(), "é");
    let err = a2s_query::info(server.addr, TIMEOUT, Encoding::Utf8Strict).unwrap_err();
    assert!(matches!(err, Error::InvalidText { field: "server name", .. }), "{err}");
    let raw = Client::builder().timeout(TIMEOUT).encoding(Raw).build().info(server.addr).unwrap();
    assert_eq!(raw.server_name(), &vec![0xE9]);
}

#[test]
fn responder_serves_the_free_functions() {
    let state = source_info("responder");
    let server = Responder::new(Info::Source(state), roster(20), rule_set(200)).spawn("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    assert_source_name(&a2s_query::info(addr, TIMEOUT, Encoding::Utf8).unwrap(), "responder");
    assert_eq!(a2s_query::players(addr, TIMEOUT, Encoding::Utf8).unwrap(), Players::new(roster(20)));
    assert_eq!(Vec::from(a2s_query::rules(addr, TIMEOUT, Encoding::Utf8).unwrap()), rule_set(200));
}
