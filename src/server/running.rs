//! The one handle of every server of ours serving in its thread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A server of this module serving in its own thread, one type for each kind:
/// `Running` (a [`Responder`]'s; the default), `Running<Farm>` ([`Farm`]),
/// `Running<FakeMaster>` ([`FakeMaster`]) and `Running<FakeWebApi>` (feature
/// `web-api`). Each kind adds what it can tell: what it was asked, its state, its
/// addresses. Stops serving, and waits for its thread, when dropped or
/// [stopped](Running::stop). The kinds are this module's (the bound is sealed and not
/// exported): write the kind out, `Running<Farm>`, rather than code generic over it.
///
/// [`Responder`]: super::Responder
/// [`Farm`]: super::Farm
/// [`FakeMaster`]: super::FakeMaster
pub struct Running<T: Served = super::Responder> {
    local_addr: SocketAddr,
    pub(super) seen: T::Seen,
    _serving: Background,
}

impl<T: Served> Running<T> {
    pub(super) fn new(local_addr: SocketAddr, seen: T::Seen, serving: Background) -> Self {
        Running { local_addr, seen, _serving: serving }
    }

    /// The address it answers on (a farm's: its first server's).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and waits for the thread to end (as dropping it does).
    pub fn stop(self) {}
}

impl<T: Served> std::fmt::Debug for Running<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("kind", &std::any::type_name::<T>())
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// A kind of server a [`Running`] serves, and what its handle reads while it serves.
/// Sealed: the servers of this module.
pub trait Served: sealed::Sealed {
    /// What the serving thread shares with the handle.
    #[doc(hidden)]
    type Seen;
}

pub(super) mod sealed {
    pub trait Sealed {}
}

/// A serving thread and its stop flag: stopped and joined when dropped. The thread
/// checks the flag between requests.
#[derive(Debug)]
pub(crate) struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Runs `serve` on a new thread, handing it the flag to watch.
    pub(crate) fn spawn(serve: impl FnOnce(&AtomicBool) + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || serve(&flag));
        Background { stop, thread: Some(thread) }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
