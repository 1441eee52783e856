//! "Unreachable" reports for an unconnected socket, on Linux: with `IP_RECVERR` (and
//! `IPV6_RECVERR`) the kernel queues each ICMP error on the socket's error queue with
//! the address the failed datagram went to, so a closed port is known in a round trip
//! instead of at the query's timeout. (A connected socket, the blocking client's, is
//! told by its next receive already.)

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};

/// ICMP's "destination unreachable" type (RFC 792) and, of its codes, "fragmentation
/// needed" (a path MTU report: the server may well be there).
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMPv6's "destination unreachable" type (RFC 4443).
const ICMP6_DST_UNREACH: u8 = 1;
/// Most reports read in one go.
const MAX_REPORTS: usize = 1024;
/// What is kept of the failed datagram the kernel hands back with each report.
const PAYLOAD: usize = 64;

/// Asks the kernel to queue the socket's ICMP errors. Best effort: both options are
/// set (a dual-stack socket's IPv4 reports follow `IP_RECVERR`), refusals ignored.
pub(crate) fn enable(socket: &UdpSocket) {
    let _ = socket::setsockopt(socket, sockopt::Ipv4RecvErr, &true);
    let _ = socket::setsockopt(socket, sockopt::Ipv6RecvErr, &true);
}

/// Hands `take` each queued report that says a destination cannot be reached (a
/// closed port, an unreachable host or network) with the address the datagram was
/// sent to and the error the kernel names; other reports (a path MTU, a hop limit) are
/// dropped. How many reports were read, of any kind.
pub(crate) fn read(socket: &UdpSocket, mut take: impl FnMut(SocketAddr, io::Error)) -> usize {
    let mut control = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let mut payload = [0u8; PAYLOAD];
    for read in 0..MAX_REPORTS {
        let mut iov = [IoSliceMut::new(&mut payload)];
        let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
        let Ok(report) = socket::recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut control), flags)
        else {
            // Empty (or failing): nothing more to read.
            return read;
        };
        let Some(to) = report.address.as_ref().and_then(to_std) else { continue };
        let Ok(messages) = report.cmsgs() else { continue };
        for message in messages {
            let error = match message {
                ControlMessageOwned::Ipv4RecvErr(error, _) | ControlMessageOwned::Ipv6RecvErr(error, _) => error,
                _ => continue,
            };
            if is_dead_end(&error) {
                take(to, io::Error::from_raw_os_error(i32::try_from(error.ee_errno).unwrap_or(libc::EIO)));
            }
        }
    }
    MAX_REPORTS
}

/// Whether a report says the destination cannot be reached (no point waiting for it).
fn is_dead_end(error: &libc::sock_extended_err) -> bool {
    match error.ee_origin {
        libc::SO_EE_ORIGIN_ICMP => error.ee_type == ICMP_DEST_UNREACH && error.ee_code != ICMP_FRAG_NEEDED,
        libc::SO_EE_ORIGIN_ICMP6 => error.ee_type == ICMP6_DST_UNREACH,
        _ => false,
    }
}

fn to_std(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    address.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}
