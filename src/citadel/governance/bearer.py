"""Reading the key out of an ``Authorization`` header."""

from __future__ import annotations

from citadel.errors import AuthenticationError


def bearer_secret(authorization_header: str | None) -> str:
    """The token of ``Bearer <token>``; 401 when missing or malformed.

    >>> bearer_secret("Bearer ctd_abc")
    'ctd_abc'
    """
    if not authorization_header:
        raise AuthenticationError(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
        )
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("The Authorization header must be 'Bearer <key>'.")
    return token
