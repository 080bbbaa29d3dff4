"""pytest-benchmark timings of the operations `cargo xtask bench` compares with native Rust
(`ws-transport/examples/bench.rs` does the same calls). Left out by default; run them with
`cargo xtask bench`, or `-m benchmark`.

Each test names its operation in `extra_info["op"]`, which is how xtask pairs the figures.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from simd_r_drive_ws_client import DataStoreWsClient

pytestmark = pytest.mark.benchmark

SMALL = os.urandom(1024)
LARGE = os.urandom(1024 * 1024)
BATCH = 16
NewKey = Callable[[], bytes]


def test_write_1kib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    benchmark.extra_info["op"] = "write 1 KiB"
    key = new_key()
    benchmark(client.write, key, SMALL)
    assert client.read(key) == SMALL


def test_read_1kib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    benchmark.extra_info["op"] = "read 1 KiB"
    key = new_key()
    client.write(key, SMALL)
    assert benchmark(client.read, key) == SMALL


def test_write_read_1kib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    benchmark.extra_info["op"] = "write+read 1 KiB"
    key = new_key()

    def write_read() -> bytes | None:
        client.write(key, SMALL)
        return client.read(key)

    assert benchmark(write_read) == SMALL


def test_batch_read_16_x_1kib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    benchmark.extra_info["op"] = "batch_read 16x1 KiB"
    keys = [new_key() for _ in range(BATCH)]
    client.batch_write([(key, SMALL) for key in keys])
    assert benchmark(client.batch_read, keys) == [SMALL] * BATCH


def test_batch_write_16_x_1kib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    benchmark.extra_info["op"] = "batch_write 16x1 KiB"
    keys = [new_key() for _ in range(BATCH)]
    benchmark(client.batch_write, [(key, SMALL) for key in keys])
    assert client.batch_read(keys) == [SMALL] * BATCH


def test_read_1mib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    benchmark.extra_info["op"] = "read 1 MiB"
    key = new_key()
    client.write(key, LARGE)
    assert benchmark(client.read, key) == LARGE
