//! Listening sockets, bound the same way by every server of the mesh.

use std::{io, net::SocketAddr};

use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel queues for a listener before it drops new SYNs (then capped by
/// `net.core.somaxconn`). `TcpListener::bind` asks for 128; a burst of that many connects
/// (a load balancer reconnecting, a client's pool warming up) then costs the rest a one-second
/// SYN retransmit.
pub const BACKLOG: u32 = 4096;

/// A listener on `addr` with SO_REUSEADDR (a restart binds at once even while the previous
/// process's connections sit in TIME-WAIT) and a backlog of [`BACKLOG`].
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listener_reuses_its_address() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        // The server closes first: its side of the connection is what lingers in TIME-WAIT.
        drop(server_side);
        drop(client);
        drop(listener);
        let again = listen(addr);
        assert!(again.is_ok(), "rebinding {addr} at once: {again:?}");
    }
}
