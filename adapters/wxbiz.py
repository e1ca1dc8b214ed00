"""What WeCom and the WeChat official account share: the WXBiz callback envelope and API habits.

Both platforms sign callbacks with ``sha1(sorted(token, timestamp, nonce[, encrypt]))``, encrypt
them with the same AES scheme (wechatpy's ``WeChatCrypto`` classes differ only in the id they
check), send the same XML message shapes, and answer API calls with ``{"errcode", "errmsg"}``
under an ``access_token`` query parameter. This module holds those parts once:

- ``parse_xml``: safe XML (no DTD, no entities) -> flat dict, else ``WebhookError(400)``;
- ``Envelope``: signature (constant time), freshness and decryption of a callback, sealing of a
  passive reply;
- ``inbound_from``: a parsed wechatpy message -> ``InboundMessage``;
- ``WxApi``: a POST with a shared access token, failures classified into ``SendResult``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, NoReturn
from urllib.parse import quote
from xml.parsers import expat

import orjson
from pydantic import AfterValidator, SecretStr
from pydantic_core import PydanticCustomError
from wechatpy.crypto import WeChatCrypto as AppCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as CorpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidAppIdException
from yarl import URL

from bot.aes_cbc import cbc_decrypt
from bot.channel import WebhookError
from bot.http import HttpClient, HttpError
from bot.message import InboundMessage, SendResult, epoch_seconds
from bot.parsing import Malformed, require_utf8_prolog, timestamp_seconds
from bot.token_cache import json_object

log = logging.getLogger(__name__)

# errcodes shared by both platforms' APIs.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid / expired access token: refetch, retry
BUSY_ERRORS = frozenset({-1, 45009, 45033})  # system busy, API quota, concurrency: retry later
_MAX_URLS = 64  # send paths times tokens in use (a refreshed token overlaps the old one for a while)


# -- callbacks ----------------------------------------------------------------------------------


_BASE64_43 = re.compile(r"[A-Za-z0-9+/]{43}")


def _aes_key_shape(key: SecretStr) -> SecretStr:
    """The WXBiz EncodingAESKey: 43 base64 characters, the 32-byte AES key without its "=".
    Checked here so that ``check-config`` and ``serve`` refuse the same keys, before the SDK does
    (it raises a bare AssertionError on a key of the right length with other characters)."""
    value = key.get_secret_value()
    if not value:
        return key
    if len(value) != 43:
        raise PydanticCustomError("aes_key", "must be 43 characters, got {n}", {"n": len(value)})
    if not _BASE64_43.fullmatch(value):  # then key + "=" always decodes to the 32 bytes of the AES key
        raise PydanticCustomError("aes_key", "must be 43 base64 characters (A-Z, a-z, 0-9, + and /)")
    return key


AesKey = Annotated[SecretStr, AfterValidator(_aes_key_shape)]


class _Refused(Exception):
    pass


def _refuse(*_args: object) -> NoReturn:
    raise _Refused


def parse_xml(raw: bytes | str) -> dict[str, str]:
    """The children of a flat ``<xml>`` document as a dict; refuses DTDs and entities (XXE, bombs).

    Straight on expat, with defusedxml's refusals (a DOCTYPE, entity declarations, external
    references): an ElementTree, built only to be flattened, cost as much as all the rest of
    a callback's acknowledgement, and every callback has two documents.
    """
    fields: dict[str, str] = {}
    text: list[str] = []
    depth, root = 0, ""

    def start(name: str, _attrs: object) -> None:
        nonlocal depth, root
        depth += 1
        if depth == 1:
            root = name
        elif depth == 2:
            text.clear()

    def end(name: str) -> None:
        nonlocal depth
        if depth == 2:
            fields[name] = "".join(text).strip()
        depth -= 1

    def characters(data: str) -> None:
        if depth == 2:
            text.append(data)

    try:
        require_utf8_prolog(raw)
    except Malformed as e:
        raise WebhookError(400, str(e)) from None
    # UTF-8 whatever the document says: expat would otherwise look a declared encoding up among
    # Python's codecs (LookupError on an unknown one, ValueError on a multi-byte one).
    parser = expat.ParserCreate("UTF-8")
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, characters
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = parser.ExternalEntityRefHandler = _refuse
    try:
        parser.Parse(raw, True)
    except _Refused:
        raise WebhookError(400, "unsafe XML: DTDs and entities are refused") from None
    except (expat.ExpatError, ValueError) as e:
        raise WebhookError(400, f"malformed XML: {type(e).__name__}") from None
    if root != "xml":
        raise WebhookError(400, "XML root is not <xml>")
    return fields


# Each SDK crypto class with what its PrpCrypto raises for a payload sealed for another id.
_WRONG_OWNER: dict[type, type[Exception]] = {AppCrypto: InvalidAppIdException, CorpCrypto: InvalidCorpIdException}


def decrypt_payload(key: bytes, ciphertext: str, owner_id: str, wrong_owner: type[Exception] = ValueError) -> str:
    """What the SDK's ``PrpCrypto.decrypt`` returns for ``ciphertext``, check for check (tests
    compare the two on good and bad input), on a cipher context kept per key (bot/aes_cbc.py)
    instead of one per callback. The plaintext: 16 random bytes, the XML's length (4 bytes, big
    endian), the XML, the corp id or app id; the padding is its last byte, as the SDK reads it.
    Raises ``wrong_owner`` for another id, ``ValueError`` (``UnicodeDecodeError`` too) or
    ``IndexError`` for the rest of what it refuses."""
    plain = cbc_decrypt(key, key[:16], base64.b64decode(ciphertext.encode()))
    content = plain[16 : -plain[-1]]
    if len(content) < 4:
        raise ValueError("no length in the plaintext")
    end = int.from_bytes(content[:4], "big") + 4
    xml = content[4:end].decode()
    if content[end:].decode() != owner_id:
        raise wrong_owner()
    return xml


def make_crypto(crypto_class: type, token: str, encoding_aes_key: str, owner_id: str) -> Any:
    """The SDK's crypto for one app; a clear error instead of the SDK's bare assert on a bad key."""
    if len(encoding_aes_key) != 43:
        raise ValueError("encoding_aes_key must be the console's 43-character EncodingAESKey")
    return crypto_class(token, encoding_aes_key, owner_id)


def signature_of(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class Envelope:
    """Checks and opens signed (and optionally encrypted) callbacks of one app.

    ``crypto`` is a wechatpy ``WeChatCrypto`` (``wechatpy.enterprise`` for WeCom, ``wechatpy.crypto``
    for official accounts), or None in plain mode. wechatpy compares signatures with ``!=``, so we
    verify in constant time first and only then let it decrypt.
    """

    def __init__(self, token: str, crypto: Any | None, replay_window_seconds: int) -> None:
        self._token = token
        self._crypto = crypto
        self._window = replay_window_seconds
        # The SDK's decrypt_message builds a PrpCrypto (an AES cipher) on every call; its checks
        # (padding, corp id / app id) are kept by ``decrypt_payload``.
        self._key: bytes | None = crypto.key if crypto is not None else None
        self._wrong_owner = _WRONG_OWNER[type(crypto)] if crypto is not None else ValueError

    def verify(self, query: Mapping[str, str], now: float, signature_param: str, *signed: str) -> None:
        """Raise 403 unless ``query[signature_param]`` signs token, timestamp, nonce and ``signed``."""
        given = query.get(signature_param, "")
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not (given and timestamp and nonce):
            raise WebhookError(403, "unsigned request")
        expected = signature_of(self._token, timestamp, nonce, *signed)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise WebhookError(403, "bad signature")
        self._require_fresh(timestamp, now)

    def _require_fresh(self, timestamp: str, now: float) -> None:
        # The SDKs never check this; without it a captured callback can be replayed forever.
        if not self._window:
            return
        try:
            age = abs(now - timestamp_seconds(timestamp))
        except Malformed:
            raise WebhookError(403, "bad timestamp") from None
        if age > self._window:
            raise WebhookError(403, "stale timestamp")

    def open_verified(self, query: Mapping[str, str], now: float, ciphertext: str) -> str:
        """Verify ``msg_signature`` over a ``ciphertext`` (``Encrypt`` or echostr), then decrypt it.

        One method, so that nothing is decrypted unverified: the SDK's ``decrypt_message``
        re-checked the signature (with ``!=``), which is skipped here as ``verify`` did it."""
        self.verify(query, now, "msg_signature", ciphertext)
        if self._key is None:
            raise WebhookError(400, "encrypted callback but no EncodingAESKey configured")
        try:
            return decrypt_payload(self._key, ciphertext, self._crypto._id, self._wrong_owner)  # type: ignore[union-attr]
        except Exception as e:
            raise WebhookError(400, f"cannot decrypt: {type(e).__name__}") from None

    def open_encrypted(self, query: Mapping[str, str], body: bytes, now: float) -> dict[str, str]:
        """Verify ``msg_signature`` over the body's ``Encrypt``, decrypt and parse the inner XML."""
        outer = parse_xml(body)
        encrypted = outer.get("Encrypt", "")
        if not encrypted:
            raise WebhookError(400, "no Encrypt element")
        return parse_xml(self.open_verified(query, now, encrypted))

    def seal(self, reply_xml: str, nonce: str, now: float) -> bytes:
        """Encrypt and sign a passive reply."""
        assert self._crypto is not None
        return self._crypto.encrypt_message(reply_xml, nonce, str(int(now))).encode()


