//! The queue of WebSocket messages waiting for the write task, bounded in bytes.

use crate::limits::SEND_QUEUE_LIMIT;
use std::io;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// A message and the room it takes in the queue; the room is given back when the write
/// task has handed the message to the socket.
pub(crate) struct Queued {
    pub message: Message,
    pub room: Option<OwnedSemaphorePermit>,
}

/// The sending half. Request frames wait for room; the few small control messages (a
/// Cancel frame, a Close) skip the wait so that dropping a call never blocks.
#[derive(Clone)]
pub(crate) struct SendQueue {
    messages: mpsc::UnboundedSender<Queued>,
    room: Arc<Semaphore>,
}

impl SendQueue {
    pub fn new() -> (SendQueue, mpsc::UnboundedReceiver<Queued>) {
        let (messages, receiver) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(SEND_QUEUE_LIMIT));
        (SendQueue { messages, room }, receiver)
    }

    /// Queues `frame` once there is room for it. Fails with `ConnectionAborted` when the
    /// connection is closed, also while waiting.
    pub async fn send(&self, frame: Vec<u8>) -> io::Result<()> {
        let size = frame.len().clamp(1, SEND_QUEUE_LIMIT);
        let size = u32::try_from(size).expect("SEND_QUEUE_LIMIT fits in u32");
        let room = self.room.clone().acquire_many_owned(size).await;
        let room = room.map_err(|_closed| closed())?;
        self.push(Message::Binary(frame.into()), Some(room))
    }

    /// Queues a small control message at once, whatever the queue holds.
    pub fn send_now(&self, message: Message) -> io::Result<()> {
        self.push(message, None)
    }

    /// How many bytes of requests are queued and not yet handed to the socket.
    pub fn unsent_bytes(&self) -> usize {
        SEND_QUEUE_LIMIT.saturating_sub(self.room.available_permits())
    }

    /// Fails every waiting and later `send`.
    pub fn close(&self) {
        self.room.close();
    }

    fn push(&self, message: Message, room: Option<OwnedSemaphorePermit>) -> io::Result<()> {
        self.messages
            .send(Queued { message, room })
            .map_err(|_closed| closed())
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the connection is closed; make a new client",
    )
}
