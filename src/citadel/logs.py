"""Log set-up shared by every Citadel process."""

from __future__ import annotations

import logging


def configure_logging(level: str, process: str) -> None:
    """Plain lines on stderr, tagged with the process's role so that ``citadel up``'s mixed output reads."""
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)-7s [{process}] %(name)s: %(message)s",
        force=True,
    )
    # One line per proxied request or health probe would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
