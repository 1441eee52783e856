//! `a2s watch` and `a2s exporter`, the real binary, against servers of our own on
//! loopback that go down, come back and change map: the JSON lines and the readable
//! lines `watch` prints, the metrics `exporter` serves, and how each ends (Ctrl-C, a
//! closed pipe). (The exporter's values are read by an independent parser in
//! `tests/exporter/`.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use a2s_query::server::{RateLimit, Responder, Running};
use a2s_query::{Info, SourceInfo};
use serde_json::Value;

/// Far past anything these tests wait for on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

fn server(map: &str) -> Running {
    let mut info = SourceInfo::default();
    info.server_name = "watched".into();
    info.map_name = map.into();
    Responder::new(Info::Source(info), vec![], vec![]).spawn("127.0.0.1:0").unwrap()
}

fn set_map(server: &Running, map: &str) {
    server.update(|r| {
        if let Info::Source(info) = &mut r.info {
            info.map_name = map.into();
        }
    });
}

/// Silent (a flood filter that answers nothing), or answering again.
fn set_silent(server: &Running, silent: bool) {
    let limit = silent.then(|| RateLimit::new(0, Duration::from_secs(3600), Duration::from_secs(3600)));
    server.update(|r| r.rate_limit = limit);
}

/// `a2s watch` running, its lines read as they come.
struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watching {
    fn start(args: &[&str]) -> Watching {
        Watching::start_command("watch", args)
    }

    fn start_command(command: &str, args: &[&str]) -> Watching {
        Watching::start_reading(command, args, usize::MAX)
    }

    /// Started, its first `lines` lines read, then its output closed (the reader
    /// gone, as `| head` goes).
    fn start_reading(command: &str, args: &[&str], first: usize) -> Watching {
        let mut child = Command::new(env!("CARGO_BIN_EXE_a2s"))
            .arg(command)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().take(first) {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watching { child, lines }
    }

    /// The next line, within [`PATIENCE`].
    fn line(&self) -> String {
        self.lines.recv_timeout(PATIENCE).expect("a line within the patience")
    }

    /// The next JSON event `kind` of `address` (others skipped: other servers', and a
    /// loaded machine's late reply making a server flap).
    fn event_of(&self, address: &str, kind: &str) -> Value {
        loop {
            let event: Value = serde_json::from_str(&self.line()).unwrap();
            if event["address"] == address && event["event"] == kind {
                return event;
            }
        }
    }

    /// Ctrl-C (SIGINT), then the exit status and what it wrote on stderr.
    #[cfg(unix)]
    fn interrupt(mut self) -> (Option<i32>, String) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGINT).unwrap();
        self.finish()
    }

    /// Waits for the end: the exit status and what it wrote on stderr.
    fn finish(&mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "a2s watch did not end");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (status.code(), err)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[cfg(unix)]
fn json_events_of_servers_going_down_coming_back_and_changing_map() {
    let (steady, changing, flaky) = (server("de_dust2"), server("de_dust2"), server("cs_office"));
    let [steady_addr, changing_addr, flaky_addr] = [&steady, &changing, &flaky].map(|s| s.local_addr().to_string());
    let list = std::env::temp_dir().join(format!("a2s-watch-{}.txt", std::process::id()));
    std::fs::write(&list, format!("# watched\n{steady_addr}\n{changing_addr}\n\n{flaky_addr}\n")).unwrap();
    let watching = Watching::start(&[
        "-f",
        list.to_str().unwrap(),
        "--every",
        "0.1",
        "--timeout",
        "2",
        "--down-after",
        "2",
        "--json",
    ]);

    // Each comes up first, with its info (in the order the host's pacing let them).
    let mut up: Vec<String> = (0..3)
        .map(|_| {
            let up: Value = serde_json::from_str(&watching.line()).unwrap();
            assert_eq!((&up["event"], &up["info"]["server_name"]), (&"up".into(), &"watched".into()), "{up}");
            let time = up["time"].as_str().unwrap();
            assert!(time.len() == 24 && time.ends_with('Z'), "{time}");
            up["address"].as_str().unwrap().to_string()
        })
        .collect();
    up.sort();
    let mut watched = vec![steady_addr.clone(), changing_addr.clone(), flaky_addr.clone()];
    watched.sort();
    assert_eq!(up, watched);

    set_map(&changing, "de_inferno");
    let changed = watching.event_of(&changing_addr, "map_changed");
    assert_eq!(
        (&changed["event"], &changed["from"], &changed["to"]),
        (&"map_changed".into(), &"de_dust2".into(), &"de_inferno".into()),
        "{changed}"
    );

    set_silent(&flaky, true);
    let down = watching.event_of(&flaky_addr, "down");
    assert_eq!((&down["event"], &down["reason"]), (&"down".into(), &"timeout".into()), "{down}");
    assert!(down["error"].as_str().unwrap().starts_with("no reply within 2s"), "{down}");
    set_silent(&flaky, false);
    let back = watching.event_of(&flaky_addr, "up");
    assert_eq!((&back["event"], &back["info"]["map_name"]), (&"up".into(), &"cs_office".into()), "{back}");

    let (status, err) = watching.interrupt();
    std::fs::remove_file(&list).unwrap();
    assert_eq!(status, Some(0), "{err}");
    assert!(err.contains("watching 3 servers every 0.1 s"), "{err}");
    assert!(err.contains("stopped after"), "{err}");
}

