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

# How long a 64 MiB call may work before its timeout ends it (CPU time), or take to stop
# after a signal. The old encoder took 3 s or more of CPU (3.5 to 6 s measured again with
# it put back); the copy Python makes of the arguments takes tens of milliseconds.
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
    # The call runs on this thread (the bindings' `block_on`), so an encoder that keeps
    # the timeout from firing spends its seconds here. This thread's CPU time counts them
    # and not the time a loaded machine keeps the thread waiting for a core: at load 20
    # to 40 the same 0.1 s of work took 1.03 to 1.88 s of wall-clock time.
    started = time.thread_time()
    with pytest.raises(TimeoutError):
        client.write(b"k", value)
    spent = time.thread_time() - started
    assert spent < PROMPT_SECONDS, f"the call spent {spent:.2f} s of CPU before its TimeoutError"
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


# The client's send queue, in bytes (SEND_QUEUE_LIMIT in ws-transport's limits.rs).
SEND_QUEUE_LIMIT = 8 << 20
# How much the client may grow: the full queue, tungstenite's buffer, the threads' own.
STOPPED_SERVER_BOUND = 3 * SEND_QUEUE_LIMIT
# How many writes must time out with the queue at least half full: without a bound on the
# queue, each of them adds its 1 MiB, and together they go well past STOPPED_SERVER_BOUND.
FULL_QUEUE_WRITES = 60

# Writes of 1 MiB that time out after 0.1 s, from four threads at a time, to a server that
# stopped reading, until FULL_QUEUE_WRITES of them found the queue at least half full. How
# many writes that takes depends on the load: a loaded machine may not even encode a
# request within 0.1 s, and such a call ends before its request reaches the queue. Then,
# the growth once what the abandoned calls left running has ended: a call's encoding on
# tokio's blocking pool goes on after its timeout, holding its copy of the value.
STOPPED_SERVER_CHILD = RSS + """
import os, re, time
from concurrent.futures import ThreadPoolExecutor
from simd_r_drive_ws_client import DataStoreWsClient

queue_limit, bound, full_writes = (int(arg) for arg in sys.argv[2:])
QUEUED = re.compile(r"(\\d+) bytes of requests were still waiting to be sent")
client = DataStoreWsClient("127.0.0.1", int(sys.argv[1]), call_timeout=0.1)
value = os.urandom(1 << 20)

def found_queue_full(n):
    try:
        client.write(n.to_bytes(8, "little"), value)
    except TimeoutError as error:
        queued = QUEUED.search(str(error))
        return queued is not None and int(queued[1]) >= queue_limit // 2
    raise SystemExit("a stopped server answered")

before = rss()
full = writes = 0
deadline = time.monotonic() + 60
with ThreadPoolExecutor(4) as pool:
    while full < full_writes:
        if time.monotonic() > deadline:
            raise SystemExit(f"in 60 s, only {full} of {writes} writes found the queue full")
        full += sum(pool.map(found_queue_full, range(writes, writes + 4)))
        writes += 4
grown = rss() - before
deadline = time.monotonic() + 30
while grown >= bound and time.monotonic() < deadline:
    time.sleep(0.05)
    grown = rss() - before
print(grown, writes)
"""


@pytest.mark.slow  # 60 calls or more that time out after 0.1 s, four at a time: 1.7 s or more
def test_a_stopped_server_cannot_grow_the_client(stopped_server: FakeWsServer) -> None:
    limits = [SEND_QUEUE_LIMIT, STOPPED_SERVER_BOUND, FULL_QUEUE_WRITES]
    # glibc keeps freed blocks under its mmap threshold for reuse, and how many it keeps
    # grows with how many calls overlapped, that is with the load (up to 52 MiB at load 20
    # to 40): at 64 KiB, every request buffer and frame is given back to the system when
    # freed, so that the RSS counts what the client holds. The queue full: 9.4 MiB.
    malloc = {"MALLOC_MMAP_THRESHOLD_": str(64 << 10)}
    grown, writes = _run_child(STOPPED_SERVER_CHILD, stopped_server.port, limits, malloc).split()
    assert int(grown) < STOPPED_SERVER_BOUND, (
        f"{writes} timed-out 1 MiB writes, {FULL_QUEUE_WRITES} of them with the send queue "
        f"full, grew the client by {grown} bytes"
    )


def _run_child(
    script: str, port: int, args: list[int] | None = None, env: dict[str, str] | None = None
) -> str:
    """Runs `script` with `port` and `args` as its arguments and `env` added to its
    environment; returns its stdout, stripped."""
    child = subprocess.run(
        [sys.executable, "-c", script, str(port), *map(str, args or [])],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert child.returncode == 0, child.stderr
    return child.stdout.strip()
