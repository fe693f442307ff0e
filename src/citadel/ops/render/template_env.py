"""The Jinja environment for the text assets under ``citadel/ops/render/templates`` (package data)."""

from __future__ import annotations

import jinja2


def template_environment() -> jinja2.Environment:
    """Strict (an unknown name is an error) and line-oriented, for config files rather than HTML."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("citadel.ops.render", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
