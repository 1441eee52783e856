//! Where a [`Batch`](crate::Batch) run takes its addresses from: any iterator, read when
//! the window has room, or a [`Feed`], whose iterator runs on its own thread so that a
//! slow source (a paced master walk, a pipe from another command, host names to
//! resolve) never stops the run from reading replies.

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread::JoinHandle;

/// What an [`Input`] has now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// An address to query.
    Ready(SocketAddr),
    /// Nothing yet; more may come: ask again soon.
    Later,
    /// No more addresses.
    End,
}

/// The addresses of a batch run: every iterator of `SocketAddr` (its `next` called
/// when the run has room, so a blocking `next` stalls the run while it blocks), and a
/// [`Feed`] (never blocks: a slow source belongs in one). Not nameable outside the
/// crate: [`IntoInput`] says what a batch takes.
pub trait Input {
    /// The next address, if one is at hand.
    fn next_input(&mut self) -> Next;
}

impl<I: Iterator<Item = SocketAddr>> Input for I {
    fn next_input(&mut self) -> Next {
        self.next().map_or(Next::End, Next::Ready)
    }
}

/// What [`Batch`](crate::Batch)'s methods take: an iterable of addresses, or a [`Feed`].
pub trait IntoInput {
    /// The input it becomes.
    type Input: Input;
    /// Makes the input.
    fn into_input(self) -> Self::Input;
}

impl<I: IntoIterator<Item = SocketAddr>> IntoInput for I {
    type Input = I::IntoIter;
    fn into_input(self) -> I::IntoIter {
        self.into_iter()
    }
}

impl IntoInput for Feed {
    type Input = Feed;
    fn into_input(self) -> Feed {
        self
    }
}

/// Addresses read on a thread of their own and handed to a batch as they come, so that
/// a source that blocks (a master server's paced pages, standard input fed by another
/// command, names being resolved) does not hold up the replies of the servers already
/// asked: the run keeps reading its socket and only looks for new addresses every few
/// milliseconds while the feed is empty.
///
/// ```no_run
/// use a2s_query::{master::MasterQuery, Batch, Feed};
/// // The walk waits 2 s between pages; the batch answers servers meanwhile.
/// let walk = MasterQuery::new("master.example.net:27010")?.walk()?;
/// let mut batch = Batch::builder().build()?;
/// for (addr, info) in batch.info(Feed::spawn(walk.filter_map(Result::ok))) {
///     println!("{addr}: {:?}", info.map(|i| i.player_count()));
/// }
/// # Ok::<(), a2s_query::Error>(())
/// ```
///
/// The thread reads at most a few thousand addresses ahead of the run. Dropping the
/// feed lets it end at its next address: a source blocked meanwhile (a walk waiting
/// for a page, standard input waiting for a line) keeps its thread until it yields or
/// ends.
#[derive(Debug)]
pub struct Feed {
    rx: Receiver<SocketAddr>,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    /// Runs `addrs` on a new thread.
    pub fn spawn<I>(addrs: I) -> Feed
    where
        I: IntoIterator<Item = SocketAddr>,
        I::IntoIter: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(crate::batch::FEED_AHEAD);
        let addrs = addrs.into_iter();
        let thread = std::thread::spawn(move || {
            for addr in addrs {
                if tx.send(addr).is_err() {
                    return;
                }
            }
        });
        Feed { rx, thread: Some(thread) }
    }
}

impl Input for Feed {
    fn next_input(&mut self) -> Next {
        match self.rx.try_recv() {
            Ok(addr) => Next::Ready(addr),
            Err(TryRecvError::Empty) => Next::Later,
            Err(TryRecvError::Disconnected) => {
                // Ended: a panic in the source is the caller's, not lost.
                if let Some(thread) = self.thread.take() {
                    if let Err(panic) = thread.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
                Next::End
            }
        }
    }
}
