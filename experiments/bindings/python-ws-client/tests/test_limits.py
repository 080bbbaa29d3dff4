"""Large values stay interruptible, oversized ones are refused before they are sent, and
calls that time out leave nothing behind, even when the server stops reading.

The fake servers complete the WebSocket handshake and then never answer: one reads and
drops what it gets, the other reads nothing, like a SIGSTOPped server. The memory checks
run in a child process, which holds nothing else.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import FakeWsServer, interrupt_child
from simd_r_drive_ws_client import MAX_VALUE_SIZE, DataStoreWsClient

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(sys.platform == "win32", reason="uses signals and the resource module"),
]

# How long a 64 MiB call may take to stop after its timeout or a signal. The old encoder
# took 3 s or more; the copy Python makes of the arguments takes tens of milliseconds.
PROMPT_SECONDS = 1.0
# How long a child process may take to start, import the package and send its call.
START_SECONDS = 10.0


def test_max_value_size_is_64_mib() -> None:
    assert MAX_VALUE_SIZE == 64 * 1024 * 1024


def test_a_value_over_the_limit_is_refused_before_it_is_sent(fake_server: FakeWsServer) -> None:
    # The timeout only keeps a client that sends the value from hanging the test.
    client = DataStoreWsClient("127.0.0.1", fake_server.port, call_timeout=5.0)
    too_big = bytes(MAX_VALUE_SIZE + 1)
    expected = re.escape("the limit is MAX_VALUE_SIZE = 67108864 bytes (64 MiB); split it")
    with pytest.raises(ValueError, match=expected):
        client.write(b"k", too_big)
    with pytest.raises(ValueError, match="entry 1: .*MAX_VALUE_SIZE"):
        client.batch_write([(b"a", b"ok"), (b"b", too_big)])
    assert fake_server.connected.is_set()
    assert not fake_server.received.is_set(), "the client sent a value it should refuse"


def test_a_large_write_times_out_promptly(fake_server: FakeWsServer) -> None:
    value = os.urandom(MAX_VALUE_SIZE)  # random: the size on the wire is the real one
    client = DataStoreWsClient("127.0.0.1", fake_server.port, call_timeout=0.01)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.write(b"k", value)
    took = time.monotonic() - started
    assert took < PROMPT_SECONDS, f"TimeoutError came {took:.2f} s after the call started"
    assert client.is_connected()


# Writes 64 MiB to a server that reads and never answers: only Ctrl-C ends it.
LARGE_WRITE_CHILD = """
import os, sys
from simd_r_drive_ws_client import MAX_VALUE_SIZE, DataStoreWsClient

value = os.urandom(MAX_VALUE_SIZE)
client = DataStoreWsClient("127.0.0.1", int(sys.argv[1]), call_timeout=None)
try:
    client.write(b"k", value)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(3)
print("write returned", flush=True)
"""


# Slow by design: a Python child starts, imports the bindings, fills 64 MiB and is under way
# before the SIGINT (1.1 to 1.5 s on a quiet machine, over the unit budget on every run).
@pytest.mark.slow
def test_ctrl_c_stops_a_large_write(fake_server: FakeWsServer) -> None:
    code, out, err, took = interrupt_child(LARGE_WRITE_CHILD, fake_server, START_SECONDS)
    assert (code, out) == (3, "KeyboardInterrupt\n"), err
    assert took < PROMPT_SECONDS, f"the child stopped {took:.2f} s after SIGINT"


# The child's resident set size in bytes, from `ps` (on Linux and macOS alike).
RSS = """
import os, subprocess, sys

def rss():
    ps = ["ps", "-o", "rss=", "-p", str(os.getpid())]
    return int(subprocess.run(ps, capture_output=True, text=True, check=True).stdout) * 1024
"""

# 20,000 calls that time out against a server that never answers, from 16 threads so that
# the timer's granularity (about 1 ms a call, spent waiting) does not add up: with four,
# the test took 7.9 s.
TIMED_OUT_CALLS_CHILD = RSS + """
from concurrent.futures import ThreadPoolExecutor
from simd_r_drive_ws_client import DataStoreWsClient

client = DataStoreWsClient("127.0.0.1", int(sys.argv[1]), call_timeout=1e-6)
THREADS = 16

def timed_out_calls(count):
    for n in range(count):
        try:
            client.read(n.to_bytes(8, "little"))
        except TimeoutError:
            continue
        raise SystemExit("a server that never answers answered")

def in_threads(count):
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(timed_out_calls, [count // THREADS] * THREADS))

in_threads(4_000)  # the allocator's and the threads' own growth, before the measure
before = rss()
in_threads(20_000)
print(rss() - before)
"""


@pytest.mark.slow
def test_calls_that_time_out_leave_nothing_behind(fake_server: FakeWsServer) -> None:
    grown = _run_child(TIMED_OUT_CALLS_CHILD, fake_server.port)
    # Without the fix each call kept its reply handler: 20,000 of them held 6.7 to 9 MiB.
    assert int(grown) < 2 << 20, f"20,000 timed-out calls grew the client by {grown} bytes"


# 60 writes of 1 MiB, each timing out, to a server that stopped reading; from four threads,
# so that the 60 timeouts do not add up (6 s one after the other).
STOPPED_SERVER_CHILD = RSS + """
import os
from concurrent.futures import ThreadPoolExecutor
from simd_r_drive_ws_client import DataStoreWsClient

# 0.1 s: time for a dev build of the bindings to encode 1 MiB and queue it, under load too;
# with 0.02 s, every call ended before its request reached the queue.
client = DataStoreWsClient("127.0.0.1", int(sys.argv[1]), call_timeout=0.1)
value = os.urandom(1 << 20)

def write(n):
    try:
        client.write(n.to_bytes(8, "little"), value)
    except TimeoutError as error:
        return "bytes of requests were still waiting to be sent" in str(error)
    raise SystemExit("a stopped server answered")

before = rss()
with ThreadPoolExecutor(4) as pool:
    queue_full = sum(pool.map(write, range(60)))
print(rss() - before)
print(queue_full)
"""


@pytest.mark.slow  # 60 calls that time out after 0.1 s, four at a time: 1.5 s by design
def test_a_stopped_server_cannot_grow_the_client(stopped_server: FakeWsServer) -> None:
    grown, queue_full = _run_child(STOPPED_SERVER_CHILD, stopped_server.port).split("\n", 1)
    # The send queue holds 8 MiB; with each write's own copies and the four threads' own
    # allocations, 21 to 24 MiB were measured (13 MiB from one thread). Without a bound, the
    # 60 MiB of requests all stay in memory.
    assert int(grown) < 40 << 20, f"60 timed-out 1 MiB writes grew the client by {grown} bytes"
    # Which calls find the queue full depends on timing; that some do, does not.
    assert int(queue_full) > 0, "no TimeoutError said that requests were waiting to be sent"


def _run_child(script: str, port: int) -> str:
    """Runs `script` with `port` as its argument; returns its stdout, stripped."""
    child = subprocess.run(
        [sys.executable, "-c", script, str(port)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    return child.stdout.strip()
