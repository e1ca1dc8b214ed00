"""Seeded malformed requests for every route, unsigned garbage and validly signed bad content.

Shared by tests/e2e/test_robustness.py (in-process, a few thousand cases per route) and
bench/fuzz_serve.py (against a real ``kefu serve``). The channels are configured with the test
secrets below, so a signed case passes the signature check and exercises the parser behind it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import PrpCrypto as AppPrp
from wechatpy.crypto import WeChatCrypto as AppCrypto
from wechatpy.enterprise.crypto import PrpCrypto as CorpPrp

from adapters.dingtalk.signing import sign as dingtalk_sign

WX_TOKEN, AES_KEY = "fuzztoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CORP, WX_APP = "ww_fuzz", "wx_fuzz"
DT_KEY, DT_SECRET = "dingfuzz", "ding fuzz secret"
FS_APP, FS_TOKEN, FS_KEY = "cli_fuzz", "fs-fuzz-verify", "fs-fuzz-key"

ROUTES = (
    "chat", "wecom_get", "wecom_post", "wechat_get", "wechat_post", "wechat_plain_get", "wechat_plain_post",
    "dingtalk", "feishu", "unknown",
)  # fmt: skip


def channel_config(api_base: str = "http://127.0.0.1:9") -> dict[str, object]:
    """The ``channels`` section: WeCom, WeChat in safe mode plus a plain-mode app "plain",
    DingTalk and Feishu (encrypted), all answering to the secrets above."""
    return {
        "wecom": {"corp_id": CORP, "agent_id": 1000002, "secret": "s", "token": WX_TOKEN,
                  "encoding_aes_key": AES_KEY, "api_base": api_base},
        "wechat": {"app_id": WX_APP, "app_secret": "s", "token": WX_TOKEN, "encoding_aes_key": AES_KEY,
                   "api_base": api_base, "apps": {"plain": {"app_id": WX_APP, "app_secret": "s", "token": WX_TOKEN,
                                                            "api_base": api_base}}},
        "dingtalk": {"app_key": DT_KEY, "app_secret": DT_SECRET, "api_base": api_base},
        "feishu": {"app_id": FS_APP, "app_secret": "s", "verification_token": FS_TOKEN, "encrypt_key": FS_KEY,
                   "api_base": api_base},
    }  # fmt: skip


@dataclass
class Case:
    method: str
    path: str  # with the query string, already encoded
    body: bytes = b""
    headers: dict[str, bytes] = field(default_factory=dict)
    note: str = ""


def wx_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def feishu_headers(body: bytes, timestamp: str, nonce: str = "n1") -> dict[str, bytes]:
    signature = hashlib.sha256((timestamp + nonce + FS_KEY).encode() + body).hexdigest()
    return {"x-lark-request-timestamp": timestamp.encode(), "x-lark-request-nonce": nonce.encode(),
            "x-lark-signature": signature.encode(), "content-type": b"application/json"}  # fmt: skip


def feishu_seal(plaintext: bytes) -> str:
    """Feishu's encryption of any bytes: AES-256-CBC, key sha256(Encrypt Key), iv first, base64."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(FS_KEY.encode()).digest()), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
    return base64.b64encode(iv + sealed).decode()


def dingtalk_headers(timestamp_ms: str) -> dict[str, bytes]:
    return {"timestamp": timestamp_ms.encode(), "sign": dingtalk_sign(timestamp_ms, DT_SECRET).encode(),
            "content-type": b"application/json"}  # fmt: skip


def query_string(params: dict[str, str]) -> str:
    return urlencode(params, quote_via=quote)


# -- values that have broken parsers ---------------------------------------------------------------
_NUMBERS = [
    "9" * 400,
    "1" * 5000,
    "-1",
    "0",
    "1e400",
    "NaN",
    "١٢٣",
    "²",
    "0x10",
    "1.5",
    " 1",
    "",
    "18446744073709551616",
]
_STRINGS = ["\ud800", "\udfff\ud800", "a\x00b", "\u202e", "😀", "%", "&amp;", "]]>", "<", "x" * 3000, "\\", '"']


@dataclass
class Sealer:
    """The SDK's AES for one app, sealing any bytes (not only valid UTF-8) as the platform would."""

    prp: object
    owner: str

    @classmethod
    def for_wecom(cls) -> Sealer:
        return cls(CorpPrp(AppCrypto(WX_TOKEN, AES_KEY, CORP).key), CORP)

    @classmethod
    def for_wechat(cls) -> Sealer:
        return cls(AppPrp(AppCrypto(WX_TOKEN, AES_KEY, WX_APP).key), WX_APP)

    def seal(self, plaintext: bytes) -> str:
        return self.prp.encrypt(plaintext, self.owner).decode()  # type: ignore[attr-defined]


