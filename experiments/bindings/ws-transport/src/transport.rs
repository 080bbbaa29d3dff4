//! The connection: one WebSocket, a write task, a read task, and the calls that wait.

use crate::calls::Calls;
use crate::send_queue::{Queued, SendQueue};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt, future};
use muxio_core::rpc::rpc_internals::RpcSession;
use muxio_core::utils::IdSpace;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Disable Nagle's algorithm on the socket. Leave it on (`true`) unless you are
    /// measuring what it costs: with it off, each small call waits for a delayed ACK.
    pub tcp_nodelay: bool,
    /// How long the TCP connect and the WebSocket handshake may take together.
    pub connect_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            tcp_nodelay: true,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A connected RPC client. Calls from many tasks may share the one socket; muxio's framing
/// multiplexes them. The server, though, handles one connection's calls largely one after
/// another (its read loop awaits each handler before it reads the next message), so a big
/// call delays the small ones behind it: for parallel throughput, use one connection per
/// task.
///
/// When the socket closes, every pending call and every later call fails with an
/// [`io::Error`] of kind `ConnectionAborted`. A server that keeps the socket open but never
/// answers is not detected here: bound such calls with a timeout of your own. Dropping a
/// call's future (a timeout) frees everything it held, and requests wait for room in a
/// send queue of [`SEND_QUEUE_LIMIT`](crate::SEND_QUEUE_LIMIT) bytes, so a server that
/// stops reading cannot make the client grow.
pub struct WsTransport {
    pub(crate) calls: Arc<Calls>,
    pub(crate) queue: SendQueue,
    is_connected: AtomicBool,
    read_task: JoinHandle<()>,
}

impl fmt::Debug for WsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsTransport")
            .field("is_connected", &self.is_connected())
            .field("pending_calls", &self.pending_calls())
            .field("unsent_bytes", &self.unsent_bytes())
            .finish()
    }
}

impl WsTransport {
    /// Connects to `ws://host:port/ws`. Must be called inside a tokio runtime, which then
    /// also runs the connection's background tasks.
    ///
    /// Fails with `TimedOut` after `options.connect_timeout`, with the socket's own error
    /// kind (usually `ConnectionRefused`) when the TCP connect fails, and with
    /// `ConnectionRefused` when the WebSocket handshake is rejected.
    pub async fn connect(host: &str, port: u16, options: ConnectOptions) -> io::Result<Arc<Self>> {
        let url = websocket_url(host, port);
        let socket = open_socket(&url, &options).await?;
        tracing::debug!(%url, tcp_nodelay = options.tcp_nodelay, "connected");
        Ok(Self::start(socket))
    }

    /// Whether the connection is still up. Calls fail fast once it is not.
    pub fn is_connected(&self) -> bool {
        self.is_connected.load(Ordering::SeqCst)
    }

    /// How many calls wait for a reply. Calls that were dropped (timed out) do not count.
    pub fn pending_calls(&self) -> usize {
        self.calls.len()
    }

    /// How many bytes of requests wait in the send queue: near
    /// [`SEND_QUEUE_LIMIT`](crate::SEND_QUEUE_LIMIT) when the server is not reading.
    pub fn unsent_bytes(&self) -> usize {
        self.queue.unsent_bytes()
    }

    fn start(socket: Socket) -> Arc<Self> {
        let (sink, source) = socket.split();
        let (queue, queued) = SendQueue::new();
        Arc::new_cyclic(|this: &Weak<Self>| {
            tokio::spawn(write_loop(sink, queued, this.clone()));
            let calls = Arc::new(Calls::default());
            let read_task = tokio::spawn(read_loop(binary_payloads(source), this.clone()));
            WsTransport {
                calls,
                queue,
                is_connected: AtomicBool::new(true),
                read_task,
            }
        })
    }

