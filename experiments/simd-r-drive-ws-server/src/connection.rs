//! One client connection: the WebSocket handshake, then RPC messages until either side
//! closes, the client falls silent, or it sends something that is not the protocol.
//!
//! `muxio-tokio-rpc-server` offers no hook for a handshake timeout, an idle timeout or
//! message limits, and logs and ignores a frame it cannot decode, so the server runs its own
//! loop over muxio's public endpoint API (`decode_bytes`, `run_handlers`, `send_responses`).
//! Messages of one connection are handled in order, one at a time, as upstream does.

use crate::frame_check::{FrameCheck, Refusal};
use crate::{MAX_VALUE_SIZE, Timeouts};
use futures_util::{SinkExt, StreamExt};
use muxio_core::rpc::RpcDispatcher;
use muxio_core::utils::IdSpace;
use muxio_rpc_service_endpoint::{RpcServiceEndpoint, RpcServiceEndpointInterface};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The endpoint every connection dispatches to; handlers need no per-connection context.
pub(crate) type Endpoint = RpcServiceEndpoint<()>;

type Socket = WebSocketStream<TcpStream>;

/// The largest WebSocket frame or message accepted: a value at the limit plus framing. A
/// frame that announces more is refused from its header, before its payload is read.
const MAX_MESSAGE_SIZE: usize = MAX_VALUE_SIZE + (1 << 20);

/// Serves one accepted TCP connection to its end. `shutdown` turns true when the server stops.
pub(crate) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    endpoint: Arc<Endpoint>,
    timeouts: Timeouts,
    shutdown: watch::Receiver<bool>,
) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE));
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, only_rpc_path, Some(config));
    let socket = match timeout(timeouts.handshake, handshake).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(e)) => return tracing::debug!(%peer, "WebSocket handshake failed: {e}"),
        Err(_) => {
            return tracing::info!(
                %peer,
                "closed a connection that did not finish the WebSocket handshake within {:?}",
                timeouts.handshake
            );
        }
    };
    tracing::debug!(%peer, "client connected");
    let connection = Connection {
        socket,
        peer,
        endpoint,
        timeouts,
        dispatcher: RpcDispatcher::new_with_id_space(IdSpace::Server),
        frames: FrameCheck::default(),
    };
    connection.run(shutdown).await;
}

/// The RPC endpoint lives at `/ws`, where every client of the service definition connects.
// The signature is tungstenite's `Callback`; its error type is not ours to shrink.
#[allow(clippy::result_large_err)]
fn only_rpc_path(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == "/ws" {
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some("the RPC endpoint is /ws\n".into()));
    *refusal.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::NOT_FOUND;
    Err(refusal)
}

struct Connection {
    socket: Socket,
    peer: SocketAddr,
    endpoint: Arc<Endpoint>,
    timeouts: Timeouts,
    dispatcher: RpcDispatcher<'static>,
    frames: FrameCheck,
}

/// How a connection ends, when the server ends it.
struct Closing {
    code: CloseCode,
    reason: String,
}

impl Connection {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut ping = tokio::time::interval(self.timeouts.ping_interval());
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let mut heard = Instant::now();
        let closing = loop {
            tokio::select! {
                received = self.socket.next() => {
                    let handled = self.on_message(received).await;
                    // Silence is counted from the end of the call: a long call is the
                    // server's time, not the client's.
                    heard = Instant::now();
                    match handled {
                        Ok(true) => {}
                        Ok(false) => break None,
                        Err(closing) => break Some(closing),
                    }
                }
                _ = ping.tick() => {
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
                _ = sleep_until(heard + self.timeouts.idle) => break Some(Closing {
                    code: CloseCode::Away,
                    reason: format!("nothing received for {:?}", self.timeouts.idle),
                }),
                () = crate::accept::stopped(&mut shutdown) => break Some(Closing {
                    code: CloseCode::Away,
                    reason: "the server is shutting down".into(),
                }),
            }
        };
        if let Some(closing) = closing {
            self.close(closing).await;
        }
        tracing::debug!(peer = %self.peer, "client disconnected");
    }

