//! The server-list filter and the UDP master protocol's bytes: every filter key
//! rendered exactly, the spec's examples, `nor`/`nand` counts, and pages read and
//! written, end marker and cut-offs included.

use std::net::SocketAddrV4;

use a2s_query::proto::Condition::*;
use a2s_query::proto::{Filter, MasterPage};
use a2s_query::Error;

fn strings<const N: usize>(tags: [&str; N]) -> Vec<String> {
    tags.map(String::from).to_vec()
}

#[test]
fn every_key_renders_as_the_filter_syntax_writes_it() {
    let cases: Vec<(Filter, &str)> = vec![
        (Dedicated.into(), r"\dedicated\1"),
        (Secure.into(), r"\secure\1"),
        (GameDir("cstrike".into()).into(), r"\gamedir\cstrike"),
        (Map("de_dust2".into()).into(), r"\map\de_dust2"),
        (Linux.into(), r"\linux\1"),
        (Password(false).into(), r"\password\0"),
        (Password(true).into(), r"\password\1"),
        (NotEmpty.into(), r"\empty\1"),
        (NotFull.into(), r"\full\1"),
        (Proxy.into(), r"\proxy\1"),
        (AppId(730).into(), r"\appid\730"),
        (NotAppId(500).into(), r"\napp\500"),
        (NoPlayers.into(), r"\noplayers\1"),
        (White.into(), r"\white\1"),
        (GameType(strings(["payload", "alltalk"])).into(), r"\gametype\payload,alltalk"),
        (GameData(strings(["coop"])).into(), r"\gamedata\coop"),
        (GameDataOr(strings(["a", "b"])).into(), r"\gamedataor\a,b"),
        (NameMatch("*surf*".into()).into(), r"\name_match\*surf*"),
        (VersionMatch("1.0.*".into()).into(), r"\version_match\1.0.*"),
        (CollapseAddrHash.into(), r"\collapse_addr_hash\1"),
        (GameAddr("203.0.113.7:27015".into()).into(), r"\gameaddr\203.0.113.7:27015"),
        (Raw("region".into(), "3".into()).into(), r"\region\3"),
        (Filter::new(), ""),
    ];
    for (filter, want) in cases {
        assert_eq!(filter.render().unwrap(), want);
    }
}

/// The spec's examples (§6.4), and `nor`/`nand` with the count of what they hold (a
/// peer writes `nand<count>` without backslashes and swaps the two).
#[test]
fn the_spec_examples_and_groups() {
    let f = Filter::new().and(AppId(730)).and(White).and(NotEmpty);
    assert_eq!(f.render().unwrap(), r"\appid\730\white\1\empty\1");
    let f = Filter::from(Nor(Filter::from_iter([AppId(440), Map("ctf_2fort".into())])));
    assert_eq!(f.render().unwrap(), r"\nor\2\appid\440\map\ctf_2fort");
    let f =
        Filter::from_iter([Dedicated, Nand(Filter::from_iter([Map("cp_dustbowl".into()), Password(true), NotFull]))]);
    assert_eq!(f.render().unwrap(), r"\dedicated\1\nand\3\map\cp_dustbowl\password\1\full\1");
    assert_eq!(f.conditions().len(), 2, "a group counts as one condition of its parent");
    // A group inside a group counts as one of its conditions.
    let inner = Filter::from_iter([Map("a".into()), Map("b".into())]);
    let f = Filter::from(Nor(Filter::from_iter([AppId(1), Nand(inner)])));
    assert_eq!(f.render().unwrap(), r"\nor\2\appid\1\nand\2\map\a\map\b");
}

#[test]
fn values_that_would_break_the_syntax_are_refused() {
    for f in [
        Filter::from(Map(r"de\dust".into())),
        Filter::from(NameMatch("a\0b".into())),
        Filter::from(Raw(r"a\b".into(), "c".into())),
        Filter::from(Raw("a".into(), r"b\c".into())),
        Filter::from(Nor(GameDir(r"x\y".into()).into())),
    ] {
        assert!(matches!(f.render(), Err(Error::Unencodable(_))), "{f:?}");
    }
}

