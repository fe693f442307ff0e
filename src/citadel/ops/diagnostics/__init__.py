"""Probing a running deployment: ``citadel health`` (cron-friendly), ``doctor`` (why is it failing) and
``verify`` (end-to-end after an install), built on the probes in :mod:`~citadel.ops.diagnostics.probes`."""
