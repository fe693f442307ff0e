"""Deployment assets rendered from the config by ``citadel render systemd|prometheus|grafana``.

Each renderer returns :data:`~citadel.ops.render.assets.RenderedFiles` (relative path -> text);
:func:`~citadel.ops.render.assets.write_files` writes them. Text templates live in ``templates/``.
"""