fn addrs(n: u16) -> Vec<SocketAddrV4> {
    (0..n).map(|i| SocketAddrV4::new([198, 51, (i >> 8) as u8, i as u8].into(), 27015 + i)).collect()
}

#[test]
fn pages_read_back_what_was_written() {
    for (servers, last) in [(addrs(230), false), (addrs(5), true), (vec![], true), (vec![], false)] {
        let page = MasterPage { servers, last };
        let mut bytes = Vec::new();
        page.encode(&mut bytes);
        assert_eq!(bytes.len(), 6 + 6 * (page.servers.len() + usize::from(last)));
        assert_eq!(MasterPage::parse(&bytes).unwrap(), page);
    }
    // Ports are big-endian: 27015 is 69 87.
    let page = MasterPage::parse(b"\xFF\xFF\xFF\xFF\x66\x0A\x0A\x00\x00\x01\x69\x87").unwrap();
    assert_eq!(page.servers, ["10.0.0.1:27015".parse::<SocketAddrV4>().unwrap()]);
    assert!(!page.last);
}

#[test]
fn the_end_marker_ends_the_list_and_broken_pages_are_errors() {
    // Whatever follows the end marker is not part of the list.
    let bytes = b"\xFF\xFF\xFF\xFF\x66\x0A\x0A\x00\x00\x01\x69\x87\0\0\0\0\0\0\x0A\x00\x00\x02\x69\x87";
    let page = MasterPage::parse(bytes).unwrap();
    assert_eq!((page.servers.len(), page.last), (1, true));
    // An address cut short.
    let e = MasterPage::parse(b"\xFF\xFF\xFF\xFF\x66\x0A\x0A\x00\x00\x01\x69").unwrap_err();
    assert!(matches!(e, Error::Truncated { offset: 6, .. }), "{e}");
    // Not a page: an A2S reply, or junk.
    assert!(matches!(MasterPage::parse(b"\xFF\xFF\xFF\xFFI\x11"), Err(Error::NotA2s { .. })));
    assert!(matches!(MasterPage::parse(b""), Err(Error::NotA2s { header: [0, 0, 0, 0] })));
}

mod walk {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use a2s_query::master::MasterQuery;
    use a2s_query::proto::Condition::{AppId, NotEmpty};
    use a2s_query::proto::{Filter, MasterConfig, MasterPage, MasterWalk, Region};
    use a2s_query::server::{FakeMaster, RateLimit};
    use a2s_query::Error;

    use super::addrs;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config() -> MasterConfig {
        let mut config = MasterConfig::default();
        config.page_timeout = ms(100);
        config.retries = 2;
        config.pace = ms(50);
        config.timeout = ms(10_000);
        config
    }

    fn page(from: &[std::net::SocketAddrV4], last: bool) -> Vec<u8> {
        let mut out = Vec::new();
        MasterPage { servers: from.to_vec(), last }.encode(&mut out);
        out
    }

    fn drain(w: &mut MasterWalk) -> Vec<std::net::SocketAddrV4> {
        std::iter::from_fn(|| w.poll_address()).collect()
    }

