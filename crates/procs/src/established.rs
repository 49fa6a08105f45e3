//! Established TCP connections of this network namespace with a local or
//! remote port in a given set, asked of sock_diag with the state and the
//! ports filtered in the kernel: cheap enough to ask at every decision,
//! whatever else the host is connected to.

use std::io;
use std::net::SocketAddr;

use crate::diag::{ports_bytecode, DiagSocket};
use crate::{RawSocket, TCP};

/// The most ports one filter may name (each costs 24 bytes of filter
/// program and two tests per socket in the kernel).
pub const MAX_PORTS: usize = 64;

/// `idiag_states` bit of TCP_ESTABLISHED (state 1).
const ESTABLISHED: u32 = 1 << 1;

/// Asks for the established TCP connections on some ports, keeping its
/// netlink socket open between calls.
pub struct EstablishedTcp {
    diag: Option<DiagSocket>,
    bytecode: Vec<u8>,
    raw: Vec<RawSocket>,
}

impl std::fmt::Debug for EstablishedTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EstablishedTcp")
            .field("open", &self.diag.is_some())
            .finish_non_exhaustive()
    }
}

impl EstablishedTcp {
    /// For connections whose local or remote port is one of `ports`; more
    /// than [`MAX_PORTS`] is `InvalidInput`. No ports: no connections.
    pub fn new(ports: &[u16]) -> io::Result<EstablishedTcp> {
        if ports.len() > MAX_PORTS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} ports given, at most {MAX_PORTS} allowed", ports.len()),
            ));
        }
        Ok(EstablishedTcp {
            diag: None,
            bytecode: ports_bytecode(ports),
            raw: Vec::new(),
        })
    }

    /// The (local, remote) ends of every established TCP connection, IPv4
    /// and IPv6, on one of the ports. IPv4 peers of dual-stack sockets come
    /// as IPv4-mapped IPv6 addresses, as the kernel reports them. A failed
    /// dump is retried once on a fresh netlink socket.
    pub fn connections(&mut self) -> io::Result<Vec<(SocketAddr, SocketAddr)>> {
        if self.bytecode.is_empty() {
            return Ok(Vec::new());
        }
        let mut result = self.dump();
        if result.is_err() {
            self.diag = None;
            result = self.dump();
        }
        result?;
        Ok(self.raw.drain(..).map(|s| (s.local, s.remote)).collect())
    }

    /// One dump of both families into `self.raw`.
    fn dump(&mut self) -> io::Result<()> {
        self.raw.clear();
        if self.diag.is_none() {
            self.diag = Some(DiagSocket::open()?);
        }
        let diag = self.diag.as_mut().expect("opened above");
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            diag.dump_filtered(family, TCP, ESTABLISHED, &self.bytecode, &mut self.raw)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener, TcpStream};

    /// A connection over loopback: (listener, client, server side).
    fn pair() -> (TcpListener, TcpStream, TcpStream) {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (l, c, s)
    }

    #[test]
    fn both_ends_of_a_connection_on_the_port_and_nothing_else() {
        let (l, c, s) = pair();
        let (other_l, other_c, _other_s) = pair();
        let port = l.local_addr().unwrap().port();
        let mut est = EstablishedTcp::new(&[port]).unwrap();
        let got = est.connections().unwrap();
        let server_end = (s.local_addr().unwrap(), s.peer_addr().unwrap());
        let client_end = (c.local_addr().unwrap(), c.peer_addr().unwrap());
        // Local port on the list (we are the server), remote port on the
        // list (we are the client).
        assert!(got.contains(&server_end), "{got:?}");
        assert!(got.contains(&client_end), "{got:?}");
        let other = other_l.local_addr().unwrap().port();
        let stray = other_c.local_addr().unwrap().port();
        assert!(
            got.iter()
                .all(|(a, b)| ![a.port(), b.port()].contains(&other)
                    && ![a.port(), b.port()].contains(&stray)),
            "{got:?}"
        );
        // The listener itself is not established.
        assert!(got.iter().all(|(_, r)| r.port() != 0), "{got:?}");
        drop((c, s));
        // Asked again on the same socket: the closed connection is not
        // established any more (its ends are in FIN states or gone).
        let again = est.connections().unwrap();
        assert!(!again.contains(&server_end), "{again:?}");
    }

    #[test]
    fn no_ports_no_connections_and_too_many_refused() {
        let mut none = EstablishedTcp::new(&[]).unwrap();
        assert!(none.connections().unwrap().is_empty());
        let many: Vec<u16> = (1..=MAX_PORTS as u16 + 1).collect();
        let e = EstablishedTcp::new(&many).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(EstablishedTcp::new(&many[..MAX_PORTS]).is_ok());
    }
}
