//! The server-list filter and the UDP master protocol's bytes: every filter key
//! rendered exactly, the spec's examples, `nor`/`nand` counts, and pages read and
//! written, end marker and cut-offs included.

use std::net::SocketAddrV4;

use a2s_query::proto::{encode_master_request, Filter, MasterPage, Region, LIST_END};
use a2s_query::Error;

#[test]
fn every_key_renders_as_the_filter_syntax_writes_it() {
    let cases: Vec<(Filter, &str)> = vec![
        (Filter::new().dedicated(), r"\dedicated\1"),
        (Filter::new().secure(), r"\secure\1"),
        (Filter::new().gamedir("cstrike"), r"\gamedir\cstrike"),
        (Filter::new().map("de_dust2"), r"\map\de_dust2"),
        (Filter::new().linux(), r"\linux\1"),
        (Filter::new().password(false), r"\password\0"),
        (Filter::new().password(true), r"\password\1"),
        (Filter::new().not_empty(), r"\empty\1"),
        (Filter::new().not_full(), r"\full\1"),
        (Filter::new().proxy(), r"\proxy\1"),
        (Filter::new().app_id(730), r"\appid\730"),
        (Filter::new().not_app_id(500), r"\napp\500"),
        (Filter::new().no_players(), r"\noplayers\1"),
        (Filter::new().white(), r"\white\1"),
        (Filter::new().gametype(["payload", "alltalk"]), r"\gametype\payload,alltalk"),
        (Filter::new().gamedata(["coop"]), r"\gamedata\coop"),
        (Filter::new().gamedataor(["a", "b"]), r"\gamedataor\a,b"),
        (Filter::new().name_match("*surf*"), r"\name_match\*surf*"),
        (Filter::new().version_match("1.0.*"), r"\version_match\1.0.*"),
        (Filter::new().collapse_addr_hash(), r"\collapse_addr_hash\1"),
        (Filter::new().gameaddr("203.0.113.7:27015"), r"\gameaddr\203.0.113.7:27015"),
        (Filter::new().raw("region", "3"), r"\region\3"),
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
    let f = Filter::new().app_id(730).white().not_empty();
    assert_eq!(f.render().unwrap(), r"\appid\730\white\1\empty\1");
    let f = Filter::new().nor(Filter::new().app_id(440).map("ctf_2fort"));
    assert_eq!(f.render().unwrap(), r"\nor\2\appid\440\map\ctf_2fort");
    let f = Filter::new().dedicated().nand(Filter::new().map("cp_dustbowl").password(true).not_full());
    assert_eq!(f.render().unwrap(), r"\dedicated\1\nand\3\map\cp_dustbowl\password\1\full\1");
    assert_eq!(f.len(), 2, "a group counts as one condition of its parent");
    // A group inside a group counts as one of its conditions.
    let f = Filter::new().nor(Filter::new().app_id(1).nand(Filter::new().map("a").map("b")));
    assert_eq!(f.render().unwrap(), r"\nor\2\appid\1\nand\2\map\a\map\b");
}

#[test]
fn values_that_would_break_the_syntax_are_refused() {
    for f in [
        Filter::new().map(r"de\dust"),
        Filter::new().name_match("a\0b"),
        Filter::new().raw(r"a\b", "c"),
        Filter::new().nor(Filter::new().gamedir(r"x\y")),
    ] {
        assert!(matches!(f.render(), Err(Error::Unencodable(_))), "{f:?}");
    }
}

#[test]
fn a_request_carries_region_seed_and_filter() {
    let seed: SocketAddrV4 = "203.0.113.7:27015".parse().unwrap();
    let r = encode_master_request(Region::World, seed, &Filter::new().app_id(440).not_empty()).unwrap();
    assert_eq!(r, b"1\xFF203.0.113.7:27015\0\\appid\\440\\empty\\1\0");
    let first = encode_master_request(Region::UsEast, LIST_END, &Filter::new()).unwrap();
    assert_eq!(first, b"1\x000.0.0.0:0\0\0", "an empty filter is a single NUL");
    let regions = [
        (Region::UsWest, 1),
        (Region::SouthAmerica, 2),
        (Region::Europe, 3),
        (Region::Asia, 4),
        (Region::Australia, 5),
        (Region::MiddleEast, 6),
        (Region::Africa, 7),
        (Region::Other(9), 9),
    ];
    for (region, byte) in regions {
        assert_eq!(region.to_byte(), byte);
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
