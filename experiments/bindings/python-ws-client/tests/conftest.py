"""Fixtures: the server address from the environment, clients, unique keys, fake servers."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from simd_r_drive_ws_client import DataStoreWsClient

HOW_TO_RUN = "`cargo xtask pytest` (it starts a server and sets TEST_SERVER_HOST/TEST_SERVER_PORT)"


@pytest.fixture(scope="session")
def server_address() -> tuple[str, int]:
    """The server under test; integration tests are skipped when it is not given."""
    host = os.environ.get("TEST_SERVER_HOST")
    port = os.environ.get("TEST_SERVER_PORT")
    if not host or not port:
        pytest.skip(f"no server: TEST_SERVER_HOST/TEST_SERVER_PORT are not set; run {HOW_TO_RUN}")
    return host, int(port)


@pytest.fixture
def client(server_address: tuple[str, int]) -> DataStoreWsClient:
    host, port = server_address
    return DataStoreWsClient(host, port)


@pytest.fixture
def new_key() -> Callable[[], bytes]:
    """Makes keys no other test (or earlier run against the same store) has used."""
    return lambda: b"pytest-" + uuid.uuid4().bytes


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: bound once by us, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (into the backlog) but never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


class FakeWsServer:
    """Completes one WebSocket handshake, then stays silent until `hang_up()`.

    Enough for tests of argument checks and of a server that goes away; it answers no call.
    """

    GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.connection: socket.socket | None = None
        self.connected = threading.Event()
        self.received = threading.Event()
        threading.Thread(target=self._accept_one, daemon=True).start()

    def _accept_one(self) -> None:
        try:
            self._serve_one()
        except OSError:
            pass  # the test is over, or the client hung up first

    def _serve_one(self) -> None:
        connection, _ = self.listener.accept()
        self.connection = connection
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(4096)
            connection.sendall(self._handshake_reply(request))
            self.connected.set()
            while connection.recv(65536):
                self.received.set()

    def _handshake_reply(self, request: bytes) -> bytes:
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + self.GUID).digest())
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )

    def hang_up(self) -> None:
        """Closes the connection as a crashed server would: the client just sees EOF."""
        assert self.connected.wait(5), "the client never connected"
        self._shut_down()

    def close(self) -> None:
        self.listener.close()
        self._shut_down()

    def _shut_down(self) -> None:
        # `shutdown` wakes the serving thread, which then closes the socket itself.
        if self.connection is not None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


@pytest.fixture
def fake_server() -> Iterator[FakeWsServer]:
    server = FakeWsServer()
    yield server
    server.close()


@pytest.fixture
def offline_client(fake_server: FakeWsServer) -> DataStoreWsClient:
    """A connected client whose server never answers: for checks made before any call."""
    return DataStoreWsClient("127.0.0.1", fake_server.port)
