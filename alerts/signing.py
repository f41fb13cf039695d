"""The one place that knows the Standard Webhooks signature (https://www.standardwebhooks.com/)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret; ValueError saying what is wrong otherwise."""
    body = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "a webhook secret must be whsec_ followed by base64 (e.g. from `openssl rand -base64 32`)"
        ) from None
    if len(key) < 16:
        raise ValueError("a webhook secret must hold at least 16 bytes (24 base64 characters)")
    return key


def new_message_id() -> str:
    """A fresh `webhook-id`; a retry of the same alert reuses the id it was given first."""
    return "msg_" + secrets.token_urlsafe(18)


def signature(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,<base64>` per secret, space-separated (for rotation)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    parts = []
    for secret in secrets_:
        digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
        parts.append("v1," + base64.b64encode(digest).decode())
    return " ".join(parts)


def headers(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """All three Standard Webhooks headers for one delivery attempt."""
    out = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secrets_:
        out["webhook-signature"] = signature(secrets_, message_id, timestamp, body)
    return out
