"""Operations, grouped by what they do:

- :mod:`citadel.ops.prestart`: the checks ``citadel check`` runs before a service starts (config, ports,
  cores, model files, the engine self-test); also each model unit's ``ExecStartPre``.
- :mod:`citadel.ops.render`: deployment assets rendered from the config (``citadel render``): systemd units,
  Prometheus scrape config, recording and alert rules, Alertmanager routing, Grafana dashboards.
- :mod:`citadel.ops.diagnostics`: probing a running deployment (``citadel health|doctor|verify``).
- :mod:`citadel.ops.bench`: the load benchmark (``citadel bench``): plan, run, report, chart.
- :mod:`citadel.ops.backup`: ``citadel backup`` (config, rendered assets, the database).
"""
