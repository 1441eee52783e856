//! A scripted UDP server for the client tests.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use a2s_query::proto::Query;

/// What a fake server does in answer to one request.
pub enum Act {
    /// Send these bytes back from the server's port.
    Send(Vec<u8>),
    /// Send these bytes from another port of the same host.
    SendFromOtherPort(Vec<u8>),
    /// Wait before the next act.
    Sleep(Duration),
}

/// A scripted server: `script(request, n)` says what to do for the n-th request (0-based).
pub struct Fake {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Query>>>,
    acts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    pub fn on(bind: &str, mut script: impl FnMut(Query, usize) -> Vec<Act> + Send + 'static) -> Fake {
        let socket = UdpSocket::bind(bind).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let addr = socket.local_addr().unwrap();
        let other = UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let acts = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (requests, stop, acts) = (requests.clone(), stop.clone(), acts.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                    let query = Query::parse(&buf[..n]).expect("client sent a bad request");
                    let count = {
                        let mut r = requests.lock().unwrap();
                        r.push(query);
                        r.len() - 1
                    };
                    for act in script(query, count) {
                        match act {
                            Act::Send(b) => drop(socket.send_to(&b, from)),
                            Act::SendFromOtherPort(b) => drop(other.send_to(&b, from)),
                            Act::Sleep(d) => std::thread::sleep(d),
                        }
                        acts.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        Fake { addr, requests, acts, stop, thread: Some(thread) }
    }

    pub fn v4(script: impl FnMut(Query, usize) -> Vec<Act> + Send + 'static) -> Fake {
        Fake::on("127.0.0.1:0", script)
    }

    /// Acts carried out so far (a send counts once it has returned).
    pub fn acts_done(&self) -> usize {
        self.acts.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Query> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