class Fuzzer:
    """Cases for one seed; ``now`` is the clock the server signs against (signed cases are fresh)."""

    def __init__(self, seed: int, now: float | None = None) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self._corp = Sealer.for_wecom()
        self._app = Sealer.for_wechat()

    def cases(self, route: str, count: int) -> Iterator[Case]:
        make = getattr(self, f"_{route}")
        for _ in range(count):
            yield make()

    # -- building blocks ------------------------------------------------------------------------
    def _ts(self) -> int:
        return int(self.now if self.now is not None else time.time())

    def number(self) -> str:
        r = self.rng
        return r.choice(_NUMBERS) if r.random() < 0.6 else str(r.randrange(-(10**20), 10**20))

    def string(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            return r.choice(_STRINGS)
        return "".join(chr(r.choice([r.randrange(32, 127), r.randrange(0x4E00, 0x9FFF), r.randrange(0, 0x110000)]))
                       for _ in range(r.randrange(12)))  # fmt: skip

    def query_value(self) -> str:
        """A string that a URL can carry (its UTF-8 bytes, surrogates included, read as latin-1)."""
        return self.string().encode("utf-8", "surrogatepass").decode("latin-1")

    def raw_bytes(self) -> bytes:
        r = self.rng
        return bytes(r.randrange(256) for _ in range(r.randrange(64)))

    def json_value(self, depth: int = 0) -> object:
        r = self.rng
        kind = r.randrange(9 if depth < 4 else 5)
        if kind == 0:
            return self.string()
        if kind == 1:
            return r.choice([None, True, False, 0, -1, 1.5, 10**30, -(10**19)])
        if kind in (2, 3):
            return self.number()
        if kind == 4:
            return ""
        if kind in (5, 6):
            return [self.json_value(depth + 1) for _ in range(r.randrange(4))]
        return {self.string(): self.json_value(depth + 1) for _ in range(r.randrange(4))}

    def json_text(self, value: object) -> bytes:
        """``value`` as JSON, or one of the documents that have broken JSON parsers."""
        r = self.rng
        pick = r.randrange(12)
        if pick == 0:
            n = r.choice([70, 1000, 5000, 100_000])
            return b"[" * n + b"]" * n
        if pick == 1:
            return b'{"a":' * 200 + b"1" + b"}" * 200
        if pick == 2:
            return b"1" * r.choice([30, 5000])
        if pick == 3:
            return json.dumps(value)[: r.randrange(1, 40)].encode("utf-8", "surrogatepass")
        if pick == 4:
            return self.raw_bytes()
        if pick == 5:
            return b'{"text": "\xed\xa0\x80", "user": "u"}'  # a raw (not escaped) surrogate: invalid UTF-8
        return json.dumps(value).encode()  # ensure_ascii: lone surrogates as \udXXX escapes

    def xml_text(self, fields: dict[str, str]) -> str:
        """An XML message built from ``fields`` with bad values, or a broken document."""
        r = self.rng
        pick = r.randrange(10)
        if pick == 0:
            enc = r.choice(["ebcdic", "UTF-7", "x-foo", "utf-16", "latin-1", "cp500", "utf-32"])
            return f'<?xml version="1.0" encoding="{enc}"?><xml><MsgType>text</MsgType></xml>'
        if pick == 1:
            return '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><xml><Content>&b;</Content></xml>'
        if pick == 2:
            return "<xml>" * r.choice([50, 5000]) + "</xml>" * r.choice([0, 50])
        if pick == 3:
            return r.choice(["", "<xml>", "<notxml/>", "<xml><a>&#xD800;</a></xml>", "<xml><a>\x01</a></xml>"])
        for key in r.sample(sorted(fields), min(len(fields), r.randrange(1, 3))):
            fields[key] = r.choice([self.number(), self.string(), ""])
        inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" if r.random() < 0.5 else f"<{k}>{v}</{k}>"
                        for k, v in fields.items())  # fmt: skip
        return f"<xml>{inner}</xml>"

    def wx_fields(self) -> dict[str, str]:
        r = self.rng
        return {"ToUserName": CORP, "FromUserName": f"user{r.randrange(50)}", "CreateTime": str(self._ts()),
                "MsgType": r.choice(["text", "event", "image", "TEXT", ""]), "Content": "我的快递到哪了",
                "MsgId": str(r.randrange(10**15)), "Event": r.choice(["kf_msg_or_event", "template_card_event", "x"]),
                "OpenKfId": r.choice(["", "wk1"]), "Token": "t", "AgentID": "1000002"}  # fmt: skip

    def garbage_query(self) -> str:
        r = self.rng
        keys = ["msg_signature", "signature", "timestamp", "nonce", "echostr", "encrypt_type", "openid", "x"]
        params = {k: r.choice([self.number(), self.query_value()]) for k in r.sample(keys, r.randrange(len(keys)))}
        if r.random() < 0.2:
            return "timestamp=%B2&nonce=%FF%FE&msg_signature=%ZZ&&=&" + "a" * r.randrange(3)
        return query_string(params)

    def garbage_headers(self) -> dict[str, bytes]:
        r = self.rng
        names = ["timestamp", "sign", "x-lark-request-timestamp", "x-lark-request-nonce", "x-lark-signature",
                 "content-type", "content-length"]  # fmt: skip
        headers = {}
        for name in r.sample(names[:-1], r.randrange(4)):
            value = r.choice([self.number(), self.string()]).encode("utf-8", "surrogatepass")
            headers[name] = r.choice([value, b"\xb2", b"9" * 400, b"1" * 5000])
        return headers

    def garbage_body(self) -> bytes:
        r = self.rng
        if r.random() < 0.5:
            return self.json_text(self.json_value())
        return self.xml_text(self.wx_fields()).encode("utf-8", "surrogatepass")

    def _unsigned(self, path: str, method: str | None = None) -> Case:
        method = method or self.rng.choice(["GET", "POST", "POST", "PUT"])
        query = self.garbage_query()
        return Case(
            method, f"{path}?{query}" if query else path, self.garbage_body(), self.garbage_headers(), "unsigned"
        )

    def _signed_wx_query(self, *signed: str, key: str = "msg_signature") -> dict[str, str]:
        ts, nonce = str(self._ts()), str(self.rng.randrange(10**9))
        if self.rng.random() < 0.1:
            ts = self.rng.choice(["9" * 400, "1" * 5000, "0", str(self._ts() + 10**6)])
        return {key: wx_signature(WX_TOKEN, ts, nonce, *signed), "timestamp": ts, "nonce": nonce}

    # -- routes -----------------------------------------------------------------------------------
    def _chat(self) -> Case:
        r = self.rng
        if r.random() < 0.3:
            return Case("POST", "/api/chat", self.garbage_body(), self.garbage_headers(), "garbage")
        value: dict[str, object] = {"user": r.choice(["c1", "u" + self.string()]), "text": "你好"}
        for key in r.sample(["user", "text", "extra"], r.randrange(1, 3)):
            value[key] = self.json_value()
        return Case("POST", "/api/chat", self.json_text(value), {"content-type": b"application/json"}, "json")

    def _wx_get(self, path: str, crypto: Sealer | None) -> Case:
        r = self.rng
        if r.random() < 0.4:
            return self._unsigned(path, "GET")
        echostr = r.choice(["", self.query_value(), base64.b64encode(self.raw_bytes()).decode()])
        if crypto is not None and r.random() < 0.5:
            echostr = crypto.seal(self.string().encode("utf-8", "surrogatepass"))
        if crypto is None:
            query = {**self._signed_wx_query(key="signature"), "echostr": echostr}
        else:
            query = {**self._signed_wx_query(echostr), "echostr": echostr}
        return Case("GET", f"{path}?{query_string(query)}", note="signed")

    def _wx_post(self, path: str, crypto: Sealer, extra: dict[str, str]) -> Case:
        r = self.rng
        if r.random() < 0.4:
            return self._unsigned(path, "POST")
        inner = self.xml_text(self.wx_fields())
        encrypted = crypto.seal(inner.encode("utf-8", "surrogatepass"))
        if r.random() < 0.2:
            encrypted = r.choice(["", "!!", base64.b64encode(self.raw_bytes()).decode(), encrypted[:-4]])
        outer = f"<xml><ToUserName>{CORP}</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        if r.random() < 0.15:
            outer = self.xml_text({"Encrypt": encrypted})
        query = {**self._signed_wx_query(encrypted), **extra}
        return Case("POST", f"{path}?{query_string(query)}", outer.encode("utf-8", "surrogatepass"), note="signed")

    def _wecom_get(self) -> Case:
        return self._wx_get("/webhooks/wecom", self._corp)

    def _wecom_post(self) -> Case:
        return self._wx_post("/webhooks/wecom", self._corp, {})

    def _wechat_get(self) -> Case:
        return self._wx_get("/webhooks/wechat", None)  # the URL check is signed, not encrypted, in every mode

    def _wechat_post(self) -> Case:
        return self._wx_post("/webhooks/wechat", self._app, {"encrypt_type": "aes"})

    def _wechat_plain_get(self) -> Case:
        return self._wx_get("/webhooks/wechat/plain", None)

    def _wechat_plain_post(self) -> Case:
        if self.rng.random() < 0.4:
            return self._unsigned("/webhooks/wechat/plain", "POST")
        body = self.xml_text(self.wx_fields()).encode("utf-8", "surrogatepass")
        query = self._signed_wx_query(key="signature")
        return Case("POST", f"/webhooks/wechat/plain?{query_string(query)}", body, note="signed")

    def _dingtalk(self) -> Case:
        r = self.rng
        if r.random() < 0.4:
            return self._unsigned("/webhooks/dingtalk", "POST")
        message: dict[str, object] = {
            "conversationType": r.choice(["1", "2", 1, None]), "isInAtList": r.choice([True, False, "true"]),
            "msgtype": "text", "text": {"content": "我的快递"}, "senderStaffId": "staff1",
            "msgId": f"m{r.randrange(10**12)}", "conversationId": "cid1", "createAt": self._ts() * 1000,
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=x",
        }  # fmt: skip
        for key in r.sample(sorted(message), r.randrange(1, 4)):
            message[key] = self.json_value()
        ts = str(self._ts() * 1000) if r.random() < 0.9 else r.choice(["9" * 400, "1" * 5000, "0"])
        return Case("POST", "/webhooks/dingtalk", self.json_text(message), dingtalk_headers(ts), "signed")

    def _feishu(self) -> Case:
        r = self.rng
        if r.random() < 0.4:
            case = self._unsigned("/webhooks/feishu", "POST")
            if r.random() < 0.5:  # unsigned URL checks are allowed through to the token check
                case.body = self.json_text({"type": "url_verification", "token": self.json_value(),
                                            "challenge": self.json_value()})  # fmt: skip
            return case
        ts = str(self._ts())
        message = {"message_id": f"om_{r.randrange(10**12)}", "chat_id": "oc_1", "chat_type": r.choice(["p2p", "group"]),
                   "message_type": "text", "content": json.dumps({"text": "退款"}), "create_time": str(self._ts() * 1000),
                   "mentions": r.choice([None, [{"key": "@_user_1", "id": {"open_id": "ou_bot"}}], "x"])}  # fmt: skip
        event: dict[str, object] = {"sender": {"sender_id": {"open_id": "ou_1"}}, "message": message,
                                    "action": {"value": {"k": "v"}}, "operator": {"open_id": "ou_1"}}  # fmt: skip
        payload: dict[str, object] = {
            "schema": "2.0", "event": event,
            "header": {"event_id": f"ev{r.randrange(10**9)}", "token": FS_TOKEN,
                       "event_type": r.choice(["im.message.receive_v1", "card.action.trigger", "x"])},
        }  # fmt: skip
        target = r.choice([payload, event, message, payload["header"]])
        for key in r.sample(sorted(target), r.randrange(1, 3)):
            target[key] = self.json_value()  # type: ignore[index]
        if r.random() < 0.3:
            message["content"] = self.json_text({"text": self.json_value()}).decode("utf-8", "replace")
        inner = self.json_text(payload)
        body = json.dumps({"encrypt": feishu_seal(inner)}).encode()
        if r.random() < 0.2:
            body = self.json_text(
                {"encrypt": r.choice([self.json_value(), "AAAA", base64.b64encode(self.raw_bytes()).decode()])}
            )
        if r.random() < 0.1:
            ts = r.choice(["9" * 400, "1" * 5000, "\xb2"])
        return Case("POST", "/webhooks/feishu", body, feishu_headers(body, ts) if ts.isascii() else
                    {**feishu_headers(body, "1"), "x-lark-request-timestamp": ts.encode("latin-1")}, "signed")  # fmt: skip

    def _unknown(self) -> Case:
        r = self.rng
        path = r.choice(["/webhooks/nosuch", "/webhooks/wecom/nosuchapp", "/webhooks/dingtalk/x", "/webhooks//",
                         "/webhooks/feishu/", "/webhooks/a/b/c", "/api/chat/x", "/nowhere", "/webhooks/%FF"])  # fmt: skip
        case = self._unsigned(path)
        case.method = r.choice(["GET", "POST", "DELETE", "HEAD", "OPTIONS"])
        return case
