"""The real operations tools the ops tests run (installed by ``scripts/bootstrap.sh --dev``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from citadel.config import CitadelSettings, load_settings

HXP_CONFIG = Path("config/hxp-enterprise.yaml")


def tool(name: str) -> str:
    """The tool's path; a missing tool fails the test (bootstrap installs it), it is never faked."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/bootstrap.sh --dev")
    return path


def run(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env=env, cwd=cwd)


def hxp_settings(tmp_path: Path, **model_overrides: dict[str, object]) -> tuple[CitadelSettings, Path]:
    """The shipped HXP config, with some models' keys replaced, written to ``tmp_path`` and loaded."""
    data = yaml.safe_load(HXP_CONFIG.read_text(encoding="utf-8"))
    for model in data["models"]:
        model.update(model_overrides.get(model["name"], {}))
    path = tmp_path / "hxp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_settings(path), path
