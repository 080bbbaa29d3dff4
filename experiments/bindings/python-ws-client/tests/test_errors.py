"""Failures without a real server: no listener, a silent listener, bad arguments, hang-ups."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import FakeWsServer
from simd_r_drive_ws_client import DataStoreWsClient

pytestmark = pytest.mark.unit

BOUND_SECONDS = 5.0


def test_nothing_listening_is_a_connection_error(closed_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=str(closed_port)):
        DataStoreWsClient("127.0.0.1", closed_port)
    assert time.monotonic() - started < BOUND_SECONDS


def test_a_silent_server_times_out_as_a_connection_error(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="timed out"):
        DataStoreWsClient("127.0.0.1", silent_port, connect_timeout=0.3)
    assert time.monotonic() - started < BOUND_SECONDS


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_connect_timeout_is_a_value_error(closed_port: int, timeout: float) -> None:
    with pytest.raises(ValueError, match="connect_timeout"):
        DataStoreWsClient("127.0.0.1", closed_port, connect_timeout=timeout)


@pytest.mark.parametrize("bad", ["text", 7, None, 1.5])
def test_keys_must_be_bytes_like(offline_client: DataStoreWsClient, bad: object) -> None:
    calls: list[Callable[[], object]] = [
        lambda: offline_client.write(bad, b"v"),  # type: ignore[arg-type]
        lambda: offline_client.read(bad),  # type: ignore[arg-type]
        lambda: offline_client.exists(bad),  # type: ignore[arg-type]
        lambda: bad in offline_client,  # type: ignore[operator]
        lambda: offline_client.delete(bad),  # type: ignore[arg-type]
        lambda: offline_client.batch_read([b"ok", bad]),  # type: ignore[list-item]
        lambda: offline_client.batch_write([(bad, b"v")]),  # type: ignore[list-item]
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()


def test_values_must_be_bytes_like(offline_client: DataStoreWsClient) -> None:
    with pytest.raises(TypeError, match="bytes"):
        offline_client.write(b"k", "text")  # type: ignore[arg-type]


@pytest.mark.parametrize("refused", [b"", b"\x00", bytearray(), memoryview(b"")])
def test_values_the_engine_refuses_are_a_value_error(
    offline_client: DataStoreWsClient, refused: bytes
) -> None:
    with pytest.raises(ValueError, match="cannot store"):
        offline_client.write(b"k", refused)
    with pytest.raises(ValueError, match="entry 1"):
        offline_client.batch_write([(b"k", b"ok"), (b"k2", refused)])


def test_a_server_that_goes_away_fails_the_next_call(fake_server: FakeWsServer) -> None:
    client = DataStoreWsClient("127.0.0.1", fake_server.port)
    fake_server.hang_up()
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        client.read(b"k")
    with pytest.raises(ConnectionError):
        len(client)
    assert not client.is_connected()
    assert time.monotonic() - started < BOUND_SECONDS


def test_a_pending_call_fails_when_the_server_goes_away(fake_server: FakeWsServer) -> None:
    client = DataStoreWsClient("127.0.0.1", fake_server.port)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.read, b"k")
        assert fake_server.received.wait(BOUND_SECONDS), "the call never reached the server"
        fake_server.hang_up()
        with pytest.raises(ConnectionError):
            pending.result(timeout=BOUND_SECONDS)
