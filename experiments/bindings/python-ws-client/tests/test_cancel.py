"""A call cut short by its timeout leaves the connection usable, against the real server.

The README promises that after a `TimeoutError` the connection stays open. When a write
times out while it is being sent, the client sends the part it has and then a Cancel frame;
the server must drop that request and go on. The fake servers in conftest.py cannot show
this (they never answer), so this test runs its own server binary, stops it with SIGSTOP so
that a large write cannot be sent in full, and lets it go on with SIGCONT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simd_r_drive_ws_client import DataStoreWsClient

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="uses SIGSTOP and SIGCONT"),
]

BINARY_NAME = "simd-r-drive-ws-server"
# More than the socket buffers of both ends (2.75 MiB measured on Linux loopback with the
# server stopped) and the client's send queue (8 MiB) take, so that a stopped server
# leaves part of it unsent.
VALUE_SIZE = 16 << 20
READY_SECONDS = 30.0
READY_PREFIX = "listening on ws://127.0.0.1:"
# The server's idle window (`--idle-timeout`), longer than any stop here. The server stays
# stopped for a whole call timeout, which is three whole writes: on a loaded machine that
# went past the default 30 s (41 to 52 s at load 14, the warm-up write taking 13 to 17 s),
# and a server that wakes up after its idle window closes the connection as silent ("no
# request and no Pong for 30s"), which is not the client's doing nor what is tested here.
IDLE_SECONDS = 3600


def _server_binary() -> Path | None:
    """`XTASK_SERVER_BIN` if set (as `cargo xtask` honours it), else the newest built one."""
    named = os.environ.get("XTASK_SERVER_BIN")
    if named:
        return Path(named)
    root = Path(__file__).resolve().parents[4]
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    built = [target / profile / BINARY_NAME for profile in ("debug", "release")]
    found = [path for path in built if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime, default=None)


class OwnServer:
    """A server process of this test's own, on an ephemeral port, with a temporary store."""

    def __init__(self, binary: Path, folder: str) -> None:
        self.log_path = os.path.join(folder, "server.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(binary), os.path.join(folder, "store.bin"), "--port", "0"]
                + ["--idle-timeout", str(IDLE_SECONDS)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self.port = self._wait_ready()

    def _wait_ready(self) -> int:
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.append(self.process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(READY_SECONDS)
        line = lines[0] if lines else ""
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise AssertionError(f"the server did not say it listens: {line!r}; {self.log()}")
        return int(line[len(READY_PREFIX) :].strip())

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        """What the server has logged so far."""
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            return log.read()


@pytest.fixture
def own_server() -> Iterator[OwnServer]:
    binary = _server_binary()
    if binary is None:
        pytest.skip(f"no {BINARY_NAME} built; run `cargo xtask pytest` (it builds it)")
    with tempfile.TemporaryDirectory() as folder:
        server = OwnServer(binary, folder)
        try:
            yield server
        finally:
            server.stop()


def _call_timeout_for(value: bytes, port: int) -> float:
    """A call timeout that the client's encoding and queueing of `value` fit well within
    on this machine now (a dev build, maybe under load): from a whole write of it. The
    margin is wide because a timeout that fires while the value is still being encoded
    (before any of it is queued) would not test a cut-short send at all."""
    started = time.monotonic()
    DataStoreWsClient("127.0.0.1", port, call_timeout=30.0).write(b"warm-up", value)
    return max(2.0, 3.0 * (time.monotonic() - started) + 1.0)


@pytest.mark.slow  # waits out a call timeout sized to three whole 16 MiB writes, by design
def test_a_write_cut_short_by_its_timeout_leaves_the_client_usable(own_server: OwnServer) -> None:
    value = os.urandom(VALUE_SIZE)  # random: the size on the wire is the real one
    call_timeout = _call_timeout_for(value, own_server.port)
    client = DataStoreWsClient("127.0.0.1", own_server.port, call_timeout=call_timeout)
    client.write(b"before", b"1")
    own_server.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        # The message says that part of the request was still queued: it was cut short.
        with pytest.raises(TimeoutError, match="waiting to be sent"):
            client.write(b"cut-short", value)
        took = time.monotonic() - started
    finally:
        own_server.signal(signal.SIGCONT)
    # Bounded by the timeout, not by the stopped server (a busy machine may be late to wake).
    assert took < call_timeout + 10.0, f"the write took {took:.2f} s to time out"
    # The server now reads the part that was sent, then the Cancel frame, and goes on.
    try:
        client.write(b"after", b"2")
    except ConnectionError as error:
        raise AssertionError(f"{error}; the server's log:\n{own_server.log()}") from error
    assert client.read(b"after") == b"2"
    assert client.read(b"before") == b"1"
    assert client.read(b"cut-short") is None, "a cancelled write was stored"
    assert client.is_connected()
