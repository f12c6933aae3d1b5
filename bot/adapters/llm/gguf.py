"""Reads the context window a GGUF model file was trained with from its metadata header."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

_MAGIC = b"GGUF"
# GGUF value types (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): fixed sizes in bytes.
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_INTS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 10: "<Q", 11: "<q"}
_STRING, _ARRAY = 8, 9
_MAX_KEYS = 10_000  # a header is tens of keys; more means a corrupt or hostile file
_MAX_STRING = 1 << 20


class _Corrupt(Exception):
    pass


def context_length(path: Path) -> int | None:
    """`<architecture>.context_length` of the file, or None when the file has none or is not GGUF."""
    try:
        with path.open("rb") as f:
            return _scan(f)
    except (OSError, struct.error, _Corrupt, UnicodeDecodeError):
        return None


def _scan(f: BinaryIO) -> int | None:
    if f.read(4) != _MAGIC:
        return None
    version, _tensors, keys = struct.unpack("<IQQ", _read(f, 20))
    if version < 2 or keys > _MAX_KEYS:
        return None
    architecture: str | None = None
    for _ in range(keys):
        key = _string(f)
        kind = _u32(f)
        if key == "general.architecture" and kind == _STRING:
            architecture = _string(f)
        elif architecture is not None and key == f"{architecture}.context_length" and kind in _INTS:
            value: int = struct.unpack(_INTS[kind], _read(f, _FIXED[kind]))[0]
            return value if value > 0 else None
        else:
            _skip(f, kind)
    return None


def _skip(f: BinaryIO, kind: int) -> None:
    if kind in _FIXED:
        f.seek(_FIXED[kind], 1)
    elif kind == _STRING:
        f.seek(_u64(f), 1)
    elif kind == _ARRAY:
        item, count = _u32(f), _u64(f)
        if item in _FIXED:
            f.seek(_FIXED[item] * count, 1)
        else:
            for _ in range(count):
                _skip(f, item)
    else:
        raise _Corrupt(f"unknown GGUF value type {kind}")


def _string(f: BinaryIO) -> str:
    size = _u64(f)
    if size > _MAX_STRING:
        raise _Corrupt("string too long")
    return _read(f, size).decode("utf-8")


def _u32(f: BinaryIO) -> int:
    value: int = struct.unpack("<I", _read(f, 4))[0]
    return value


def _u64(f: BinaryIO) -> int:
    value: int = struct.unpack("<Q", _read(f, 8))[0]
    return value


def _read(f: BinaryIO, size: int) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise _Corrupt("truncated header")
    return data
