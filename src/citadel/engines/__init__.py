"""Model-service backends, chosen by name and imported only when used.

| name       | what runs                                                        |
|------------|------------------------------------------------------------------|
| llamacpp   | Citadel's built-in model service (GGUF on llama.cpp)             |
| vllm       | vLLM's OpenAI server with the seed's flags                       |
| remote     | nothing: an OpenAI-compatible URL that runs elsewhere            |
| sentence-transformers | Citadel's embedding service (``/v1/embeddings``)      |
"""

from __future__ import annotations

import importlib
from typing import cast

from citadel.engines.base import Engine

ENGINES: dict[str, str] = {
    "llamacpp": "citadel.engines.llamacpp:LlamaCppEngine",
    "vllm": "citadel.engines.vllm:VllmEngine",
    "remote": "citadel.engines.remote:RemoteEngine",
    "sentence-transformers": "citadel.engines.sentence_transformers:SentenceTransformersEngine",
}


def get_engine(name: str) -> Engine:
    """The backend called ``name``; ``KeyError`` lists the known ones."""
    try:
        target = ENGINES[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(sorted(ENGINES))}") from None
    module_name, _, attribute = target.partition(":")
    engine_class = getattr(importlib.import_module(module_name), attribute)
    return cast(Engine, engine_class())


__all__ = ["ENGINES", "Engine", "get_engine"]
