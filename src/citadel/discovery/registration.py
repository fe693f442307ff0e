"""What a model service publishes about itself, and where: ``<prefix><model>/<host>:<port>``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from yarl import URL


@dataclass(frozen=True, slots=True)
class Registration:
    """One model service's entry.

    >>> entry = Registration("phi-3-mini", "http://10.0.0.7:11403", capacity=8, version="0.1.0")
    >>> entry.key("/citadel/replicas/")
    '/citadel/replicas/phi-3-mini/10.0.0.7:11403'
    """

    model: str
    url: str
    capacity: int  # sequences it generates at once (limits.max_num_seqs)
    version: str  # Citadel's version, for rolling updates
    served_model: str | None = None

    def key(self, prefix: str) -> str:
        url = URL(self.url)
        return f"{prefix}{self.model}/{url.host}:{url.port}"

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Registration:
        """The entry in ``raw``; ``ValueError`` for anything that is not one."""
        try:
            data = json.loads(raw)
            entry = cls(
                model=str(data["model"]),
                url=str(data["url"]).rstrip("/"),
                capacity=int(data.get("capacity", 1)),
                version=str(data.get("version", "")),
                served_model=data.get("served_model"),
            )
        except (TypeError, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a registration: {raw[:200]!r}") from exc
        if not entry.url.startswith(("http://", "https://")):
            raise ValueError(f"registration of {entry.model} has no http(s) URL: {entry.url!r}")
        return entry
