"""The long connection's binary frames: Feishu's ``pbbp2.Frame`` protobuf (proto2), encoded here.

Schema (lark-oapi ``lark_oapi/ws/pb/pbbp2.proto``): ``Header {1 key, 2 value}`` (strings) and
``Frame {1 SeqID u64, 2 LogID u64, 3 service i32, 4 method i32, 5 headers repeated Header,
6 payload_encoding, 7 payload_type, 8 payload bytes, 9 LogIDNew}``. Written out rather than
imported: the SDK's generated class loads the whole SDK (seconds and a large share of a worker's
memory) for one message type. Tests check both ways against the SDK's own class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTROL, DATA = 0, 1  # Frame.method
_VARINT, _BYTES = 0, 2
_U64 = (1 << 64) - 1


@dataclass
class Frame:
    seq_id: int = 0
    log_id: int = 0
    service: int = 0
    method: int = CONTROL
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload_encoding: str = ""
    payload_type: str = ""
    payload: bytes = b""
    log_id_new: str = ""

    def header(self, key: str, default: str = "") -> str:
        return next((value for k, value in self.headers if k == key), default)


def encode(frame: Frame) -> bytes:
    out = bytearray()
    for number, scalar in ((1, frame.seq_id), (2, frame.log_id), (3, frame.service), (4, frame.method)):
        out += _key(number, _VARINT) + _varint(scalar & _U64)  # negative int32: ten bytes, as protobuf does
    for key, value in frame.headers:
        out += _bytes_field(5, _bytes_field(1, key.encode()) + _bytes_field(2, value.encode()))
    for number, text in ((6, frame.payload_encoding), (7, frame.payload_type)):
        out += _bytes_field(number, text.encode()) if text else b""
    if frame.payload:
        out += _bytes_field(8, frame.payload)
    if frame.log_id_new:
        out += _bytes_field(9, frame.log_id_new.encode())
    return bytes(out)


def decode(data: bytes) -> Frame:
    """The frame in ``data``; ``ValueError`` when it is not one. Unknown fields are skipped."""
    frame = Frame()
    for number, value in _fields(data):
        if number in (1, 2) and isinstance(value, int):
            setattr(frame, "seq_id" if number == 1 else "log_id", value)
        elif number in (3, 4) and isinstance(value, int):
            setattr(frame, "service" if number == 3 else "method", _int32(value))
        elif number == 5 and isinstance(value, bytes):
            parts = {n: v for n, v in _fields(value) if isinstance(v, bytes)}
            frame.headers.append((parts.get(1, b"").decode(), parts.get(2, b"").decode()))
        elif number == 8 and isinstance(value, bytes):
            frame.payload = value
        elif number in (6, 7, 9) and isinstance(value, bytes):
            setattr(frame, {6: "payload_encoding", 7: "payload_type", 9: "log_id_new"}[number], value.decode())
    return frame


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    fields: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, at = _read_varint(data, at)
            fields.append((number, value))
        elif wire == _BYTES:
            size, at = _read_varint(data, at)
            if at + size > len(data):
                raise ValueError("truncated frame")
            fields.append((number, data[at : at + size]))
            at += size
        elif wire in (1, 5):  # fixed 64 / 32 bits: not in this schema, skipped
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if at != len(data):
        raise ValueError("truncated frame")
    return fields


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 70:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated or overlong varint")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes_field(number: int, value: bytes) -> bytes:
    return _key(number, _BYTES) + _varint(len(value)) + value


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
