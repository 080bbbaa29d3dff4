//! The connection: one WebSocket, a write task, a read task and muxio's dispatcher.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt, future};
use muxio_core::frame::FrameDecodeError;
use muxio_core::rpc::RpcDispatcher;
use muxio_rpc_service_caller::{RpcServiceCallerInterface, RpcTransportState};
use muxio_rpc_service_endpoint::RpcServiceEndpoint;
use muxio_rpc_service_endpoint::client_read_channel::{ClientReadTarget, spawn_client_read_loop};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{Mutex as TokioMutex, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Dispatcher = Arc<TokioMutex<RpcDispatcher<'static>>>;
type StateHandler = Box<dyn Fn(RpcTransportState) + Send + Sync>;

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

/// A connected RPC client. Calls from many tasks may share the one socket; muxio
/// multiplexes them. The server, though, handles one connection's calls largely one after
/// another (its read loop awaits each handler before it reads the next message), so a big
/// call delays the small ones behind it: for parallel throughput, use one connection per
/// task.
///
/// When the socket closes, every pending call and every later call fails with an
/// [`io::Error`] of kind `ConnectionAborted`. A server that keeps the socket open but never
/// answers is not detected here: bound such calls with a timeout of your own.
pub struct WsTransport {
    dispatcher: Dispatcher,
    endpoint: Arc<RpcServiceEndpoint<()>>,
    outgoing: mpsc::UnboundedSender<Message>,
    is_connected: Arc<AtomicBool>,
    state_handler: StdMutex<Option<StateHandler>>,
    read_task: JoinHandle<()>,
}

impl fmt::Debug for WsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsTransport")
            .field("is_connected", &self.is_connected())
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

    fn start(socket: Socket) -> Arc<Self> {
        let (sink, source) = socket.split();
        let (outgoing, queued) = mpsc::unbounded_channel();
        Arc::new_cyclic(|this: &Weak<Self>| {
            tokio::spawn(write_loop(sink, queued, this.clone()));
            let emit_tx = outgoing.clone();
            let emit = move |bytes: Vec<u8>| {
                let _ = emit_tx.send(Message::Binary(bytes.into()));
            };
            let read_task = spawn_client_read_loop(this.clone(), binary_payloads(source), emit);
            WsTransport {
                dispatcher: Arc::new(TokioMutex::new(RpcDispatcher::new())),
                endpoint: Arc::new(RpcServiceEndpoint::new()),
                outgoing,
                is_connected: Arc::new(AtomicBool::new(true)),
                state_handler: StdMutex::new(None),
                read_task,
            }
        })
    }

    /// Marks the connection down, then fails every call still waiting for a reply.
    async fn disconnect(&self) {
        if self.is_connected.swap(false, Ordering::SeqCst) {
            tracing::debug!("connection closed; failing pending calls");
            let handler = self.state_handler.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(handler) = handler.as_ref() {
                handler(RpcTransportState::Disconnected);
            }
        }
        fail_pending_calls(&self.dispatcher).await;
    }
}

impl Drop for WsTransport {
    /// Says goodbye with a Close frame (the write task sends it and exits) and stops reading.
    fn drop(&mut self) {
        self.is_connected.store(false, Ordering::SeqCst);
        let _ = self.outgoing.send(Message::Close(None));
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

/// Sends queued messages, flushing once per burst rather than once per message. On a write
/// error the connection is over, so it disconnects the client; after a Close it just exits.
async fn write_loop(
    mut sink: SplitSink<Socket, Message>,
    mut queued: mpsc::UnboundedReceiver<Message>,
    client: Weak<WsTransport>,
) {
    while let Some(first) = queued.recv().await {
        let closing = first.is_close();
        let mut sent = sink.feed(first).await;
        while let (Ok(()), false, Ok(next)) = (&sent, closing, queued.try_recv()) {
            sent = sink.feed(next).await;
        }
        if sent.and(sink.flush().await).is_err() || closing {
            break;
        }
    }
    if let Some(client) = client.upgrade() {
        client.disconnect().await;
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

async fn fail_pending_calls(dispatcher: &Dispatcher) {
    dispatcher
        .lock()
        .await
        .fail_all_pending_requests(FrameDecodeError::ReadAfterCancel);
}

#[async_trait::async_trait]
impl ClientReadTarget for WsTransport {
    fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    fn endpoint(&self) -> Arc<RpcServiceEndpoint<()>> {
        self.endpoint.clone()
    }

    async fn shutdown(&self) {
        self.disconnect().await;
    }
}

#[async_trait::async_trait]
impl RpcServiceCallerInterface for WsTransport {
    fn get_dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    fn is_connected(&self) -> bool {
        WsTransport::is_connected(self)
    }

    /// Queues outgoing frames. A call can pass the `is_connected` check just before the
    /// connection drops and register itself after the pending calls were failed; its
    /// frames then land here, and failing pending calls once more keeps it from waiting
    /// forever.
    fn get_emit_fn(&self) -> Arc<dyn Fn(Vec<u8>) + Send + Sync> {
        let outgoing = self.outgoing.clone();
        let is_connected = self.is_connected.clone();
        let dispatcher = Arc::downgrade(&self.dispatcher);
        Arc::new(move |bytes: Vec<u8>| {
            if is_connected.load(Ordering::SeqCst) {
                let _ = outgoing.send(Message::Binary(bytes.into()));
            } else if let Some(dispatcher) = dispatcher.upgrade() {
                tokio::spawn(async move { fail_pending_calls(&dispatcher).await });
            }
        })
    }

    /// Calls `handler` now with the current state, and once more when the connection drops.
    async fn set_state_change_handler(
        &self,
        handler: impl Fn(RpcTransportState) + Send + Sync + 'static,
    ) {
        let mut slot = self.state_handler.lock().unwrap_or_else(|e| e.into_inner());
        handler(if self.is_connected() {
            RpcTransportState::Connected
        } else {
            RpcTransportState::Disconnected
        });
        *slot = Some(Box::new(handler));
    }
}
