"""Secrets in the config: values that must never reach a log line, a repr or a dump.

Tokens and keys are pydantic's ``SecretStr`` (shown as ``**********``). A connection URL is a
:class:`SecretUrl`: its password is masked wherever it is shown, the rest (scheme, user, host, database)
stays readable, because that is what a person needs to see in a log line.

>>> url = SecretUrl("postgresql+asyncpg://citadel:hunter2@db:5432/citadel")
>>> str(url)
'postgresql+asyncpg://citadel:***@db:5432/citadel'
>>> url.get_secret_value()
'postgresql+asyncpg://citadel:hunter2@db:5432/citadel'
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

MASK = "***"


def mask_password(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***`` (unchanged when it has none)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # not readable as a URL: show nothing of it
    if parts.password is None:
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


class SecretUrl(SecretStr):
    """A URL that may carry a password (database, Redis): ``str()`` and ``repr()`` mask the password."""

    def _display(self) -> str:
        return mask_password(self.get_secret_value())


def reveal(secret: SecretStr | None) -> str | None:
    """The secret's value, for the one place that must send it (a header, a driver); None stays None."""
    return None if secret is None else secret.get_secret_value()
