"""NamespaceHasher agrees with simd_r_drive's: XXH3-64(prefix) ++ XXH3-64(key), little-endian."""

from __future__ import annotations

import pytest
import xxhash

from simd_r_drive_ws_client import NamespaceHasher

pytestmark = pytest.mark.unit


def expected(prefix: bytes, key: bytes) -> bytes:
    """The engine's layout, computed with an independent XXH3 implementation."""
    return xxhash.xxh3_64_intdigest(prefix).to_bytes(8, "little") + xxhash.xxh3_64_intdigest(
        key
    ).to_bytes(8, "little")


@pytest.mark.parametrize(
    ("prefix", "key"),
    [
        (b"", b""),
        (b"opt", b"my_key"),
        (b"users", "héllo wörld".encode()),
        (bytes(range(256)), b"\x00\xff" * 100),
    ],
)
def test_matches_the_engines_layout(prefix: bytes, key: bytes) -> None:
    assert NamespaceHasher(prefix).namespace(key) == expected(prefix, key)


def test_known_vector() -> None:
    # XXH3-64 of the empty input is 0x2D06800538D394C2, a published test vector.
    empty = (0x2D06800538D394C2).to_bytes(8, "little")
    assert NamespaceHasher(b"").namespace(b"") == empty + empty


def test_is_16_bytes_and_deterministic() -> None:
    first = NamespaceHasher(b"ns").namespace(b"key")
    assert isinstance(first, bytes) and len(first) == 16
    assert NamespaceHasher(b"ns").namespace(b"key") == first


def test_prefixes_separate_equal_keys() -> None:
    a = NamespaceHasher(b"a").namespace(b"key")
    b = NamespaceHasher(b"b").namespace(b"key")
    assert a != b and a[8:] == b[8:]


def test_accepts_every_bytes_like() -> None:
    hasher = NamespaceHasher(bytearray(b"ns"))
    want = hasher.namespace(b"key")
    assert hasher.namespace(bytearray(b"key")) == want
    assert hasher.namespace(memoryview(b"xkey")[1:]) == want


@pytest.mark.parametrize("bad", ["key", 1, None, [1, 2]])
def test_rejects_non_bytes(bad: object) -> None:
    with pytest.raises(TypeError, match="bytes"):
        NamespaceHasher(b"ns").namespace(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        NamespaceHasher(bad)  # type: ignore[arg-type]
