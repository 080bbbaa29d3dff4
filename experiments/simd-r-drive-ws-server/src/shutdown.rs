//! The server's stop signal, as the accept loop and every connection wait for it.

use tokio::sync::watch;

/// Resolves once the server stops (or is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
