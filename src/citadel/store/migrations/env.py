"""Alembic environment: always given an open connection by :mod:`citadel.store.migrate`."""

from __future__ import annotations

from alembic import context

from citadel.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `citadel db upgrade` (citadel.store.migrate), not alembic's CLI")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