def inbound_from(fields: Mapping[str, str], *, channel: str, app: str, reply_route: dict[str, str]) -> InboundMessage:
    """A customer's message (not an event); what we cannot read keeps its type and no text."""
    msg_type = fields.get("MsgType", "").lower()
    sender = fields.get("FromUserName", "")
    created = fields.get("CreateTime", "0")
    try:
        sent_at = epoch_seconds(created)
    except ValueError:
        raise WebhookError(400, "CreateTime is not a number of seconds") from None
    return InboundMessage(
        channel=channel,
        app=app,
        conversation_id=sender,
        sender_id=sender,
        text=fields.get("Content", "") if msg_type == "text" else "",
        # Every message type carries MsgId; the fallback is the platform's rule for events.
        message_id=fields.get("MsgId") or f"{sender}:{created}",
        sent_at=sent_at,
        msg_type=msg_type,
        reply_route=reply_route,
    )


def card_as_text(text: str, card: Mapping[str, Any] | None) -> str:
    """A card flattened to text, for channels that cannot show cards (customers' chats)."""
    if not card:
        return text
    lines = [card.get("title", ""), card.get("description", "")]
    lines += [f"{k}：{v}" for k, v in card.get("fields", [])]
    lines.append(text)
    return "\n".join(line for line in lines if line)