    /// Handles what the socket yielded: `Ok(true)` to go on, `Ok(false)` when the client
    /// is gone, `Err` to close the connection.
    async fn on_message(
        &mut self,
        received: Option<Result<Message, WsError>>,
    ) -> Result<bool, Closing> {
        match received {
            None | Some(Ok(Message::Close(_))) => Ok(false),
            Some(Ok(Message::Binary(bytes))) => self.on_binary(&bytes).await.map(|()| true),
            Some(Ok(Message::Text(_))) => Err(Closing {
                code: CloseCode::Protocol,
                reason: "a text message; this protocol sends binary RPC frames".into(),
            }),
            Some(Ok(_ping_pong_or_raw_frame)) => Ok(true),
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                Err(Closing {
                    code: CloseCode::Size,
                    reason: format!("a message of {size} bytes, over the limit of {max_size}"),
                })
            }
            Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                tracing::debug!(peer = %self.peer, "client left without a Close frame");
                Ok(false)
            }
            Some(Err(WsError::Protocol(e))) => Err(Closing {
                code: CloseCode::Protocol,
                reason: format!("a WebSocket protocol error: {e}"),
            }),
            Some(Err(e)) => {
                tracing::debug!(peer = %self.peer, "connection lost: {e}");
                Ok(false)
            }
        }
    }

    /// Checks the message, runs the requests it completes and sends their replies.
    async fn on_binary(&mut self, bytes: &[u8]) -> Result<(), Closing> {
        self.frames.check(bytes).map_err(|refusal| match refusal {
            Refusal::Malformed(reason) => Closing {
                code: CloseCode::Invalid,
                reason,
            },
            Refusal::TooBig(reason) => Closing {
                code: CloseCode::Size,
                reason,
            },
        })?;
        let replies = Arc::new(Mutex::new(Vec::new()));
        let emit = {
            let replies = replies.clone();
            move |chunk: &[u8]| replies.lock().expect("not poisoned").push(chunk.to_vec())
        };
        let requests = self
            .endpoint
            .decode_bytes(&mut self.dispatcher, (), bytes, emit.clone())
            .await
            .map_err(|e| Closing {
                code: CloseCode::Invalid,
                reason: format!("not an RPC request: {e}"),
            })?;
        let responses = self.endpoint.run_handlers((), requests).await;
        for response in responses {
            if let Err(e) = crate::reply::encode(&mut self.dispatcher, response, emit.clone()) {
                tracing::error!(peer = %self.peer, "cannot encode a reply: {e:?}");
            }
        }
        let replies = std::mem::take(&mut *replies.lock().expect("not poisoned"));
        self.send_replies(replies).await
    }

    /// Sends the reply frames; a client that does not take them within the idle timeout
    /// is dropped, so that an unread reply cannot hold the connection forever.
    async fn send_replies(&mut self, replies: Vec<Vec<u8>>) -> Result<(), Closing> {
        let socket = &mut self.socket;
        let sending = async {
            for chunk in replies {
                socket.feed(Message::Binary(chunk.into())).await?;
            }
            socket.flush().await
        };
        match timeout(self.timeouts.idle, sending).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Closing {
                code: CloseCode::Error,
                reason: "cannot send a reply".into(),
            }),
            Err(_) => Err(Closing {
                code: CloseCode::Away,
                reason: format!("a reply was not taken within {:?}", self.timeouts.idle),
            }),
        }
    }

    /// Logs one warning line and says goodbye with a Close frame, waiting at most a second
    /// for it to leave.
    async fn close(&mut self, closing: Closing) {
        let code = u16::from(closing.code);
        tracing::warn!(peer = %self.peer, "closing the connection ({code}): {}", closing.reason);
        let frame = CloseFrame {
            code: closing.code,
            reason: truncate(&closing.reason).into(),
        };
        let _ = timeout(
            std::time::Duration::from_secs(1),
            self.socket.close(Some(frame)),
        )
        .await;
    }
}

/// A Close frame's reason must fit in 123 bytes.
fn truncate(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
