"""The shape logic of ``batch_read_structured``, independent of any connection."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Hashable, TypeVar, Union

BytesLike = Union[bytes, bytearray, memoryview]
"""What keys and values may be: anything bytes-like, never ``str``."""

BatchRead = Callable[[list[BytesLike]], list[Union[bytes, None]]]
Name = TypeVar("Name", bound=Hashable)


def read_structured(batch_read: BatchRead, query: Any) -> Any:
    """Reads the keys of a dict, or of a list of dicts, with one call to ``batch_read``.

    The result has the query's shape: the same names, the same order, the values in place of
    the keys. A query of any other type raises ``TypeError`` before anything is read.
    """
    if isinstance(query, Mapping):
        return _read_dicts(batch_read, [query])[0]
    if isinstance(query, Sequence) and not isinstance(query, (str, bytes, bytearray)):
        for index, item in enumerate(query):
            if not isinstance(item, Mapping):
                raise TypeError(
                    f"batch_read_structured: item {index} is {type(item).__name__}, not a dict"
                )
        return _read_dicts(batch_read, list(query))
    raise TypeError(
        f"batch_read_structured takes a dict or a list of dicts, not {type(query).__name__}"
    )


def _read_dicts(
    batch_read: BatchRead, queries: list[Mapping[Name, BytesLike]]
) -> list[dict[Name, bytes | None]]:
    keys = [key for query in queries for key in query.values()]
    found = batch_read(keys) if keys else []
    if len(found) != len(keys):
        raise RuntimeError(f"batch_read returned {len(found)} values for {len(keys)} keys")
    values = iter(found)
    return [{name: next(values) for name in query} for query in queries]


__all__ = ["BatchRead", "BytesLike", "read_structured"]
