//! One client connection: the WebSocket handshake, then RPC messages until either side
//! closes, the client falls silent, or it sends something that is not the protocol.
//!
//! `muxio-tokio-rpc-server` offers no hook for a handshake timeout, an idle timeout or
//! message limits, and logs and ignores a frame it cannot decode, so the server runs its own
//! loop: its own request assembly (`requests.rs`), then muxio's `run_handlers`, then its
//! own reply encoding (`reply.rs`). Messages of one connection are handled in order, one
//! at a time, as upstream does.
//!
//! What a connection can cost is bounded: its unfinished requests (`requests.rs`), what
//! the server has written and the client has not read yet ([`MAX_UNREAD`]: a client that
//! sends Pings and never reads the Pongs cannot grow the server), and its time: only
//! requests and Pongs count as hearing from the client, so a client that only sends Pings
//! is closed after the idle timeout like a silent one.

use crate::frame_check::frames;
use crate::requests::{self, Budget, Refusal, Requests};
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
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

/// The endpoint every connection dispatches to; handlers need no per-connection context.
pub(crate) type Endpoint = RpcServiceEndpoint<()>;

type Socket = WebSocketStream<TcpStream>;

/// The largest WebSocket frame or message accepted: a value at the limit plus framing. A
/// frame that announces more is refused from its header, before its payload is read.
const MAX_MESSAGE_SIZE: usize = MAX_VALUE_SIZE + (1 << 20);

/// What tungstenite may hold of what the server sends and the client has not taken: its
/// write buffer (128 KiB by default) and a few reply frames of 64 KiB. Without this bound,
/// a Pong is queued for every Ping of a client that never reads, without limit.
const MAX_UNREAD: usize = 1 << 20;

/// How many frames of a message are taken between two yields to the runtime, so that a
/// message of many small frames does not hold a worker from other connections.
const FRAMES_PER_TURN: usize = 4096;

/// Serves one accepted TCP connection to its end. `shutdown` turns true when the server stops.
pub(crate) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    endpoint: Arc<Endpoint>,
    timeouts: Timeouts,
    shared: Shared,
    shutdown: watch::Receiver<bool>,
) {
    let Shared { origins, budget } = shared;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
        .max_write_buffer_size(MAX_UNREAD);
    // tungstenite's `Callback` signature; its error type is not ours to shrink.
    #[allow(clippy::result_large_err)]
    let check = move |request: &Request, response: Response| admit(request, response, &origins);
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(tcp, check, Some(config));
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
        requests: Requests::new(budget),
    };
    connection.run(shutdown).await;
}

/// What every connection shares with the others.
#[derive(Clone)]
pub(crate) struct Shared {
    /// The origins whose pages may connect (`--allow-origin`).
    pub(crate) origins: Arc<[String]>,
    /// What the unfinished requests of all connections may hold (`--request-budget`).
    pub(crate) budget: Arc<Budget>,
}

/// The RPC endpoint lives at `/ws`, where every client of the service definition connects;
/// a handshake with an `Origin` header (a browser's: a web page's script) is refused unless
/// that origin is allowed (see [`crate::Access`]).
// The signature is tungstenite's `Callback`; its error type is not ours to shrink.
#[allow(clippy::result_large_err)]
fn admit(
    request: &Request,
    response: Response,
    origins: &[String],
) -> Result<Response, ErrorResponse> {
    use tokio_tungstenite::tungstenite::http::StatusCode;
    if request.uri().path() != "/ws" {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            "the RPC endpoint is /ws\n".into(),
        ));
    }
    let Some(origin) = request.headers().get("origin") else {
        return Ok(response);
    };
    if origins
        .iter()
        .any(|allowed| origin.as_bytes() == allowed.as_bytes())
    {
        return Ok(response);
    }
    let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    tracing::warn!(
        "refused a WebSocket handshake from a web page of origin {shown:?}; start the server with --allow-origin {shown:?} to allow it"
    );
    Err(refusal(
        StatusCode::FORBIDDEN,
        format!(
            "web pages may not connect (origin {shown}); the server allows them with --allow-origin\n"
        ),
    ))
}

#[allow(clippy::result_large_err)]
fn refusal(
    status: tokio_tungstenite::tungstenite::http::StatusCode,
    body: String,
) -> ErrorResponse {
    let mut refusal = ErrorResponse::new(Some(body));
    *refusal.status_mut() = status;
    refusal
}

struct Connection {
    socket: Socket,
    peer: SocketAddr,
    endpoint: Arc<Endpoint>,
    timeouts: Timeouts,
    /// Only encodes replies: requests are assembled by `requests`.
    dispatcher: RpcDispatcher<'static>,
    requests: Requests,
}

