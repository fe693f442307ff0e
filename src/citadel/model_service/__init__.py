"""The built-in model service: a GGUF model on llama.cpp with vLLM's OpenAI-compatible HTTP API."""
