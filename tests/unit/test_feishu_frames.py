"""The long connection's protobuf frames, written by hand, against lark-oapi's generated class:
what one encodes the other reads, field for field."""

from __future__ import annotations

import pytest
from lark_oapi.ws.pb.pbbp2_pb2 import Frame as SdkFrame

from adapters.feishu import frames
from adapters.feishu.settings import FeishuApp

OURS = frames.Frame(
    seq_id=7, log_id=(1 << 64) - 1, service=-5, method=frames.DATA,
    headers=[("type", "event"), ("message_id", "消息-1"), ("sum", "2"), ("seq", "1")],
    payload_encoding="", payload_type="json", payload=b'{"schema":"2.0"}', log_id_new="ln-1",
)  # fmt: skip


def test_what_we_encode_the_sdk_reads() -> None:
    sdk = SdkFrame()
    sdk.ParseFromString(frames.encode(OURS))
    assert (sdk.SeqID, sdk.LogID, sdk.service, sdk.method) == (7, (1 << 64) - 1, -5, frames.DATA)
    assert [(h.key, h.value) for h in sdk.headers] == OURS.headers
    assert (sdk.payload_type, sdk.payload, sdk.LogIDNew) == ("json", OURS.payload, "ln-1")


def test_what_the_sdk_encodes_we_read() -> None:
    sdk = SdkFrame(SeqID=7, LogID=(1 << 64) - 1, service=-5, method=frames.DATA, payload_type="json",
                   payload=OURS.payload, LogIDNew="ln-1")  # fmt: skip
    for key, value in OURS.headers:
        sdk.headers.add(key=key, value=value)
    assert frames.decode(sdk.SerializeToString()) == OURS
    assert frames.encode(OURS) == sdk.SerializeToString()


def test_a_bare_control_frame_has_its_required_fields() -> None:
    ping = frames.Frame(service=1, headers=[("type", "ping")])
    sdk = SdkFrame()
    sdk.ParseFromString(frames.encode(ping))
    assert sdk.IsInitialized() and sdk.method == frames.CONTROL and not sdk.payload
    assert frames.decode(frames.encode(ping)).header("type") == "ping"


@pytest.mark.parametrize("raw", [b"\x0a", b"\x42\x05ab", b"\x08\xff", b"\x0f", b"\x2a\x02\x0a\x05"])
def test_what_is_not_a_frame_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        frames.decode(raw)


def test_long_connection_needs_no_verification_token_but_http_does() -> None:
    assert FeishuApp(app_id="cli_1", app_secret="s", mode="long_connection").enabled
    with pytest.raises(ValueError, match="verification_token"):
        FeishuApp(app_id="cli_1", app_secret="s")
    with pytest.raises(ValueError, match="app_secret"):
        FeishuApp(app_id="cli_1", mode="long_connection")
