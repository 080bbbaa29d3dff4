"""pytest-benchmark timings of 1 KiB calls; left out by default, run with `-m benchmark`."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from simd_r_drive_ws_client import DataStoreWsClient

pytestmark = pytest.mark.benchmark

VALUE = os.urandom(1024)
NewKey = Callable[[], bytes]


def test_write_1kib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    key = new_key()
    benchmark(client.write, key, VALUE)
    assert client.read(key) == VALUE


def test_read_1kib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    key = new_key()
    client.write(key, VALUE)
    assert benchmark(client.read, key) == VALUE


def test_batch_read_16_x_1kib(
    benchmark: BenchmarkFixture, client: DataStoreWsClient, new_key: NewKey
) -> None:
    keys = [new_key() for _ in range(16)]
    client.batch_write([(key, VALUE) for key in keys])
    assert benchmark(client.batch_read, keys) == [VALUE] * 16
