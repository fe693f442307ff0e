"""Response cache (coming): an in-process LRU by default, Redis in production. Configured by ``redis``."""