_SAFE_ID = re.compile(r"^[0-9a-zA-Z_-]{1,32}$")


def platform_id(key: str) -> str:
    """A client id the platforms accept (<= 32 chars of [0-9a-zA-Z_-]), stable for one key."""
    return key if _SAFE_ID.match(key) else hashlib.sha256(key.encode()).hexdigest()[:32]


# -- API calls ----------------------------------------------------------------------------------


class ApiFailure(Exception):
    """A failed platform call, already classified; ``errcode`` is the platform's when it said one."""

    def __init__(self, result: SendResult, errcode: int | None = None, errmsg: str = "") -> None:
        super().__init__(result.error)
        self.result = result
        self.errcode = errcode
        self.errmsg = errmsg


class WxApi:
    """JSON POSTs to ``{api_base}/cgi-bin/<path>`` with an access token shared through Redis.

    wechatpy's clients are synchronous (requests) and would block the event loop, so the calls go
    through the shared ``bot.http.HttpClient``. Secrets only ever travel as query parameters of the
    token call and never appear in our log lines or error texts.
    """

    def __init__(
        self,
        http: HttpClient,
        tokens: Any,
        token_name: str,
        api_base: str,
        token_path: str,
        token_params: dict[str, str],
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._token_name = token_name
        self._base = api_base.rstrip("/")
        self._token_path = token_path
        self._token_params = token_params
        self._urls: dict[tuple[str, str], URL] = {}

    async def _fetch_token(self) -> tuple[str, int]:
        try:
            data = await self._request("GET", self._token_path, params=self._token_params)
        except ApiFailure as failure:
            if failure.errcode in TOKEN_ERRORS:  # here: the secret itself was refused
                raise ApiFailure(SendResult.permanent(f"credentials refused: {failure.errmsg}")) from None
            raise
        token = data.get("access_token")
        if not token:
            raise ApiFailure(SendResult.retry("token answer without access_token"))
        return str(token), int(data.get("expires_in", 7200))

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload``; the platform's answer on errcode 0, else ``ApiFailure``."""
        try:
            token = await self._tokens.get(self._token_name, self._fetch_token)
        except TimeoutError as e:
            raise ApiFailure(SendResult.retry(str(e))) from None
        try:
            return await self._request(
                "POST",
                f"/cgi-bin/{path}",
                url=self._send_url(path, token),
                # ensure_ascii=False: both platforms count and show \\uXXXX escapes literally.
                content=orjson.dumps(payload),
                headers={"content-type": "application/json; charset=utf-8"},
            )
        except ApiFailure as failure:
            if failure.errcode in TOKEN_ERRORS:
                await self._tokens.invalidate(self._token_name)
            raise

    def _send_url(self, path: str, token: str) -> URL:
        """``path``'s URL with the token, built once per token: parsing and quoting a URL on
        every send cost about 8 µs of the worker's CPU a reply (bench/http_client_cost.py)."""
        url = self._urls.get((path, token))
        if url is None:
            if len(self._urls) >= _MAX_URLS:  # a new token: the old one's URLs are done with
                self._urls.clear()
            url = URL(f"{self._base}/cgi-bin/{path}?access_token={quote(token, safe='')}", encoded=True)
            self._urls[path, token] = url
        return url

    async def _request(self, method: str, path: str, url: URL | None = None, **kwargs: Any) -> dict[str, Any]:
        """``path`` (under ``api_base``, or at ``url`` when given) answered with errcode 0."""
        try:
            resp = await self._http.request(method, url or self._base + path, **kwargs)
        except HttpError as e:
            raise ApiFailure(SendResult.retry(f"{path}: network error {type(e).__name__}")) from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise ApiFailure(SendResult.retry(f"{path}: HTTP {resp.status_code}"))
        if resp.status_code >= 400:
            raise ApiFailure(SendResult.permanent(f"{path}: HTTP {resp.status_code}"))
        data = json_object(resp)
        if not data:
            raise ApiFailure(SendResult.retry(f"{path}: answer is not a JSON object"))
        try:
            code = int(data.get("errcode", 0) or 0)
        except (TypeError, ValueError):
            raise ApiFailure(SendResult.retry(f"{path}: errcode is not a number")) from None
        if code == 0:
            return data
        errmsg = str(data.get("errmsg", ""))
        error = f"{path}: errcode {code}: {errmsg}"
        if code in TOKEN_ERRORS or code in BUSY_ERRORS:
            raise ApiFailure(SendResult.retry(error), code, errmsg)
        raise ApiFailure(SendResult.permanent(error), code, errmsg)

    async def send(
        self,
        path: str,
        payload: dict[str, Any],
        explain: Mapping[int, str] | None = None,
        accept: Callable[[ApiFailure], bool] | None = None,
    ) -> SendResult:
        """``post`` for a sender: the outcome as a ``SendResult``.

        ``explain`` turns errcodes no retry can fix into a permanent failure with a readable
        cause; ``accept`` says which failures mean "already done" (a duplicate id).
        """
        try:
            await self.post(path, payload)
        except ApiFailure as failure:
            if accept is not None and accept(failure):
                return SendResult.success()
            if explain and failure.errcode is not None and failure.errcode in explain:
                return SendResult.permanent(f"{path}: errcode {failure.errcode}: {explain[failure.errcode]}")
            log.warning("send failed: %s", failure.result.error)
            return failure.result
        return SendResult.success()
