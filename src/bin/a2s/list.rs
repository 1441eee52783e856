//! The servers of a batch run: the addresses given as arguments, then the lines of a
//! list (a file or standard input), each listed address once. A line that is not an
//! address, or a name that does not resolve, is kept for its own output line.

use std::collections::HashSet;
use std::io::{self, BufRead, Read};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use a2s_query::Error;

use crate::progress::warn;

/// What the input met besides addresses, read by the run as it goes.
#[derive(Default)]
pub struct Pending {
    /// Listed entries that are not addresses: the text as given and why (at most
    /// [`MAX_PENDING_BAD`] waiting for their output line).
    pub bad: Vec<(String, Error)>,
    /// Entries that were not addresses past those kept, while no result came to print
    /// them with: each was warned of as it was read.
    pub more_bad: u64,
    /// Addresses listed again (asked once).
    pub repeated: u64,
    /// The list could not be read to its end.
    pub read_error: Option<io::Error>,
}

/// Entries that are not addresses kept for their output lines at once, at most: a list
/// of nothing else (a never-ending one, say) holds no more than this.
const MAX_PENDING_BAD: usize = 4096;

impl Pending {
    /// Keeps an entry that is not an address for its output line, or counts it past
    /// [`MAX_PENDING_BAD`].
    pub fn note_bad(&mut self, text: String, error: Error) {
        if self.bad.len() < MAX_PENDING_BAD {
            self.bad.push((text, error));
        } else {
            self.more_bad += 1;
        }
    }
}

/// Shared with the thread that reads the input (a [`a2s_query::Feed`]).
pub type Shared = Arc<Mutex<Pending>>;

/// Changes what is shared (a poisoned lock is still used: it holds plain counts).
pub fn update<T>(shared: &Shared, f: impl FnOnce(&mut Pending) -> T) -> T {
    f(&mut shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// The longest line read whole: an address (a host name of 253 bytes and a port) with
/// room for a comment. A longer line is an error, and costs no more memory than this.
const MAX_LINE: usize = 4096;

/// A list to read: its label for messages, and its lines.
pub type List = (String, Box<dyn BufRead + Send>);

/// The addresses of `args`, then of the list's lines, lazily; each address once.
pub fn input(args: Vec<String>, list: Option<List>, shared: &Shared) -> impl Iterator<Item = SocketAddr> + Send {
    let from_args = {
        let shared = Arc::clone(shared);
        a2s_query::addresses(args, move |b| {
            warn(&format!("a2s: {}: {}", b.text, b.error));
            update(&shared, |p| p.note_bad(b.text, b.error));
        })
    };
    let from_list: Box<dyn Iterator<Item = SocketAddr> + Send> = match list {
        None => Box::new(std::iter::empty()),
        Some((label, reader)) => {
            let lines = LossyLines { reader, shared: Arc::clone(shared), label: Some(label.clone()), number: 0 };
            let shared = Arc::clone(shared);
            Box::new(a2s_query::addresses(lines, move |b| {
                warn(&format!("a2s: {label}:{}: {}: {}", b.line, b.text, b.error));
                update(&shared, |p| p.note_bad(b.text, b.error));
            }))
        }
    };
    let mut seen = HashSet::new();
    let shared = Arc::clone(shared);
    from_args.chain(from_list).filter(move |addr| {
        if seen.insert(*addr) {
            return true;
        }
        warn(&format!("a2s: {addr} is listed again: asked once"));
        update(&shared, |p| p.repeated += 1);
        false
    })
}

/// The lines of a list, bytes that are not UTF-8 replaced (a comment in Latin-1 must
/// not end the list); a read error ends it and is kept for the exit status. A line
/// longer than [`MAX_LINE`] is reported by its number and given as a blank line.
struct LossyLines {
    reader: Box<dyn BufRead + Send>,
    shared: Shared,
    /// The list's name for its warnings; none for a quiet read (counting).
    label: Option<String>,
    number: usize,
}

impl LossyLines {
    /// Reads past the rest of a line too long to keep; whether it ended the input.
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    self.reader.consume(at + 1);
                    return Ok(());
                }
                None => {
                    let n = buf.len();
                    self.reader.consume(n);
                }
            }
        }
    }
}