    /// Pages seeded with the last address of the one before, paced, to the end marker.
    #[test]
    fn pages_follow_their_seeds_at_the_pace() {
        let list = addrs(5);
        let t0 = Instant::now();
        let mut w = MasterWalk::new(config(), t0);
        assert_eq!(w.poll_transmit(t0).unwrap(), b"1\xFF0.0.0.0:0\0\0");
        w.handle_datagram(&page(&list[..2], false), t0 + ms(10));
        assert_eq!(drain(&mut w), list[..2]);
        // The pace: the next request 50 ms after the last one went, not before.
        assert_eq!(w.poll_transmit(t0 + ms(49)), None);
        assert_eq!(w.poll_timeout(), Some(t0 + ms(50)));
        let second = w.poll_transmit(t0 + ms(50)).unwrap();
        assert_eq!(second, [b"1\xFF".as_slice(), list[1].to_string().as_bytes(), b"\0\0"].concat());
        assert!(second.starts_with(b"1\xFF198.51.0.1:27016\0"), "seeded with the last address");
        w.handle_datagram(&page(&list[2..], true), t0 + ms(60));
        assert_eq!(drain(&mut w), list[2..]);
        assert!(matches!(w.poll_outcome(), Some(Ok(()))));
        assert_eq!(w.poll_transmit(t0 + ms(1000)), None);
    }

    /// A page whose last address is the seed it was asked with makes no progress: the
    /// walk ends there rather than asking forever, and without the end marker it is no
    /// complete list: an error says how far it got.
    #[test]
    fn a_page_without_progress_ends_the_walk_incomplete() {
        let list = addrs(3);
        let t0 = Instant::now();
        let mut w = MasterWalk::new(config(), t0);
        w.poll_transmit(t0);
        w.handle_datagram(&page(&list, false), t0 + ms(1));
        assert_eq!(drain(&mut w).len(), 3);
        w.poll_transmit(t0 + ms(50)).unwrap();
        // The master repeats the seed alone: nothing new, no end marker.
        w.handle_datagram(&page(&list[2..], false), t0 + ms(51));
        assert!(drain(&mut w).is_empty(), "the seed is not given out twice");
        let e = w.poll_outcome().unwrap().unwrap_err();
        assert!(matches!(e, Error::MasterIncomplete { pages: 2, servers: 3, .. }), "{e}");
        assert!(e.to_string().contains("never sent the end of the list"), "{e}");
        // Over for good once its outcome is taken: no timer, no request, no second
        // outcome at the deadline. (Found by the `master` fuzz target: taking the
        // outcome used to make the walk look under way again.)
        assert!(w.is_over());
        assert_eq!(w.poll_timeout(), None);
        w.handle_timeout(t0 + ms(20_000));
        assert_eq!(w.poll_transmit(t0 + ms(20_000)), None);
        assert!(w.poll_outcome().is_none(), "one outcome");
    }

    /// A pace past what the clock can hold waits (the walk's deadline comes first); it
    /// used to send the next request at once.
    #[test]
    fn a_pace_past_the_clock_never_sends_at_once() {
        let list = addrs(4);
        let t0 = Instant::now();
        let mut c = config();
        c.pace = Duration::MAX;
        let mut w = MasterWalk::new(c, t0);
        w.poll_transmit(t0).unwrap();
        w.handle_datagram(&page(&list[..2], false), t0 + ms(1));
        assert_eq!(drain(&mut w), list[..2]);
        assert_eq!(w.poll_transmit(t0 + ms(2)), None, "the next page waits for the pace");
        assert_eq!(w.poll_timeout(), Some(t0 + ms(10_000)), "the deadline comes first");
    }

    /// Bug: a copy of page 1 (the network duplicated it; its request went once) that came
    /// after request 2 went out was read as page 2: its last address is the seed, "no
    /// progress", and the walk ended complete with 3 of 10 servers.
    #[test]
    fn a_duplicated_page_is_a_copy_whenever_it_comes() {
        let list = addrs(10);
        let t0 = Instant::now();
        let mut w = MasterWalk::new(config(), t0);
        w.poll_transmit(t0).unwrap();
        w.handle_datagram(&page(&list[..3], false), t0 + ms(5));
        w.poll_transmit(t0 + ms(50)).unwrap();
        w.handle_datagram(&page(&list[..3], false), t0 + ms(51));
        assert!(!w.is_over(), "a copy is neither a page nor the end");
        w.handle_datagram(&page(&list[3..7], false), t0 + ms(55));
        w.poll_transmit(t0 + ms(105)).unwrap();
        // A copy of page 1 again, much later.
        w.handle_datagram(&page(&list[..3], false), t0 + ms(106));
        w.handle_datagram(&page(&list[7..], true), t0 + ms(110));
        assert_eq!(drain(&mut w), list, "every address once, in order");
        assert!(matches!(w.poll_outcome(), Some(Ok(()))));
    }

