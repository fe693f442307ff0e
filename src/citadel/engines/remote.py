"""``remote``: an OpenAI-compatible server that already runs elsewhere; nothing to start here."""

from __future__ import annotations

from citadel.config import CitadelSettings, ModelSettings


class RemoteModelError(Exception):
    """A remote model was asked to be served locally."""


class RemoteEngine:
    name = "remote"
    runs_locally = False
    weights_required = False

    def serve(self, settings: CitadelSettings, model: ModelSettings) -> None:
        raise RemoteModelError(
            f"model {model.name!r} is remote ({model.base_url}); there is nothing to serve here"
        )
