//! The Steam Web API lister against the fake Web API on loopback: the request it sends
//! (key, filter, limit), replies with odd and missing fields, a wrong key, HTTP errors,
//! malformed bodies, a server that never answers, and the key kept out of every error
//! and `Debug` output. Then the list feeding the batch engine.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use a2s_query::proto::Condition::{AppId, Map, Nor, NotEmpty};
use a2s_query::proto::{Filter, Info, Platform, SourceInfo};
use a2s_query::server::{FakeWebApi, Farm, Fault, Responder};
use a2s_query::web_api::{self, parse_server_list, parse_servers_at_address, ServerAtAddress, ServerSummary, WebApi};
use a2s_query::Batch;

const KEY: &str = "0123456789ABCDEF0123456789ABCDEF";

fn summary(i: u32) -> ServerSummary {
    let mut s = ServerSummary::new(format!("198.51.100.{}:{}", i % 250, 27015 + i / 250).parse().unwrap());
    s.name = format!("server {i}");
    s.app_id = Some(440);
    s.players = Some(i % 25);
    s.max_players = Some(24);
    s.steam_id = Some(90_000_000_000_000_000 + u64::from(i));
    s.os = Some(if i % 2 == 0 { Platform::Linux } else { Platform::Windows });
    s.secure = Some(i % 3 == 0);
    s.region = Some(-1);
    s.game_port = Some(27015);
    s
}

/// Asserts that nothing about `err` (its message, its chain, its Debug) holds the key.
fn assert_keyless(err: &web_api::Error) {
    let mut texts = vec![err.to_string(), format!("{err:?}")];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        texts.push(s.to_string());
        source = s.source();
    }
    for text in texts {
        assert!(!text.contains(KEY), "the key leaked: {text}");
    }
}

#[test]
fn the_list_comes_back_typed_and_the_request_carries_key_filter_and_limit() {
    let servers: Vec<ServerSummary> = (0..1000).map(summary).collect();
    let fake = FakeWebApi::new(KEY, servers.clone()).spawn().unwrap();
    let api = WebApi::new(KEY).base_url(fake.base_url());
    let filter = Filter::from_iter([AppId(440), NotEmpty, Nor(Map("ctf_2fort".into()).into())]);

    let list = api.server_list(&filter, 700).unwrap();
    assert_eq!(list.servers, servers[..700], "every field read back as written, cut at the limit");
    assert_eq!(list.skipped, 0);

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/IGameServersService/GetServerList/v1/");
    assert_eq!(r.header("x-webapi-key"), Some(KEY), "the key in its header");
    assert_eq!(r.param("key"), None, "and not in the URL");
    assert_eq!(r.param("filter"), Some(r"\appid\440\empty\1\nor\1\map\ctf_2fort"));
    assert_eq!(r.param("limit"), Some("700"));

    // An empty list comes as `{"response":{}}`; the longest timeout is a day, not a
    // panic in the HTTP client's clock.
    let fake = FakeWebApi::new(KEY, vec![]).spawn().unwrap();
    let api = WebApi::new(KEY).base_url(fake.base_url()).timeout(Duration::MAX);
    let list = api.server_list(&Filter::new(), 100).unwrap();
    assert_eq!((list.servers.len(), list.skipped), (0, 0));
}