    /// A master that answers every request with a page already read never moves the walk:
    /// it ends incomplete, saying so.
    #[test]
    fn a_master_sending_only_copies_ends_the_walk_incomplete() {
        let list = addrs(4);
        let t0 = Instant::now();
        let mut lone = config();
        lone.retries = 1;
        let mut w = MasterWalk::new(lone, t0);
        w.poll_transmit(t0).unwrap();
        w.handle_datagram(&page(&list, false), t0 + ms(5));
        w.poll_transmit(t0 + ms(50)).unwrap();
        w.handle_datagram(&page(&list, false), t0 + ms(55));
        w.handle_timeout(t0 + ms(150));
        w.poll_transmit(t0 + ms(150)).unwrap();
        w.handle_datagram(&page(&list, false), t0 + ms(155));
        w.handle_timeout(t0 + ms(350));
        assert_eq!(drain(&mut w), list);
        let e = w.poll_outcome().unwrap().unwrap_err();
        assert!(e.to_string().contains("sent only pages already read after 1 pages (4 servers listed)"), "{e}");
    }

    /// A lost page is asked for again, each wait twice the last; a master that stays
    /// silent ends the walk with how far it got.
    #[test]
    fn a_lost_page_is_retried_with_back_off_then_given_up() {
        let list = addrs(4);
        let t0 = Instant::now();
        let mut w = MasterWalk::new(config(), t0);
        w.poll_transmit(t0);
        w.handle_datagram(&page(&list[..2], false), t0 + ms(5));
        assert_eq!(drain(&mut w).len(), 2);
        let sent = t0 + ms(50);
        let request = w.poll_transmit(sent).unwrap();
        assert_eq!(w.poll_timeout(), Some(sent + ms(100)));
        w.handle_timeout(sent + ms(100));
        assert_eq!(w.poll_transmit(sent + ms(100)).unwrap(), request, "the same page again");
        assert_eq!(w.poll_timeout(), Some(sent + ms(300)), "twice the wait");
        w.handle_timeout(sent + ms(300));
        w.poll_transmit(sent + ms(300)).unwrap();
        assert_eq!(w.poll_timeout(), Some(sent + ms(700)));
        w.handle_timeout(sent + ms(700));
        let e = w.poll_outcome().unwrap().unwrap_err();
        assert!(matches!(e, Error::MasterIncomplete { pages: 1, servers: 2, .. }), "{e}");
        assert!(e.to_string().contains("stopped answering after 1 pages (2 servers listed)"), "{e}");
    }

    /// A page asked for twice may come twice: the late copy arrives after the next
    /// request went out and must not read as a page without progress.
    #[test]
    fn a_late_copy_of_a_retried_page_is_not_the_end() {
        let list = addrs(6);
        let t0 = Instant::now();
        let mut w = MasterWalk::new(config(), t0);
        w.poll_transmit(t0);
        w.handle_timeout(t0 + ms(100));
        w.poll_transmit(t0 + ms(100)).unwrap();
        // Both copies of page 1 come back, the second after request 2 went out.
        w.handle_datagram(&page(&list[..3], false), t0 + ms(150));
        w.poll_transmit(t0 + ms(200)).unwrap();
        w.handle_datagram(&page(&list[..3], false), t0 + ms(201));
        assert!(!w.is_over(), "the copy is not the end of the list");
        w.handle_datagram(&page(&list[3..], true), t0 + ms(210));
        assert_eq!(drain(&mut w), list, "every address once");
        assert!(matches!(w.poll_outcome(), Some(Ok(()))));
    }

