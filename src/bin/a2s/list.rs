//! The servers of a batch run: the addresses given as arguments, then the lines of a
//! list (a file or standard input), each listed address once. A line that is not an
//! address, or a name that does not resolve, is kept for its own output line.

use std::collections::HashSet;
use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use a2s_query::Error;

use crate::progress::warn;

/// What the input met besides addresses, read by the run as it goes.
#[derive(Default)]
pub struct Pending {
    /// Listed entries that are not addresses: the text as given and why.
    pub bad: Vec<(String, Error)>,
    /// Addresses listed again (asked once).
    pub repeated: u64,
    /// The list could not be read to its end.
    pub read_error: Option<io::Error>,
}

/// Shared with the thread that reads the input (a [`a2s_query::Feed`]).
pub type Shared = Arc<Mutex<Pending>>;

/// Changes what is shared (a poisoned lock is still used: it holds plain counts).
pub fn update<T>(shared: &Shared, f: impl FnOnce(&mut Pending) -> T) -> T {
    f(&mut shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// A list to read: its label for messages, and its lines.
pub type List = (String, Box<dyn BufRead + Send>);

/// The addresses of `args`, then of the list's lines, lazily; each address once.
pub fn input(args: Vec<String>, list: Option<List>, shared: &Shared) -> impl Iterator<Item = SocketAddr> + Send {
    let from_args = {
        let shared = Arc::clone(shared);
        a2s_query::addresses(args, move |b| {
            warn(&format!("a2s: {}: {}", b.text, b.error));
            update(&shared, |p| p.bad.push((b.text, b.error)));
        })
    };
    let from_list: Box<dyn Iterator<Item = SocketAddr> + Send> = match list {
        None => Box::new(std::iter::empty()),
        Some((label, reader)) => {
            let lines = LossyLines { reader, shared: Arc::clone(shared) };
            let shared = Arc::clone(shared);
            Box::new(a2s_query::addresses(lines, move |b| {
                warn(&format!("a2s: {label}:{}: {}: {}", b.line, b.text, b.error));
                update(&shared, |p| p.bad.push((b.text, b.error)));
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
/// not end the list); a read error ends it and is kept for the exit status.
struct LossyLines {
    reader: Box<dyn BufRead + Send>,
    shared: Shared,
}

impl Iterator for LossyLines {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) => Some(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_string()),
            Err(e) => {
                update(&self.shared, |p| p.read_error = Some(e));
                None
            }
        }
    }
}

/// How many entries a list file holds (lines that are neither blank nor comments), for
/// the progress bar; `None` when it cannot be read ahead (standard input).
pub fn count(path: &str) -> Option<u64> {
    if path == "-" {
        return None;
    }
    let reader = io::BufReader::new(std::fs::File::open(path).ok()?);
    let lines = LossyLines { reader: Box::new(reader), shared: Shared::default() };
    Some(lines.filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#')).count() as u64)
}