    /// Marks the connection down, then fails every call still waiting, for a reply or for
    /// room in the send queue.
    fn disconnect(&self) {
        if self.is_connected.swap(false, Ordering::SeqCst) {
            tracing::debug!("connection closed; failing pending calls");
        }
        self.queue.close();
        self.calls.fail_all();
    }
}

impl Drop for WsTransport {
    /// Says goodbye with a Close frame (the write task sends it and exits) and stops reading.
    fn drop(&mut self) {
        self.is_connected.store(false, Ordering::SeqCst);
        let _ = self.queue.send_now(Message::Close(None));
        self.read_task.abort();
    }
}

fn websocket_url(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => format!("ws://{}/ws", SocketAddr::new(ip, port)),
        Err(_) => format!("ws://{host}:{port}/ws"),
    }
}

async fn open_socket(url: &str, options: &ConnectOptions) -> io::Result<Socket> {
    let connecting = connect_async_with_config(url, None, options.tcp_nodelay);
    match tokio::time::timeout(options.connect_timeout, connecting).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(error)) => Err(connect_error(url, error)),
        Err(_elapsed) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "cannot connect to {url}: timed out after {:?}",
                options.connect_timeout
            ),
        )),
    }
}

fn connect_error(url: &str, error: tungstenite::Error) -> io::Error {
    let kind = match &error {
        tungstenite::Error::Io(io_error) => io_error.kind(),
        _ => io::ErrorKind::ConnectionRefused,
    };
    io::Error::new(kind, format!("cannot connect to {url}: {error}"))
}

/// Sends queued messages, flushing once per burst rather than once per message. A
/// message's room in the queue is given back once the socket has taken it. On a write
/// error the connection is over, so it disconnects the client; after a Close it just exits.
async fn write_loop(
    mut sink: SplitSink<Socket, Message>,
    mut queued: mpsc::UnboundedReceiver<Queued>,
    client: Weak<WsTransport>,
) {
    while let Some(first) = queued.recv().await {
        let closing = first.message.is_close();
        let mut sent = feed(&mut sink, first).await;
        while let (Ok(()), false, Ok(next)) = (&sent, closing, queued.try_recv()) {
            sent = feed(&mut sink, next).await;
        }
        if sent.and(sink.flush().await).is_err() || closing {
            break;
        }
    }
    if let Some(client) = client.upgrade() {
        client.disconnect();
    }
}

/// Hands one message to the socket, then gives its room in the queue back.
async fn feed(
    sink: &mut SplitSink<Socket, Message>,
    queued: Queued,
) -> Result<(), tungstenite::Error> {
    let Queued { message, room } = queued;
    let fed = sink.feed(message).await;
    drop(room);
    fed
}

/// Decodes the server's frames and hands each reply to the call that waits for it. When
/// the socket closes, every waiting call fails.
async fn read_loop(
    mut payloads: Pin<Box<dyn Stream<Item = Bytes> + Send>>,
    client: Weak<WsTransport>,
) {
    let mut session = RpcSession::new(IdSpace::Client);
    while let Some(bytes) = payloads.next().await {
        let Some(client) = client.upgrade() else {
            return;
        };
        let routed = session.read_bytes(&bytes, |event| {
            client.calls.route(event);
            Ok(())
        });
        if let Err(error) = routed {
            tracing::warn!(?error, "cannot decode a frame from the server");
        }
    }
    if let Some(client) = client.upgrade() {
        client.disconnect();
    }
}

/// The payloads of binary messages, ending at the first error or Close frame. Pings are
/// answered by tungstenite itself while this stream is polled.
fn binary_payloads(source: SplitStream<Socket>) -> Pin<Box<dyn Stream<Item = Bytes> + Send>> {
    let until_closed =
        source.take_while(|message| future::ready(matches!(message, Ok(m) if !m.is_close())));
    Box::pin(until_closed.filter_map(|message| {
        future::ready(match message {
            Ok(Message::Binary(bytes)) => Some(bytes),
            _ => None,
        })
    }))
}
