//! The monitor's wiring over real sockets: its events come from servers on loopback.
//! (What the states and events mean is scripted on the core, in `watchlist.rs`; here
//! only the driver's part: datagrams moved, the clock read, the events handed out.)

use std::time::{Duration, Instant};

use a2s_query::server::Responder;
use a2s_query::{Change, Info, Monitor, Reason, SourceInfo, State};

/// Far past anything these tests wait for on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// The next event whose change `wanted` accepts, others skipped (a loaded machine's
/// late reply may make a server flap).
fn next_where(monitor: &mut Monitor, deadline: Instant, wanted: impl Fn(&Change) -> bool) -> a2s_query::Event {
    loop {
        let event = monitor.next_event_before(deadline).expect("the event within the patience");
        if wanted(&event.change) {
            return event;
        }
    }
}

fn server(map: &str) -> a2s_query::server::Running {
    let mut info = SourceInfo::default();
    info.map_name = map.into();
    Responder::new(Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0").unwrap()
}

#[test]
fn events_follow_a_server_up_changing_map_and_gone() {
    let running = server("de_dust2");
    let addr = running.local_addr();
    let mut monitor = Monitor::builder()
        .every(Duration::from_millis(100))
        .timeout(Duration::from_secs(3))
        .down_after(1)
        .build()
        .unwrap();
    assert_eq!(monitor.add(addr).unwrap(), addr);
    assert_eq!(monitor.len(), 1);

    let deadline = Instant::now() + PATIENCE;
    let up = monitor.next_event_before(deadline).expect("up");
    assert_eq!(up.addr, addr);
    match &up.change {
        Change::Up { info } => assert_eq!(info.map_name(), "de_dust2"),
        other => panic!("{other:?}"),
    }
    assert_eq!(monitor.status(addr).unwrap().state, State::Up);

    running.update(|r| {
        if let Info::Source(info) = &mut r.info {
            info.map_name = "cs_office".into();
        }
    });
    let changed = next_where(&mut monitor, deadline, |c| matches!(c, Change::MapChanged { .. }));
    match &changed.change {
        Change::MapChanged { from, to } => assert_eq!((from.as_str(), to.as_str()), ("de_dust2", "cs_office")),
        other => panic!("{other:?}"),
    }

    running.stop();
    let down = next_where(&mut monitor, deadline, |c| matches!(c, Change::Down { .. }));
    match &down.change {
        // Refused where the OS tells which server a "port unreachable" concerns (Linux);
        // elsewhere a timeout.
        Change::Down { reason, .. } => assert!(matches!(reason, Reason::Refused | Reason::Timeout), "{reason}"),
        other => panic!("{other:?}"),
    }
    let status = monitor.status(addr).unwrap();
    assert_eq!(status.state, State::Down);
    assert_eq!(status.info.as_ref().unwrap().map_name(), "cs_office", "the last good answer is kept");
}

#[test]
fn next_event_before_returns_at_its_deadline_and_no_server_ends_the_events() {
    let running = server("de_dust2");
    let mut monitor = Monitor::builder().every(Duration::from_secs(3600)).build().unwrap();
    assert!(monitor.next_event().is_none(), "nothing watched: no event to wait for");
    let addr = monitor.add(running.local_addr()).unwrap();
    let up = monitor.next_event_before(Instant::now() + PATIENCE).expect("up");
    assert!(matches!(up.change, Change::Up { .. }));
    // Nothing changes within the hour's interval: the call returns at its deadline.
    let deadline = Instant::now() + Duration::from_millis(50);
    assert!(monitor.next_event_before(deadline).is_none());
    assert!(Instant::now() >= deadline);
    assert_eq!(monitor.remove(addr).unwrap().polls, 1);
    assert_eq!(monitor.events().count(), 0);
}
