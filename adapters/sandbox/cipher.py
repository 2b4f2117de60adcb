"""The sandbox's stand-in for Douyin's receiver encryption.

Douyin returns the receiver's name, phone and address detail as opaque ciphertexts shaped
``#<index>#<base64>#<key version>##`` (phones use ``$`` as the delimiter, e.g. ``$idx$…$1$$``) and
decrypts them only through ``order.batchDecrypt``, where each ciphertext must be presented with the
order it belongs to (``auth_id``). The sandbox imitates that: a ciphertext here is a keyed stream
cipher over the plaintext, bound by a MAC to its order id, so that it decrypts only with the right
``auth_id`` and only by the simulator. It is NOT security: the key is in this file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Literal

Kind = Literal["name", "tel", "addr"]

_KEY = b"syncd-sandbox-receiver-key-v1"
_DELIM: dict[Kind, str] = {"name": "#", "tel": "$", "addr": "#"}
_SHAPE = re.compile(r"^([#$~])([A-Za-z0-9+/]{4})\1([A-Za-z0-9+/=]{24,})\1(\d+)\1\1$")


def _keystream(nonce: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(_KEY + nonce + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


def _tag(auth_id: str, nonce: bytes, ct: bytes) -> bytes:
    return hmac.new(_KEY, auth_id.encode() + b"\x00" + nonce + ct, hashlib.sha256).digest()[:8]


def encrypt(auth_id: str, plaintext: str, kind: Kind) -> str:
    """Deterministic ciphertext of ``plaintext`` for the order ``auth_id``."""
    pt = plaintext.encode()
    nonce = hmac.new(_KEY, f"n|{auth_id}|{kind}|{plaintext}".encode(), hashlib.sha256).digest()[:8]
    ct = bytes(a ^ b for a, b in zip(pt, _keystream(nonce, len(pt)), strict=True))
    blob = base64.b64encode(nonce + ct + _tag(auth_id, nonce, ct)).decode()
    index = base64.b64encode(hashlib.sha256(_KEY + pt).digest()[:3]).decode()
    d = _DELIM[kind]
    return f"{d}{index}{d}{blob}{d}1{d}{d}"


def decrypt(auth_id: str, cipher_text: str) -> str | None:
    """Plaintext, or None when the ciphertext is not ours or belongs to another order."""
    m = _SHAPE.match(cipher_text)
    if not m:
        return None
    try:
        raw = base64.b64decode(m.group(3), validate=True)
    except ValueError:
        return None
    if len(raw) < 16:
        return None
    nonce, ct, tag = raw[:8], raw[8:-8], raw[-8:]
    if not hmac.compare_digest(tag, _tag(auth_id, nonce, ct)):
        return None
    pt = bytes(a ^ b for a, b in zip(ct, _keystream(nonce, len(ct)), strict=True))
    try:
        return pt.decode()
    except UnicodeDecodeError:
        return None


def is_cipher(text: str) -> bool:
    """Shaped like a Douyin ciphertext."""
    return bool(_SHAPE.match(text))


def mask_name(name: str) -> str:
    """``王小明`` → ``王**``."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask_tel(tel: str) -> str:
    """``13812345678`` → ``138****5678``; a virtual ``main-ext`` keeps its extension."""
    main, _, ext = tel.partition("-")
    masked = main[:3] + "****" + main[-4:] if len(main) >= 7 else "****"
    return f"{masked}-{ext}" if ext else masked


def mask_detail(detail: str) -> str:
    """Keep the first characters of the street address, hide the rest."""
    return detail[:4] + "****" if detail else ""
