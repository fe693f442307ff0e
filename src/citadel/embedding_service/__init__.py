"""The embedding model service: a sentence-transformers model behind OpenAI's ``/v1/embeddings``."""
