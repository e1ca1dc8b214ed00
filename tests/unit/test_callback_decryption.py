"""AES-CBC with a kept cipher context (bot/aes_cbc.py), and the WXBiz payload decryption on it,
against ``cryptography``'s own CBC and wechatpy's ``PrpCrypto.decrypt``."""

from __future__ import annotations

import base64
import random
import struct
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import PrpCrypto as AppPrpCrypto
from wechatpy.enterprise.crypto import PrpCrypto as CorpPrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidAppIdException

from adapters.wxbiz import decrypt_payload
from bot.aes_cbc import cbc_decrypt


def reference_cbc(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def test_cbc_decrypt_matches_cryptography_whatever_came_before() -> None:
    rng = random.Random(3)
    keys = [rng.randbytes(32) for _ in range(3)]
    # Interleaved keys and lengths: a context kept per key must carry nothing from one call to the next.
    for _ in range(200):
        key, iv = rng.choice(keys), rng.randbytes(16)
        ciphertext = rng.randbytes(16 * rng.randrange(0, 40))
        assert cbc_decrypt(key, iv, ciphertext) == reference_cbc(key, iv, ciphertext)


@pytest.mark.parametrize("size", [1, 15, 17, 33])
def test_cbc_decrypt_refuses_a_partial_block(size: int) -> None:
    with pytest.raises(ValueError):
        cbc_decrypt(b"k" * 32, b"i" * 16, b"x" * size)
    # And nothing of it stays behind for the next caller with that key.
    assert cbc_decrypt(b"k" * 32, b"i" * 16, b"y" * 32) == reference_cbc(b"k" * 32, b"i" * 16, b"y" * 32)


def outcome(fn: Callable[..., str], *args: Any) -> object:
    try:
        return fn(*args)
    except (ValueError, IndexError, struct.error):  # a 400 either way (adapters.wxbiz.Envelope)
        return "refused"
    except Exception as e:  # the wrong corp id or app id: the SDK's own exception, named in the 400
        return type(e).__name__


@pytest.mark.parametrize(("sdk_class", "wrong_owner"), [(CorpPrpCrypto, InvalidCorpIdException),
                                                        (AppPrpCrypto, InvalidAppIdException)])  # fmt: skip
def test_wxbiz_payloads_decrypt_and_are_refused_as_the_sdk_does(sdk_class: type, wrong_owner: type) -> None:
    rng = random.Random(11)
    key = base64.b64decode("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=")
    sdk = sdk_class(key)
    cases: list[str] = []
    for text in ["", "<xml>hi</xml>", "<xml><Content><![CDATA[你好]]></Content></xml>" * 5]:
        for owner in ("ww_corp", "ww_other"):
            cases.append(sdk.encrypt(text, owner).decode())
    for _ in range(300):
        sealed = base64.b64decode(sdk.encrypt(rng.choice(["a", "好" * 9, "<xml/>" * 8]), "ww_corp"))
        damaged = bytearray(sealed)
        damaged[rng.randrange(len(damaged))] = rng.randrange(256)  # a byte anywhere: length, id, padding
        cases.append(base64.b64encode(bytes(damaged)).decode())
        cases.append(base64.b64encode(rng.randbytes(rng.choice([0, 1, 16, 17, 32, 48, 64]))).decode())
    cases += ["", "!!!", "不是base64", sdk.encrypt("<xml/>", "ww_corp").decode() + "é"]
    results = []
    for ciphertext in cases:
        ours = outcome(decrypt_payload, key, ciphertext, "ww_corp", wrong_owner)
        assert ours == outcome(sdk.decrypt, ciphertext, "ww_corp"), ciphertext
        results.append(ours)
    assert "<xml>hi</xml>" in results and wrong_owner.__name__ in results and "refused" in results
