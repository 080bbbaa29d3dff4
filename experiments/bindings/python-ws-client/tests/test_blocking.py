"""Calls that get no answer: `call_timeout` ends them, and so do Ctrl-C and other signals.

The fake server completes the WebSocket handshake and then never answers a call.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from conftest import FakeWsServer, interrupt_child
from simd_r_drive_ws_client import DataStoreWsClient

pytestmark = pytest.mark.unit

# How long a call may take to notice a timeout or a signal.
PROMPT_SECONDS = 2.0
# How long a child process may take to start, import the package and send its call.
START_SECONDS = 10.0


def test_a_call_without_answer_raises_timeout_error(fake_server: FakeWsServer) -> None:
    client = DataStoreWsClient("127.0.0.1", fake_server.port, call_timeout=0.3)
    expected = re.escape(f"no answer from 127.0.0.1:{fake_server.port} within 0.3 s (call_timeout)")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=expected):
        client.read(b"k")
    assert 0.3 <= time.monotonic() - started < PROMPT_SECONDS
    assert client.is_connected(), "a timeout must not close the connection"


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_call_timeout_is_a_value_error(closed_port: int, timeout: float) -> None:
    with pytest.raises(ValueError, match="call_timeout"):
        DataStoreWsClient("127.0.0.1", closed_port, call_timeout=timeout)


class Alarm(Exception):
    """Raised by the test's SIGALRM handler."""


@pytest.fixture
def alarm_raises() -> Iterator[None]:
    """SIGALRM raises `Alarm` while the test runs, unless a Ctrl-C came first: an alarm
    raised while the KeyboardInterrupt unwinds would replace it, and a stopped run would
    count this test as failed (`Alarm` outside `pytest.raises`) instead of interrupted."""
    if not hasattr(signal, "setitimer"):
        pytest.skip("needs signal.setitimer")
    interrupted = False

    def on_alarm(signum: int, frame: object) -> None:
        if not interrupted:
            raise Alarm()

    def on_interrupt(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    previous_alarm = signal.signal(signal.SIGALRM, on_alarm)
    previous_interrupt = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGINT, previous_interrupt)


@pytest.mark.usefixtures("alarm_raises")
def test_a_signal_handler_runs_during_a_call(fake_server: FakeWsServer) -> None:
    # The call_timeout only keeps a regression from hanging the suite.
    client = DataStoreWsClient("127.0.0.1", fake_server.port, call_timeout=5.0)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    started = time.monotonic()
    with pytest.raises(Alarm):
        client.read(b"k")
    assert time.monotonic() - started < PROMPT_SECONDS


# Calls `read` on a server that never answers, with no call_timeout: only Ctrl-C ends it.
BLOCKED_CHILD = """
import sys
from simd_r_drive_ws_client import DataStoreWsClient

client = DataStoreWsClient("127.0.0.1", int(sys.argv[1]), call_timeout=None)
try:
    client.read(b"k")
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(3)
print("read returned", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_stops_a_call_that_would_wait_forever(fake_server: FakeWsServer) -> None:
    code, out, err, took = interrupt_child(BLOCKED_CHILD, fake_server, PROMPT_SECONDS)
    assert (code, out) == (3, "KeyboardInterrupt\n"), err
    assert took < PROMPT_SECONDS
