"""AES-CBC decryption of callbacks with one cipher context per key, kept for the process's life.

Both WeCom (and the official account) and Feishu encrypt callbacks with AES-CBC. A new
``cryptography`` context per callback (``Cipher(...).decryptor()``) expands the key and sets
OpenSSL up again each time, which cost more than decrypting the callback. CBC decryption is, by
definition, each block decrypted on its own (ECB) and XORed with the ciphertext block before it
(the IV for the first): an ECB context holds no state between whole blocks, so one per key
serves every callback. Only whole blocks are ever given to it.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

BLOCK = 16


@functools.lru_cache(maxsize=64)  # a few apps per process; a key is never looked up by callers' input
def _ecb_decryptor(key: bytes) -> CipherContext:
    return Cipher(algorithms.AES(key), modes.ECB()).decryptor()


def cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """``ciphertext`` decrypted with AES-CBC under ``key`` and ``iv``, padding left in place.
    ``ValueError`` unless it is whole blocks and ``iv`` one block."""
    size = len(ciphertext)
    if size % BLOCK or len(iv) != BLOCK:
        raise ValueError("invalid ciphertext length")
    if not size:
        return b""
    blocks = _ecb_decryptor(key).update(ciphertext)
    chained = int.from_bytes(iv + ciphertext[:-BLOCK], "big")
    return (int.from_bytes(blocks, "big") ^ chained).to_bytes(size, "big")
