"""Every method against a real server. Keys are unique, so any order and any store works."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from simd_r_drive_ws_client import DataStoreWsClient

pytestmark = pytest.mark.integration

NewKey = Callable[[], bytes]


def test_write_then_read(client: DataStoreWsClient, new_key: NewKey) -> None:
    key = new_key()
    assert client.read(key) is None
    client.write(key, b"value")
    assert client.read(key) == b"value"
    client.write(key, b"replaced")
    assert client.read(key) == b"replaced"


def test_batch_write_then_batch_read(client: DataStoreWsClient, new_key: NewKey) -> None:
    keys = [new_key() for _ in range(5)]
    client.batch_write([(key, b"value-" + key) for key in keys])
    missing = new_key()
    assert client.batch_read([*keys, missing]) == [b"value-" + key for key in keys] + [None]
    assert client.batch_read([]) == []


def test_batch_read_structured(client: DataStoreWsClient, new_key: NewKey) -> None:
    a, b, missing = new_key(), new_key(), new_key()
    client.batch_write([(a, b"A"), (b, b"B")])
    assert client.batch_read_structured({"a": a, "none": missing}) == {"a": b"A", "none": None}
    assert client.batch_read_structured([{"b": b}, {"a": a, "b": b}]) == [
        {"b": b"B"},
        {"a": b"A", "b": b"B"},
    ]


def test_exists_and_contains(client: DataStoreWsClient, new_key: NewKey) -> None:
    key = new_key()
    assert not client.exists(key) and key not in client
    client.write(key, b"x")
    assert client.exists(key) and key in client


def test_delete_then_read(client: DataStoreWsClient, new_key: NewKey) -> None:
    key = new_key()
    client.write(key, b"soon gone")
    client.delete(key)
    assert client.read(key) is None
    assert key not in client
    client.delete(key)  # deleting twice is fine
    client.write(key, b"back")
    assert client.read(key) == b"back"


def test_len_is_empty_and_file_size(client: DataStoreWsClient, new_key: NewKey) -> None:
    size_before = client.file_size()
    client.write(new_key(), b"x" * 100)
    # Other tests may write concurrently, so only lower bounds hold.
    assert len(client) >= 1
    assert not client.is_empty()
    assert client.file_size() >= size_before + 100


@pytest.mark.parametrize(
    "size", [1, 2, 1023, 1024, 65_535, 65_536, 65_537, 1 << 20, (8 << 20) - 1, 8 << 20]
)
def test_value_sizes(client: DataStoreWsClient, new_key: NewKey, size: int) -> None:
    key = new_key()
    # No zero byte, and no run that an encoding could shorten; repeated from one period,
    # since a byte-by-byte generator spends seconds of the test on 8 MiB.
    period = bytes((i * 7 + 1) % 256 or 1 for i in range(256))
    value = (period * (size // 256 + 1))[:size]
    client.write(key, value)
    assert client.read(key) == value
    assert client.batch_read([key]) == [value]


@pytest.mark.parametrize("refused", [b"", b"\x00"])
def test_refused_values_leave_the_store_and_connection_alone(
    client: DataStoreWsClient, new_key: NewKey, refused: bytes
) -> None:
    key = new_key()
    with pytest.raises(ValueError, match="cannot store"):
        client.write(key, refused)
    assert client.read(key) is None and client.is_connected()


@pytest.mark.parametrize(
    "suffix",
    [b"\x00", b"\x00\xff\xfe", bytes(range(256)), "ключ-鍵-🔑".encode(), b"", b" "],
    ids=["nul", "high-bytes", "all-bytes", "utf8", "empty-suffix", "space"],
)
def test_binary_and_non_ascii_keys(client: DataStoreWsClient, new_key: NewKey, suffix: bytes) -> None:
    key = new_key() + suffix
    client.write(key, b"v:" + key)
    assert client.read(key) == b"v:" + key
    assert client.read(key + b"!") is None


def test_the_empty_key(client: DataStoreWsClient, new_key: NewKey) -> None:
    value = new_key()  # the empty key is shared by every run, so check only our own write
    client.write(b"", value)
    assert client.read(b"") == value


def test_bytearray_and_memoryview_arguments(client: DataStoreWsClient, new_key: NewKey) -> None:
    key = new_key()
    client.write(bytearray(key), memoryview(b"--value--")[2:-2])
    assert client.read(memoryview(key)) == b"value"
    assert client.batch_read([bytearray(key)]) == [b"value"]


def test_eight_threads_share_one_client(client: DataStoreWsClient, new_key: NewKey) -> None:
    run_threads(lambda: client, new_key)


def test_eight_threads_with_a_client_each(
    server_address: tuple[str, int], new_key: NewKey
) -> None:
    run_threads(lambda: DataStoreWsClient(*server_address), new_key)


def run_threads(make_client: Callable[[], DataStoreWsClient], new_key: NewKey) -> None:
    """8 threads write and read back 50 keys each; every value must be their own."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(thread: int) -> None:
        try:
            client = make_client()
            start.wait()
            written = {}
            for round in range(50):
                key, value = new_key(), f"thread {thread} round {round}".encode() * (round + 1)
                client.write(key, value)
                written[key] = value
                assert client.read(key) == value
            assert client.batch_read(list(written)) == list(written.values())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == []


# What a forked child's exit code means.
FORK_OUTCOMES = {
    0: "ok",
    10: "the inherited client did not raise ConnectionError",
    11: "the ConnectionError does not say to create a new client",
    12: "a new client in the child read the wrong value",
    13: "a new client in the child raised",
    14: "the child raised something unexpected",
}
FORK_BOUND_SECONDS = 20.0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_after_fork_the_child_needs_a_client_of_its_own(
    server_address: tuple[str, int], new_key: NewKey
) -> None:
    client = DataStoreWsClient(*server_address)
    key = new_key()
    client.write(key, b"written before the fork")  # the runtime's threads now exist
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 14
        try:
            code = forked_child(client, server_address, key)
        finally:
            os._exit(code)
    code = wait_for_exit(pid, FORK_BOUND_SECONDS)
    assert code == 0, FORK_OUTCOMES.get(code, f"the child exited with {code}")
    assert client.read(key) == b"written before the fork", "the parent's client broke"


def forked_child(inherited: DataStoreWsClient, address: tuple[str, int], key: bytes) -> int:
    """Runs in the child; returns its exit code (see FORK_OUTCOMES)."""
    try:
        inherited.read(key)
        return 10
    except ConnectionError as error:
        if "create a new client in the child" not in str(error):
            return 11
    try:
        fresh = DataStoreWsClient(*address, call_timeout=FORK_BOUND_SECONDS / 2)
        return 0 if fresh.read(key) == b"written before the fork" else 12
    except BaseException:  # noqa: BLE001 - reported by the exit code
        return 13


def wait_for_exit(pid: int, bound: float) -> int:
    """The child's exit code; kills it and fails when it takes longer than `bound`."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child hung for {bound} s")
