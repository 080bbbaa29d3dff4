"""The latency of a 1 KiB write plus its read on loopback, with TCP_NODELAY on and off.

A measurement, not a pass/fail test: a bound in milliseconds only holds on a quiet machine,
so it is marked `benchmark` and runs with `-m benchmark` (`pytest -s` shows the figures).
That Nagle's algorithm is off on both ends is checked by ws-transport's latency test, as a
ratio that holds under load; `cargo xtask bench` measures the latency itself.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import pytest

from simd_r_drive_ws_client import DataStoreWsClient

pytestmark = pytest.mark.benchmark



def median_write_read(
    client: DataStoreWsClient, new_key: Callable[[], bytes], rounds: int
) -> float:
    value = os.urandom(1024)
    samples = []
    for _ in range(rounds + 1):
        key = new_key()
        started = time.perf_counter()
        client.write(key, value)
        assert client.read(key) == value
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[1:])  # the first round warms up


def test_write_read_median(server_address: tuple[str, int], new_key: Callable[[], bytes]) -> None:
    fast = median_write_read(DataStoreWsClient(*server_address), new_key, rounds=300)
    nagle = median_write_read(
        DataStoreWsClient(*server_address, tcp_nodelay=False), new_key, rounds=20
    )
    print(
        f"\n1 KiB write+read median: tcp_nodelay=True {fast * 1e3:.3f} ms, "
        f"tcp_nodelay=False {nagle * 1e3:.3f} ms"
    )
    assert fast > 0 and nagle > 0