    /// A page asked for three times may come three times, the copies late: none reads
    /// as the end of the list, and a copy that comes after the next page was read does
    /// not move the walk back or give an address twice.
    #[test]
    fn late_copies_of_a_page_sent_three_times() {
        let list = addrs(9);
        let t0 = Instant::now();
        let mut w = MasterWalk::new(config(), t0);
        w.poll_transmit(t0).unwrap();
        w.handle_timeout(t0 + ms(100));
        w.poll_transmit(t0 + ms(100)).unwrap();
        w.handle_timeout(t0 + ms(300));
        w.poll_transmit(t0 + ms(300)).unwrap();
        w.handle_datagram(&page(&list[..3], false), t0 + ms(310));
        // Page 2 asked; both late copies of page 1 come first.
        let second = w.poll_transmit(t0 + ms(360)).unwrap();
        w.handle_datagram(&page(&list[..3], false), t0 + ms(361));
        w.handle_datagram(&page(&list[..3], false), t0 + ms(362));
        assert!(!w.is_over(), "a copy is not the end of the list");
        assert_eq!(w.poll_transmit(t0 + ms(362)), None, "page 2 is still awaited");
        w.handle_timeout(t0 + ms(460));
        assert_eq!(w.poll_transmit(t0 + ms(460)).unwrap(), second, "asked again, same seed");
        w.handle_datagram(&page(&list[3..6], false), t0 + ms(470));
        // A copy of page 2 (it was sent twice) after page 3 was asked: ignored.
        let third = w.poll_transmit(t0 + ms(520)).unwrap();
        assert_eq!(third, [b"1\xFF".as_slice(), list[5].to_string().as_bytes(), b"\0\0"].concat(), "seeded by page 2");
        w.handle_datagram(&page(&list[3..6], false), t0 + ms(521));
        assert!(!w.is_over());
        w.handle_datagram(&page(&list[6..], true), t0 + ms(530));
        assert_eq!(drain(&mut w), list, "every address once, in order");
        assert!(matches!(w.poll_outcome(), Some(Ok(()))));
    }

    /// A resent request whose extra copy is lost (not late) leaves nothing behind: the
    /// master's last page, with its end marker, ends the walk as complete.
    #[test]
    fn a_lost_copy_does_not_hide_the_end_of_the_list() {
        let list = addrs(4);
        let t0 = Instant::now();
        let mut w = MasterWalk::new(config(), t0);
        w.poll_transmit(t0).unwrap();
        w.handle_timeout(t0 + ms(100));
        w.poll_transmit(t0 + ms(100)).unwrap();
        // One answer for the two sends; the other is lost.
        w.handle_datagram(&page(&list[..3], false), t0 + ms(110));
        w.poll_transmit(t0 + ms(160)).unwrap();
        w.handle_datagram(&page(&list[3..], true), t0 + ms(170));
        assert_eq!(drain(&mut w), list);
        assert!(matches!(w.poll_outcome(), Some(Ok(()))));
    }

    /// A page holding only servers already listed (a master listing some twice) is
    /// progress if it moves the seed: the walk goes on, each server given out once.
    #[test]
    fn a_page_of_repeats_that_moves_on_is_not_the_end() {
        let list = addrs(6);
        let t0 = Instant::now();
        let mut w = MasterWalk::new(config(), t0);
        w.poll_transmit(t0).unwrap();
        w.handle_datagram(&page(&list[..3], false), t0 + ms(5));
        w.poll_transmit(t0 + ms(50)).unwrap();
        // Repeats of 0 and 1, ending on a server not yet used as seed.
        let repeats = [list[0], list[1], list[2], list[0]];
        w.handle_datagram(&page(&repeats, false), t0 + ms(55));
        assert!(!w.is_over(), "the seed moved: not the end");
        w.poll_transmit(t0 + ms(105)).unwrap();
        w.handle_datagram(&page(&list[3..], true), t0 + ms(110));
        assert_eq!(drain(&mut w), list, "each server once");
        assert!(matches!(w.poll_outcome(), Some(Ok(()))));
    }

