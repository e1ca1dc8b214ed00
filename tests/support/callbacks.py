"""Signed platform callbacks and settings that point channels at the fake platform, shared by the
end-to-end tests and the load benchmark."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from xml.etree.ElementTree import fromstring

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import SecretStr
from wechatpy.enterprise import WeChatCrypto

from bot.runtime.settings import Settings
from tests.support.fake_platform import FakePlatform

TOKEN, AES_KEY, CORP = "tok3n", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww_e2e_corp"
FS_APP, FS_SECRET, FS_TOKEN, FS_KEY = "cli_e2e", "fs-secret", "fs-verify", "fs-encrypt-key"
SEND = "/cgi-bin/message/send"


def feishu_encrypt(plaintext: str, key: str) -> str:
    """Feishu's own scheme, written independently of the SDK: AES-256-CBC, key sha256(key)."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


def with_channels(settings: Settings, fake: FakePlatform) -> Settings:
    data = settings.model_dump()
    data["channels"]["wecom"].update(
        corp_id=CORP, agent_id=1000002, secret="s3cret", token=TOKEN, encoding_aes_key=AES_KEY, api_base=fake.base
    )
    data["channels"]["feishu"].update(
        app_id=FS_APP, app_secret=FS_SECRET, verification_token=FS_TOKEN, encrypt_key=FS_KEY, api_base=fake.base
    )
    data["outbox"].update(base_delay_seconds=0.2, max_delay_seconds=1.0)
    return Settings(**unsecret(data))


def unsecret(value):  # type: ignore[no-untyped-def]
    """model_dump keeps SecretStr objects; rebuilding Settings wants plain values or SecretStr."""
    if isinstance(value, dict):
        return {k: unsecret(v) for k, v in value.items()}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def wecom_callback(text: str, msg_id: str, sender: str = "zhangsan") -> tuple[dict[str, str], bytes]:
    content = f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId>"
    return _wecom_post(content, sender)


def wecom_kf_event(token: str, open_kfid: str) -> tuple[dict[str, str], bytes]:
    """微信客服's notice that messages wait: kefu fetches them with ``kf/sync_msg`` and ``token``."""
    return _wecom_post(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
        f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{open_kfid}]]></OpenKfId>",
        "sys",
    )


def _wecom_post(content: str, sender: str) -> tuple[dict[str, str], bytes]:
    now = int(time.time())
    plain = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{now}</CreateTime>{content}<AgentID>1000002</AgentID></xml>"
    )
    sealed = fromstring(WeChatCrypto(TOKEN, AES_KEY, CORP).encrypt_message(plain, "nonce1", str(now)))
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{sealed.findtext('Encrypt')}]]></Encrypt></xml>"
    query = {"msg_signature": sealed.findtext("MsgSignature"), "timestamp": str(now), "nonce": "nonce1"}
    return query, body.encode()


def feishu_callback(text: str, message_id: str, open_id: str = "ou_cust1") -> tuple[dict[str, str], bytes]:
    now = int(time.time())
    event = {
        "schema": "2.0",
        "header": {"event_id": f"ev-{message_id}", "event_type": "im.message.receive_v1",
                   "create_time": str(now * 1000), "token": FS_TOKEN, "app_id": FS_APP, "tenant_key": "t"},
        "event": {
            "sender": {"sender_id": {"open_id": open_id, "union_id": f"on_{open_id}", "user_id": "u1"}, "sender_type": "user"},
            "message": {"message_id": message_id, "chat_id": "oc_1", "chat_type": "p2p", "message_type": "text",
                        "content": json.dumps({"text": text}, ensure_ascii=False), "create_time": str(now * 1000)},
        },
    }  # fmt: skip
    raw = json.dumps({"encrypt": feishu_encrypt(json.dumps(event, ensure_ascii=False), FS_KEY)}).encode()
    signature = hashlib.sha256((str(now) + "n1" + FS_KEY).encode() + raw).hexdigest()
    headers = {"X-Lark-Request-Timestamp": str(now), "X-Lark-Request-Nonce": "n1", "X-Lark-Signature": signature}
    return headers, raw


def with_alerts(settings: Settings, alerts: dict) -> Settings:  # type: ignore[type-arg]
    data = settings.model_dump()
    data["alerts"] = alerts
    data["outbox"].update(base_delay_seconds=0.2, max_delay_seconds=1.0)
    return Settings(**unsecret(data))
