//! The accept loop: one task per connection, so that a client that never finishes its
//! handshake delays nobody else.

use crate::Timeouts;
use crate::connection::{self, Endpoint};
use crate::shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What every connection task gets.
pub(crate) struct Serving {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) timeouts: Timeouts,
    pub(crate) tcp_nodelay: bool,
    /// The origins whose pages may connect (`--allow-origin`).
    pub(crate) origins: Arc<[String]>,
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
                    if let Err(e) = tcp.set_nodelay(self.tcp_nodelay) {
                        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
                    }
                    tokio::spawn(connection::serve(
                        tcp,
                        peer,
                        self.endpoint.clone(),
                        self.timeouts,
                        self.origins.clone(),
                        self.shutdown.clone(),
                    ));
                }
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}