    /// A timeout the clock cannot add is no deadline, not one already passed.
    #[test]
    fn a_huge_timeout_does_not_end_the_walk_at_once() {
        let t0 = Instant::now();
        let mut long = config();
        long.timeout = Duration::MAX;
        let mut w = MasterWalk::new(long, t0);
        assert!(w.poll_transmit(t0).is_some());
        w.handle_timeout(t0 + ms(50));
        assert!(!w.is_over());
        w.handle_datagram(&page(&addrs(2), true), t0 + ms(60));
        assert_eq!(drain(&mut w).len(), 2);
        assert!(matches!(w.poll_outcome(), Some(Ok(()))));
    }

    #[test]
    fn junk_and_unasked_pages_are_ignored_and_the_deadline_holds() {
        let t0 = Instant::now();
        let mut short = config();
        short.timeout = ms(500);
        let mut w = MasterWalk::new(short, t0);
        // Before the request: not an answer.
        w.handle_datagram(&page(&addrs(2), true), t0);
        assert!(w.poll_address().is_none());
        w.poll_transmit(t0);
        w.handle_datagram(b"\xFF\xFF\xFF\xFFI junk", t0 + ms(1));
        assert!(!w.is_over());
        w.handle_timeout(t0 + ms(500));
        assert!(
            matches!(w.poll_outcome(), Some(Err(Error::MasterIncomplete { reason, .. })) if reason.contains("deadline"))
        );
    }

    /// Against a fake master on loopback: many pages, the filter and region as sent, a
    /// lost reply retried, and a master that goes silent mid-walk.
    #[test]
    fn a_walk_over_a_fake_master() {
        let list = addrs(1000);
        let master = FakeMaster::new(list.clone(), 231).lose(vec![3]).spawn("127.0.0.1:0").unwrap();
        let walk = MasterQuery::new(master.local_addr())
            .unwrap()
            .region(Region::Europe)
            .filter(Filter::from_iter([AppId(440), NotEmpty]))
            .pace(Duration::ZERO)
            // Long enough that only the lost page is asked again, however slow the run.
            .page_timeout(ms(2000))
            .walk()
            .unwrap();
        let got: Vec<SocketAddr> = walk.collect::<Result<_, _>>().unwrap();
        assert_eq!(got, list.iter().map(|&a| SocketAddr::V4(a)).collect::<Vec<_>>(), "every address once, in order");
        let requests = master.requests();
        // 5 pages, the lost one asked again (more, if a reply was slower than the wait).
        assert!(requests.len() >= 6, "{requests:?}");
        assert!(requests.iter().all(|r| r.region == 3 && r.filter == r"\appid\440\empty\1"));
        assert_eq!(requests[0].seed, "0.0.0.0:0");
        assert!(requests.windows(2).any(|w| w[0].seed == w[1].seed), "a page asked for again");

        let silent = FakeMaster::new(list.clone(), 100).silent_after(2).spawn("127.0.0.1:0").unwrap();
        let walk = MasterQuery::new(silent.local_addr())
            .unwrap()
            .pace(Duration::ZERO)
            // Long enough that no answered page goes unread, however slow the run.
            .page_timeout(ms(1000))
            .retries(0)
            .walk()
            .unwrap();
        let items: Vec<_> = walk.collect();
        assert_eq!(items.len(), 201, "two pages, then the error");
        assert!(items[..200].iter().all(Result::is_ok));
        let e = items[200].as_ref().unwrap_err();
        assert!(matches!(e, Error::MasterIncomplete { pages: 2, servers: 200, .. }), "{e}");
    }

