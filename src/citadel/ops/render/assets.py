"""What every renderer shares: a rendered asset set is a mapping of relative path to file text."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from citadel.config import CitadelSettings, LocalModelSettings
from citadel.config.sections import reachable_host
from citadel.engines import get_engine

# Relative path inside the output directory -> the file's text.
RenderedFiles = Mapping[str, str]


def local_models(settings: CitadelSettings) -> list[LocalModelSettings]:
    """The models whose services run on this machine (a ``remote`` model has nothing to run or scrape)."""
    return [
        model
        for model in settings.models
        if get_engine(model.backend).runs_locally and isinstance(model, LocalModelSettings)
    ]


def gateway_url(settings: CitadelSettings) -> str:
    """The gateway's base URL as seen from this machine, e.g. ``http://127.0.0.1:8000``."""
    return f"http://{reachable_host(settings.gateway.host)}:{settings.gateway.port}"


def write_files(files: RenderedFiles, out_dir: Path) -> list[Path]:
    """Write each file under ``out_dir`` (creating folders); return the paths written, in order."""
    written = []
    for relative, text in files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
