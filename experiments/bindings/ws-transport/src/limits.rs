//! The sizes that bound what one connection holds in memory.

/// The largest value (payload) the server stores: 64 MiB. The server refuses a larger one
/// after receiving it in full; the client checks first, so that nothing is sent in vain.
pub const MAX_VALUE_SIZE: usize = 64 << 20;

/// How many bytes of requests may wait to be sent on one connection. A call that finds the
/// queue full waits for room (within its timeout) instead of growing memory: when the
/// server stops reading, the client holds at most this much plus the socket's buffers.
pub const SEND_QUEUE_LIMIT: usize = 8 << 20;

/// The payload size of one frame, as muxio's own callers use. A request is encoded one
/// frame at a time, so that its cost is linear in its size and a large one yields often.
pub(crate) const FRAME_PAYLOAD_SIZE: usize = 64 << 10;

/// Arguments and replies at least this large are encoded and decoded on tokio's blocking
/// pool rather than in the calling task; smaller ones are not worth the hop.
pub(crate) const ENCODE_APART_SIZE: usize = 1 << 20;

/// The most one reply may carry: the largest value plus 1 MiB for framing and the other
/// fields. A reply that grows past it (a server, or anyone on a plain `ws://` path,
/// streaming chunks for one call) fails its call instead of growing the process until it
/// dies. A `batch_read` whose values together are larger fails the same way: read such
/// values one at a time.
pub const MAX_REPLY_SIZE: usize = MAX_VALUE_SIZE + (1 << 20);