impl Iterator for LossyLines {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut line = Vec::new();
        // (Room for the line and its CR LF: a longer read is a longer line.)
        let read = (&mut self.reader).take(MAX_LINE as u64 + 2).read_until(b'\n', &mut line);
        let text = |line: &[u8]| String::from_utf8_lossy(line).trim_end_matches(['\n', '\r']).to_string();
        let result = match read {
            Ok(0) => return None,
            Ok(_) if line.last() != Some(&b'\n') && line.len() > MAX_LINE => self.skip_line().map(|()| None),
            Ok(_) if text(&line).len() > MAX_LINE => Ok(None),
            Ok(_) => Ok(Some(text(&line))),
            Err(e) => Err(e),
        };
        self.number += 1;
        match result {
            Ok(Some(text)) => Some(text),
            Ok(None) => {
                let why = "a line longer than any address: not one";
                if let Some(label) = &self.label {
                    warn(&format!("a2s: {label}:{}: {why} (over {MAX_LINE} bytes)", self.number));
                }
                let text = format!("line {} (over {MAX_LINE} bytes)", self.number);
                update(&self.shared, |p| p.note_bad(text, Error::InvalidInput(why)));
                // (Blank, so the lines after keep their numbers.)
                Some(String::new())
            }
            Err(e) => {
                update(&self.shared, |p| p.read_error = Some(e));
                None
            }
        }
    }
}

/// How many entries a list file holds (lines that are neither blank nor comments), for
/// the progress bar; `None` when it cannot be read ahead: standard input, and anything
/// but a regular file (a pipe, `/dev/stdin`, `<(a2s list ...)`), which a second read
/// would use up: the bar then runs without a total.
pub fn count(path: &str) -> Option<u64> {
    // (A descriptor's name, /dev/stdin or /dev/fd/N, may share its read position with
    // the run's own read on some systems, even when it names a regular file.)
    let shared_position = path.starts_with("/dev/") || path.starts_with("/proc/");
    if path == "-" || shared_position || !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let reader = io::BufReader::new(std::fs::File::open(path).ok()?);
    let lines = LossyLines { reader: Box::new(reader), shared: Shared::default(), label: None, number: 0 };
    Some(lines.filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#')).count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bug: with the bar on, a FIFO was read once to count its lines, which used it up:
    /// nothing was queried. A pipe has no total; a file has.
    #[test]
    fn only_a_regular_file_is_read_ahead_for_a_total() {
        let dir = std::env::temp_dir().join(format!("a2s-count-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("list.txt");
        std::fs::write(&file, "# two\n127.0.0.1:1\n\n127.0.0.1:2\n").unwrap();
        assert_eq!(count(file.to_str().unwrap()), Some(2));
        let fifo = dir.join("list.fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // (Opening a FIFO with no writer would block: it must not be opened.)
            assert_eq!(count(fifo.to_str().unwrap()), None);
        }
        assert_eq!(count("-"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A line of exactly `MAX_LINE` bytes is read, with LF or CR LF, and one byte more
    /// is not; a last line without a newline too.
    #[test]
    fn the_line_cap_counts_the_line_not_its_end() {
        let read = |text: Vec<u8>| {
            let shared = Shared::default();
            let reader = Box::new(io::BufReader::new(io::Cursor::new(text)));
            let lines = LossyLines { reader, shared: Arc::clone(&shared), label: None, number: 0 };
            let got: Vec<usize> = lines.map(|l| l.len()).collect();
            (got, update(&shared, |p| p.bad.len()))
        };
        let line = |n: usize, end: &[u8]| [vec![b'a'; n], end.to_vec()].concat();
        assert_eq!(read(line(MAX_LINE, b"\n")), (vec![MAX_LINE], 0));
        assert_eq!(read(line(MAX_LINE, b"\r\n")), (vec![MAX_LINE], 0));
        assert_eq!(read(line(MAX_LINE, b"")), (vec![MAX_LINE], 0));
        assert_eq!(read(line(MAX_LINE + 1, b"\r\n")), (vec![0], 1));
        assert_eq!(read(line(MAX_LINE + 1, b"")), (vec![0], 1));
    }

    /// A 10 MB line is an error naming its line, costs at most `MAX_LINE` bytes, and the
    /// lines after it keep their numbers.
    #[test]
    fn a_huge_line_is_an_error_named_by_its_number() {
        let mut text = b"127.0.0.1:1\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 10 << 20));
        text.extend_from_slice(b"\n127.0.0.1:3\n");
        let shared = Shared::default();
        let lines = LossyLines {
            reader: Box::new(io::BufReader::new(io::Cursor::new(text))),
            shared: Arc::clone(&shared),
            label: Some("list".into()),
            number: 0,
        };
        let got: Vec<String> = lines.collect();
        assert_eq!(got, ["127.0.0.1:1", "", "127.0.0.1:3"]);
        let bad = update(&shared, |p| std::mem::take(&mut p.bad));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, format!("line 2 (over {MAX_LINE} bytes)"));
    }
}
