//! What a python-a2s user types works here: the field names, printing the enums,
//! `rules["name"]`, and an error that reads well from `main`.

use std::net::UdpSocket;
use std::time::Duration;

use a2s_query::proto::{Kind, Region};
use a2s_query::server::Responder;
use a2s_query::{Encoding, Info, IpVersion, Platform, Player, ServerType, SourceInfo};

const TIMEOUT: Duration = Duration::from_secs(3);

fn server() -> a2s_query::server::Running {
    let mut info = SourceInfo::default();
    info.server_name = "Habits".into();
    info.map_name = "de_inferno".into();
    info.folder = "cstrike".into();
    info.game = "Counter-Strike: Source".into();
    info.app_id = 240;
    info.player_count = 2;
    info.max_players = 24;
    info.bot_count = 1;
    info.server_type = ServerType::Dedicated;
    info.platform = Platform::Windows;
    info.password_protected = true;
    info.vac_enabled = true;
    info.version = "1.0.0.70".into();
    info.keywords = Some("alltalk,increased_maxplayers".into());
    info.port = Some(27015);
    info.steam_id = Some(90_000_000_000_000_001);
    info.game_id = Some(240);
    let players = vec![Player::new("alice".to_string(), 12, 30.0), Player::new("bob".to_string(), 3, 5.5)];
    let rules = vec![("sv_tags".to_string(), "alltalk".to_string()), ("mp_timelimit".to_string(), "30".to_string())];
    Responder::new(Info::Source(info), players, rules).spawn("127.0.0.1:0").unwrap()
}

/// `info.server_name`, `info.map_name`, ... as python-a2s names them, each once.
#[test]
fn info_fields_carry_python_a2s_names() {
    let server = server();
    let info = a2s_query::info(server.local_addr(), TIMEOUT, Encoding::Utf8).unwrap();
    assert_eq!(info.server_name(), "Habits");
    assert_eq!(info.map_name(), "de_inferno");
    assert_eq!(info.folder(), "cstrike");
    assert_eq!(info.game(), "Counter-Strike: Source");
    assert_eq!(info.app_id(), Some(240));
    assert_eq!((info.player_count(), info.max_players(), info.bot_count()), (2, 24, 1));
    assert_eq!(info.server_type(), ServerType::Dedicated);
    assert_eq!(info.platform(), Platform::Windows);
    assert!(info.password_protected() && info.vac_enabled());
    assert_eq!(info.version(), Some("1.0.0.70"));
    assert_eq!(info.keywords(), Some("alltalk,increased_maxplayers"));
    assert_eq!(info.port(), Some(27015));
    assert_eq!(info.steam_id(), Some(90_000_000_000_000_001));
    assert_eq!(info.game_id(), Some(240));
    assert!(info.ping() > Duration::ZERO && info.ping() < TIMEOUT);
    // python-a2s prints these as they are; here they print as words.
    assert_eq!(format!("{} on {}", info.server_type(), info.platform()), "dedicated on Windows");
}

/// Every enum a user prints has a `Display`; those that are parsed read it back.
#[test]
fn enums_print_as_words() {
    let types = [ServerType::Dedicated, ServerType::NonDedicated, ServerType::SourceTv, ServerType::Other(b'x')];
    assert_eq!(types.map(|t| t.to_string()), ["dedicated", "listen", "SourceTV relay", "type x"]);
    let platforms = [Platform::Linux, Platform::Windows, Platform::Mac, Platform::Other(b'?')];
    assert_eq!(platforms.map(|p| p.to_string()), ["Linux", "Windows", "macOS", "OS ?"]);
    for region in [Region::UsEast, Region::Europe, Region::MiddleEast, Region::World, Region::Other(9)] {
        assert_eq!(region.to_string().parse::<Region>().unwrap(), region, "{region}");
    }
    for encoding in [Encoding::Utf8, Encoding::Utf8Strict, Encoding::Latin1] {
        assert_eq!(encoding.to_string().parse::<Encoding>().unwrap(), encoding, "{encoding}");
    }
    let kinds = [Kind::Info, Kind::Players, Kind::Rules, Kind::ArmaRules, Kind::All];
    assert_eq!(kinds.map(|k| k.to_string()), ["info", "players", "rules", "arma rules", "all"]);
    assert_eq!([IpVersion::V4, IpVersion::V6].map(|v| v.to_string()), ["IPv4", "IPv6"]);
}

/// `rules["sv_tags"]` as python-a2s's dict; a missing rule panics with a message that
/// points at `get`.
#[test]
fn rules_index_by_name() {
    let server = server();
    let rules = a2s_query::rules(server.local_addr(), TIMEOUT, Encoding::Utf8).unwrap();
    assert_eq!(&rules["sv_tags"], "alltalk");
    assert_eq!(&rules["mp_timelimit"], "30");
    assert_eq!(rules.get("sv_cheats"), None);
    let missing = std::panic::catch_unwind(|| rules["sv_cheats"].to_string()).unwrap_err();
    let message = missing.downcast_ref::<String>().unwrap();
    assert!(message.contains("\"sv_cheats\"") && message.contains("Rules::get"), "{message}");
}

/// `fn main() -> Result<(), a2s_query::Error>` prints the error's `Debug`: it leads with
/// the sentence that says what to do.
#[test]
fn an_error_from_main_reads_as_a_sentence() {
    // Something on the port that answers the one request (no retries) with HTTP.
    let http = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = http.local_addr().unwrap();
    let answering = std::thread::spawn(move || {
        let mut buf = [0; 1500];
        http.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (_, from) = http.recv_from(&mut buf).unwrap();
        http.send_to(b"HTTP/1.1 400 Bad Request\r\n\r\n", from).unwrap();
    });
    let e = a2s_query::info(addr, Duration::from_secs(2), Encoding::Utf8).unwrap_err();
    let printed = format!("Error: {e:?}");
    assert!(printed.starts_with(&format!("Error: {e}")), "{printed}");
    assert!(printed.contains("\"HTTP\"") && printed.contains("is this the query port?"), "{printed}");
    assert!(printed.ends_with("(a2s_query::Error::Timeout)"), "{printed}");
    answering.join().unwrap();
}