    /// Bug: pages over 8 KiB were never read (the receive buffer was 8 192 bytes): a
    /// master sending 1 400 addresses a page (8 406 bytes) gave 0 of 2 000.
    #[test]
    fn pages_of_any_size_a_datagram_holds_are_read() {
        let list = addrs(2000);
        let master = FakeMaster::new(list.clone(), 1400).spawn("127.0.0.1:0").unwrap();
        let walk =
            MasterQuery::new(master.local_addr()).unwrap().pace(Duration::ZERO).page_timeout(ms(2000)).walk().unwrap();
        let got: Vec<SocketAddr> = walk.collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 2000);
        assert_eq!(got, list.iter().map(|&a| SocketAddr::V4(a)).collect::<Vec<_>>());
    }

    /// An unpaced walk runs into a master's rate limit: the pages it got stay given, then
    /// an error says how far it went, after one page wait, not the master's minute of silence.
    #[test]
    fn a_rate_limited_master_ends_the_walk_with_how_far_it_got() {
        let limit = RateLimit::new(3, Duration::from_secs(60), Duration::from_secs(60));
        let master = FakeMaster::new(addrs(100), 10).rate_limit(limit).spawn("127.0.0.1:0").unwrap();
        let walk = MasterQuery::new(master.local_addr())
            .unwrap()
            .pace(Duration::ZERO)
            // Long enough that no answered page is asked twice, however slow the run.
            .page_timeout(ms(1000))
            .retries(0)
            .walk()
            .unwrap();
        let items: Vec<_> = walk.collect();
        assert_eq!(items.len(), 31, "three pages, then the error");
        let e = items[30].as_ref().unwrap_err();
        assert!(matches!(e, Error::MasterIncomplete { pages: 3, servers: 30, .. }), "{e}");
        assert!(e.to_string().contains("30"), "says how far: {e}");
        assert_eq!(master.requests().len(), 4, "the fourth request met the silence");
    }
}

/// What a user types (`a2s list --filter`) reads back into the same filter string, with
/// groups counted; broken strings are refused with a reason.
#[test]
fn typed_filters_parse_and_render_back() {
    for text in [
        r"\appid\440\empty\1",
        r"\appid\730\white\1\empty\1",
        r"\nor\2\appid\440\map\ctf_2fort",
        r"\dedicated\1\nand\3\map\cp_dustbowl\password\1\full\1\secure\1",
        r"\nor\2\appid\1\nand\2\map\a\map\b",
        r"\nor\0\map\x",
        r"\name_match\*surf*\gametype\a,b",
        r"\map\",
        "",
    ] {
        let f: Filter = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(f.render().unwrap(), text);
    }
    let f: Filter = r"\dedicated\1\nand\2\map\a\full\1\secure\1".parse().unwrap();
    let raw = |k: &str, v: &str| Raw(k.into(), v.into());
    assert_eq!(
        f.conditions(),
        [raw("dedicated", "1"), Nand(Filter::from_iter([raw("map", "a"), raw("full", "1")])), raw("secure", "1")],
        "the group holds two, the pair after it is outside"
    );
    for (text, why) in [
        (r"appid\440", "starts with a backslash"),
        (r"\appid", "has no value"),
        (r"\appid\440\map", "has no value"),
        (r"\nor\x\map\a", "number of conditions"),
        (r"\nor\3\map\a\map\b", "more conditions than follow"),
    ] {
        let err = text.parse::<Filter>().unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)) && err.to_string().contains(why), "{text}: {err}");
    }
    let deep = r"\nor\1".repeat(40) + r"\map\a";
    assert!(deep.parse::<Filter>().unwrap_err().to_string().contains("deep"));
    let ok = r"\nor\1".repeat(16) + r"\map\a";
    assert_eq!(ok.parse::<Filter>().unwrap().render().unwrap(), ok);
}
