"""Encryption at rest for the secrets XTrack must read back: notification target URLs (bot tokens,
webhook keys). Fernet (AES-128-CBC with an HMAC-SHA256, from ``cryptography``) under keys derived
by HKDF-SHA256 from ``XTRACK_ENCRYPTION_KEY`` (a comma-separated list, newest first), or from
``XTRACK_SECRET_KEY`` when that is not set.

Rotation (``MultiFernet``): new values are encrypted with the first key, and every listed key can
decrypt, so ``XTRACK_ENCRYPTION_KEY=new,old`` keeps old rows readable while ``rotate`` re-encrypts
them under the new key; the old key can go once nothing uses it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from xtrack.config import Settings

# A Fernet token is base64 of a version byte 0x80 and a timestamp: it always starts so, and no apprise
# URL does (they start with a scheme).
TOKEN_PREFIX = "gAAAAA"
_PURPOSE = b"xtrack: notification target URLs v1"


class DecryptError(Exception):
    """No configured key decrypts the value (a key was changed or dropped too early)."""


def derive_key(secret: str) -> bytes:
    """The Fernet key of ``secret`` for this purpose (HKDF: a secret shared with signing stays apart)."""
    raw = HKDF(algorithm=SHA256(), length=32, salt=None, info=_PURPOSE).derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


class Cipher:
    """Encrypts with the first secret, decrypts with any of them."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(derive_key(secret)) for secret in secrets])

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise DecryptError(
                "cannot be decrypted with the configured keys (XTRACK_ENCRYPTION_KEY / XTRACK_SECRET_KEY)"
            ) from None

    def rotate(self, token: str) -> str:
        """The value encrypted under the first key (DecryptError when no key reads it)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError):
            raise DecryptError("cannot be decrypted with the configured keys") from None


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """XTRACK_ENCRYPTION_KEY's keys, newest first; else the signing key."""
    if settings.encryption_key is not None:
        return tuple(k.strip() for k in settings.encryption_key.get_secret_value().split(",") if k.strip())
    return (settings.signing_key(),)


@lru_cache(maxsize=8)
def _cipher(secrets: tuple[str, ...]) -> Cipher:
    return Cipher(secrets)


def cipher_for(settings: Settings) -> Cipher:
    """The cipher of these settings (built once per set of keys: HKDF is not free)."""
    return _cipher(secrets_of(settings))
