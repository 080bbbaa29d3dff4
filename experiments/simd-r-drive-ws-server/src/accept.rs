//! The accept loop: one task per connection, so that a client that never finishes its
//! handshake delays nobody else, and at most `--max-connections` of them, so that the
//! connections together cannot take every file descriptor and their memory is bounded.

use crate::Timeouts;
use crate::connection::{self, Endpoint, Shared};
use crate::shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// What every connection task gets.
pub(crate) struct Serving {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) timeouts: Timeouts,
    pub(crate) tcp_nodelay: bool,
    /// What the connections share: the origins allowed, the request budget.
    pub(crate) shared: Shared,
    /// One permit per connection that may be open at once (`--max-connections`).
    pub(crate) connections: Arc<Semaphore>,
    /// Turns true when the server stops: the loop ends and the connections close.
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Serving {
    /// Accepts until shutdown. An accept error (out of file descriptors, say) is logged and
    /// retried after a pause, since retrying at once would only spin.
    pub(crate) async fn run(self, listener: TcpListener) -> anyhow::Result<()> {
        let mut stop = self.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = shutdown::stopped(&mut stop) => return Ok(()),
            };
            match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                        tokio::spawn(refuse(tcp, peer));
                        continue;
                    };
                    if let Err(e) = tcp.set_nodelay(self.tcp_nodelay) {
                        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
                    }
                    let serving = connection::serve(
                        tcp,
                        peer,
                        self.endpoint.clone(),
                        self.timeouts,
                        self.shared.clone(),
                        self.shutdown.clone(),
                    );
                    tokio::spawn(async move {
                        serving.await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Answers a connection over `--max-connections` with a 503 and closes it, waiting at most
/// a second for the answer to leave (one `debug` line: a flood must not flood the log).
async fn refuse(mut tcp: TcpStream, peer: SocketAddr) {
    use tokio::io::AsyncWriteExt;
    tracing::debug!(%peer, "refused a connection: --max-connections are open");
    let body = "too many connections (--max-connections); try again later\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(answer.as_bytes())).await;
}
