"""The Rust extension: the connection, its calls and the key hasher."""

from collections.abc import Sequence

from ._structured import BytesLike

MAX_VALUE_SIZE: int
"""The largest value the server stores: 67108864 bytes (64 MiB).

``write`` and ``batch_write`` raise ``ValueError`` for a larger value before sending any of
it. Split a bigger object across several keys.
"""

class ServerError(RuntimeError):
    """The server ran the call and reported a failure; the message is the server's reason."""

class DataStoreWsClient:
    """One WebSocket connection to a simd-r-drive server.

    Every call blocks the calling thread until the server answers, with the GIL released,
    so other Python threads run meanwhile. A client is safe to share between threads, but
    the server answers one connection's calls largely one after another, so a big call
    delays the small ones behind it: for parallel throughput, give each thread its own
    client. The connection closes when the client is garbage collected.

    Keys and values are bytes-like: ``bytes``, ``bytearray`` or ``memoryview``. Anything
    else, ``str`` included, raises ``TypeError``.

    Raises ``ConnectionError`` when the connection cannot be made or is lost; once lost, a
    client stays unusable, so make a new one. Raises ``ServerError`` when the server
    refuses a call, and ``TimeoutError`` when it does not answer within ``call_timeout``.
    A waiting call still runs Python's signal handlers, so Ctrl-C stops it with
    ``KeyboardInterrupt``.

    What is guaranteed, whatever the size of the value (up to ``MAX_VALUE_SIZE``):

    - a call raises ``TimeoutError`` within about 100 ms after ``call_timeout``, and
      Ctrl-C (or any signal handler that raises) stops it within about 100 ms, beyond the
      time Python takes to copy the arguments;
    - a call that timed out or was interrupted keeps nothing in the client: its reply, if
      it ever comes, is dropped;
    - requests wait in a send queue of at most 8 MiB per client; when the server stops
      reading, a call waits for room there, within its ``call_timeout``, and the client
      does not grow. The ``TimeoutError`` then says how many bytes were waiting.

    A client belongs to the process that made it: after ``os.fork()``, its calls in the
    child raise ``ConnectionError``; create a new client in the child.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tcp_nodelay: bool = True,
        connect_timeout: float = 5.0,
        call_timeout: float | None = 60.0,
    ) -> None:
        """Connects to ``ws://host:port/ws``.

        ``tcp_nodelay`` disables Nagle's algorithm on the socket; leave it on: with it
        off, a call can wait for a delayed ACK (40 ms or more) instead of well under a
        millisecond. Raises ``ConnectionError`` when nothing listens, or when connecting
        takes longer than ``connect_timeout`` seconds.

        ``call_timeout`` bounds each later call, in seconds: a call with no answer by then
        raises ``TimeoutError``. The client only stops waiting: the server may still carry
        the call out (a write may still land), and the connection stays open. ``None``
        waits as long as it takes. Both timeouts must be positive and finite, or
        ``ValueError`` is raised.
        """

    def write(self, key: BytesLike, data: BytesLike) -> None:
        """Stores ``data`` under ``key``, replacing any earlier value.

        Raises ``ValueError`` for an empty value and for ``b"\\x00"``: the engine refuses
        empty payloads and keeps a lone NULL byte as its deletion marker. Also raises
        ``ValueError`` for a value over ``MAX_VALUE_SIZE`` (64 MiB), before sending it.

        A write that times out or is interrupted may still land, whole or not at all: a
        request the server received in part is cancelled, never stored in part.
        """

    def batch_write(self, entries: Sequence[tuple[BytesLike, BytesLike]]) -> None:
        """Stores every ``(key, data)`` pair in one call; the same value rules as ``write``."""

    def read(self, key: BytesLike) -> bytes | None:
        """The value stored under ``key``, or ``None``."""

    def batch_read(self, keys: Sequence[BytesLike]) -> list[bytes | None]:
        """The values of ``keys`` in one call, in order, ``None`` where a key is missing."""

    def exists(self, key: BytesLike) -> bool:
        """Whether ``key`` holds a value."""

    def __contains__(self, key: BytesLike) -> bool:
        """``key in client`` is ``client.exists(key)``."""

    def delete(self, key: BytesLike) -> None:
        """Removes ``key``; deleting a missing key is not an error."""

    def __len__(self) -> int:
        """The number of keys that hold a value."""

    def is_empty(self) -> bool:
        """Whether no key holds a value."""

    def file_size(self) -> int:
        """The size of the server's storage file, in bytes."""

    def is_connected(self) -> bool:
        """Whether the connection is still up; calls on a lost connection fail at once.

        ``False`` in a child forked after the client was made.
        """

class NamespaceHasher:
    """Builds fixed-size keys in a namespace, exactly like ``simd_r_drive::utils::NamespaceHasher``.

    A key is 16 bytes: the XXH3-64 hash of the prefix, then that of the key, each
    little-endian. Equal keys under different prefixes never collide by construction.
    """

    def __init__(self, prefix: BytesLike) -> None: ...
    def namespace(self, key: BytesLike) -> bytes:
        """The 16-byte namespaced form of ``key``."""
