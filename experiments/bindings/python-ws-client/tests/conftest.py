"""Fixtures: the server address from the environment, clients, unique keys, fake servers;
a plugin that shows the server's log lines in the report of a failing test; and the checks
that keep the stages whole (every test in exactly one of unit, integration, e2e)."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from simd_r_drive_ws_client import DataStoreWsClient

HOW_TO_RUN = "`cargo xtask pytest` (it starts a server and sets TEST_SERVER_HOST/TEST_SERVER_PORT)"

# The server's log, as `cargo xtask pytest` passes it: how long it was when each test began.
SERVER_LOG = os.environ.get("TEST_SERVER_LOG")
LOG_START = pytest.StashKey[int]()
# Lines of server log shown at most under one failing test.
LOG_LINES_SHOWN = 200


def _log_size() -> int | None:
    if not SERVER_LOG:
        return None
    try:
        return os.path.getsize(SERVER_LOG)
    except OSError:
        return None


def _log_since(start: int) -> str:
    """The log lines written since `start`, the last LOG_LINES_SHOWN of them."""
    assert SERVER_LOG
    with open(SERVER_LOG, "rb") as log:
        log.seek(start)
        lines = log.read().decode("utf-8", errors="replace").splitlines()
    if not lines:
        return f"(the server wrote nothing to {SERVER_LOG} during this test)"
    left_out = len(lines) - LOG_LINES_SHOWN
    shown = lines[-LOG_LINES_SHOWN:]
    if left_out > 0:
        shown.insert(0, f"({left_out} earlier lines left out; the whole log: {SERVER_LOG})")
    return "\n".join(shown)


# The stages `cargo xtask ci` runs in order; every test belongs to exactly one.
STAGES = ("unit", "integration", "e2e")
# Where `cargo xtask` wants the number of selected tests, to show progress out of it.
COLLECTED_FILE = os.environ.get("XTASK_COLLECTED_FILE")
# Where `cargo xtask pytest` wants the ids of failed tests, to print how to rerun each.
FAILED_FILE = os.environ.get("XTASK_FAILED_FILE")
# The test files `cargo xtask ci --changed` runs first in each stage (those that changed),
# one a line, from the bindings' folder.
FIRST_FILES = set(os.environ.get("XTASK_FIRST_FILES", "").splitlines())
# The repository root, when `cargo xtask` runs pytest (in the bindings' folder). pytest
# names a failure's files relative to the folder it started in, or absolutely when the
# current folder is another one as it writes the report: from here, a path can be opened
# from the root as well as from the bindings' folder.
XTASK_ROOT = os.environ.get("XTASK_ROOT")

# The scratch tests that xtask's `watch` tests write here and remove; one that a killed
# test process left behind is not collected, except by the watcher those tests start.
collect_ignore_glob = [] if "XTASK_WATCH_SCRATCH" in os.environ else ["test_watch_scratch_*"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuses a test in no stage or in two: the stages would run it never, or twice. Then
    moves the tests of the changed files first, keeping the order of the rest."""
    wrong = [
        item.nodeid
        for item in items
        if item.get_closest_marker("benchmark") is None
        and sum(item.get_closest_marker(stage) is not None for stage in STAGES) != 1
    ]
    if wrong:
        listed = "\n  ".join(wrong)
        raise pytest.UsageError(
            f"these tests must be marked with exactly one of {', '.join(STAGES)} "
            f"(e.g. `pytestmark = pytest.mark.unit`):\n  {listed}"
        )
    if FIRST_FILES:
        items.sort(key=lambda item: item.nodeid.split("::")[0] not in FIRST_FILES)


def pytest_collection_finish(session: pytest.Session) -> None:
    # Under xdist the controller collects nothing itself; its count would say 0.
    if COLLECTED_FILE and session.items:
        Path(COLLECTED_FILE).write_text(str(len(session.items)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if FAILED_FILE and report.failed:
        with open(FAILED_FILE, "a", encoding="utf-8") as failed:
            failed.write(report.nodeid + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    size = _log_size()
    if size is not None:
        item.stash[LOG_START] = size


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Adds the server's log lines written during a failing test to its report; under
    xtask, the report names files absolutely (see `XTASK_ROOT`)."""
    if XTASK_ROOT and call.excinfo is not None:
        started_in = os.getcwd()
        os.chdir(XTASK_ROOT)
        try:
            report = yield
        finally:
            os.chdir(started_in)
    else:
        report = yield
    start = item.stash.get(LOG_START, None)
    if report.failed and report.when in ("setup", "call") and start is not None:
        try:
            text = _log_since(start)
        except OSError as error:
            text = f"(cannot read the server log: {error})"
        report.sections.append((f"Captured server log {report.when}", text))
    return report


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
    It reads and drops what the client sends, or, with `reads=False`, reads nothing more,
    as a stopped (SIGSTOPped) server does; its small receive buffer then fills at once.
    """

    GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, reads: bool = True) -> None:
        self.listener = socket.socket()
        if not reads:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port: int = self.listener.getsockname()[1]
        self.reads = reads
        self.connection: socket.socket | None = None
        self.connected = threading.Event()
        self.received = threading.Event()
        self.closed = threading.Event()
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
            if not self.reads:
                self.closed.wait()
                return
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
        self.closed.set()
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
def stopped_server() -> Iterator[FakeWsServer]:
    """A server that completed the handshake and then stopped reading, like SIGSTOP."""
    server = FakeWsServer(reads=False)
    yield server
    server.close()


@pytest.fixture
def offline_client(fake_server: FakeWsServer) -> DataStoreWsClient:
    """A connected client whose server never answers: for checks made before any call."""
    return DataStoreWsClient("127.0.0.1", fake_server.port)


def interrupt_child(script: str, server: FakeWsServer, wait: float) -> tuple[int, str, str, float]:
    """Runs `script` in a child Python, with `server`'s port as its argument; once the
    child's call reaches the server, sends it SIGINT. Returns the child's exit code, stdout
    and stderr, and the seconds from SIGINT to its exit (it gets `wait` seconds)."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(server.port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Generous: a child Python starts, imports the bindings and makes its value first,
        # which takes many seconds on a loaded machine; a call that arrives ends the wait.
        assert server.received.wait(60.0), "the child's call never reached the server"
        interrupted = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=wait)
        return child.returncode, out, err, time.monotonic() - interrupted
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