#[test]
fn readable_lines_and_a_closed_pipe_ends_it_quietly() {
    let running = server("de_dust2");
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let addr = running.local_addr().to_string();
    let args = [addr.as_str(), &closed_addr, "--every", "0.1", "--timeout", "2", "--down-after", "1"];
    let mut watching = Watching::start_reading("watch", &args, 2);
    let mut lines = [watching.line(), watching.line()];
    lines.sort_by_key(|l| !l.contains(&format!(" {addr} ")));
    let [up, down] = lines;
    assert!(up.ends_with(&format!(" {addr} up: watched on de_dust2, 0/0 players")), "{up}");
    // Refused where the OS tells which server a "port unreachable" concerns (Linux).
    let refused = format!(" {closed_addr} down: refused: nothing listens on that UDP port");
    let timed_out = format!(" {closed_addr} down (timeout): no reply within 2s");
    assert!(down.contains(&refused) || down.contains(&timed_out), "{down}");

    // Its reader gone after two lines: on Linux the watch sees the closed pipe with
    // nothing more to print; elsewhere at its next line, so changes are made.
    let deadline = Instant::now() + PATIENCE;
    for n in 0.. {
        if watching.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "a2s watch did not end at a closed pipe");
        if cfg!(not(target_os = "linux")) {
            set_map(&running, &format!("map_{n}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, err) = watching.finish();
    assert_eq!(status, Some(0), "{err}");
    assert!(!err.contains("cannot write"), "{err}");
}

/// `a2s exporter` serves the listed servers' metrics and a probe, and stops on Ctrl-C.
#[test]
#[cfg(all(unix, feature = "exporter"))]
fn exporter_serves_metrics_and_a_probe_until_ctrl_c() {
    let running = server("de_dust2");
    let addr = running.local_addr().to_string();
    let exporting = Watching::start_command("exporter", &[&addr, "--listen", "127.0.0.1:0", "--every", "0.1"]);
    let first = exporting.line();
    let http = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("{first}"));
    let get = |path: &str| {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(&format!("http://{http}{path}")).call().unwrap();
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
    };
    let up = format!("a2s_up{{address=\"{addr}\"}} 1\n");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = get("/metrics");
        assert_eq!(status, 200, "{body}");
        if body.contains(&up) {
            assert!(body.contains("a2s_servers 1\n"), "{body}");
            assert!(
                body.contains(&format!("a2s_info{{address=\"{addr}\",name=\"watched\",map=\"de_dust2\"")),
                "{body}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never up:\n{body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = get(&format!("/probe?target={addr}"));
    assert_eq!(status, 200, "{body}");
    let success = format!("a2s_probe_success{{address=\"{addr}\"}} 1\n");
    assert!(body.contains(&success) && body.contains(&up), "{body}");
    let (status, err) = exporting.interrupt();
    assert_eq!(status, Some(0), "{err}");
    assert!(err.contains("stopped"), "{err}");
}
