//! Standard error: warnings that never panic (a closed stderr is ignored), and a
//! progress bar drawn from its own thread while a batch runs, when standard error is a
//! terminal and standard output is not (on one terminal, the rows are the progress).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the bar is redrawn.
const EVERY: Duration = Duration::from_millis(100);
/// Cells of the bar.
const WIDTH: u64 = 24;

/// Whether a bar is on screen (a warning clears it first).
static DRAWING: AtomicBool = AtomicBool::new(false);
/// One writer of standard error at a time.
static STDERR: Mutex<()> = Mutex::new(());

/// Whether a bar is drawn: standard error is a terminal and standard output is not.
pub fn wanted() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal() && !io::stdout().is_terminal()
}

/// A line on standard error; a closed or failing stderr is ignored.
pub fn warn(line: &str) {
    let _guard = STDERR.lock();
    let mut err = io::stderr().lock();
    let clear = if DRAWING.load(Ordering::Relaxed) { "\r\x1b[K" } else { "" };
    let _ = writeln!(err, "{clear}{line}");
}

/// Servers done so far, by outcome.
#[derive(Default)]
pub struct Counts {
    pub answered: AtomicU64,
    /// Of those answered, those with a later part missing (`all`'s players or rules).
    pub partial: AtomicU64,
    pub timed_out: AtomicU64,
    /// Nothing listens on the port (the host said so: ICMP port unreachable).
    pub refused: AtomicU64,
    pub failed: AtomicU64,
}

/// A reading of the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub answered: u64,
    pub partial: u64,
    pub timed_out: u64,
    pub refused: u64,
    pub failed: u64,
}

impl Counts {
    pub fn get(&self) -> Tally {
        Tally {
            answered: self.answered.load(Ordering::Relaxed),
            partial: self.partial.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

impl Tally {
    /// Servers done.
    pub fn done(&self) -> u64 {
        self.answered + self.timed_out + self.refused + self.failed
    }

    /// Whether any server, or any part of one, did not answer.
    pub fn any_missing(&self) -> bool {
        self.partial + self.timed_out + self.refused + self.failed > 0
    }

    /// "3 answered (1 with a part missing), 1 timed out, 1 refused, 0 failed": refused
    /// and the missing parts only when there are some.
    pub fn describe(&self) -> String {
        let mut text = format!("{} answered", self.answered);
        if self.partial > 0 {
            text.push_str(&format!(" ({} with a part missing)", self.partial));
        }
        text.push_str(&format!(", {} timed out", self.timed_out));
        if self.refused > 0 {
            text.push_str(&format!(", {} refused", self.refused));
        }
        text.push_str(&format!(", {} failed", self.failed));
        text
    }
}

pub struct Progress {
    pub counts: Arc<Counts>,
    pub started: Instant,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing when `on`; `total` servers when known.
    pub fn start(on: bool, total: Option<u64>) -> Self {
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let thread = on.then(|| {
            DRAWING.store(true, Ordering::Relaxed);
            let (counts, stop) = (Arc::clone(&counts), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    draw(&counts, total, started);
                    std::thread::sleep(EVERY);
                }
            })
        });
        Progress { counts, started, stop, thread }
    }

    /// Stops drawing and clears the bar.
    pub fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            let _guard = STDERR.lock();
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
            DRAWING.store(false, Ordering::Relaxed);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn draw(counts: &Counts, total: Option<u64>, started: Instant) {
    let tally = counts.get();
    let done = tally.done();
    let head = match total {
        Some(total) if total > 0 => {
            let filled = (done.min(total) * WIDTH / total) as usize;
            let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH as usize - filled));
            format!("[{bar}] {done}/{total}")
        }
        _ => format!("{done} done"),
    };
    let secs = started.elapsed().as_secs_f64();
    let _guard = STDERR.lock();
    let _ = write!(io::stderr().lock(), "\r\x1b[K{head}: {}, {secs:.1} s", tally.describe());
}
