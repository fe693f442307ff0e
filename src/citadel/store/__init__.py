"""Persistence (coming with the governance issue): API keys, request log and audit log on SQLAlchemy 2,
SQLite by default and PostgreSQL through Pgpool-II in production. Configured by ``database`` in the config."""
