"""Vector store (coming): Qdrant, local on-disk mode by default or a server URL. Configured by ``vectors``."""
