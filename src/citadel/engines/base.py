"""What a model-service backend provides: a way to serve one model in the current process."""

from __future__ import annotations

from typing import Protocol

from citadel.config import CitadelSettings, ModelSettings


class Engine(Protocol):
    """A model-service backend, chosen by the model's ``backend`` name (see :mod:`citadel.engines`).

    ``citadel serve-model NAME`` calls :meth:`serve`; the supervisor and the systemd units both run that
    one command, whatever the backend.
    """

    name: str
    runs_locally: bool  # False: the service runs elsewhere, there is nothing to start or supervise here
    weights_required: bool  # True: the model's ``source`` must exist on this machine

    def serve(self, settings: CitadelSettings, model: ModelSettings) -> None:
        """Serve ``model`` until stopped by a signal; may replace the current process."""
        ...
