"""Hot reload: a new config validated, diffed, applied to every gateway worker and model service, recorded.

- :mod:`~citadel.reload.changes`: the diff, what changes live, the settings a worker runs after.
- :mod:`~citadel.reload.state`: ``run/reload.json``, the applied config every worker follows.
- :mod:`~citadel.reload.follower` and :mod:`~citadel.reload.live`: a worker's side (new services, swapped).
- :mod:`~citadel.reload.services` and :mod:`~citadel.reload.fleet`: model services added, drained, rolled.
- :mod:`~citadel.reload.apply`: one reload from start to end; :mod:`~citadel.reload.history`: versions.
- :mod:`~citadel.reload.request`, :mod:`~citadel.reload.supervised`, :mod:`~citadel.reload.rollback` and
  :mod:`~citadel.reload.admin_routes`: the ways in (CLI, SIGHUP to ``citadel up``, the admin API).
"""