/// What the socket yielded, as far as the loop cares.
enum Received {
    /// A request (or part of one) or a Pong: the client is there.
    Heard,
    /// A Ping or another control frame: it does not show that the client reads.
    Other,
    /// The client is gone.
    Gone,
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
                received = self.socket.next() => match self.on_message(received).await {
                    // Silence is counted from the end of the call: a long call is the
                    // server's time, not the client's.
                    Ok(Received::Heard) => heard = Instant::now(),
                    Ok(Received::Other) => {
                        if let Err(closing) = self.answered(heard + self.timeouts.idle, &mut shutdown).await {
                            break Some(closing);
                        }
                    }
                    Ok(Received::Gone) => break None,
                    Err(closing) => break Some(closing),
                },
                _ = ping.tick() => match self.send_ping(heard + self.timeouts.idle).await {
                    Ok(true) => {}
                    Ok(false) => break None,
                    Err(closing) => break Some(closing),
                },
                _ = sleep_until(heard + self.timeouts.idle) => break Some(Closing {
                    code: CloseCode::Away,
                    reason: format!("no request and no Pong for {:?}", self.timeouts.idle),
                }),
                () = crate::shutdown::stopped(&mut shutdown) => break Some(Closing {
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

    /// Waits until the answer to a client's Ping (its Pong, queued by tungstenite) has left,
    /// before anything more is read: a client that sends Pings and does not read the Pongs
    /// fills its socket, and from then on costs nothing until the idle `deadline` closes it.
    /// (Reading on instead kept a core busy: tungstenite replaces a Pong it cannot send with
    /// the next one, so the Pings went on being read, 200 MiB in 30 s.)
    async fn answered(
        &mut self,
        deadline: Instant,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Closing> {
        let flushed = tokio::time::timeout_at(deadline, self.socket.flush());
        tokio::select! {
            flushed = flushed => match flushed {
                Ok(Ok(())) => Ok(()),
                Ok(Err(WsError::WriteBufferFull(_))) | Err(_) => Err(not_reading()),
                // The client is gone; the next read says so.
                Ok(Err(_)) => Ok(()),
            },
            () = crate::shutdown::stopped(shutdown) => Err(Closing {
                code: CloseCode::Away,
                reason: "the server is shutting down".into(),
            }),
        }
    }

    /// Sends the keep-alive Ping: `Ok(false)` when the client is gone. A client that does
    /// not read what the server sends has its connection closed, at the latest at the idle
    /// `deadline` (the Ping waits for room until then, and reads wait meanwhile).
    async fn send_ping(&mut self, deadline: Instant) -> Result<bool, Closing> {
        let ping = self.socket.send(Message::Ping(Default::default()));
        match tokio::time::timeout_at(deadline, ping).await {
            Ok(Ok(())) => Ok(true),
            Ok(Err(WsError::WriteBufferFull(_))) | Err(_) => Err(not_reading()),
            Ok(Err(_)) => Ok(false),
        }
    }

    /// Handles what the socket yielded; `Err` to close the connection.
    async fn on_message(
        &mut self,
        received: Option<Result<Message, WsError>>,
    ) -> Result<Received, Closing> {
        match received {
            None | Some(Ok(Message::Close(_))) => Ok(Received::Gone),
            Some(Ok(Message::Binary(bytes))) => {
                self.on_binary(bytes).await.map(|()| Received::Heard)
            }
            Some(Ok(Message::Pong(_))) => Ok(Received::Heard),
            Some(Ok(Message::Text(_))) => Err(Closing {
                code: CloseCode::Protocol,
                reason: "a text message; this protocol sends binary RPC frames".into(),
            }),
            Some(Ok(_ping_or_raw_frame)) => Ok(Received::Other),
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                Err(Closing {
                    code: CloseCode::Size,
                    reason: format!("a message of {size} bytes, over the limit of {max_size}"),
                })
            }
            Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                tracing::debug!(peer = %self.peer, "client left without a Close frame");
                Ok(Received::Gone)
            }
            Some(Err(WsError::Protocol(e))) => Err(Closing {
                code: CloseCode::Protocol,
                reason: format!("a WebSocket protocol error: {e}"),
            }),
            Some(Err(e)) => {
                tracing::debug!(peer = %self.peer, "connection lost: {e}");
                Ok(Received::Gone)
            }
        }
    }

    /// Takes the message's frames, runs the requests they complete and sends their replies.
    /// The message is dropped once its frames are taken: the requests hold a copy of what
    /// they need, and a large request is decoded meanwhile.
    async fn on_binary(&mut self, bytes: Bytes) -> Result<(), Closing> {
        let requests = self.take_frames(&bytes).await?;
        drop(bytes);
        let replies = Arc::new(Mutex::new(Vec::new()));
        let emit = {
            let replies = replies.clone();
            move |chunk: &[u8]| replies.lock().expect("not poisoned").push(chunk.to_vec())
        };
        let responses = self.endpoint.run_handlers((), requests).await;
        for response in responses {
            if let Err(e) = crate::reply::encode(&mut self.dispatcher, response, emit.clone()) {
                tracing::error!(peer = %self.peer, "cannot encode a reply: {e:?}");
            }
        }
        let replies = std::mem::take(&mut *replies.lock().expect("not poisoned"));
        self.send_replies(replies).await
    }

    /// Feeds the message's frames to the requests, yielding now and then; returns the
    /// requests it completes.
    async fn take_frames(&mut self, bytes: &[u8]) -> Result<Vec<requests::Request>, Closing> {
        let mut complete = Vec::new();
        for (n, frame) in frames(bytes).enumerate() {
            let frame = frame.map_err(|reason| Closing {
                code: CloseCode::Invalid,
                reason,
            })?;
            complete.extend(self.requests.take(frame).map_err(refused)?);
            if n % FRAMES_PER_TURN == FRAMES_PER_TURN - 1 {
                tokio::task::yield_now().await;
            }
        }
        Ok(complete)
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
            Ok(Err(WsError::WriteBufferFull(_))) => Err(not_reading()),
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

/// How a refused request closes the connection.
fn refused(refusal: Refusal) -> Closing {
    let (code, reason) = match refusal {
        Refusal::Malformed(reason) => (CloseCode::Invalid, reason),
        Refusal::TooBig(reason) => (CloseCode::Size, reason),
        Refusal::TooMany(reason) => (CloseCode::Policy, reason),
        Refusal::Busy(reason) => (CloseCode::Again, reason),
    };
    Closing { code, reason }
}

/// The client does not take what the server sends (Pongs, replies, Pings).
fn not_reading() -> Closing {
    Closing {
        code: CloseCode::Policy,
        reason: format!(
            "the client does not read what the server sends (up to {MAX_UNREAD} bytes wait)"
        ),
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