#[test]
fn odd_and_missing_fields_are_read_leniently_and_entries_without_an_address_counted() {
    let body = r#"{"response":{"servers":[
        {"addr":"203.0.113.7:27015","gameport":27016,"specport":0,"steamid":"90208014253273118",
         "name":"Full","appid":730,"gamedir":"csgo","version":"1.40.8.4","product":"cs2","region":-1,
         "players":32,"max_players":32,"bots":2,"map":"de_dust2","secure":true,"dedicated":true,
         "os":"l","gametype":"secure,competitive"},
        {"addr":"[2001:db8::7]:27015","players":"7","max_players":" 10 ","bots":-1,"appid":"4000",
         "secure":1,"dedicated":"false","os":"W","steamid":12345,"region":"x"},
        {"addr":"192.0.2.1:27015","players":99999999999,"name":null,"map":5,"secure":"maybe","extra":{"a":[1]}},
        {"addr":"not an address"},
        {"name":"no address at all"},
        42,
        {"addr":"192.0.2.2:27015"}
    ]}}"#;
    let fake = FakeWebApi::new(KEY, vec![]).list_body(body).spawn().unwrap();
    let list = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 100).unwrap();
    assert_eq!(list.skipped, 3, "a bad address, no address, and an entry that is not an object");
    let [full, v6, odd, bare] = list.servers.as_slice() else { panic!("{:?}", list.servers) };

    assert_eq!(full.addr, "203.0.113.7:27015".parse::<SocketAddr>().unwrap());
    assert_eq!((full.game_port, full.spec_port), (Some(27016), None), "specport 0 means none");
    assert_eq!(full.steam_id, Some(90208014253273118), "64-bit ids come as strings");
    assert_eq!((full.name.as_str(), full.map.as_str(), full.game_dir.as_str()), ("Full", "de_dust2", "csgo"));
    assert_eq!((full.version.as_str(), full.product.as_str()), ("1.40.8.4", "cs2"));
    assert_eq!((full.app_id, full.region), (Some(730), Some(-1)));
    assert_eq!((full.players, full.max_players, full.bots), (Some(32), Some(32), Some(2)));
    assert_eq!((full.secure, full.dedicated, full.os), (Some(true), Some(true), Some(Platform::Linux)));
    assert_eq!(full.game_type, "secure,competitive");

    assert_eq!(v6.addr, "[2001:db8::7]:27015".parse::<SocketAddr>().unwrap());
    assert_eq!((v6.players, v6.max_players), (Some(7), Some(10)), "numbers sent as strings");
    assert_eq!(v6.bots, None, "a negative count is unreadable, not wrapped");
    assert_eq!((v6.app_id, v6.steam_id, v6.region), (Some(4000), Some(12345), None));
    assert_eq!((v6.secure, v6.dedicated, v6.os), (Some(true), Some(false), Some(Platform::Windows)));
    assert_eq!(v6.name, "", "an absent name is empty");

    assert_eq!(odd.players, None, "out of range is None, not truncated");
    assert_eq!((odd.name.as_str(), odd.map.as_str(), odd.secure), ("", "", None));

    assert_eq!(bare, &ServerSummary::new("192.0.2.2:27015".parse().unwrap()));
}

#[test]
fn a_wrong_key_is_a_bad_key_error_that_never_shows_the_key() {
    let fake = FakeWebApi::new("the-right-key", vec![summary(1)]).spawn().unwrap();
    let api = WebApi::new(KEY).base_url(fake.base_url());
    let err = api.server_list(&Filter::new(), 10).unwrap_err();
    assert!(matches!(err, web_api::Error::BadKey { status: 403 }), "{err:?}");
    assert!(err.to_string().contains("steamcommunity.com/dev/apikey"), "{err}");
    assert_keyless(&err);
    assert!(!format!("{api:?}").contains(KEY), "Debug shows the key: {api:?}");
    assert!(format!("{api:?}").contains("<hidden>"));

    // No key at all: refused before anything is sent.
    let before = fake.requests().len();
    let err = WebApi::without_key().base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
    assert!(matches!(err, web_api::Error::MissingKey), "{err:?}");
    assert!(matches!(WebApi::new("  ").server_list(&Filter::new(), 1), Err(web_api::Error::MissingKey)));
    assert_eq!(fake.requests().len(), before);
}

