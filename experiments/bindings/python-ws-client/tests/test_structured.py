"""The shape logic of batch_read_structured, with a dict standing in for the server."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from simd_r_drive_ws_client._structured import BytesLike, read_structured

pytestmark = pytest.mark.unit

STORE = {b"k1": b"v1", b"k2": b"v2"}


class FakeReader:
    """A batch_read over STORE that records every call it gets."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []

    def __call__(self, keys: list[BytesLike]) -> list[bytes | None]:
        self.calls.append([bytes(key) for key in keys])
        return [STORE.get(bytes(key)) for key in keys]


def test_a_dict_keeps_its_names_and_order() -> None:
    reader = FakeReader()
    got = read_structured(reader, {"b": b"k2", "missing": b"nope", "a": b"k1"})
    assert got == {"b": b"v2", "missing": None, "a": b"v1"}
    assert list(got) == ["b", "missing", "a"]
    assert reader.calls == [[b"k2", b"nope", b"k1"]]


def test_a_list_of_dicts_is_read_in_one_call() -> None:
    reader = FakeReader()
    query: list[Mapping[str, BytesLike]] = [{"x": b"k1"}, {}, {"y": b"k2", "z": b"k1"}]
    got = read_structured(reader, query)
    assert got == [{"x": b"v1"}, {}, {"y": b"v2", "z": b"v1"}]
    assert reader.calls == [[b"k1", b"k2", b"k1"]]


def test_names_need_not_be_strings() -> None:
    assert read_structured(FakeReader(), {1: b"k1", (2, 3): bytearray(b"k2")}) == {
        1: b"v1",
        (2, 3): b"v2",
    }


@pytest.mark.parametrize("empty", [{}, []])
def test_an_empty_query_reads_nothing(empty: object) -> None:
    reader = FakeReader()
    assert read_structured(reader, empty) == empty
    assert reader.calls == []


@pytest.mark.parametrize("bad", [b"k1", "k1", 42, None, {b"k1"}])
def test_other_shapes_are_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="dict"):
        read_structured(FakeReader(), bad)


def test_a_list_item_that_is_not_a_dict_is_named() -> None:
    reader = FakeReader()
    with pytest.raises(TypeError, match="item 1 is list"):
        read_structured(reader, [{"a": b"k1"}, [b"k2"]])
    assert reader.calls == []


def test_a_short_answer_is_an_error_not_a_wrong_shape() -> None:
    with pytest.raises(RuntimeError, match="1 values for 2 keys"):
        read_structured(lambda keys: [None], {"a": b"k1", "b": b"k2"})
