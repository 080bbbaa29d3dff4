"""A Python client for the simd-r-drive WebSocket RPC server.

The network calls live in the Rust extension ``_native``; this module adds the parts that
are plain Python, so that their logic can be tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Hashable, TypeVar, cast, overload

from . import _native
from ._native import MAX_VALUE_SIZE, NamespaceHasher, ServerError
from ._structured import BytesLike, read_structured

__all__ = ["DataStoreWsClient", "NamespaceHasher", "ServerError", "BytesLike", "MAX_VALUE_SIZE"]

_Name = TypeVar("_Name", bound=Hashable)


class DataStoreWsClient(_native.DataStoreWsClient):
    """A connection to a simd-r-drive WebSocket server; see ``_native.pyi`` for every method."""

    @overload
    def batch_read_structured(
        self, query: Mapping[_Name, BytesLike]
    ) -> dict[_Name, bytes | None]: ...

    @overload
    def batch_read_structured(
        self, query: Sequence[Mapping[_Name, BytesLike]]
    ) -> list[dict[_Name, bytes | None]]: ...

    def batch_read_structured(
        self, query: Mapping[_Name, BytesLike] | Sequence[Mapping[_Name, BytesLike]]
    ) -> dict[_Name, bytes | None] | list[dict[_Name, bytes | None]]:
        """Reads every key in ``query`` with one ``batch_read`` and keeps its shape.

        ``{"a": b"k1"}`` gives ``{"a": b"v1"}``; a list of such dicts gives a list of dicts,
        in the same order. Missing keys read as ``None``.
        """
        result = read_structured(self.batch_read, query)
        return cast("dict[_Name, bytes | None] | list[dict[_Name, bytes | None]]", result)
