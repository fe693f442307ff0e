"""Key secrets: ``ctd_`` + 8 visible characters + 40 secret ones; only the SHA-256 of the whole is stored.

>>> secret = generate_secret()
>>> secret.startswith("ctd_") and len(secret) == 52 and visible_prefix(secret) == secret[:12]
True
"""

from __future__ import annotations

import hashlib
import secrets
import string

SECRET_PREFIX = "ctd_"
_ALPHABET = string.ascii_lowercase + string.digits
_PREFIX_LENGTH = len(SECRET_PREFIX) + 8
_SECRET_LENGTH = _PREFIX_LENGTH + 40


def generate_secret() -> str:
    return SECRET_PREFIX + "".join(
        secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH - len(SECRET_PREFIX))
    )


def hash_secret(secret: str) -> str:
    """Hex SHA-256: the secret has 200+ random bits, so a fast hash is enough (no salt or KDF needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def visible_prefix(secret: str) -> str:
    """The part of a secret that may be shown and logged (``ctd_ab12cd34``)."""
    return secret[:_PREFIX_LENGTH]


def redact(secret: str) -> str:
    """What an error message may say about a presented key: its visible prefix only."""
    if secret.startswith(SECRET_PREFIX) and len(secret) == _SECRET_LENGTH:
        return visible_prefix(secret) + "****"
    return "****"
