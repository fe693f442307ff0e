"""Citadel: an enterprise LLM server.

Model services (the built-in llama.cpp engine, vLLM, or remote OpenAI-compatible servers) behind one
OpenAI-compatible gateway, all started and supervised from one config file by the ``citadel`` CLI.
"""

__version__ = "0.1.0"
