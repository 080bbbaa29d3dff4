//! Binding the listening socket, with errors that name the host and port at fault.

use anyhow::{Context, bail};
use std::io::ErrorKind;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// Binds `host:port` with TCP_NODELAY set on the listening socket. The accept loop sets it
/// on every accepted socket as well; Linux and the BSDs (macOS included) would copy it from
/// the listener anyway, but not every system does.
pub(crate) async fn bind(
    host: &str,
    port: u16,
    tcp_nodelay: bool,
    allow_remote: bool,
) -> anyhow::Result<TcpListener> {
    let addr = resolve(host, port).await?;
    if !addr.ip().is_loopback() && !allow_remote {
        bail!(
            "--host {host} is not a loopback address: anyone who can reach {} could read, write and delete every key, since the server has no authentication; add --allow-remote to listen there anyway (on a network you trust, or behind a proxy that authenticates)",
            addr.ip()
        );
    }
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .context("cannot create a TCP socket")?;
    // Lets a restarted server rebind at once while old connections sit in TIME_WAIT.
    socket
        .set_reuseaddr(true)
        .context("cannot set SO_REUSEADDR")?;
    socket
        .set_nodelay(tcp_nodelay)
        .context("cannot set TCP_NODELAY")?;
    match socket.bind(addr) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AddrInUse => {
            bail!(
                "port {port} on {host} is already in use; stop the other server or pick another --port (0 for any free port)"
            )
        }
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => {
            bail!("cannot bind {host}: it is not an address of this machine; try --host 127.0.0.1")
        }
        Err(e) => return Err(e).with_context(|| format!("cannot bind {addr}")),
    }
    socket
        .listen(1024)
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Resolves the first address of `host`, with a one-line error for a host that is neither an
/// IP address nor a name the resolver knows.
async fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let bad_host = || format!("invalid --host {host:?}: not an IP address or a known host name");
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .with_context(bad_host)?;
    addrs.next().with_context(bad_host)
}
