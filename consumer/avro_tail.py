"""Read the scalar fields after a fixed-size prefix without fastavro: the tail of a record.

A few closures over the Avro binary encoding (zig-zag varints, length-prefixed strings and
bytes, little-endian floats, union and enum indexes), checked as strictly as fastavro checks
them: a value cut short, a length past its end, an index out of range or bytes left over
raise, and the caller rejects that message as `not_avro`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from consumer.avro_schema import resolve, type_name
from consumer.messages import EVENT_TIME_FIELD, ID_FIELD

Read = Callable[[bytes, int], tuple[Any, int]]  # (value, position) -> (decoded, next position)

_DOUBLE = struct.Struct("<d").unpack_from
_FLOAT = struct.Struct("<f").unpack_from


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a zig-zag varint (Avro int and long).

    >>> read_long(bytes([0x03]), 0), read_long(bytes([0xAC, 0x02]), 0)
    ((-2, 1), (150, 2))
    """
    byte = buf[pos]  # IndexError when the value is cut short
    if byte < 0x80:  # one byte: string lengths under 64, union branches, small numbers
        return (byte >> 1) ^ -(byte & 1), pos + 1
    number = byte & 0x7F
    shift = 7
    while True:
        pos += 1
        byte = buf[pos]
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (number >> 1) ^ -(number & 1), pos + 1
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


def _read_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    size = buf[pos]
    if size < 0x80:  # a length under 64 takes one byte: read_long's first case, inlined
        size, pos = (size >> 1) ^ -(size & 1), pos + 1
    else:
        size, pos = read_long(buf, pos)
    end = pos + size
    if size < 0:
        raise ValueError(f"a negative length ({size})")
    if end > len(buf):
        raise IndexError(f"a length of {size} bytes runs past the end of the value")
    return buf[pos:end], end


def _read_string(buf: bytes, pos: int) -> tuple[str, int]:
    data, end = _read_bytes(buf, pos)
    return data.decode(), end  # UnicodeDecodeError: Avro strings are UTF-8


def _read_double(buf: bytes, pos: int) -> tuple[float, int]:
    return _DOUBLE(buf, pos)[0], pos + 8


def _read_float(buf: bytes, pos: int) -> tuple[float, int]:
    return _FLOAT(buf, pos)[0], pos + 4


def _read_boolean(buf: bytes, pos: int) -> tuple[bool, int]:
    return buf[pos] == 1, pos + 1  # any other byte reads as false, as fastavro and Java do


def _read_null(buf: bytes, pos: int) -> tuple[None, int]:
    return None, pos


def _fixed_reader(size: int) -> Read:
    def read_fixed(buf: bytes, pos: int) -> tuple[bytes, int]:
        end = pos + size
        if end > len(buf):
            raise IndexError(f"a fixed of {size} bytes runs past the end of the value")
        return buf[pos:end], end

    return read_fixed


def _enum_reader(symbols: Sequence[str]) -> Read:
    def read_enum(buf: bytes, pos: int) -> tuple[str, int]:
        index, pos = read_long(buf, pos)
        if not 0 <= index < len(symbols):
            raise ValueError(f"enum index {index} out of range")
        return symbols[index], pos

    return read_enum


def _union_reader(branches: Sequence[Read]) -> Read:
    def read_union(buf: bytes, pos: int) -> tuple[Any, int]:
        index, pos = read_long(buf, pos)
        if not 0 <= index < len(branches):
            raise ValueError(f"union branch {index} out of range")
        return branches[index](buf, pos)

    return read_union


_SCALARS: dict[str, Read] = {
    "null": _read_null,
    "boolean": _read_boolean,
    "int": read_long,
    "long": read_long,
    "float": _read_float,
    "double": _read_double,
    "bytes": _read_bytes,
    "string": _read_string,
}


def scalar_reader(avro_type: Any, named: Mapping) -> Read:
    """Return a reader for a scalar type; raise TypeError for a record, array or map."""
    avro_type = resolve(avro_type, named)
    kind = type_name(avro_type)
    if kind == "union":
        return _union_reader([scalar_reader(branch, named) for branch in avro_type])
    if kind == "fixed":
        return _fixed_reader(int(avro_type["size"]))
    if kind == "enum":
        return _enum_reader(list(avro_type["symbols"]))
    if kind in _SCALARS:
        return _SCALARS[kind]
    raise TypeError(f"no scalar reader for an Avro {kind}")


class SimpleTail:
    """Read the scalar fields after the prefix; keep the transaction id and event time."""

    def __init__(self, fields: Sequence[tuple[str, Any]], named: Mapping):
        self._readers = [scalar_reader(avro_type, named) for _, avro_type in fields]
        names = [name for name, _ in fields]
        self._id = names.index(ID_FIELD) if ID_FIELD in names else -1
        self._time = names.index(EVENT_TIME_FIELD) if EVENT_TIME_FIELD in names else -1

    def read(self, buf: bytes, pos: int) -> tuple[Any, Any]:
        """Return the raw (id, time) fields (None when absent); raise if the value is invalid.

        Raises:
            ValueError, IndexError, struct.error, UnicodeDecodeError: the value is cut short,
                has bytes after the record, or holds something its schema does not allow.
        """
        if pos > len(buf):
            raise IndexError("the value ends inside its fixed-size fields")
        values = []
        for read in self._readers:
            value, pos = read(buf, pos)
            values.append(value)
        if pos != len(buf):
            raise ValueError(f"{len(buf) - pos} bytes after the end of the record")
        values.append(None)  # index -1: the field is absent
        return values[self._id], values[self._time]