#[test]
fn http_errors_and_malformed_bodies_are_errors_that_say_so() {
    // A 5xx on every try: retried twice, then told as an overload, not the key.
    for status in [500, 503] {
        let fake = FakeWebApi::new(KEY, vec![]).throttle(usize::MAX, status).retry_after(0).spawn().unwrap();
        let err = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
        assert!(matches!(err, web_api::Error::Overloaded { status: s, tries: 3 } if s == status), "{err:?}");
        assert!(err.to_string().contains(&format!("HTTP {status} 3 times")), "{err}");
        assert_eq!(fake.requests().len(), 3);
    }
    // Another status is not retried, and quotes the body.
    for (status, want) in [(404, "HTTP 404"), (400, "HTTP 400")] {
        let fake = FakeWebApi::new(KEY, vec![]).status(status).retry_after(0).spawn().unwrap();
        let err = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
        assert!(matches!(err, web_api::Error::Status { status: s, .. } if s == status), "{err:?}");
        assert!(err.to_string().contains(want) && err.to_string().contains(&format!("status {status}")), "{err}");
        assert_keyless(&err);
        assert_eq!(fake.requests().len(), 1, "HTTP {status} is not retried");
    }
    // (A 429 on every try: retried twice, then reported.)
    let fake = FakeWebApi::new(KEY, vec![]).throttle(usize::MAX, 429).retry_after(0).spawn().unwrap();
    let err = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
    assert!(matches!(err, web_api::Error::RateLimited { tries: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("throttles"), "a throttle, not the key: {err}");
    assert_eq!(fake.requests().len(), 3);

    for (body, want) in [
        ("<html>oops</html>", "not JSON"),
        ("[1,2]", "holding a `response` object"),
        (r#"{"result":{}}"#, "no `response`"),
        (r#"{"response":[]}"#, "`response` as an object"),
        (r#"{"response":{"servers":{"a":1}}}"#, "`servers` as a list"),
        (r#"{"response":{"servers":[]}} trailing"#, "not JSON"),
        (r#"{"response":{"servers":[{"addr":"1.2.3.4:5"}"#, "not JSON"),
    ] {
        let fake = FakeWebApi::new(KEY, vec![]).list_body(body).spawn().unwrap();
        let err = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
        assert!(matches!(err, web_api::Error::Malformed(_)), "{body}: {err:?}");
        assert!(err.to_string().contains(want), "{body}: {err}");
    }
}

#[test]
fn a_silent_endpoint_times_out_and_an_unreachable_one_is_a_transport_error_without_the_key() {
    // Accepts the connection, reads the request and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    });
    let started = Instant::now();
    let api = WebApi::new(KEY).base_url(format!("http://{addr}")).timeout(Duration::from_millis(300));
    let err = api.server_list(&Filter::new(), 10).unwrap_err();
    assert!(matches!(err, web_api::Error::Timeout(t) if t == Duration::from_millis(300)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "the timeout bounds the call");
    drop(api);
    holder.join().unwrap();

    // A port nobody listens on (bound, then closed).
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = WebApi::new(KEY).base_url(format!("http://{closed}")).server_list(&Filter::new(), 10).unwrap_err();
    assert!(matches!(err, web_api::Error::Transport(_)), "{err:?}");
    assert_keyless(&err);

    // A base URL that is not one: ureq's error quotes the URL, key and all; it is scrubbed.
    let err = WebApi::new(KEY).base_url("http://[bad").server_list(&Filter::new(), 10).unwrap_err();
    assert!(matches!(err, web_api::Error::Transport(_)), "{err:?}");
    assert_keyless(&err);
}

#[test]
fn servers_at_an_address_give_query_and_game_ports() {
    let mut ark = ServerAtAddress::new("85.190.155.82:27017".parse().unwrap());
    ark.game_port = Some(7779);
    ark.app_id = Some(346110);
    ark.game_dir = "ark_survival_evolved".into();
    ark.region = Some(-1);
    ark.secure = Some(true);
    ark.lan = Some(false);
    let mut tf = ServerAtAddress::new("85.190.155.82:27015".parse().unwrap());
    tf.game_port = Some(27015);
    tf.spec_port = Some(27020);
    tf.steam_id = Some(85568392923888991);
    tf.reject = Some(3);
    let other = ServerAtAddress::new("192.0.2.9:27015".parse().unwrap());
    let fake = FakeWebApi::default().at_address(vec![ark.clone(), tf.clone(), other]).spawn().unwrap();

    let api = WebApi::without_key().base_url(fake.base_url());
    let list = api.servers_at_address("85.190.155.82".parse::<IpAddr>().unwrap()).unwrap();
    assert_eq!(list.servers, vec![ark, tf]);
    let r = &fake.requests()[0];
    assert_eq!(
        (r.path.as_str(), r.param("addr"), r.key()),
        ("/ISteamApps/GetServersAtAddress/v1/", Some("85.190.155.82"), None)
    );
    let none = api.servers_at_address("203.0.113.1".parse::<IpAddr>().unwrap()).unwrap();
    assert!(none.servers.is_empty());

    // The API's refusal, as it writes it.
    let refused =
        br#"{"response":{"success":false,"message":"'addr' param should specify a valid IP or IP:queryport"}}"#;
    let err = parse_servers_at_address(refused).unwrap_err();
    assert!(matches!(&err, web_api::Error::Refused(m) if m.contains("valid IP")), "{err:?}");
}

#[test]
fn the_readers_take_bodies_from_any_client() {
    let list = parse_server_list(br#"{"response":{"servers":null}}"#).unwrap();
    assert!(list.servers.is_empty());
    let list = parse_server_list(br#"{"response":{"servers":[{"addr":" 192.0.2.1:1 ","os":""}]}}"#).unwrap();
    assert_eq!(list.servers[0].addr, "192.0.2.1:1".parse::<SocketAddr>().unwrap());
    assert_eq!(list.servers[0].os, None);
    // A long body quoted in an error is cut, and control characters do not reach a terminal.
    let long = format!("\u{1b}[31m{}", "x".repeat(10_000));
    let fake = FakeWebApi::new(KEY, vec![]).status(400).list_body(long).spawn().unwrap();
    let err = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
    let text = err.to_string();
    assert!(text.len() < 300 && text.ends_with("xxx...") && !text.contains('\u{1b}'), "{text}");
}

/// List, then query: the Web API's list feeds the batch engine, which asks every listed
/// server (some silent) and gets each answer once.
#[test]
fn the_list_feeds_the_batch_engine() {
    let farm = Farm::new()
        .spawn_loopback(40, |i| {
            let mut info = SourceInfo::default();
            info.server_name = format!("farm {i}");
            info.player_count = i as u8;
            (Responder::new(Info::Source(info), vec![], vec![]), if i % 10 == 3 { Fault::Silent } else { Fault::None })
        })
        .unwrap();
    let servers: Vec<ServerSummary> = farm.addrs().iter().map(|&a| ServerSummary::new(a)).collect();
    let fake = FakeWebApi::new(KEY, servers).spawn().unwrap();
    let list = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::from(AppId(440)), 1000).unwrap();
    assert_eq!(list.servers.len(), 40);

    let mut batch = Batch::builder().timeout(Duration::from_secs(3)).build().unwrap();
    let mut answered = 0;
    let mut seen = std::collections::HashSet::new();
    for (addr, result) in batch.info(list.servers.iter().map(|s| s.addr)) {
        assert!(seen.insert(addr), "{addr} twice");
        let i = farm.addrs().iter().position(|&a| a == addr).unwrap();
        match result {
            Ok(info) => {
                assert_ne!(i % 10, 3, "a silent server answered");
                assert_eq!((info.server_name(), usize::from(info.player_count())), (format!("farm {i}").as_str(), i));
                answered += 1;
            }
            Err(e) => assert!(i % 10 == 3 && e.is_timeout(), "{addr}: {e}"),
        }
    }
    assert_eq!((seen.len(), answered), (40, 36));
}

/// A reply of a million tiny entries is read one entry at a time (never one JSON value
/// per entry at once), and no more than `MAX_SERVERS` servers are kept.
#[test]
fn huge_replies_are_read_entry_by_entry_and_capped() {
    let zeros = format!(r#"{{"response":{{"servers":[{}]}}}}"#, vec!["0"; 1_000_000].join(","));
    let list = parse_server_list(zeros.as_bytes()).unwrap();
    assert_eq!((list.servers.len(), list.skipped), (0, 1_000_000));

    let max = 200_000; // the documented cap on servers kept
    let entry = r#"{"addr":"192.0.2.1:27015"}"#;
    let body = format!(r#"{{"response":{{"servers":[{}]}}}}"#, vec![entry; max + 3].join(","));
    let list = parse_server_list(body.as_bytes()).unwrap();
    assert_eq!((list.servers.len(), list.skipped), (max, 3));
}

/// An error page that quotes the key where the excerpt is cut shows none of it: the
/// key is taken out of the whole body before the body is cut.
#[test]
fn a_key_across_the_excerpt_cut_is_still_taken_out() {
    let body = format!("<html>{}{KEY} was refused</html>", "x".repeat(140));
    let fake = FakeWebApi::new(KEY, vec![]).status(400).list_body(body).spawn().unwrap();
    let err = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
    assert!(matches!(&err, web_api::Error::Status { status: 400, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("xxxx<key>") || text.ends_with("..."), "{text}");
    assert!(!text.contains(&KEY[..8]), "part of the key leaked: {text}");
    assert_keyless(&err);
}

/// Bug: `Malformed` errors quoted the body without the scrubbing `Status` errors got,
/// so an endpoint echoing the request's headers put the key in the message. Each kind
/// of error that quotes text, against a fake that echoes the request (the echo is
/// checked to carry the key, so each case can fail).
#[test]
fn no_error_shows_the_key_whatever_its_kind_when_the_endpoint_echoes_it() {
    // (A body that is not JSON at all is not quoted: nothing there to scrub.)
    let cases: [(&str, Option<u16>, &str); 4] = [
        ("status", Some(400), "echo: {request}"),
        ("status, a short page", Some(404), "{request}"),
        ("a string where an object goes", None, r#"{"response":"{request}"}"#),
        ("an unknown shape", None, r#"{"response":{"servers":"{request}"}}"#),
    ];
    for (what, status, body) in cases {
        let mut fake = FakeWebApi::new(KEY, vec![]).list_body(body).echo().retry_after(0);
        if let Some(status) = status {
            fake = fake.status(status);
        }
        let fake = fake.spawn().unwrap();
        let err = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
        assert!(fake.requests()[0].key() == Some(KEY), "{what}: the request carried the key");
        assert!(err.to_string().contains("<key>"), "{what}: the echo is quoted, the key taken out: {err}");
        assert_keyless(&err);
    }
}

/// A throttle (429) or a server error (5xx) is retried, after the wait the reply names,
/// and the list comes; a wait past what is honoured is reported at once.
#[test]
fn throttles_and_server_errors_are_retried_then_reported() {
    let servers: Vec<ServerSummary> = (0..5).map(summary).collect();
    for status in [429, 503] {
        let fake = FakeWebApi::new(KEY, servers.clone()).throttle(2, status).retry_after(0).spawn().unwrap();
        let list = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap();
        assert_eq!(list.servers, servers, "HTTP {status} twice, then the list");
        assert_eq!(fake.requests().len(), 3);
    }
    // A wait of an hour is not waited: reported at the first answer.
    let fake = FakeWebApi::new(KEY, servers.clone()).throttle(1, 429).retry_after(3600).spawn().unwrap();
    let err = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap_err();
    assert!(
        matches!(err, web_api::Error::RateLimited { tries: 1, retry_after: Some(w) } if w.as_secs() == 3600),
        "{err:?}"
    );
    assert!(err.to_string().contains("asked 1 time)") && err.to_string().contains("wait 3600 s"), "{err}");
}

/// A listing as long as its limit says it may be incomplete; a shorter one does not.
#[test]
fn a_listing_that_fills_its_limit_says_there_may_be_more() {
    let servers: Vec<ServerSummary> = (0..30).map(summary).collect();
    let fake = FakeWebApi::new(KEY, servers).spawn().unwrap();
    let api = WebApi::new(KEY).base_url(fake.base_url());
    let cut = api.server_list(&Filter::new(), 20).unwrap();
    assert_eq!((cut.servers.len(), cut.limit_reached), (20, true));
    let whole = api.server_list(&Filter::new(), 50).unwrap();
    assert_eq!((whole.servers.len(), whole.limit_reached), (30, false));
}

/// The API's reported cap: a list of 10 000 when more were asked may be cut there.
#[test]
fn a_listing_at_the_reported_cap_says_there_may_be_more() {
    let servers: Vec<ServerSummary> = (0..10_000).map(summary).collect();
    let fake = FakeWebApi::new(KEY, servers).spawn().unwrap();
    let list = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 50_000).unwrap();
    assert_eq!((list.servers.len(), list.limit_reached), (10_000, true));
}

/// The wait a throttle names is waited (here 1 s), and the retries stay within the
/// call's timeout: a wait past it is not made.
#[test]
fn a_retry_waits_what_the_api_asks_within_the_timeout() {
    let servers: Vec<ServerSummary> = (0..3).map(summary).collect();
    let fake = FakeWebApi::new(KEY, servers.clone()).throttle(1, 429).retry_after(1).spawn().unwrap();
    let started = Instant::now();
    let list = WebApi::new(KEY).base_url(fake.base_url()).server_list(&Filter::new(), 10).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    assert_eq!(list.servers, servers);

    let fake = FakeWebApi::new(KEY, servers).throttle(1, 503).retry_after(2).spawn().unwrap();
    let api = WebApi::new(KEY).base_url(fake.base_url()).timeout(Duration::from_secs(1));
    let err = api.server_list(&Filter::new(), 10).unwrap_err();
    assert!(matches!(err, web_api::Error::Status { status: 503, .. }), "no wait past the timeout: {err:?}");
    assert_eq!(fake.requests().len(), 1);
}
